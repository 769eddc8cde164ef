#include "net/relay_hub.h"

#include <gst/gst.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

#include "flv/flv_tag.h"
#include "net/connection.h"
#include "net/decision_runner.h"
#include "net/stream_io.h"

GST_DEBUG_CATEGORY_EXTERN(live_net_debug);
#define GST_CAT_DEFAULT live_net_debug

namespace live::net {

namespace {
constexpr const char* kRtmp = "rtmp";
constexpr const char* kHttpFlv = "http-flv";
// Video seen within this much time: viewers resume at video keyframes, not audio frames.
constexpr int64_t kVideoPresentUs = 5'000'000;

std::vector<uint8_t> bytes_of(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

GSourceFuncs hub_source_funcs = {};
}  // namespace

// One HTTP-FLV viewer: a connection taken over from the HTTP server, written to from its
// ViewerQueue. It reads only to notice the client closing.
class HttpFlvViewer final : public PollClient {
 public:
  HttpFlvViewer(RelayHub& hub, GIOStream* stream, int fd, StreamRequest request,
                const relay::ViewerQueueLimits& limits, bool head_only, bool http_1_0)
      : head_only_(head_only),
        chunked_(!http_1_0),
        hub_(hub),
        stream_(stream),
        fd_(fd),
        request_(std::move(request)),
        queue_(http_1_0 ? relay::WireFormat::flv : relay::WireFormat::http_flv, 0, 0, limits) {}
  ~HttpFlvViewer() override {
    stop_watching();
    if (stream_) {
      if (G_IS_SOCKET_CONNECTION(stream_))
        g_socket_close(g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream_)), nullptr);
      g_object_unref(stream_);
    }
  }

  bool start() {
    watched_ = hub_.poller_.watch(fd_, poll_key(), false, false, EPOLLIN, false);
    return watched_;
  }

  void on_poll(uint32_t events) override {
    if (closed_) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      // A client sends nothing after its request (a pipelined request is not served): read
      // and discard, and notice the close.
      std::array<uint8_t, 4096> sink;
      ssize_t n = recv(fd_, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close("viewer closed the connection");
        return;
      }
    }
    if (events & EPOLLOUT) flush(g_get_monotonic_time());
  }

  void flush(int64_t now_us) {
    if (closed_) return;
    std::string error;
    const WriteOutcome outcome = write_viewer_queue(queue_, fd_, nullptr, nullptr, now_us, error);
    if (outcome == WriteOutcome::failed) {
      close("write error: " + error);
      return;
    }
    if (outcome == WriteOutcome::drained && ending_) {
      close("stream ended");
      return;
    }
    const uint32_t events = EPOLLIN | (outcome == WriteOutcome::blocked ? uint32_t(EPOLLOUT) : 0u);
    if (events != watched_events_) {
      hub_.poller_.watch(fd_, poll_key(), false, false, events, watched_);
      watched_events_ = events;
    }
  }

  // Ends the response (last chunk) once everything queued is written.
  void end_response(int64_t now_us, bool chunked) {
    if (chunked) queue_.push_bytes(bytes_of("0\r\n\r\n"), now_us);
    ending_ = true;
    flush(now_us);
  }

  void close(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    stop_watching();
    if (G_IS_SOCKET_CONNECTION(stream_))
      g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream_)), TRUE, TRUE,
                        nullptr);
    hub_.http_viewer_closed(this, reason);
  }

  bool closed() const { return closed_; }
  bool head_only() const { return head_only_; }
  bool chunked() const { return chunked_; }
  // A GET that streams (not a HEAD, not refused): counted, and announced when it leaves.
  void count_as_viewer() { viewer_ = true; }
  bool is_viewer() const { return viewer_; }
  relay::ViewerQueue& queue() { return queue_; }
  const StreamRequest& request() const { return request_; }

 private:
  void stop_watching() {
    if (watched_) hub_.poller_.watch(fd_, poll_key(), false, false, 0, true);
    watched_ = false;
  }

  const bool head_only_;
  const bool chunked_;  // HTTP/1.1: chunked body; HTTP/1.0: plain FLV until the close
  RelayHub& hub_;
  GIOStream* stream_;
  int fd_;
  StreamRequest request_;
  relay::ViewerQueue queue_;
  bool watched_ = false;
  uint32_t watched_events_ = EPOLLIN;
  bool closed_ = false;
  bool ending_ = false;
  bool viewer_ = false;
};

