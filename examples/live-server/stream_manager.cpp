// StreamManager (see stream_manager.h).
#include "stream_manager.h"

#include <chrono>

namespace live_server {

namespace {

// How long a new publish waits for the stream of the same name to finish ending.
constexpr auto kWaitForEndingStream = std::chrono::seconds(5);

struct WatchData {
  StreamManager* manager;
  std::string name;
};

std::string field(const GstStructure* s, const char* name) {
  const gchar* v = gst_structure_get_string(s, name);
  return v ? v : "";
}

}  // namespace

StreamManager::~StreamManager() {
  std::map<std::string, Stream> streams;
  {
    std::lock_guard lock(lock_);
    streams.swap(streams_);
  }
  for (auto& [name, stream] : streams)
    if (stream.bus_watch) g_source_remove(stream.bus_watch);
  if (shutdown_timer_) g_source_remove(shutdown_timer_);
}

bool StreamManager::provide(const GstStructure* request) {
  const std::string action = field(request, "action");
  const std::string key = field(request, "stream-key");
  const std::string app = field(request, "application");
  const std::string client = field(request, "client-address");
  const std::string name = config_.public_name(key);
  if (action != "publish") {
    g_print("live-server: play of a stream that is not live refused (client %s)\n", client.c_str());
    return false;
  }
  std::string why;
  if (app != config_.application) {
    g_print("live-server: publish from %s to application '%s' refused: this server serves '%s'\n",
            client.c_str(), app.c_str(), config_.application.c_str());
    return false;
  }
  if (!policy_.allow("publish", app, key, field(request, "query"), client, why)) {
    g_print("live-server: publish from %s refused: %s\n", client.c_str(), why.c_str());
    return false;
  }
  std::lock_guard create(create_lock_);
  {
    std::unique_lock lock(lock_);
    // A stream of that name that is ending (idle timeout, failure) goes first.
    removed_.wait_for(lock, kWaitForEndingStream, [&] {
      auto it = streams_.find(name);
      return it == streams_.end() || !it->second.ending;
    });
    if (streams_.count(name)) {
      g_print("live-server: publish from %s refused: stream %s is %s\n", client.c_str(),
              name.c_str(), streams_[name].ending ? "still ending" : "served by another key");
      return false;
    }
    if (streams_.size() >= size_t(config_.max_streams)) {
      g_print("live-server: publish from %s refused: %d streams are live (max-streams)\n",
              client.c_str(), config_.max_streams);
      return false;
    }
  }
  std::shared_ptr<StreamPipeline> pipeline = StreamPipeline::start(config_, key, name, why);
  if (!pipeline) {
    g_printerr("live-server: stream %s cannot start: %s\n", name.c_str(), why.c_str());
    return false;
  }
  GstElement* source = gst_bin_get_by_name(GST_BIN(pipeline->pipeline()), "ingest");
  GstElement* relay = gst_bin_get_by_name(GST_BIN(pipeline->pipeline()), "relay");
  g_signal_connect(source, "authorize-publish", G_CALLBACK(on_authorize_publish), this);
  g_signal_connect(relay, "authorize-play", G_CALLBACK(on_authorize_play), this);
  pipeline->set_play_authorizer(G_CALLBACK(on_authorize_play), this);
  gst_object_unref(source);
  gst_object_unref(relay);
  GstBus* bus = gst_element_get_bus(pipeline->pipeline());
  std::lock_guard lock(lock_);
  // In the table before the watch: its messages are dispatched on the main loop meanwhile.
  Stream& stream = streams_[name] = Stream{std::move(pipeline), 0, false};
  stream.created_us = g_get_monotonic_time();
  stream.bus_watch = gst_bus_add_watch_full(
      bus, G_PRIORITY_DEFAULT, on_bus_message, new WatchData{this, name},
      [](gpointer data) { delete static_cast<WatchData*>(data); });
  gst_object_unref(bus);
  ++started_;
  g_print("live-server: stream %s started (publish from %s)\n", name.c_str(), client.c_str());
  return true;
}

gboolean StreamManager::on_authorize_publish(GstElement* src, const gchar* client, const gchar* app,
                                             const gchar* key, const gchar* query, gpointer data) {
  auto* self = static_cast<StreamManager*>(data);
  const std::string name = self->config_.public_name(key);
  {
    std::lock_guard lock(self->lock_);
    auto it = self->streams_.find(name);
    if (it == self->streams_.end() || it->second.ending) {
      g_print("live-server: publish from %s refused: stream %s is ending\n", client, name.c_str());
      return FALSE;
    }
  }
  std::string why;
  if (!self->policy_.allow("publish", app, key, query, client, why)) {
    g_print("live-server: publish from %s to stream %s refused: %s\n", client, name.c_str(), why.c_str());
    return FALSE;
  }
  (void)src;
  return TRUE;
}

gboolean StreamManager::on_authorize_play(GstElement*, const gchar* client, const gchar* app,
                                          const gchar* key, const gchar* query, gpointer data) {
  auto* self = static_cast<StreamManager*>(data);
  std::string why;
  if (self->policy_.allow("play", app, key, query, client, why)) return TRUE;
  g_print("live-server: play of stream %s from %s refused: %s\n", key, client, why.c_str());
  return FALSE;
}

gboolean StreamManager::on_bus_message(GstBus*, GstMessage* message, gpointer data) {
  auto* watch = static_cast<WatchData*>(data);
  return watch->manager->handle_message(watch->name, message) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

bool StreamManager::handle_message(const std::string& name, GstMessage* message) {
  std::shared_ptr<StreamPipeline> pipeline;
  {
    std::lock_guard lock(lock_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return false;
    pipeline = it->second.pipeline;
  }
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      if (pipeline->handle_webrtc_error(message)) return true;  // WebRTC stops, the stream goes on
      GError* err = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(message, &err, &debug);
      if (pipeline->drop_failed_hls(message->src, err->message)) {
        g_printerr("live-server: stream %s: HLS output failed: %s; the stream goes on over RTMP and "
                   "HTTP-FLV without HLS (HLS comes back with the stream's next pipeline)\n", name.c_str(), err->message);
        g_printerr("live-server: details: %s\n", debug ? debug : "none");
        g_clear_error(&err);
        g_free(debug);
        return true;
      }
      g_printerr("live-server: stream %s failed in %s: %s (the other streams go on)\n", name.c_str(),
                 GST_OBJECT_NAME(message->src), err->message);
      g_printerr("live-server: details: %s\n", debug ? debug : "none");
      g_clear_error(&err);
      g_free(debug);
      remove(name);
      return false;
    }
    case GST_MESSAGE_WARNING: {
      GError* err = nullptr;
      gst_message_parse_warning(message, &err, nullptr);
      g_printerr("live-server: stream %s: warning from %s: %s\n", name.c_str(),
                 GST_OBJECT_NAME(message->src), err->message);
      g_clear_error(&err);
      return true;
    }
    case GST_MESSAGE_EOS:
      g_print("live-server: stream %s ended\n", name.c_str());
      remove(name);
      return false;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure* s = gst_message_get_structure(message);
      const std::string what = gst_structure_get_name(s);
      const std::string client = field(s, "client-address");
      if (what == "rtmp-publish-start") {
        {
          std::lock_guard lock(lock_);
          if (auto it = streams_.find(name); it != streams_.end()) it->second.published = true;
        }
        g_print("live-server: stream %s: publisher %s started\n", name.c_str(), client.c_str());
        pipeline->publish_started();
      } else if (what == "rtmp-publish-stop") {
        g_print("live-server: stream %s: publisher %s stopped (%s); the stream waits %d s for it\n",
                name.c_str(), client.c_str(), field(s, "reason").c_str(), config_.idle_timeout);
        pipeline->publish_stopped();
      } else if (what == "rtmp-play-start" || what == "rtmp-play-stop") {
        // Counted from the messages: the relay's stats may not have changed yet.
        const std::string protocol = field(s, "protocol");
        const int step = what == "rtmp-play-start" ? 1 : -1;
        int rtmp = 0, flv = 0;
        {
          std::lock_guard lock(lock_);
          auto it = streams_.find(name);
          if (it != streams_.end()) {
            (protocol == "http-flv" ? it->second.http_flv_viewers : it->second.rtmp_viewers) += step;
            rtmp = it->second.rtmp_viewers;
            flv = it->second.http_flv_viewers;
          }
        }
        g_print("live-server: stream %s: %s viewer %s %s (%d RTMP, %d HTTP-FLV viewers)\n",
                name.c_str(), protocol.c_str(), client.c_str(), step > 0 ? "joined" : "left", rtmp, flv);
      } else if (what == "whep-session-start" || what == "whep-session-end") {
        // The session id is a capability (whoever knows it can end the session): not logged.
        guint viewers = 0;
        gst_structure_get_uint(s, "viewers", &viewers);
        if (what == "whep-session-start")
          g_print("live-server: stream %s: webrtc viewer %s joined (%u WebRTC viewers)\n", name.c_str(),
                  client.c_str(), viewers);
        else
          g_print("live-server: stream %s: webrtc viewer left (%s; %u WebRTC viewers)\n", name.c_str(),
                  field(s, "reason").c_str(), viewers);
      } else if (what == "rtmp-push-connected" || what == "rtmp-push-disconnected") {
        g_print("live-server: stream %s: push to %s %s %s\n", name.c_str(), field(s, "location").c_str(),
                what == "rtmp-push-connected" ? "connected" : "disconnected:", field(s, "reason").c_str());
      }
      return true;
    }
    default:
      return true;
  }
}

