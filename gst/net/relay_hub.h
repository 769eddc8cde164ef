// RelayHub: the viewers of one played stream (one flvrelaysink), on the shared listener's I/O
// thread: RTMP players (listener connections in player mode) and HTTP-FLV viewers (connections
// taken over from the HTTP server), the GOP cache, and the fan-out of each message to all of
// them. The element's streaming thread only hands over batches of shared messages
// (deliver()); it never writes to a socket and never waits for a viewer.
//
// Threading: deliver(), end_of_stream(), adopt_http_viewer() and stats() may be called from
// any thread; everything else runs on the I/O thread. The listener owns the hub (one per play
// mount) and destroys it on the I/O thread.
#pragma once

#include <gio/gio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/io_poller.h"
#include "net/mount.h"
#include "net/push_client.h"
#include "net/realtime_demand.h"
#include "relay/gop_cache.h"
#include "relay/relay_message.h"
#include "relay/viewer_queue.h"
#include "rtmp/server_session.h"

namespace live::net {

class Connection;
class HttpFlvViewer;

inline constexpr uint32_t kDefaultMaxViewers = 10000;
inline constexpr int64_t kStreamDryAfterUs = 5'000'000;  // no message for this long: StreamDry
// Audio and data messages wait for the next video message to share its write (merged writes):
// up to this long (the most), and kFlushDelayPerViewerUs per viewer below that (see
// flush_delay_us()). Video is written at once. 40 ms covers one frame interval at 25 fps.
inline constexpr int64_t kDefaultFlushDelayUs = 40'000;
inline constexpr int64_t kFlushDelayPerViewerUs = 40;

struct RelayConfig {
  relay::GopCacheLimits gop_cache;
  relay::ViewerQueueLimits viewer;
  uint32_t max_viewers = kDefaultMaxViewers;  // RTMP + HTTP-FLV; 0 = unlimited
  int64_t flush_delay_us = kDefaultFlushDelayUs;  // merge writes of messages this close
  // > 0: video waits too, and everything goes out this long after the oldest unwritten
  // message (fewer writes per viewer for large audiences, at this much added latency).
  int64_t video_flush_delay_us = 0;
  std::vector<rtmp::RtmpUrl> push_targets;    // published to, with reconnect
  bool push_tls_verify = true;                 // rtmps:// targets: validate the certificate
};

struct RelayStats {
  uint32_t rtmp_viewers = 0;
  uint32_t http_flv_viewers = 0;
  uint64_t viewers_total = 0;          // every viewer that started
  uint64_t viewers_refused = 0;        // over max-viewers
  uint64_t lag_disconnects = 0;        // viewers dropped for staying behind
  uint64_t lag_skips = 0;              // times a viewer skipped to the next keyframe
  uint64_t messages_in = 0;
  uint64_t bytes_out = 0;              // to viewers, wire bytes
  uint64_t dropped_messages = 0;       // not sent to some viewer (lag, pause, filters)
  uint64_t gop_cache_bytes = 0;
  uint64_t gop_cache_frames = 0;
};

class RelayHub {
 public:
  RelayHub(GMainContext* io_context, IoPoller& poller, PlayMount* mount, RelayConfig config);
  ~RelayHub();  // I/O thread
  RelayHub(const RelayHub&) = delete;
  RelayHub& operator=(const RelayHub&) = delete;

  // --- any thread ---
  // Messages of the stream, in order. A message with a timestamp that jumps back marks a new
  // source (the GOP cache starts again).
  void deliver(std::vector<relay::RelayMessagePtr> messages);
  // The source ended: RTMP players get StreamEOF + NetStream.Play.UnpublishNotify and stay;
  // HTTP-FLV responses end. `restart`: the next delivered message starts a new stream.
  void end_of_stream();
  // A GET for this stream's HTTP-FLV path, already authorized, taken over from the HTTP
  // server (a reference to `stream` passes to the hub). The hub writes the response.
  // http_1_0: the body is plain FLV, ended by closing the connection (no chunked coding).
  void adopt_http_viewer(GIOStream* stream, int fd, StreamRequest request, bool head_only,
                         bool http_1_0);
  RelayStats stats() const;
  std::vector<PushTargetStats> push_stats() const;