RelayHub::RelayHub(GMainContext* io_context, IoPoller& poller, PlayMount* mount,
                   RelayConfig config)
    : context_(io_context),
      poller_(poller),
      mount_(mount),
      config_(config),
      gop_cache_(config.gop_cache) {
  hub_source_funcs.prepare = prepare;
  hub_source_funcs.check = check;
  hub_source_funcs.dispatch = dispatch;
  source_ = g_source_new(&hub_source_funcs, sizeof(GSource) + sizeof(RelayHub*));
  *reinterpret_cast<RelayHub**>(reinterpret_cast<char*>(source_) + sizeof(GSource)) = this;
  g_source_set_name(source_, "live-relay-hub");
  g_source_set_priority(source_, G_PRIORITY_DEFAULT);
  g_source_attach(source_, context_);
  for (const auto& url : config_.push_targets) {
    PushClient::Callbacks callbacks;
    callbacks.snapshot = [this] { return gop_cache_.snapshot(); };
    callbacks.state_changed = [this](const std::string& location, bool connected,
                                     const std::string& reason) {
      PlayMount* mount = mount_;
      DecisionRunner::get().notify([mount, alive = mount_->keep_alive(), location, connected, reason] {
        mount->push_state_changed(location, connected, reason);
      });
    };
    callbacks.stats_changed = [this] { update_stats(); };
    pushes_.push_back(std::make_unique<PushClient>(context_, poller_, url, config_.push_tls_verify,
                                                   std::move(callbacks)));
    pushes_.back()->start();
  }
  update_stats();
}

RelayHub::~RelayHub() {
  for (auto& push : pushes_) push->stop();
  pushes_.clear();
  for (HttpFlvViewer* viewer : http_viewer_list()) viewer->close("relay stopped");
  g_source_destroy(source_);
  g_source_unref(source_);
  std::lock_guard lock(incoming_lock_);
  adopted_.clear();
}

// The source is ready when wake() was called or the merged-write delay is over. No ready time:
// GLib 2.74 wakes the context on every g_source_set_ready_time change, even from its own
// thread, which cost two or three extra I/O-loop iterations per relayed message.
namespace {
RelayHub* hub_of(GSource* source) { return *reinterpret_cast<RelayHub**>(reinterpret_cast<char*>(source) + sizeof(GSource)); }
}  // namespace

bool RelayHub::due(GSource* source, gint* timeout_ms) const {
  if (wake_pending_.load(std::memory_order_acquire)) {
    *timeout_ms = 0;
    return true;
  }
  if (flush_due_us_ < 0) {
    *timeout_ms = -1;
    return false;
  }
  const int64_t left_us = flush_due_us_ - g_source_get_time(source);
  *timeout_ms = left_us <= 0 ? 0 : int((left_us + 999) / 1000);
  return left_us <= 0;
}

gboolean RelayHub::prepare(GSource* source, gint* timeout_ms) { return hub_of(source)->due(source, timeout_ms); }

gboolean RelayHub::check(GSource* source) {
  gint ignored;
  return hub_of(source)->due(source, &ignored);
}

gboolean RelayHub::dispatch(GSource* source, GSourceFunc, gpointer) {
  RelayHub* hub = hub_of(source);
  hub->wake_pending_.store(false, std::memory_order_release);
  hub->flush_due_us_ = -1;
  hub->run();
  return G_SOURCE_CONTINUE;
}

// Thread-safe. The I/O thread itself needs no wakeup: its loop prepares the source before it polls.
void RelayHub::wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  if (!g_main_context_is_owner(context_)) g_main_context_wakeup(context_);
}

void RelayHub::deliver(std::vector<relay::RelayMessagePtr> messages) {
  bool was_empty;
  {
    std::lock_guard lock(incoming_lock_);
    was_empty = incoming_.empty();
    if (was_empty) {
      incoming_ = std::move(messages);
    } else {
      incoming_.insert(incoming_.end(), std::make_move_iterator(messages.begin()),
                       std::make_move_iterator(messages.end()));
    }
  }
  if (was_empty) wake();
}

