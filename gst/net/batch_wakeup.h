// BatchWakeup: one futex word that the streaming threads of a listener's rtmpserversrc elements
// sleep on, so that the I/O thread wakes every stream that got input in a read batch with one
// system call at the end of the batch.
//
// Why not a condition variable per stream: the I/O thread then wakes each stream's thread in
// the middle of its batch, and each woken thread preempts it (two context switches per stream
// and batch, plus a futex call each). With one word the kernel queues all the woken threads at
// once and the I/O thread is preempted at most once per batch (docs/benchmarks.md, "RTMP
// ingest").
//
// Each sleeper has a bit (futex bitsets): a wake names the bits of the streams that got input,
// so the others sleep on. Up to 32 streams per word have bits of their own; beyond that they
// share bits, and a woken thread may find nothing for itself (it waits again).
//
// A waiter takes a ticket while it still holds the lock under which it found nothing to do,
// then sleeps on that ticket: a wake after the ticket was taken is never missed.
#pragma once

#include <atomic>
#include <cstdint>

namespace live::net {

class BatchWakeup {
 public:
  using Ticket = uint32_t;

  // A bit for a new sleeper (round robin over the 32).
  static uint32_t next_bit();

  Ticket ticket() const { return generation_.load(); }
  // Sleeps until a wake() naming `bit` after `ticket` was taken, or for timeout_us (< 0: no
  // limit). May return early (another wake between the ticket and the sleep, signals):
  // callers check their state again.
  void wait(Ticket ticket, uint32_t bit, int64_t timeout_us);
  // Wakes every thread sleeping with a bit in `bits` on a ticket taken before this call.
  void wake(uint32_t bits);

 private:
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> sleepers_{0};  // no system call when nobody sleeps
};

}  // namespace live::net
