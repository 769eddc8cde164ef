#include "net/connection.h"

#include "net/io_poller.h"
#include "net/listener.h"
#include "net/mount.h"
#include "net/stream_io.h"

#include <gst/gst.h>
#include <sys/socket.h>

#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <memory>

GST_DEBUG_CATEGORY_EXTERN(live_net_debug);
#define GST_CAT_DEFAULT live_net_debug

namespace live::net {

namespace {
constexpr int64_t kLingerMicros = 2 * G_USEC_PER_SEC;  // grace period after an error reply
constexpr int kReadsPerWakeup = 4;  // fairness between connections on one I/O thread

// Carries the connection id through the async TLS handshake: the connection may be gone
// when the callback runs, so it is looked up again rather than pointed to.
struct HandshakeToken {
  ConnectionOwner* owner;
  uint64_t id;
};
}  // namespace

Connection::Connection(ConnectionOwner& owner, IoPoller& poller, uint64_t id,
                       GSocketConnection* stream, std::string peer,
                       GTlsCertificate* tls_certificate,
                       const rtmp::ServerSessionConfig& session_config)
    : owner_(owner),
      id_(id),
      peer_(std::move(peer)),
      socket_connection_(G_SOCKET_CONNECTION(g_object_ref(stream))),
      cancellable_(g_cancellable_new()),
      poller_(poller),
      fd_(g_socket_get_fd(g_socket_connection_get_socket(socket_connection_))),
      session_(session_config) {
  accepted_at_ = last_received_at_ = g_get_monotonic_time();
  if (tls_certificate) {
    GError* error = nullptr;
    GIOStream* tls = g_tls_server_connection_new(G_IO_STREAM(socket_connection_),
                                                 tls_certificate, &error);
    if (tls) {
      g_object_set(tls, "authentication-mode", G_TLS_AUTHENTICATION_NONE, nullptr);
      stream_ = tls;
      tls_ = true;
      state_ = State::tls_handshake;
    } else {
      GST_WARNING("%s: cannot create TLS connection: %s", peer_.c_str(), error->message);
      g_clear_error(&error);
      state_ = State::closed;  // start() reports it
    }
  } else {
    stream_ = G_IO_STREAM(g_object_ref(socket_connection_));
  }
}

Connection::~Connection() {
  update_watch(false, false, false);
  g_cancellable_cancel(cancellable_);
  g_object_unref(cancellable_);
  if (stream_) g_object_unref(stream_);
  g_object_unref(socket_connection_);
}

void Connection::start() {
  if (state_ == State::closed) {
    state_ = State::open;
    close("TLS setup failed");
    return;
  }
  if (state_ == State::tls_handshake) {
    auto token = std::make_unique<HandshakeToken>(HandshakeToken{&owner_, id_});
    g_tls_connection_handshake_async(G_TLS_CONNECTION(stream_), G_PRIORITY_DEFAULT, cancellable_,
                                     on_tls_handshake_done, token.release());
    return;
  }
  start_reading();
}

void Connection::on_tls_handshake_done(GObject* source, GAsyncResult* result, gpointer data) {
  std::unique_ptr<HandshakeToken> token(static_cast<HandshakeToken*>(data));
  GError* error = nullptr;
  gboolean ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, &error);
  Connection* self = token->owner->find_connection(token->id);
  if (!self || self->state_ != State::tls_handshake) {
    g_clear_error(&error);
    return;
  }
  if (!ok) {
    std::string reason = std::string("TLS handshake failed: ") + error->message;
    g_clear_error(&error);
    self->state_ = State::open;
    self->close(reason);
    return;
  }
  GST_DEBUG("%s: TLS handshake done", self->peer_.c_str());
  self->state_ = State::open;
  self->start_reading();
}

void Connection::pause_reading() {
  if (reading_paused_) return;
  reading_paused_ = true;
  stop_watching_input();
}

// One epoll registration for both directions; the fd leaves the poller before it is closed
// (the next accept may reuse the number).
bool Connection::update_watch(bool input, bool batched, bool output) {
  const bool was = watching_input_ || watching_output_;
  const uint32_t events = (input ? uint32_t(EPOLLIN) : 0u) | (output ? uint32_t(EPOLLOUT) : 0u);
  if (input == watching_input_ && output == watching_output_ && (!was || batched == in_batched_set_))
    return true;
  const bool ok = poller_.watch(fd_, poll_key(), batched, in_batched_set_, events, was);
  watching_input_ = ok && input;
  watching_output_ = ok && output;
  in_batched_set_ = batched;
  return ok || events == 0;
}

void Connection::stop_watching_input() {
  if (!watching_input_) return;
  update_watch(false, input_batched_, watching_output_);
}

void Connection::watch_writable(bool on) {
  if (state_ == State::closed) on = false;
  if (!update_watch(watching_input_, input_batched_, on))
    close(std::string("cannot watch the socket: ") + g_strerror(errno));
}

void Connection::set_input_batched(bool batched) {
  if (input_batched_ == batched) return;
  input_batched_ = batched;
  if ((watching_input_ || watching_output_) &&
      !update_watch(watching_input_, batched, watching_output_))
    close(std::string("cannot watch the socket: ") + g_strerror(errno));
}