void RelayHub::end_of_stream() {
  {
    std::lock_guard lock(incoming_lock_);
    eos_pending_ = true;
  }
  wake();
}

void RelayHub::adopt_http_viewer(GIOStream* stream, int fd, StreamRequest request,
                                 bool head_only, bool http_1_0) {
  auto viewer = std::make_unique<HttpFlvViewer>(*this, stream, fd, std::move(request),
                                                config_.viewer, head_only, http_1_0);
  {
    std::lock_guard lock(incoming_lock_);
    adopted_.push_back(std::move(viewer));
  }
  wake();
}

// The FLV file header (with PreviousTagSize0), as one HTTP chunk or plain.
std::vector<uint8_t> RelayHub::flv_file_header(bool chunked) const {
  flv::FileHeader header;
  header.has_video = seen_video_ || !seen_audio_;
  header.has_audio = seen_audio_ || !seen_video_;
  std::vector<uint8_t> flv;
  flv::write_file_header(flv, header);
  if (!chunked) return flv;
  char size_line[16];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", flv.size());
  std::vector<uint8_t> out(size_line, size_line + std::strlen(size_line));
  out.insert(out.end(), flv.begin(), flv.end());
  out.push_back('\r');
  out.push_back('\n');
  return out;
}

void RelayHub::run() {
  const int64_t now = g_get_monotonic_time();
  closed_http_viewers_.clear();  // closed during an earlier dispatch: nothing refers to them now
  std::vector<relay::RelayMessagePtr> messages;
  std::vector<std::unique_ptr<HttpFlvViewer>> adopted;
  bool eos;
  {
    std::lock_guard lock(incoming_lock_);
    messages.swap(incoming_);
    adopted.swap(adopted_);
    eos = eos_pending_;
    eos_pending_ = false;
  }
  for (auto& viewer : adopted) {
    if (!viewer->start()) continue;  // closed by its destructor
    HttpFlvViewer* raw = viewer.get();
    http_viewers_.push_back(std::move(viewer));
    if (full_after_adding()) {
      GST_INFO("%s: HTTP-FLV viewer refused: max-viewers (%u) reached",
               raw->request().client_address.c_str(), config_.max_viewers);
      {
        std::lock_guard lock(stats_lock_);
        ++stats_.viewers_refused;
      }
      raw->queue().push_bytes(bytes_of("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 17\r\nConnection: close\r\n\r\ntoo many viewers\n"),
                              now);
      raw->end_response(now, false);
      continue;
    }
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\n"
        "Access-Control-Allow-Origin: *\r\nConnection: close\r\nServer: gst-live-server\r\n";
    head += raw->head_only() || !raw->chunked() ? "\r\n" : "Transfer-Encoding: chunked\r\n\r\n";
    raw->queue().push_bytes(bytes_of(head), now);
    if (raw->head_only()) {
      raw->end_response(now, false);
      continue;
    }
    raw->count_as_viewer();
    {
      std::lock_guard lock(stats_lock_);
      ++stats_.viewers_total;
    }
    PlayMount* mount = mount_;
    StreamRequest request = raw->request();
    DecisionRunner::get().notify([mount, alive = mount_->keep_alive(), request] {
      mount->play_started(request, kHttpFlv);
    });
    // The FLV file header, then what the GOP cache has, then live messages.
    raw->queue().push_bytes(flv_file_header(raw->chunked()), now);
    start_viewer(raw->queue(), now);
    raw->flush(now);
  }
  bool video_arrived = false;
  for (auto& message : messages) {
    fan_out(message, now);
    video_arrived |= message->info().is_video();
  }
  if (!messages.empty() && unflushed_since_us_ < 0) unflushed_since_us_ = now;
  if (unflushed_since_us_ >= 0) {
    // Merged writes: audio and data wait for the next video message (or flush_delay_us() at
    // most) and go out with it in one write per viewer: about half the system calls and TCP
    // segments for every viewer. Video is not held back unless the application asked for it
    // (video_flush_delay_us: several frames per write).
    const bool hold_video = config_.video_flush_delay_us > 0;
    const int64_t due = unflushed_since_us_ + flush_delay_us();
    if ((video_arrived && !hold_video) || now >= due || eos) {
      unflushed_since_us_ = -1;
      flush_all(now);
    } else {
      flush_due_us_ = due;
    }
  }
  if (eos) {
    source_ended_ = true;
    have_timestamp_ = false;
    GST_INFO("relay: end of stream for %zu RTMP and %zu HTTP-FLV viewers", players_.size(),
             http_viewers_.size());
    send_to_players([](rtmp::ServerSession& s) {
      s.send_stream_eof();
      s.send_play_status("NetStream.Play.UnpublishNotify", "The stream ended.");
    });
    for (HttpFlvViewer* viewer : http_viewer_list()) viewer->end_response(now, viewer->chunked());
  }
  check_health(now);
  update_stats();
}