  // --- I/O thread (the listener) ---
  // A play was accepted on `connection` (session already in playing state). false: refused
  // (max viewers); the caller closes it.
  bool add_player(Connection& connection, const StreamRequest& request);
  void player_event(Connection& connection, const rtmp::SessionEvent& event);
  void remove_player(Connection& connection, const std::string& reason);
  void check_viewers(int64_t now_us);  // the listener's once-a-second timer
  bool full() const;
  // false (and counted as refused) when the stream has max-viewers already.
  bool admit();

 private:
  friend class HttpFlvViewer;
  struct Player {
    Connection* connection;
    StreamRequest request;
  };

  static gboolean prepare(GSource* source, gint* timeout_ms);
  static gboolean check(GSource* source);
  static gboolean dispatch(GSource* source, GSourceFunc, gpointer);
  void run();  // the hub's source: takes what deliver() queued and fans it out
  void fan_out(const relay::RelayMessagePtr& message, int64_t now_us);
  void start_viewer(relay::ViewerQueue& queue, int64_t now_us);
  void flush_all(int64_t now_us);
  std::vector<Connection*> player_list() const;
  size_t viewer_count() const;       // RTMP players + streaming HTTP-FLV viewers
  int64_t flush_delay_us() const;    // the write-merging delay in use now
  bool full_after_adding() const;
  std::vector<HttpFlvViewer*> http_viewer_list() const;
  void check_health(int64_t now_us);
  void send_to_players(void (*action)(rtmp::ServerSession&));
  void http_viewer_closed(HttpFlvViewer* viewer, const std::string& reason);
  void update_stats();
  void wake();
  bool due(GSource* source, gint* timeout_ms) const;
  std::vector<uint8_t> flv_file_header(bool chunked) const;

  GMainContext* context_;
  IoPoller& poller_;
  PlayMount* mount_;
  RelayConfig config_;
  GSource* source_ = nullptr;

  // --- under incoming_lock_ ---
  mutable std::mutex incoming_lock_;
  std::vector<relay::RelayMessagePtr> incoming_;
  bool eos_pending_ = false;
  std::vector<std::unique_ptr<HttpFlvViewer>> adopted_;

  // --- I/O thread ---
  relay::GopCache gop_cache_;
  std::vector<Player> players_;  // a vector: the fan-out goes through all of them per message
  std::vector<std::unique_ptr<HttpFlvViewer>> http_viewers_;
  std::vector<std::unique_ptr<HttpFlvViewer>> closed_http_viewers_;  // freed on the next run
  std::vector<std::unique_ptr<PushClient>> pushes_;
  bool source_ended_ = false;
  int64_t unflushed_since_us_ = -1;  // messages queued to viewers but not written yet
  int64_t flush_due_us_ = -1;        // when the merged write of those must go out
  std::atomic<bool> wake_pending_{false};  // set by wake() from any thread
  bool dry_sent_ = false;
  bool seen_video_ = false, seen_audio_ = false;
  int64_t last_video_at_us_ = -1;
  int64_t last_message_at_us_ = -1;
  uint32_t last_timestamp_ = 0;
  bool have_timestamp_ = false;
  uint64_t closed_bytes_out_ = 0;     // of viewers that left
  uint64_t closed_dropped_ = 0;
  uint64_t closed_skips_ = 0;
  RealtimeDemand realtime_demand_;  // active while a viewer or push target takes the stream

  mutable std::mutex stats_lock_;
  RelayStats stats_;
  std::vector<PushTargetStats> push_stats_;
};

}  // namespace live::net
