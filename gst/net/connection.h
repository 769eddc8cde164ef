// Connection: one accepted TCP (or TLS) connection on a listener's I/O thread. It moves bytes
// between the socket and its ServerSession without blocking, and tells its owner when the
// session has events or the connection has ended. All methods run on the I/O thread.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "net/io_poller.h"
#include "relay/viewer_queue.h"
#include "rtmp/server_session.h"

namespace live::net {

class Connection;
class PublishMount;
class RelayHub;

class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // The session was fed and may have events to take with next_event().
  virtual void session_has_events(Connection& connection) = 0;
  // The connection ended (peer closed, error, timeout or close() from the owner); called once.
  virtual void connection_closed(Connection& connection, const std::string& reason) = 0;
  // For the TLS handshake callback, which may run after the connection is gone.
  virtual Connection* find_connection(uint64_t id) = 0;
};

class Connection final : public PollClient {
 public:
  // Takes a reference on `stream` (a GSocketConnection); with `tls_certificate` the stream is
  // wrapped in a GTlsServerConnection and the TLS handshake runs first. Input and output
  // readiness come from `poller` (the listener's epoll sets) under poll_key().
  Connection(ConnectionOwner& owner, IoPoller& poller, uint64_t id, GSocketConnection* stream,
             std::string peer, GTlsCertificate* tls_certificate,
             const rtmp::ServerSessionConfig& session_config);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts the TLS handshake or reading. Returns false (and closes) on immediate failure.
  void start();

  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  rtmp::ServerSession& session() { return session_; }
  bool is_open() const { return state_ != State::closed; }
  bool is_lingering() const { return state_ == State::lingering; }

  // Flow control towards the peer: stop / restart reading (and feeding the session).
  // Publishing media: input is read in batches (IoPoller's batched set) instead of at once.
  void set_input_batched(bool batched);
  void pause_reading();
  void resume_reading();
  bool reading_paused() const { return reading_paused_; }

  // The poller saw the socket readable / writable (or hung up).
  void on_poll(uint32_t events) override;
  // Reads within a budget and feeds the session.
  void on_input();

  // Writes what the session (and, for a player, the viewer queue) has queued, as far as the
  // socket takes it now.
  void flush();

  // Player mode (after accept_play): from now on everything written goes through a
  // ViewerQueue (session output as owned bytes, relayed media shared), in order.
  relay::ViewerQueue& start_viewer(const relay::ViewerQueueLimits& limits);
  relay::ViewerQueue* viewer() { return viewer_.get(); }
  // Player: writes the viewer queue; with take_session_output first moves what the session
  // queued into it (after input or a session call; the fan-out of relayed media skips that).
  void flush_viewer(bool take_session_output = true);
  // Ends at once: sources removed, socket closed, owner told. Idempotent.
  void close(const std::string& reason);
  // Ends gracefully: stop feeding the session, send what is queued (e.g. an onStatus error),
  // then close when the peer closes or after a short grace period. The reason is logged then.
  void close_after_flush(const std::string& reason);

  // For timeouts (monotonic microseconds).
  int64_t accepted_at() const { return accepted_at_; }
  int64_t last_received_at() const { return last_received_at_; }
  int64_t linger_deadline() const { return linger_deadline_; }
  bool established = false;              // publish or play accepted: handshake timeout off
  PublishMount* publish_mount = nullptr;  // set while this connection publishes to a mount
  RelayHub* play_hub = nullptr;           // set while this connection plays from a hub
  uint64_t bytes_reported = 0;            // session bytes_in() already given to the mount
  size_t budgeted_bytes = 0;              // input held, counted against the listener's budget

 private:
  enum class State { tls_handshake, open, lingering, closed };

  static void on_tls_handshake_done(GObject* source, GAsyncResult* result, gpointer token);
  void start_reading();
  void read_available();
  void stop_watching_input();
  // One nonblocking read: bytes read, 0 at end of stream, -1 would block, -2 error (`error`).
  gssize read_some(uint8_t* data, size_t size, std::string& error);
  void watch_writable(bool on);
  bool update_watch(bool input, bool batched, bool output);

  ConnectionOwner& owner_;
  uint64_t id_;
  std::string peer_;
  GSocketConnection* socket_connection_ = nullptr;  // owned ref
  GIOStream* stream_ = nullptr;                      // owned ref: socket_connection_ or TLS
  bool tls_ = false;                                 // stream_ is the TLS connection
  GCancellable* cancellable_ = nullptr;
  IoPoller& poller_;
  int fd_ = -1;                 // the socket's fd (owned by socket_connection_)
  bool watching_input_ = false;  // fd_ is watched for EPOLLIN
  bool watching_output_ = false;  // ... for EPOLLOUT (output waits for room)
  bool input_batched_ = false;   // ... in the batched set
  bool in_batched_set_ = false;  // where fd_ is now, when watched at all
  std::unique_ptr<relay::ViewerQueue> viewer_;
  rtmp::ServerSession session_;
  State state_ = State::open;
  bool reading_paused_ = false;
  bool reading_started_ = false;
  std::string linger_reason_;
  int64_t accepted_at_ = 0;
  int64_t last_received_at_ = 0;
  int64_t linger_deadline_ = 0;
};

}  // namespace live::net
