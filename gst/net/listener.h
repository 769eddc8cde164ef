// Listener: one listening TCP socket (optionally RTMPS) and one I/O thread, shared by every
// element of the process that names the same address and port. Accepted connections each run
// a live::rtmp::ServerSession; after connect + publish they are routed to the PublishMount
// registered for (application, stream key), or refused with NetStream.Publish.BadName.
//
// Threading: the I/O thread (a GMainContext + GMainLoop in a GThread) owns every connection,
// the mount tables, the relay hubs and all sockets. Authorization decisions (application code)
// run on DecisionRunner threads and come back to the I/O thread; the I/O thread never waits. Public methods may be called from any thread except where
// noted; they run their work on the I/O thread and wait for it, so after remove_*_mount()
// returns no callback into that mount is running or will run. Mount callbacks must therefore
// never wait for a thread that may be inside add/remove (see docs/elements/rtmpserversrc.md).
// Lock order: registry mutex -> (nothing); the listener itself needs no lock of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/batch_wakeup.h"
#include "net/mount.h"
#include "net/relay_hub.h"
#include "rtmp/server_session.h"

namespace live::net {

// Named limits of a listener (see docs/elements/rtmpserversrc.md).
inline constexpr uint32_t kDefaultMaxConnections = 4096;  // publishers, players and pending
// Connections from one client IP that have not yet been accepted as a publisher or player
// (handshake, commands, a pending decision): what an attacker can hold without any
// authorization. Players behind one address (a NAT, a load test) are not limited by it.
inline constexpr uint32_t kDefaultMaxConnectionsPerAddress = 16;  // 0 = no limit
// How long input gathers between reads of busy connections (see IoPoller): 40 ms halves the
// CPU of 50 publishers against 20 ms (docs/benchmarks.md) for at most 40 ms of added latency.
inline constexpr uint32_t kDefaultReadIntervalMs = 40;
inline constexpr uint32_t kHandshakeTimeoutSeconds = 10;  // accept to publish/play accepted
inline constexpr uint32_t kIdleConnectionTimeoutSeconds = 30;  // nothing received for this long
inline constexpr size_t kMaxPendingOutputBytes = 4 * 1024 * 1024;  // towards one peer
inline constexpr size_t kReadChunkBytes = 64 * 1024;
// Input held in memory (unfinished messages, media held during a decision) by all connections
// of a listener not yet accepted as publisher or player together. Beyond it the connection
// that grew is closed: anonymous peers cannot take the process's memory, whatever their count
// (each one alone is bounded by ServerSessionLimits::*_before_accept).
inline constexpr size_t kMaxUnestablishedInputBytes = 64 * 1024 * 1024;
inline constexpr int kListenBacklog = 64;

struct ListenerConfig {
  std::string address = "0.0.0.0";
  uint16_t port = 1935;
  std::string tls_certificate;  // PEM file; with tls_key: RTMPS on this port
  std::string tls_key;          // PEM file
  uint32_t max_connections = kDefaultMaxConnections;
  uint32_t max_connections_per_address = kDefaultMaxConnectionsPerAddress;  // 0 = unlimited
  uint32_t read_interval_ms = kDefaultReadIntervalMs;  // 0 = read input as soon as it arrives
  rtmp::ServerSessionConfig session;
};

class Listener {
 public:
  // Returns the shared listener for config.address:config.port, starting it (bind, listen,
  // I/O thread) if this is the first user. Errors: bind/listen failure, unreadable TLS files,
  // or TLS settings that differ from those of the running listener on the same port.
  // The connection limits and the session config of the first user apply; later users with
  // other values get a warning in the log.
  static Result<std::shared_ptr<Listener>> acquire(const ListenerConfig& config);

  ~Listener();  // the last user leaving: closes every connection, the socket and the thread
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Mounts: an empty stream key matches any key of that application (exact keys win).
  // Fails with Errc::refused if the same (application, stream key) is already registered.
  Result<void> add_publish_mount(const std::string& application, const std::string& stream_key,
                                 PublishMount* mount);
  // Ends the mount's current publisher (onStatus to the client, then close) and unregisters.
  void remove_publish_mount(PublishMount* mount);
  // Reading from the mount's publisher was paused (media() returned false): start again.
  // Asynchronous, callable from any thread (e.g. the streaming thread).
  void resume_publisher(PublishMount* mount);
  // Reads what the mount's publisher has sent so far now, without waiting for the read
  // interval, and returns once its messages went to the mount (before end-of-stream). Not
  // from the I/O thread's callbacks.
  void read_publisher_now(PublishMount* mount);

  // A played stream: play requests for (application, stream key) are authorized by `mount`
  // and served by the returned hub (owned by the listener, valid until remove_play_mount()).
  Result<RelayHub*> add_play_mount(const std::string& application, const std::string& stream_key,
                                   PlayMount* mount, const RelayConfig& config);
  // Ends the mount's players (NetStream.Play.UnpublishNotify, then close) and unregisters it.
  void remove_play_mount(PlayMount* mount);

  // Asked (on a decision thread) about publishes and plays that no mount serves; nullptr: none
  // (refused at once). One provider per listener: error if another is set. After it returns
  // with nullptr, no new question starts (one in flight holds provider->keep_alive()).
  Result<void> set_mount_provider(MountProvider* provider);

  uint16_t port() const;
  bool uses_tls() const;
  uint32_t read_interval_ms() const;  // the first user's setting
  // What the publish mounts' consumers sleep on (see PublishMount::bytes_received).
  const std::shared_ptr<BatchWakeup>& source_wakeup() const;
  uint32_t connection_count() const;

  struct Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace live::net
