// IoPoller: one epoll set for all connections of a listener, driven by a single GSource on the
// I/O thread's GMainContext. The GMainContext polls only the epoll fd (plus the few other
// sources), so a wakeup costs O(ready connections), not O(all connections) as one GSource
// per socket would (poll() over every fd, source ref/unref and checks on every iteration).
// Level-triggered: a handler that stops before EAGAIN (a read budget) is called again on the
// next iteration. All methods run on the I/O thread.
//
// Coalescing: after a wakeup that found input, the epoll fd is not polled again for
// kInputCoalesceMicros; what arrives meanwhile is read in one batch when that time is up
// (20 ms: see docs/benchmarks.md for the CPU it saves against 5 ms).
// Under load this turns one thread wakeup per arriving packet into one per interval, for at
// most that much added latency; an idle poller still wakes at once for new input, and a key
// given to run_again() (a connection that used up its read budget) is served at once.
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace live::net {

inline constexpr int kMaxEventsPerWakeup = 64;
inline constexpr int64_t kInputCoalesceMicros = 20000;

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
  bool start(GMainContext* context, Handler handler);
  void stop();  // detaches the source, closes the epoll fd

  // Watch `fd` for input; events come to the handler under `key`.
  bool watch_input(int fd, uint64_t key);
  // Stops watching `fd` and drops a pending run_again(key).
  void unwatch(int fd, uint64_t key);
  // Calls the handler for `key` on the next iteration, at once (no coalescing delay), without
  // waiting for the fd (TLS may hold decrypted input the socket no longer signals).
  void run_again(uint64_t key);

 private:
  struct Source;
  static gboolean prepare(GSource* source, gint* timeout);
  static gboolean check(GSource* source);
  static gboolean dispatch(GSource* source, GSourceFunc, gpointer);
  int dispatch_ready();  // returns how many keys it handled

  int epoll_fd_ = -1;
  GSource* source_ = nullptr;
  gpointer fd_tag_ = nullptr;
  bool coalescing_ = false;  // fd not polled until the source's ready time
  Handler handler_;
  std::vector<uint64_t> again_;
  std::vector<uint64_t> running_again_;
};

}  // namespace live::net
