#include "net/io_poller.h"

#include "net/realtime_demand.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace live::net {

struct IoPoller::Source {
  GSource base;
  IoPoller* poller;
};

namespace {
GSourceFuncs source_funcs = {};
}  // namespace

IoPoller::~IoPoller() { stop(); }

bool IoPoller::start(GMainContext* context, Handler handler, int64_t read_interval_micros) {
  read_interval_micros_ = read_interval_micros;
  prompt_fd_ = epoll_create1(EPOLL_CLOEXEC);
  batched_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (prompt_fd_ < 0 || batched_fd_ < 0) {
    const int saved = errno;
    stop();
    errno = saved;
    return false;
  }
  handler_ = std::move(handler);
  source_funcs.prepare = prepare;
  source_funcs.check = check;
  source_funcs.dispatch = dispatch;
  source_ = g_source_new(&source_funcs, sizeof(Source));
  reinterpret_cast<Source*>(source_)->poller = this;
  g_source_set_name(source_, "live-net-epoll");
  // GLib blocks a non-recursive source while it dispatches: it takes the source's fds out of the
  // poll set and adds them back afterwards, and adding wakes the context (an eventfd write and one
  // more loop iteration per dispatch: 600 a second for one publisher). The dispatch never runs
  // this context recursively, so the blocking buys nothing.
  g_source_set_can_recurse(source_, TRUE);
  prompt_tag_ = g_source_add_unix_fd(source_, prompt_fd_, G_IO_IN);
  batched_tag_ = g_source_add_unix_fd(source_, batched_fd_, G_IO_IN);
  g_source_attach(source_, context);
  return true;
}

void IoPoller::stop() {
  if (source_) {
    g_source_destroy(source_);
    g_source_unref(source_);
    source_ = nullptr;
    prompt_tag_ = batched_tag_ = nullptr;
  }
  for (int* fd : {&prompt_fd_, &batched_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  again_.clear();
  coalescing_ = false;
  batched_count_ = 0;
}

int64_t IoPoller::interval_micros(int64_t read_interval_micros, int batched_fds,
                                  bool realtime_demand) {
  if (!realtime_demand) return read_interval_micros;
  const int64_t by_load = batched_fds >= kPublishersForFullInterval
                              ? read_interval_micros
                              : read_interval_micros * batched_fds / kPublishersForFullInterval;
  return std::min(by_load, kRealtimeReadIntervalMaxMicros);
}

int64_t IoPoller::effective_interval_micros() const {
  return interval_micros(read_interval_micros_, batched_count_, RealtimeDemand::anywhere());
}

bool IoPoller::watch(int fd, uint64_t key, bool batched, bool was_batched, uint32_t events,
                     bool was_watched) {
  if (was_watched && (events == 0 || batched != was_batched)) {
    if (epoll_ctl(was_batched ? batched_fd_ : prompt_fd_, EPOLL_CTL_DEL, fd, nullptr) == 0 &&
        was_batched)
      --batched_count_;
    was_watched = false;
  }
  if (events == 0) {
    std::erase(again_, key);
    return true;
  }
  epoll_event event{};
  event.events = events;
  event.data.u64 = key;
  if (epoll_ctl(batched ? batched_fd_ : prompt_fd_, was_watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                fd, &event) != 0)
    return false;
  if (batched && !was_watched) ++batched_count_;
  return true;
}

void IoPoller::run_again(uint64_t key) {
  if (std::find(again_.begin(), again_.end(), key) == again_.end()) again_.push_back(key);
}

// The end of a coalescing interval is a poll timeout computed here, not a GSource ready time:
// GLib 2.74 wakes the context (an eventfd write and one more loop iteration) on every ready-time
// change, even from the context's own thread; that was two writes per interval.
bool IoPoller::coalescing_over(GSource* source, gint* timeout_ms) const {
  if (!coalescing_) return false;
  const int64_t left_us = coalesce_until_ - g_source_get_time(source);
  if (left_us <= 0) return true;
  const gint ms = gint((left_us + 999) / 1000);
  if (*timeout_ms < 0 || ms < *timeout_ms) *timeout_ms = ms;
  return false;
}

gboolean IoPoller::prepare(GSource* source, gint* timeout) {
  IoPoller* self = reinterpret_cast<Source*>(source)->poller;
  *timeout = -1;
  if (!self->again_.empty() || self->coalescing_over(source, timeout)) {
    *timeout = 0;
    return TRUE;
  }
  return FALSE;
}

gboolean IoPoller::check(GSource* source) {
  IoPoller* self = reinterpret_cast<Source*>(source)->poller;
  gint ignored = -1;
  // While coalescing the batched set is not polled: it is read when the interval is over.
  return !self->again_.empty() || self->coalescing_over(source, &ignored) ||
         (g_source_query_unix_fd(source, self->prompt_tag_) & G_IO_IN) ||
         (!self->coalescing_ && (g_source_query_unix_fd(source, self->batched_tag_) & G_IO_IN));
}

gboolean IoPoller::dispatch(GSource* source, GSourceFunc, gpointer) {
  IoPoller* self = reinterpret_cast<Source*>(source)->poller;
  self->dispatching_ = true;
  self->dispatch_sets(source);
  self->dispatching_ = false;
  if (self->after_dispatch_) self->after_dispatch_();
  return G_SOURCE_CONTINUE;
}

void IoPoller::dispatch_sets(GSource* source) {
  running_again_.swap(again_);
  again_.clear();
  for (uint64_t key : running_again_) handler_(key, EPOLLIN);
  running_again_.clear();
  dispatch_set(prompt_fd_);

  const int64_t now = g_source_get_time(source);
  if (coalescing_ && now < coalesce_until_) return;  // not yet
  const int64_t interval = effective_interval_micros();
  if (dispatch_set(batched_fd_) > 0 && interval > 0) {
    // Work was found: let input gather for a while before looking again.
    if (!coalescing_) g_source_modify_unix_fd(source, batched_tag_, GIOCondition(0));
    coalescing_ = true;
    coalesce_until_ = now + interval;
  } else if (coalescing_) {
    // Nothing came in the interval: wait for the batched set's fd again.
    g_source_modify_unix_fd(source, batched_tag_, G_IO_IN);
    coalescing_ = false;
  }
}

int IoPoller::dispatch_set(int epoll_fd) {
  std::array<epoll_event, kMaxEventsPerWakeup> events;
  int handled = 0;
  // More ready connections than one call returns: take them all now, not one interval later.
  for (int round = 0; round < kMaxEpollRoundsPerWakeup; ++round) {
    const int count = epoll_wait(epoll_fd, events.data(), int(events.size()), 0);
    for (int i = 0; i < count; ++i) handler_(events[i].data.u64, events[i].events);
    handled += std::max(count, 0);
    if (count < int(events.size())) break;
  }
  return handled;
}

}  // namespace live::net
