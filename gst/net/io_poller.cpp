#include "net/io_poller.h"

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

bool IoPoller::start(GMainContext* context, Handler handler) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return false;
  handler_ = std::move(handler);
  source_funcs.prepare = prepare;
  source_funcs.check = check;
  source_funcs.dispatch = dispatch;
  source_ = g_source_new(&source_funcs, sizeof(Source));
  reinterpret_cast<Source*>(source_)->poller = this;
  g_source_set_name(source_, "live-net-epoll");
  fd_tag_ = g_source_add_unix_fd(source_, epoll_fd_, G_IO_IN);
  g_source_attach(source_, context);
  return true;
}

void IoPoller::stop() {
  if (source_) {
    g_source_destroy(source_);
    g_source_unref(source_);
    source_ = nullptr;
    fd_tag_ = nullptr;
  }
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
  again_.clear();
  coalescing_ = false;
}

bool IoPoller::watch_input(int fd, uint64_t key) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = key;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

void IoPoller::unwatch(int fd, uint64_t key) {
  if (epoll_fd_ >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  std::erase(again_, key);
}

void IoPoller::run_again(uint64_t key) {
  if (std::find(again_.begin(), again_.end(), key) == again_.end()) again_.push_back(key);
}

gboolean IoPoller::prepare(GSource* source, gint* timeout) {
  const bool pending = !reinterpret_cast<Source*>(source)->poller->again_.empty();
  *timeout = pending ? 0 : -1;
  return pending;
}

gboolean IoPoller::check(GSource* source) {
  IoPoller* self = reinterpret_cast<Source*>(source)->poller;
  // While coalescing the fd is not polled; GLib dispatches at the ready time by itself.
  return !self->again_.empty() ||
         (!self->coalescing_ && (g_source_query_unix_fd(source, self->fd_tag_) & G_IO_IN));
}

gboolean IoPoller::dispatch(GSource* source, GSourceFunc, gpointer) {
  IoPoller* self = reinterpret_cast<Source*>(source)->poller;
  const bool coalescing = self->coalescing_;
  if (self->dispatch_ready() > 0) {
    // Work was found: let input gather for a while before looking again.
    if (!coalescing) g_source_modify_unix_fd(source, self->fd_tag_, GIOCondition(0));
    self->coalescing_ = true;
    g_source_set_ready_time(source, g_source_get_time(source) + kInputCoalesceMicros);
  } else if (coalescing) {
    // Nothing came in the interval: wait for the epoll fd again.
    g_source_modify_unix_fd(source, self->fd_tag_, G_IO_IN);
    self->coalescing_ = false;
    g_source_set_ready_time(source, -1);
  }
  return G_SOURCE_CONTINUE;
}

int IoPoller::dispatch_ready() {
  running_again_.swap(again_);
  again_.clear();
  int handled = int(running_again_.size());
  for (uint64_t key : running_again_) handler_(key, EPOLLIN);
  running_again_.clear();
  std::array<epoll_event, kMaxEventsPerWakeup> events;
  const int count = epoll_wait(epoll_fd_, events.data(), int(events.size()), 0);
  for (int i = 0; i < count; ++i) handler_(events[i].data.u64, events[i].events);
  return handled + std::max(count, 0);
}

}  // namespace live::net
