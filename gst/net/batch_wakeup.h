// BatchWakeup: one futex word that the streaming threads of a listener's rtmpserversrc elements
// sleep on, so that the I/O thread wakes every stream that got input in a read batch with one
// system call at the end of the batch.
//
// Why not a condition variable per stream: the I/O thread then wakes each stream's thread in
// the middle of its batch, and each woken thread preempts it (two context switches per stream
// and batch, plus a futex call each). With one word the kernel queues all the woken threads at
// once and the I/O thread is preempted at most once per batch: half the context switches of
// ingest (docs/benchmarks.md, "RTMP ingest").
//
// A waiter takes a ticket while it still holds the lock under which it found nothing to do,
// then sleeps on that ticket: a wake_all() after the ticket was taken is never missed. Wakeups
// are shared, so a woken thread may find nothing for itself and wait again.
#pragma once

#include <atomic>
#include <cstdint>

namespace live::net {

class BatchWakeup {
 public:
  using Ticket = uint32_t;

  Ticket ticket() const { return generation_.load(); }
  // Sleeps until a wake_all() after `ticket` was taken, or for timeout_us (< 0: no limit).
  // May return early (signals, spurious futex wakeups): callers check their state again.
  void wait(Ticket ticket, int64_t timeout_us);
  // Wakes every thread waiting on a ticket taken before this call.
  void wake_all();

 private:
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint32_t> sleepers_{0};  // no system call when nobody sleeps
};

}  // namespace live::net
