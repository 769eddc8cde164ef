// PushClient: publishes a relayed stream to another RTMP(S) server (nginx-rtmp, a CDN ingest,
// another instance of ours) with a lib/rtmp ClientSession, on the listener's I/O thread.
// Connects asynchronously, reconnects with backoff when the remote refuses, drops or
// restarts, and (re)starts every publish at a keyframe with the stream's metadata and
// sequence headers (from the GOP cache). A remote that does not read fast enough loses
// frames up to the next keyframe; it never slows the pipeline or the viewers.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/io_poller.h"
#include "relay/relay_message.h"
#include "rtmp/client_session.h"
#include "rtmp/rtmp_url.h"

namespace live::net {

inline constexpr int64_t kPushFirstBackoffUs = 1'000'000;
inline constexpr int64_t kPushMaxBackoffUs = 30'000'000;
inline constexpr int64_t kPushStableUs = 10'000'000;       // publishing this long: backoff resets
inline constexpr int64_t kPushConnectTimeoutUs = 10'000'000;  // TCP + TLS + RTMP up to publishing

struct PushTargetStats {
  std::string location;  // redacted: the key is a secret
  std::string state;     // "connecting", "publishing", "waiting" (backoff), "stopped"
  uint64_t connects = 0;  // publishes that reached NetStream.Publish.Start
  uint64_t bytes_out = 0;
  uint64_t dropped_messages = 0;
  std::string last_error;
};

class PushClient final : public PollClient {
 public:
  struct Callbacks {
    // What a (re)started publish sends first: metadata, sequence headers, frames since the
    // last keyframe (the hub's GOP cache).
    std::function<std::vector<relay::RelayMessagePtr>()> snapshot;
    // State changes worth an element message (connected = publishing started).
    std::function<void(const std::string& location, bool connected, const std::string& reason)>
        state_changed;
    // Any change of state (connecting, publishing, waiting...): the owner refreshes the stats
    // it publishes, which otherwise follow the media (none may flow while a target changes).
    std::function<void()> stats_changed;
  };

  PushClient(GMainContext* context, IoPoller& poller, rtmp::RtmpUrl url, bool tls_verify,
             Callbacks callbacks);
  ~PushClient() override;
  PushClient(const PushClient&) = delete;
  PushClient& operator=(const PushClient&) = delete;

  void start();
  // One live message; sent when publishing, else dropped (the next publish starts from the
  // GOP cache).
  void push(const relay::RelayMessagePtr& message);
  // Unpublishes politely if publishing, then closes; no reconnect.
  void stop();
  void on_poll(uint32_t events) override;
  // Timer: a connection attempt that has not reached publishing in time is retried.
  void check(int64_t now_us);
  PushTargetStats stats() const;

 private:
  enum class State { idle, connecting, handshaking, publishing, waiting, stopped };

  static void on_connected(GObject* source, GAsyncResult* result, gpointer token);
  static gboolean on_retry(gpointer self);
  void connect();
  void connected(GIOStream* stream);
  void read_input();
  void flush();
  void handle_events();
  void send(const relay::RelayMessage& message);
  void fail(const std::string& reason);
  void close_connection();
  void set_state(State state);
  void watch(uint32_t events);

  GMainContext* context_;
  IoPoller& poller_;
  rtmp::RtmpUrl url_;
  std::string location_;  // redacted
  bool tls_verify_;
  Callbacks callbacks_;

  State state_ = State::idle;
  std::unique_ptr<rtmp::ClientSession> session_;
  GCancellable* cancellable_ = nullptr;
  GIOStream* stream_ = nullptr;
  int fd_ = -1;
  uint32_t watched_ = 0;
  GSource* retry_source_ = nullptr;
  int64_t backoff_us_ = kPushFirstBackoffUs;
  int64_t attempt_started_us_ = 0;
  int64_t publishing_since_us_ = 0;
  bool waiting_for_keyframe_ = false;
  uint64_t connects_ = 0;
  uint64_t bytes_out_before_ = 0;  // of earlier connections
  uint64_t dropped_ = 0;
  std::string last_error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for async callbacks
};

}  // namespace live::net