// The first bytes of a new viewer: what the GOP cache holds (metadata, sequence headers, the
// frames since the last keyframe), so the first picture comes at once.
void RelayHub::start_viewer(relay::ViewerQueue& queue, int64_t now_us) {
  const bool has_video = last_video_at_us_ >= 0 && now_us - last_video_at_us_ < kVideoPresentUs;
  auto cached = gop_cache_.snapshot();
  bool keyframe_in_cache = false;
  for (auto& message : cached) keyframe_in_cache |= message->info().kind == relay::FrameKind::video_key;
  for (auto& message : cached) queue.push(message, now_us, has_video);
  // Without a cached keyframe the viewer waits for the next one rather than get orphan frames.
  if (has_video && !keyframe_in_cache) queue.wait_for_keyframe();
}

void RelayHub::fan_out(const relay::RelayMessagePtr& message, int64_t now_us) {
  const auto& info = message->info();
  if (source_ended_) {
    // The source is back after end-of-stream: players hear so; the cache starts over.
    source_ended_ = false;
    gop_cache_.clear();
    send_to_players([](rtmp::ServerSession& s) {
      s.send_stream_begin();
      s.send_play_status("NetStream.Play.PublishNotify", "The stream started.");
    });
  }
  if (have_timestamp_ && int32_t(message->timestamp() - last_timestamp_) < -1000 &&
      message->type() != 18) {
    gop_cache_.clear();  // timestamps restarted: a new source, old frames are of no use
  }
  if (message->type() != 18) {
    last_timestamp_ = message->timestamp();
    have_timestamp_ = true;
  }
  if (info.is_video()) {
    seen_video_ = true;
    last_video_at_us_ = now_us;
  } else if (info.is_audio()) {
    seen_audio_ = true;
  }
  last_message_at_us_ = now_us;
  dry_sent_ = false;
  gop_cache_.push(message);
  const bool has_video = last_video_at_us_ >= 0 && now_us - last_video_at_us_ < kVideoPresentUs;
  for (auto& player : players_) {
    if (relay::ViewerQueue* queue = player.connection->viewer()) queue->push(message, now_us, has_video);
  }
  for (auto& viewer : http_viewers_) {
    if (!viewer->closed() && viewer->is_viewer()) viewer->queue().push(message, now_us, has_video);
  }
  for (auto& push : pushes_) push->push(message);
  std::lock_guard lock(stats_lock_);
  ++stats_.messages_in;
}

// Snapshots: a write error closes a viewer, which leaves the tables while we go through them
// (closed connections and viewers are freed only on a later dispatch, so pointers stay valid).
std::vector<Connection*> RelayHub::player_list() const {
  std::vector<Connection*> list;
  list.reserve(players_.size());
  for (auto& player : players_) list.push_back(player.connection);
  return list;
}

std::vector<HttpFlvViewer*> RelayHub::http_viewer_list() const {
  std::vector<HttpFlvViewer*> list;
  list.reserve(http_viewers_.size());
  for (auto& viewer : http_viewers_) list.push_back(viewer.get());
  return list;
}

void RelayHub::flush_all(int64_t now_us) {
  for (Connection* player : player_list()) player->flush_viewer(false);
  for (HttpFlvViewer* viewer : http_viewer_list()) viewer->flush(now_us);
}

