// IoPoller: the epoll sets of all connections of a listener, driven by a single GSource on the
// I/O thread's GMainContext. The GMainContext polls only the epoll fds (plus the few other
// sources), so a wakeup costs O(ready connections), not O(all connections) as one GSource
// per socket would (poll() over every fd, source ref/unref and checks on every iteration).
// Level-triggered: a handler that stops before EAGAIN (a read budget) is called again on the
// next iteration. All methods run on the I/O thread.
//
// Two sets. "Prompt" fds (handshakes, commands, players) are handled as soon as they are
// readable. "Batched" fds (publishers' media) are coalesced: after a wakeup that found batched
// input, that set is not polled again for the read interval given to start(), and what
// arrives meanwhile is read in one batch when that time is up. Under load this turns one
// wakeup of this thread, and of each stream's consumer, per arriving packet into one per
// interval, for at most that much added latency (docs/benchmarks.md has the CPU it saves),
// while a connecting client's round trips are not slowed down. A key given to run_again() (a
// connection that used up its read budget) is served on the next iteration, at once.
//
// The interval adapts to who waits (RealtimeDemand) and to the load. While no viewer, push
// target or WHEP viewer waits anywhere in the process, it is the whole read interval: only HLS
// (parts of hundreds of milliseconds) consumes the media, and each interval costs one wakeup of
// every stream's thread. While one waits, it is read_interval x min(1, n /
// kPublishersForFullInterval) with n fds in the batched set, and at most
// kRealtimeReadIntervalMaxMicros: a few publishers (where batching saves little CPU) get their
// media almost at once, which keeps a relay's publish-to-viewer latency low, and many never
// wait longer than that bound.
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace live::net {

inline constexpr int kMaxEventsPerWakeup = 64;
inline constexpr int kMaxEpollRoundsPerWakeup = 16;  // up to 1024 ready connections at once
inline constexpr int kPublishersForFullInterval = 32;
inline constexpr int64_t kRealtimeReadIntervalMaxMicros = 20'000;

// What the poller reports to: a connection or an HTTP-FLV viewer. Its key in the poller is its
// address, valid while it is watched (objects leave the poller before they are freed, and are
// freed only from a later main-loop dispatch, never during the poller's own).
class PollClient {
 public:
  virtual ~PollClient() = default;
  virtual void on_poll(uint32_t events) = 0;  // EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP bits
  uint64_t poll_key() const { return reinterpret_cast<uintptr_t>(this); }
  static PollClient* from_poll_key(uint64_t key) {
    return reinterpret_cast<PollClient*>(static_cast<uintptr_t>(key));
  }
};

class IoPoller {
 public:
  // Called for each ready key with the epoll event bits (EPOLLIN, EPOLLERR, EPOLLHUP...), or
  // with EPOLLIN for a key given to run_again().
  using Handler = std::function<void(uint64_t key, uint32_t events)>;

  IoPoller() = default;
  ~IoPoller();
  IoPoller(const IoPoller&) = delete;
  IoPoller& operator=(const IoPoller&) = delete;

  // Creates the epoll fd and attaches its source to `context`. false (errno set) on failure.
  // read_interval_micros: the coalescing interval (0 = read as soon as input arrives).
  bool start(GMainContext* context, Handler handler, int64_t read_interval_micros);
  void stop();  // detaches the source, closes the epoll fd
  // The coalescing interval in use now (see above).
  int64_t effective_interval_micros() const;
  static int64_t interval_micros(int64_t read_interval_micros, int batched_fds, bool realtime_demand);

  // Sets what `fd` is watched for (EPOLLIN and/or EPOLLOUT; 0 = not watched) and in which set;
  // `was_watched` says whether it is in a set now (in the `was_batched` one). Events come to
  // the handler under `key`; unwatching also drops a pending run_again(key).
  bool watch(int fd, uint64_t key, bool batched, bool was_batched, uint32_t events,
             bool was_watched);
  // Calls the handler for `key` on the next iteration, at once (no coalescing delay), without
  // waiting for the fd (TLS may hold decrypted input the socket no longer signals).
  void run_again(uint64_t key);
  // Called at the end of every dispatch (after both sets were served), on the I/O thread.
  void set_after_dispatch(std::function<void()> after_dispatch) { after_dispatch_ = std::move(after_dispatch); }
  bool dispatching() const { return dispatching_; }  // inside a dispatch: handlers run

 private:
  struct Source;
  static gboolean prepare(GSource* source, gint* timeout);
  bool coalescing_over(GSource* source, gint* timeout_ms) const;  // lowers *timeout_ms to the interval's end
  static gboolean check(GSource* source);
  static gboolean dispatch(GSource* source, GSourceFunc, gpointer);
  void dispatch_sets(GSource* source);
  int dispatch_set(int epoll_fd);  // returns how many keys it handled

  int prompt_fd_ = -1;
  int batched_fd_ = -1;
  GSource* source_ = nullptr;
  gpointer prompt_tag_ = nullptr;
  gpointer batched_tag_ = nullptr;
  int64_t read_interval_micros_ = 0;
  std::function<void()> after_dispatch_;
  bool dispatching_ = false;
  int batched_count_ = 0;  // fds in the batched set
  bool coalescing_ = false;      // the batched set is not polled until coalesce_until_
  int64_t coalesce_until_ = 0;   // g_source_get_time() clock
  Handler handler_;
  std::vector<uint64_t> again_;
  std::vector<uint64_t> running_again_;
};

}  // namespace live::net