void StreamManager::remove(const std::string& name) {
  std::shared_ptr<StreamPipeline> pipeline;
  guint watch = 0;
  bool none_left = false;
  {
    std::lock_guard lock(lock_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return;
    pipeline = std::move(it->second.pipeline);
    watch = it->second.bus_watch;
    streams_.erase(it);
    none_left = streams_.empty();
  }
  // Its bus watch goes too (also when called from that watch: GLib allows it).
  if (watch) g_source_remove(watch);
  // A snapshot that copied it before it left streams_ has finished: the last reference is ours.
  { std::unique_lock wait(snapshots_lock_); }
  // To NULL (the mounts and ports are released) once the last holder, e.g. a snapshot, is done.
  pipeline.reset();
  removed_.notify_all();
  if (shutdown_done_ && none_left) {
    if (shutdown_timer_) g_source_remove(shutdown_timer_);
    shutdown_timer_ = 0;
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }
}

std::vector<StreamSnapshot> StreamManager::snapshots() const {
  std::shared_lock holding(snapshots_lock_);  // outlives `pipelines`: remove() waits for it
  std::vector<std::shared_ptr<StreamPipeline>> pipelines;
  {
    std::lock_guard lock(lock_);
    for (const auto& [name, stream] : streams_) pipelines.push_back(stream.pipeline);
  }
  std::vector<StreamSnapshot> out;
  for (const auto& pipeline : pipelines) out.push_back(pipeline->snapshot());
  return out;
}

uint64_t StreamManager::streams_started() const {
  std::lock_guard lock(lock_);
  return started_;
}

void StreamManager::shutdown(unsigned timeout_s, std::function<void()> done) {
  std::vector<std::shared_ptr<StreamPipeline>> pipelines;
  {
    std::lock_guard lock(lock_);
    for (auto& [name, stream] : streams_) {
      stream.ending = true;
      pipelines.push_back(stream.pipeline);
    }
  }
  if (pipelines.empty()) return done();
  shutdown_done_ = std::move(done);
  for (const auto& pipeline : pipelines) pipeline->send_eos();
  shutdown_timer_ = g_timeout_add_seconds(timeout_s, [](gpointer data) -> gboolean {
    auto* self = static_cast<StreamManager*>(data);
    self->shutdown_timer_ = 0;
    g_printerr("live-server: some streams did not end in time; stopping them\n");
    auto done = std::move(self->shutdown_done_);
    self->shutdown_done_ = nullptr;
    if (done) done();
    return G_SOURCE_REMOVE;
  }, this);
}

void StreamManager::end_abandoned() {
  const int64_t now = g_get_monotonic_time();
  std::vector<std::string> abandoned;
  {
    std::lock_guard lock(lock_);
    for (const auto& [name, stream] : streams_)
      if (!stream.published && !stream.ending &&
          now - stream.created_us > int64_t(config_.idle_timeout) * G_USEC_PER_SEC)
        abandoned.push_back(name);
  }
  for (const std::string& name : abandoned) {
    g_print("live-server: stream %s ended: its publisher never arrived\n", name.c_str());
    remove(name);
  }
}

void StreamManager::log_status() const {
  const std::vector<StreamSnapshot> streams = snapshots();
  uint64_t in = 0;
  unsigned rtmp = 0, flv = 0;
  for (const StreamSnapshot& s : streams) {
    in += s.bitrate_in;
    rtmp += s.rtmp_viewers;
    flv += s.http_flv_viewers;
  }
  g_print("live-server: status: %zu streams, %u RTMP + %u HTTP-FLV viewers, %.1f Mbit/s in\n",
          streams.size(), rtmp, flv, in / 1e6);
}

}  // namespace live_server
