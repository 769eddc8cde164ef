#include "net/push_client.h"

#include <gst/gst.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>

#include "net/stream_io.h"

GST_DEBUG_CATEGORY_EXTERN(live_net_debug);
#define GST_CAT_DEFAULT live_net_debug

namespace live::net {

namespace {
constexpr size_t kReadBytes = 16 * 1024;

const char* state_name(int state) {
  static const char* names[] = {"idle", "connecting", "connecting", "publishing", "waiting",
                                "stopped"};
  return names[state];
}

// Survives the client: the async connect may complete after it is gone.
struct ConnectToken {
  PushClient* client;
  std::weak_ptr<bool> alive;
};
}  // namespace

PushClient::PushClient(GMainContext* context, IoPoller& poller, rtmp::RtmpUrl url, bool tls_verify,
                       Callbacks callbacks)
    : context_(context),
      poller_(poller),
      url_(std::move(url)),
      location_(rtmp::redacted(url_)),
      tls_verify_(tls_verify),
      callbacks_(std::move(callbacks)) {}

PushClient::~PushClient() {
  *alive_ = false;
  close_connection();
  if (retry_source_) {
    g_source_destroy(retry_source_);
    g_source_unref(retry_source_);
  }
}

void PushClient::start() { connect(); }

void PushClient::set_state(State state) {
  if (state == state_) return;
  state_ = state;
  if (callbacks_.stats_changed) callbacks_.stats_changed();
}

void PushClient::connect() {
  if (state_ == State::stopped) return;
  set_state(State::connecting);
  attempt_started_us_ = g_get_monotonic_time();
  GST_INFO("push %s: connecting", location_.c_str());
  GSocketClient* client = g_socket_client_new();
  g_socket_client_set_timeout(client, guint(kPushConnectTimeoutUs / G_USEC_PER_SEC));
  if (url_.tls) {
    g_socket_client_set_tls(client, TRUE);
    if (!tls_verify_) {
      // push-tls-verify=false: a self-signed or private certificate is accepted (tests, own
      // edges); by default the certificate must validate for the host.
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_socket_client_set_tls_validation_flags(client, GTlsCertificateFlags(0));
      G_GNUC_END_IGNORE_DEPRECATIONS
    }
  }
  cancellable_ = g_cancellable_new();
  auto* token = new ConnectToken{this, alive_};
  // The I/O thread's context is its thread default: the callback comes back here.
  g_socket_client_connect_to_host_async(client, url_.host.c_str(), url_.port, cancellable_,
                                        on_connected, token);
  g_object_unref(client);
}

void PushClient::on_connected(GObject* source, GAsyncResult* result, gpointer data) {
  std::unique_ptr<ConnectToken> token(static_cast<ConnectToken*>(data));
  GError* error = nullptr;
  GSocketConnection* connection =
      g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(source), result, &error);
  if (token->alive.expired()) {
    if (connection) g_object_unref(connection);
    g_clear_error(&error);
    return;
  }
  PushClient* self = token->client;
  if (!connection) {
    std::string reason = std::string("cannot connect: ") + (error ? error->message : "unknown");
    g_clear_error(&error);
    self->fail(reason);
    return;
  }
  self->connected(G_IO_STREAM(connection));
}

void PushClient::connected(GIOStream* stream) {
  if (state_ != State::connecting) {
    g_object_unref(stream);
    return;
  }
  stream_ = stream;
  // RTMPS comes as a GTcpWrapperConnection: itself a GSocketConnection over the TCP socket (its
  // base stream is the TLS connection, which has no socket).
  GSocket* socket = G_IS_SOCKET_CONNECTION(stream)
                        ? g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream))
                        : nullptr;
  if (!socket) {
    fail("no socket under the connection");
    return;
  }
  g_socket_set_blocking(socket, FALSE);
  g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
  fd_ = g_socket_get_fd(socket);
  session_ = std::make_unique<rtmp::ClientSession>(rtmp::client_config_for(url_));
  session_->start();
  set_state(State::handshaking);
  watch(EPOLLIN);
  flush();
  read_input();  // TLS may already hold bytes
}

void PushClient::watch(uint32_t events) {
  if (fd_ < 0 || events == watched_) return;
  if (!poller_.watch(fd_, poll_key(), false, false, events, watched_ != 0)) {
    fail(std::string("cannot watch the socket: ") + g_strerror(errno));
    return;
  }
  watched_ = events;
}

void PushClient::on_poll(uint32_t events) {
  if (!stream_) return;
  if (events & EPOLLOUT) flush();
  if (stream_ && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) read_input();
}

void PushClient::read_input() {
  if (!stream_ || !session_) return;
  std::array<uint8_t, kReadBytes> buffer;
  for (int round = 0; round < 16 && stream_; ++round) {
    std::string error;
    gssize n = read_nonblocking(stream_, cancellable_, buffer.data(), buffer.size(), error);
    if (n == -1) break;
    if (n < 0) {
      fail("read error: " + error);
      return;
    }
    if (n == 0) {
      fail("the server closed the connection");
      return;
    }
    auto fed = session_->feed(std::span<const uint8_t>(buffer.data(), size_t(n)));
    handle_events();
    if (!stream_) return;
    if (!fed) {
      fail("protocol error: " + fed.error().describe());
      return;
    }
  }
  flush();
}

