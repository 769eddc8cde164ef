// HttpWorkers: see the header. Each worker is one thread with its own epoll set (edge
// triggered, both directions registered once) and an eventfd for new connections and stop.
#include "http/http_workers.h"

#include <gst/gst.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_set>

GST_DEBUG_CATEGORY_EXTERN(live_http_port_debug);
#define GST_CAT_DEFAULT live_http_port_debug

namespace live::http {

namespace {

int64_t monotonic_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec;
}

// "Date: Wed, 02 Dec 2026 10:31:15 GMT\r\n" as libsoup writes it, remade once a second.
class DateLine {
 public:
  const std::string& get() {
    const time_t now = time(nullptr);
    if (now != made_at_) {
      static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
      static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      tm t;
      gmtime_r(&now, &t);
      char text[64];
      snprintf(text, sizeof text, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", kDays[t.tm_wday], t.tm_mday,
               kMonths[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
      line_ = text;
      made_at_ = now;
    }
    return line_;
  }

 private:
  time_t made_at_ = -1;
  std::string line_;
};

void wake_fd(int fd) {
  const uint64_t one = 1;
  ssize_t ignored = write(fd, &one, sizeof one);
  (void)ignored;
}

}  // namespace

class HttpWorkers::Worker {
 public:
  explicit Worker(HttpWorkers* owner) : owner_(owner) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    mailbox_->wake_fd = wake_fd_;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake-up fd
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    thread_ = std::thread(&Worker::run, this);
  }

  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mailbox_->lock);
      mailbox_->stopping = true;
    }
    wake_fd(wake_fd_);
    thread_.join();
    {
      // Replies sent from now on are dropped; the fd goes only after nobody can write to it.
      std::lock_guard<std::mutex> lock(mailbox_->lock);
      mailbox_->closed = true;
      for (GSocketConnection* connection : mailbox_->fresh) g_object_unref(connection);  // never started
      mailbox_->fresh.clear();
      mailbox_->answered.clear();
    }
    close(wake_fd_);
    close(epoll_fd_);
  }

  void add(GSocketConnection* connection) {
    {
      std::lock_guard<std::mutex> lock(mailbox_->lock);
      mailbox_->fresh.push_back(G_SOCKET_CONNECTION(g_object_ref(connection)));
    }
    wake_fd(wake_fd_);
  }

 private:
  struct Connection;
  class Reply;

  // What other threads hand to the worker: new connections and held requests' answers. Shared
  // with the replies, which may outlive the worker.
  struct Mailbox {
    std::mutex lock;
    int wake_fd = -1;
    bool stopping = false;  // the worker thread ends
    bool closed = false;    // the worker is gone: drop what comes
    std::vector<GSocketConnection*> fresh;
    std::vector<std::shared_ptr<Reply>> answered;
  };

  // A held request's answer: parks its connection until send().
  class Reply final : public PlainReply, public std::enable_shared_from_this<Reply> {
   public:
    Reply(std::shared_ptr<Mailbox> mailbox, Connection* connection, bool head, bool close)
        : connection(connection), head(head), close(close), mailbox_(std::move(mailbox)) {}
    void send(PlainResponse answer) override {
      if (sent_.exchange(true)) return;
      {
        std::lock_guard<std::mutex> lock(gone_lock_);
        on_gone_ = nullptr;
      }
      std::lock_guard<std::mutex> lock(mailbox_->lock);
      if (mailbox_->closed) return;
      response = std::move(answer);  // read by the worker after it takes us from the mailbox
      mailbox_->answered.push_back(shared_from_this());
      wake_fd(mailbox_->wake_fd);
    }
    bool client_gone() const override { return gone; }
    void on_client_gone(std::function<void()> callback) override {
      {
        std::lock_guard<std::mutex> lock(gone_lock_);
        if (!gone) {
          on_gone_ = std::move(callback);
          return;
        }
      }
      if (!sent_) callback();
    }
    // Worker thread: the connection is closed.
    void mark_gone() {
      std::function<void()> callback;
      {
        std::lock_guard<std::mutex> lock(gone_lock_);
        gone = true;
        callback.swap(on_gone_);
      }
      if (callback) callback();
    }

    Connection* connection;  // worker thread only; null once the connection is gone
    const bool head;
    const bool close;
    PlainResponse response;
    std::atomic<bool> gone{false};

   private:
    std::shared_ptr<Mailbox> mailbox_;
    std::atomic<bool> sent_{false};
    std::mutex gone_lock_;
    std::function<void()> on_gone_;  // under gone_lock_
  };

  struct Connection {
    GSocketConnection* connection = nullptr;  // our reference
    int fd = -1;
    std::string out_head;  // the response head not yet sent
    size_t head_sent = 0;
    std::shared_ptr<const std::string> out_body;  // null for HEAD
    size_t body_sent = 0;
    int64_t last_progress_s = 0;
    int64_t added_s = 0;
    bool requested = false;  // a complete request head came (kFirstRequestTimeoutS before)
    bool close_when_sent = false;  // the request said "Connection: close"
    std::shared_ptr<Reply> parked;  // a held request: nothing more is read until it is answered
  };

  void run() {
    epoll_event events[128];
    int64_t last_sweep = monotonic_seconds();
    for (;;) {
      const int timeout_ms = again_.empty() ? 1000 : 0;
      const int n = epoll_wait(epoll_fd_, events, 128, timeout_ms);
      if (n < 0 && errno != EINTR) {
        GST_ERROR("epoll_wait: %s", g_strerror(errno));
        break;
      }
      std::vector<Connection*> again;
      again.swap(again_);
      for (Connection* c : again) progress(c);
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<Connection*>(events[i].data.ptr);
        if (c == nullptr) {
          if (!take_inbox()) return finish();
        } else if (live_.count(c) != 0) {
          if (events[i].events & (EPOLLERR)) drop(c);
          else progress(c);
        }
      }
      const int64_t now = monotonic_seconds();
      if (now != last_sweep) {
        last_sweep = now;
        sweep_idle(now);
      }
    }
    finish();
  }

  // New connections into the epoll set, answers of held requests out. False when stopping.
  bool take_inbox() {
    uint64_t count;
    ssize_t ignored = read(wake_fd_, &count, sizeof count);
    (void)ignored;
    std::vector<GSocketConnection*> fresh;
    std::vector<std::shared_ptr<Reply>> answered;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mailbox_->lock);
      stopping = mailbox_->stopping;
      fresh.swap(mailbox_->fresh);
      answered.swap(mailbox_->answered);
    }
    for (auto& reply : answered) {
      Connection* c = reply->connection;
      if (c == nullptr) continue;  // the client left meanwhile
      reply->connection = nullptr;
      c->parked.reset();
      queue_response(c, std::move(reply->response), reply->head, reply->close);
      if (stopping) {
        bool dropped = false;
        flush(c, &dropped);  // e.g. the 503s of a site that stopped just before the port
      } else {
        progress(c);  // sends it, then the requests that came meanwhile
      }
    }
    if (stopping) {
      for (GSocketConnection* connection : fresh) g_object_unref(connection);
      return false;
    }
    for (GSocketConnection* connection : fresh) {
      auto c = std::make_unique<Connection>();
      c->connection = connection;
      c->fd = g_socket_get_fd(g_socket_connection_get_socket(connection));
      c->last_progress_s = c->added_s = monotonic_seconds();
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.ptr = c.get();
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        owner_->handed_over_++;
        owner_->hand_over_(connection);  // libsoup can still serve it
        continue;
      }
      Connection* raw = c.release();
      live_.insert(raw);
      progress(raw);  // the first request may be there already (no edge for it after ADD otherwise)
    }
    return true;
  }

  // Stopping: what is still unsent gets one more try (the socket buffer usually takes it), as
  // libsoup gets a last main-loop pass to write its last responses.
  void finish() {
    for (Connection* c : live_) {
      while (has_pending(c) && send_pending(c) > 0) {
      }
      if (c->parked) c->parked->mark_gone();
      g_io_stream_close(G_IO_STREAM(c->connection), nullptr, nullptr);
      g_object_unref(c->connection);
      delete c;
    }
    live_.clear();
  }

  void forget(Connection* c) {
    if (c->parked) {
      c->parked->connection = nullptr;
      c->parked->mark_gone();
      c->parked.reset();
    }
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
    live_.erase(c);
    std::erase(again_, c);
  }

  void drop(Connection* c) {
    forget(c);
    g_io_stream_close(G_IO_STREAM(c->connection), nullptr, nullptr);
    g_object_unref(c->connection);
    delete c;
  }

  void hand_over(Connection* c) {
    forget(c);
    owner_->handed_over_++;
    owner_->hand_over_(c->connection);
    delete c;
  }

  static bool has_pending(const Connection* c) {
    return c->head_sent < c->out_head.size() || (c->out_body && c->body_sent < c->out_body->size());
  }

  // One sendmsg of what is pending (head, then body); its result.
  static ssize_t send_pending(Connection* c) {
    iovec iov[2];
    int count = 0;
    if (c->head_sent < c->out_head.size())
      iov[count++] = {c->out_head.data() + c->head_sent, c->out_head.size() - c->head_sent};
    if (c->out_body && c->body_sent < c->out_body->size())
      iov[count++] = {const_cast<char*>(c->out_body->data()) + c->body_sent, c->out_body->size() - c->body_sent};
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = count;
    const ssize_t n = sendmsg(c->fd, &message, MSG_NOSIGNAL);
    if (n > 0) {
      const size_t head_part = std::min(size_t(n), c->out_head.size() - c->head_sent);
      c->head_sent += head_part;
      c->body_sent += size_t(n) - head_part;
    }
    return n;
  }

  // Sends what is pending. False when it could not all go (or the connection was dropped).
  bool flush(Connection* c, bool* dropped) {
    while (has_pending(c)) {
      const ssize_t n = send_pending(c);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        drop(c);
        *dropped = true;
        return false;
      }
      c->last_progress_s = monotonic_seconds();
    }
    c->out_head.clear();
    c->head_sent = 0;
    c->out_body.reset();
    c->body_sent = 0;
    if (c->close_when_sent) {
      drop(c);
      *dropped = true;
      return false;
    }
    return true;
  }

  // Sends what is pending, then answers the requests that are there, until the socket has
  // nothing more (edge triggered: the next edge brings us back).
  void progress(Connection* c) {
    bool dropped = false;
    if (!flush(c, &dropped)) return;
    if (c->parked) return watch_parked(c);
    for (int served = 0;; ++served) {
      if (served == kMaxPlainRequestsPerTurn) {
        again_.push_back(c);  // others first; no new edge would come for what is buffered
        return;
      }
      const ssize_t n = recv(c->fd, buffer_, sizeof buffer_, MSG_PEEK);
      if (n == 0) return drop(c);  // the client closed
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return drop(c);
      }
      PlainRequestHead request;
      const PlainParse parsed = parse_plain_request(std::string_view(buffer_, size_t(n)), &request);
      if (parsed == PlainParse::incomplete) return;
      if (!c->requested) {
        c->requested = true;
        if (owner_->first_request_) owner_->first_request_(c->connection);
      }
      PlainResponse response;
      std::shared_ptr<Reply> held;
      if (parsed == PlainParse::plain) {
        // One pointer captured: the std::function stays in its small buffer (no allocation).
        struct HoldContext {
          Worker* worker;
          Connection* c;
          const PlainRequestHead* request;
          std::shared_ptr<Reply>* held;
        } context{this, c, &request, &held};
        const Hold hold = [&context]() -> std::shared_ptr<PlainReply> {
          *context.held = std::make_shared<Reply>(context.worker->mailbox_, context.c, context.request->head,
                                                  context.request->close);
          return *context.held;
        };
        if (!owner_->answer_(request, hold, &response)) {
          if (held) held->connection = nullptr;  // a site that held and then declined
          return hand_over(c);
        }
      } else {
        return hand_over(c);
      }
      // Consume the request: its bytes are in the socket already.
      if (recv(c->fd, buffer_, request.length, 0) != ssize_t(request.length)) {
        if (held) c->parked = std::move(held);  // for drop() to mark it gone
        return drop(c);
      }
      owner_->answered_++;
      c->last_progress_s = monotonic_seconds();
      if (held) {
        c->parked = std::move(held);  // its answer may be in the mailbox already: next wake-up
        return;
      }
      queue_response(c, std::move(response), request.head, request.close);
      if (!flush(c, &dropped)) return;
    }
  }

  void queue_response(Connection* c, PlainResponse&& response, bool head_only, bool close) {
    const size_t length = response.body ? response.body->size() : 0;
    std::string& head = c->out_head;
    head.reserve(256 + response.headers.size());
    head.assign("HTTP/1.1 ");
    head += std::to_string(response.status);
    head += ' ';
    head += soup_status_get_phrase(response.status);
    head += "\r\n";
    head += owner_->server_line_;
    head += date_.get();
    head += response.headers;
    head += "Content-Length: ";
    head += std::to_string(length);
    head += "\r\n\r\n";
    c->head_sent = 0;
    c->out_body = head_only ? nullptr : std::move(response.body);
    c->body_sent = 0;
    c->close_when_sent = close;
  }

  // A parked connection became readable: the client left (EOF, error), or sent its next
  // request early, which waits in the socket for the held answer to go first.
  void watch_parked(Connection* c) {
    char byte;
    const ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) drop(c);
  }

  void sweep_idle(int64_t now) {
    std::vector<Connection*> idle;
    for (Connection* c : live_)
      if ((owner_->idle_timeout_s_ != 0 && now - c->last_progress_s >= int64_t(owner_->idle_timeout_s_)) ||
          (!c->requested && now - c->added_s >= int64_t(kFirstRequestTimeoutS)))
        idle.push_back(c);
    for (Connection* c : idle) {
      GST_DEBUG("closing a connection idle for %u s", owner_->idle_timeout_s_);
      drop(c);
    }
  }

  HttpWorkers* owner_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  // Worker thread only.
  std::unordered_set<Connection*> live_;
  std::vector<Connection*> again_;  // served their turn with requests still buffered
  DateLine date_;
  char buffer_[kMaxPlainRequestHeadBytes];
};

HttpWorkers::HttpWorkers(unsigned threads, uint32_t idle_timeout_s, std::string server_header, Answer answer,
                         HandOver hand_over, FirstRequest first_request)
    : idle_timeout_s_(idle_timeout_s),
      server_line_("Server: " + server_header + "\r\n"),
      answer_(std::move(answer)),
      hand_over_(std::move(hand_over)),
      first_request_(std::move(first_request)) {
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(this));
}

HttpWorkers::~HttpWorkers() { workers_.clear(); }

void HttpWorkers::add(GSocketConnection* connection) {
  workers_[next_++ % workers_.size()]->add(connection);
}

}  // namespace live::http