void Connection::on_poll(uint32_t events) {
  if (events & EPOLLOUT) {
    flush();
    if (!is_open()) return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_input();
}

void Connection::resume_reading() {
  if (!reading_paused_) return;
  reading_paused_ = false;
  last_received_at_ = g_get_monotonic_time();  // the pause was ours, not the peer's silence
  if (reading_started_ && state_ != State::closed && !watching_input_) start_reading();
}

void Connection::start_reading() {
  reading_started_ = true;
  if (reading_paused_) return;
  if (!watching_input_ && !update_watch(true, input_batched_, watching_output_)) {
    close(std::string("cannot watch the socket: ") + g_strerror(errno));
    return;
  }
  // Data may already be buffered (TLS) before the socket polls readable again.
  read_available();
}

void Connection::on_input() {
  if (!is_open() || reading_paused_ || !watching_input_) return;
  read_available();
}

gssize Connection::read_some(uint8_t* data, size_t size, std::string& error) {
  if (tls_) return read_nonblocking(stream_, cancellable_, data, size, error);  // decrypt
  for (;;) {  // plain TCP: straight from the socket
    ssize_t n = recv(fd_, data, size, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    error = g_strerror(errno);
    return -2;
  }
}

void Connection::read_available() {
  std::array<uint8_t, kReadChunkBytes> buffer;
  // A few reads per wakeup, then yield so one fast peer cannot starve the others. The poller
  // is level-triggered, so a socket with input left is reported again on the next iteration.
  for (int round = 0; is_open() && !reading_paused_; ++round) {
    if (round == kReadsPerWakeup) {
      // Come back on the next iteration, without the poller's coalescing delay (a fast
      // publisher is not slowed down by it); TLS may also hold decrypted input that the
      // socket no longer signals.
      poller_.run_again(poll_key());
      return;
    }
    std::string error;
    gssize n = read_some(buffer.data(), buffer.size(), error);
    if (n == -1) return;
    if (n < 0) {
      close("read error: " + error);
      return;
    }
    if (n == 0) {
      close(state_ == State::lingering ? linger_reason_ : "peer closed the connection");
      return;
    }
    last_received_at_ = g_get_monotonic_time();
    // Plain TCP: a short read emptied the socket; skip the read that would only say EAGAIN
    // (level-triggered epoll reports bytes that arrive later). TLS reads until it would block.
    const bool drained = size_t(n) < buffer.size() && stream_ == G_IO_STREAM(socket_connection_);
    if (state_ == State::lingering) {  // discard: we are only waiting for the close
      if (drained) return;
      continue;
    }
    auto fed = session_.feed(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
    owner_.session_has_events(*this);  // events before the error still count
    if (!is_open()) return;
    if (!fed) {
      close_after_flush("protocol error: " + fed.error().describe());
      return;
    }
    flush();
    if (drained) return;
  }
}

void Connection::flush() {
  if (state_ == State::closed || state_ == State::tls_handshake) return;
  if (viewer_) {
    flush_viewer();
    return;
  }
  while (!session_.pending_output().empty()) {
    std::string error;
    gssize n = write_nonblocking(stream_, cancellable_, session_.pending_output(), error);
    if (n == -1) break;
    if (n < 0) {
      close("write error: " + error);
      return;
    }
    session_.consume_output(static_cast<size_t>(n));
  }
  size_t left = session_.pending_output().size();
  if (left > kMaxPendingOutputBytes) {
    close("peer does not read: " + std::to_string(left) + " bytes queued");
    return;
  }
  watch_writable(left > 0);
  if (left == 0 && state_ == State::lingering && G_IS_SOCKET_CONNECTION(stream_)) {
    // Plain TCP: FIN after the reply so the client reads it before the close (no RST race).
    g_socket_shutdown(g_socket_connection_get_socket(socket_connection_), FALSE, TRUE, nullptr);
  }
}

relay::ViewerQueue& Connection::start_viewer(const relay::ViewerQueueLimits& limits) {
  viewer_ = std::make_unique<relay::ViewerQueue>(relay::WireFormat::rtmp, session_.play_stream_id(),
                                                 session_.outgoing_chunk_size(), limits);
  return *viewer_;
}

// A player: the session's own messages (status, pings, acks) join the queue in order, between
// whole relayed messages, and everything goes out with vectored writes.
void Connection::flush_viewer(bool take_session_output) {
  if (state_ == State::closed || state_ == State::tls_handshake || !viewer_) return;
  const int64_t now = g_get_monotonic_time();
  if (take_session_output) {
    auto pending = session_.pending_output();
    if (!pending.empty()) {
      viewer_->push_bytes(std::vector<uint8_t>(pending.begin(), pending.end()), now);
      session_.consume_output(pending.size());
    }
  }
  std::string error;
  const WriteOutcome outcome =
      write_viewer_queue(*viewer_, fd_, tls_ ? stream_ : nullptr, cancellable_, now, error);
  if (outcome == WriteOutcome::failed) {
    close("write error: " + error);
    return;
  }
  watch_writable(outcome == WriteOutcome::blocked);
  if (outcome == WriteOutcome::drained && state_ == State::lingering && !tls_) {
    g_socket_shutdown(g_socket_connection_get_socket(socket_connection_), FALSE, TRUE, nullptr);
  }
}

void Connection::close_after_flush(const std::string& reason) {
  if (state_ == State::closed || state_ == State::lingering) return;
  if (state_ == State::tls_handshake) {
    close(reason);
    return;
  }
  state_ = State::lingering;
  linger_reason_ = reason;
  linger_deadline_ = g_get_monotonic_time() + kLingerMicros;
  flush();
}

void Connection::close(const std::string& reason) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  update_watch(false, input_batched_, false);
  g_cancellable_cancel(cancellable_);
  // Close the socket itself: closing a TLS stream would try to send close_notify and could block.
  g_socket_close(g_socket_connection_get_socket(socket_connection_), nullptr);
  owner_.connection_closed(*this, reason);
}

}  // namespace live::net