void PushClient::handle_events() {
  rtmp::ClientEvent event;
  while (session_ && session_->next_event(event)) {
    switch (event.kind) {
      case rtmp::ClientEventKind::handshake_done:
      case rtmp::ClientEventKind::connected:
        break;
      case rtmp::ClientEventKind::publishing: {
        set_state(State::publishing);
        publishing_since_us_ = g_get_monotonic_time();
        ++connects_;
        GST_INFO("push %s: publishing", location_.c_str());
        if (callbacks_.state_changed) callbacks_.state_changed(location_, true, "");
        // Start where a viewer would: metadata, sequence headers, the GOP since its keyframe.
        waiting_for_keyframe_ = false;
        bool has_key = false;
        auto cached = callbacks_.snapshot ? callbacks_.snapshot() : std::vector<relay::RelayMessagePtr>{};
        for (auto& message : cached) has_key |= message->info().kind == relay::FrameKind::video_key;
        bool has_video = false;
        for (auto& message : cached) has_video |= message->info().is_video();
        for (auto& message : cached) send(*message);
        if (has_video && !has_key) waiting_for_keyframe_ = true;
        break;
      }
      case rtmp::ClientEventKind::rejected:
        fail("refused by the server: " + event.code + " " + event.description);
        return;
      case rtmp::ClientEventKind::closed:
        fail("the server ended the stream: " + event.code);
        return;
    }
  }
}

void PushClient::push(const relay::RelayMessagePtr& message) {
  if (state_ != State::publishing || !session_) return;
  send(*message);
  flush();
}

void PushClient::send(const relay::RelayMessage& message) {
  const auto& info = message.info();
  if (waiting_for_keyframe_) {
    if (info.kind == relay::FrameKind::video_key) {
      waiting_for_keyframe_ = false;
    } else if (!info.is_config()) {
      ++dropped_;
      return;
    }
  }
  if (!session_->send_media(message.type(), message.timestamp(), message.payload())) {
    // The remote does not keep up: skip to the next keyframe rather than queue without end.
    ++dropped_;
    waiting_for_keyframe_ = true;
  }
}

void PushClient::flush() {
  if (!stream_ || !session_) return;
  while (session_->pending_output_size() > 0) {
    std::string error;
    gssize n = write_nonblocking(stream_, cancellable_, session_->pending_output(), error);
    if (n == -1) break;
    if (n < 0) {
      fail("write error: " + error);
      return;
    }
    session_->consume_output(size_t(n));
  }
  watch(EPOLLIN | (session_->pending_output_size() > 0 ? uint32_t(EPOLLOUT) : 0u));
}

void PushClient::close_connection() {
  if (fd_ >= 0 && watched_ != 0) poller_.watch(fd_, poll_key(), false, false, 0, true);
  watched_ = 0;
  fd_ = -1;
  if (cancellable_) {
    g_cancellable_cancel(cancellable_);
    g_object_unref(cancellable_);
    cancellable_ = nullptr;
  }
  if (session_) bytes_out_before_ += session_->bytes_out();
  session_.reset();
  if (stream_) {
    // Close the socket itself: a TLS close_notify could block.
    if (G_IS_SOCKET_CONNECTION(stream_))
      g_socket_close(g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream_)), nullptr);
    g_object_unref(stream_);
    stream_ = nullptr;
  }
}

void PushClient::fail(const std::string& reason) {
  if (state_ == State::stopped) return;
  const bool was_publishing = state_ == State::publishing;
  const int64_t now = g_get_monotonic_time();
  close_connection();
  last_error_ = reason;
  if (was_publishing && now - publishing_since_us_ >= kPushStableUs) backoff_us_ = kPushFirstBackoffUs;
  GST_WARNING("push %s: %s; retrying in %" G_GINT64_FORMAT " ms", location_.c_str(),
              reason.c_str(), backoff_us_ / 1000);
  if (was_publishing && callbacks_.state_changed) callbacks_.state_changed(location_, false, reason);
  set_state(State::waiting);
  retry_source_ = g_timeout_source_new(guint(backoff_us_ / 1000));
  g_source_set_callback(retry_source_, on_retry, this, nullptr);
  g_source_attach(retry_source_, context_);
  backoff_us_ = std::min(backoff_us_ * 2, kPushMaxBackoffUs);
}

gboolean PushClient::on_retry(gpointer data) {
  auto* self = static_cast<PushClient*>(data);
  g_source_unref(self->retry_source_);
  self->retry_source_ = nullptr;
  self->connect();
  return G_SOURCE_REMOVE;
}

void PushClient::stop() {
  if (state_ == State::stopped) return;
  const bool was_publishing = state_ == State::publishing;
  if (was_publishing && session_ && stream_) {
    session_->unpublish();
    flush();  // best effort: what the socket takes now
  }
  set_state(State::stopped);
  close_connection();
  if (retry_source_) {
    g_source_destroy(retry_source_);
    g_source_unref(retry_source_);
    retry_source_ = nullptr;
  }
  if (was_publishing && callbacks_.state_changed)
    callbacks_.state_changed(location_, false, "relay stopped");
}

void PushClient::check(int64_t now_us) {
  if ((state_ == State::connecting || state_ == State::handshaking) &&
      now_us - attempt_started_us_ > kPushConnectTimeoutUs) {
    fail("no NetStream.Publish.Start within " + std::to_string(kPushConnectTimeoutUs / 1000000) + " s");
  }
}

PushTargetStats PushClient::stats() const {
  PushTargetStats s;
  s.location = location_;
  s.state = state_name(int(state_));
  s.connects = connects_;
  s.bytes_out = bytes_out_before_ + (session_ ? session_->bytes_out() : 0);
  s.dropped_messages = dropped_;
  s.last_error = last_error_;
  return s;
}

}  // namespace live::net