void RelayHub::send_to_players(void (*action)(rtmp::ServerSession&)) {
  for (Connection* player : player_list()) {
    if (!player->is_open()) continue;
    action(player->session());
    player->flush();
  }
}

void RelayHub::check_health(int64_t now_us) {
  std::vector<Connection*> slow_players;
  std::vector<HttpFlvViewer*> slow_viewers;
  for (auto& player : players_) {
    relay::ViewerQueue* queue = player.connection->viewer();
    if (queue && queue->check(now_us) == relay::ViewerHealth::timed_out)
      slow_players.push_back(player.connection);
  }
  for (auto& viewer : http_viewers_) {
    if (!viewer->closed() && viewer->queue().check(now_us) == relay::ViewerHealth::timed_out)
      slow_viewers.push_back(viewer.get());
  }
  if (slow_players.empty() && slow_viewers.empty()) return;
  {
    std::lock_guard lock(stats_lock_);
    stats_.lag_disconnects += slow_players.size() + slow_viewers.size();
  }
  const std::string reason = "viewer stayed behind the live stream for more than " +
                             std::to_string(config_.viewer.timeout_us / 1000) + " ms";
  for (Connection* connection : slow_players) connection->close(reason);  // -> remove_player
  for (HttpFlvViewer* viewer : slow_viewers) viewer->close(reason);
}

void RelayHub::check_viewers(int64_t now_us) {
  if (!source_ended_ && !dry_sent_ && last_message_at_us_ >= 0 &&
      now_us - last_message_at_us_ > kStreamDryAfterUs) {
    dry_sent_ = true;
    send_to_players([](rtmp::ServerSession& s) { s.send_stream_dry(); });
  }
  check_health(now_us);
  for (auto& push : pushes_) push->check(now_us);
  closed_http_viewers_.clear();
  update_stats();
}

// How long audio and data may wait for a video message to share its write: the longer a pass
// over all viewers takes (about N x 10 us), the more merging saves; few viewers: hardly any wait.
// With video held too (video_flush_delay_us), everything waits at least that long.
int64_t RelayHub::flush_delay_us() const {
  const int64_t by_load = int64_t(players_.size() + http_viewers_.size()) * kFlushDelayPerViewerUs;
  return std::max(config_.video_flush_delay_us, std::min(config_.flush_delay_us, by_load));
}

size_t RelayHub::viewer_count() const {
  size_t n = players_.size();
  for (auto& viewer : http_viewers_) n += viewer->is_viewer() ? 1 : 0;
  return n;
}

bool RelayHub::full() const {
  return config_.max_viewers != 0 && viewer_count() >= config_.max_viewers;
}

bool RelayHub::full_after_adding() const {
  return config_.max_viewers != 0 && viewer_count() + 1 > config_.max_viewers;
}

bool RelayHub::admit() {
  if (!full()) return true;
  std::lock_guard lock(stats_lock_);
  ++stats_.viewers_refused;
  return false;
}

bool RelayHub::add_player(Connection& connection, const StreamRequest& request) {
  if (!admit()) return false;
  const int64_t now = g_get_monotonic_time();
  relay::ViewerQueue& queue = connection.start_viewer(config_.viewer);
  connection.play_hub = this;
  players_.push_back(Player{&connection, request});
  if (source_ended_) {
    connection.session().send_stream_eof();
    connection.session().send_play_status("NetStream.Play.UnpublishNotify", "The stream ended.");
  }
  // The play replies (StreamBegin, NetStream.Play.Start) go before the cached media: librtmp
  // and rtmp2src drop media that comes before Play.Start (sequence headers and keyframe lost).
  connection.flush_viewer();
  start_viewer(queue, now);
  connection.flush();
  {
    std::lock_guard lock(stats_lock_);
    ++stats_.viewers_total;
  }
  PlayMount* mount = mount_;
  StreamRequest copy = request;
  DecisionRunner::get().notify([mount, alive = mount_->keep_alive(), copy] {
    mount->play_started(copy, kRtmp);
  });
  update_stats();
  return true;
}

void RelayHub::player_event(Connection& connection, const rtmp::SessionEvent& event) {
  relay::ViewerQueue* queue = connection.viewer();
  if (!queue) return;
  const int64_t now = g_get_monotonic_time();
  switch (event.kind) {
    case rtmp::SessionEventKind::play_paused:
      queue->set_paused(event.flag, now);
      break;
    case rtmp::SessionEventKind::receive_audio:
      queue->set_receive_audio(event.flag);
      break;
    case rtmp::SessionEventKind::receive_video:
      queue->set_receive_video(event.flag, now);
      break;
    default:
      break;
  }
  connection.flush();
}

void RelayHub::remove_player(Connection& connection, const std::string& reason) {
  auto it = std::find_if(players_.begin(), players_.end(),
                         [&](const Player& p) { return p.connection == &connection; });
  if (it == players_.end()) return;
  if (relay::ViewerQueue* queue = connection.viewer()) {
    closed_bytes_out_ += queue->bytes_sent();
    closed_dropped_ += queue->messages_dropped();
    closed_skips_ += queue->skips();
  }
  PlayMount* mount = mount_;
  StreamRequest request = it->request;
  *it = std::move(players_.back());  // order does not matter; O(1)
  players_.pop_back();
  connection.play_hub = nullptr;
  DecisionRunner::get().notify([mount, alive = mount_->keep_alive(), request, reason] {
    mount->play_stopped(request, kRtmp, reason);
  });
  update_stats();
}

void RelayHub::http_viewer_closed(HttpFlvViewer* viewer, const std::string& reason) {
  auto it = std::find_if(http_viewers_.begin(), http_viewers_.end(),
                         [&](auto& v) { return v.get() == viewer; });
  if (it == http_viewers_.end()) return;
  closed_bytes_out_ += viewer->queue().bytes_sent();
  closed_dropped_ += viewer->queue().messages_dropped();
  closed_skips_ += viewer->queue().skips();
  if (viewer->is_viewer()) {
    GST_INFO("%s: HTTP-FLV viewer left: %s", viewer->request().client_address.c_str(),
             reason.c_str());
    PlayMount* mount = mount_;
    StreamRequest request = viewer->request();
    DecisionRunner::get().notify([mount, alive = mount_->keep_alive(), request, reason] {
      mount->play_stopped(request, kHttpFlv, reason);
    });
  }
  // Freed on a later dispatch: the poller may be inside this viewer's on_poll right now.
  closed_http_viewers_.push_back(std::move(*it));
  http_viewers_.erase(it);
  wake();
}

// Called after every change of the viewers (and at construction, with the push targets).
void RelayHub::update_stats() {
  const size_t viewers = viewer_count();
  realtime_demand_.set(viewers > 0 || !pushes_.empty());
  uint64_t bytes = closed_bytes_out_, dropped = closed_dropped_, skips = closed_skips_;
  for (auto& player : players_) {
    if (relay::ViewerQueue* queue = player.connection->viewer()) {
      bytes += queue->bytes_sent();
      dropped += queue->messages_dropped();
      skips += queue->skips();
    }
  }
  for (auto& viewer : http_viewers_) {
    bytes += viewer->queue().bytes_sent();
    dropped += viewer->queue().messages_dropped();
    skips += viewer->queue().skips();
  }
  std::vector<PushTargetStats> pushes;
  for (auto& push : pushes_) pushes.push_back(push->stats());
  std::lock_guard lock(stats_lock_);
  push_stats_ = std::move(pushes);
  stats_.rtmp_viewers = uint32_t(players_.size());
  stats_.http_flv_viewers = uint32_t(viewers - players_.size());
  stats_.bytes_out = bytes;
  stats_.dropped_messages = dropped;
  stats_.lag_skips = skips;
  stats_.gop_cache_bytes = gop_cache_.frame_bytes();
  stats_.gop_cache_frames = gop_cache_.frame_count();
}

RelayStats RelayHub::stats() const {
  std::lock_guard lock(stats_lock_);
  return stats_;
}

std::vector<PushTargetStats> RelayHub::push_stats() const {
  std::lock_guard lock(stats_lock_);
  return push_stats_;
}

}  // namespace live::net
