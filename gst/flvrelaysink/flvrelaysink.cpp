// flvrelaysink: see the header and docs/elements/flvrelaysink.md.
//
// Threads: the streaming thread runs render() (parse FLV, hand batches to the hub); the
// listener's I/O thread runs the hub (viewers, GOP cache, push targets); "authorize-play" and
// element messages run on DecisionRunner threads (never the I/O or HTTP thread, so a handler
// may stop the pipeline); the HTTP server thread only hands requests over.
// Locks: settings_lock (properties) and state_lock (hub pointer, stats) are never held
// together, and neither is held while calling into the listener or the HTTP port.
#include "flvrelaysink/flvrelaysink.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "flv/flv_tag.h"
#include "http/http_port.h"
#include "net/decision_runner.h"
#include "net/listener.h"
#include "net/mount.h"
#include "net/relay_hub.h"
#include "relay/relay_message.h"
#include "rtmp/rtmp_url.h"

GST_DEBUG_CATEGORY_STATIC(flv_relay_sink_debug);
#define GST_CAT_DEFAULT flv_relay_sink_debug

namespace {

constexpr const char* kDefaultAddress = "0.0.0.0";
constexpr guint kDefaultPort = 1935;
constexpr const char* kDefaultApplication = "live";
constexpr guint kDefaultChunkSize = 4096;
constexpr guint kMinChunkSize = 128;
constexpr guint kMaxChunkSize = 65536;
constexpr guint kDefaultGopCacheDurationMs = guint(live::relay::kDefaultGopCacheDurationMs);
constexpr guint64 kDefaultGopCacheBytes = live::relay::kDefaultGopCacheBytes;
constexpr guint kDefaultMaxViewerLagMs = guint(live::relay::kDefaultMaxViewerLagUs / 1000);
constexpr guint kDefaultViewerTimeoutMs = guint(live::relay::kDefaultViewerTimeoutUs / 1000);
constexpr guint kDefaultMaxViewers = live::net::kDefaultMaxViewers;
constexpr size_t kMaxPushLocations = 16;
constexpr guint kDefaultWriteIntervalMs = guint(live::net::kDefaultFlushDelayUs / 1000);
constexpr guint kMaxWriteIntervalMs = 100;  // audio held longer than this would be late
constexpr guint kMaxVideoWriteDelayMs = 1000;

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_APPLICATION,
  PROP_STREAM_KEY,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_CHUNK_SIZE,
  PROP_MAX_CONNECTIONS,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_HTTP_ADDRESS,
  PROP_HTTP_PORT,
  PROP_GOP_CACHE,
  PROP_MAX_GOP_CACHE_DURATION,
  PROP_MAX_GOP_CACHE_BYTES,
  PROP_MAX_VIEWER_LAG,
  PROP_VIEWER_TIMEOUT,
  PROP_MAX_VIEWERS,
  PROP_PUSH_LOCATIONS,
  PROP_PUSH_TLS_VERIFY,
  PROP_WRITE_INTERVAL,
  PROP_VIDEO_WRITE_DELAY,
  PROP_STATS,
};

enum { SIGNAL_AUTHORIZE_PLAY, N_SIGNALS };
guint signals[N_SIGNALS];

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-flv"));

gboolean accumulate_all_true(GSignalInvocationHint*, GValue* return_accu,
                             const GValue* handler_return, gpointer) {
  gboolean allowed = g_value_get_boolean(handler_return);
  g_value_set_boolean(return_accu, allowed);
  return allowed;
}

gboolean default_authorize_play(GstFlvRelaySink*, const gchar*, const gchar*, const gchar*,
                                const gchar*) {
  return TRUE;
}

// A buffer kept mapped while relay messages point into it (FlvRelaySinkImpl::parse).
struct MappedBuffer {
  GstBuffer* buffer;
  GstMapInfo map;
};

}  // namespace

namespace live::gst {

class FlvRelaySinkImpl final : public net::PlayMount {
 public:
  explicit FlvRelaySinkImpl(GstFlvRelaySink* element) : element_(element) {}
  ~FlvRelaySinkImpl() override = default;

  struct Settings {
    std::string address = kDefaultAddress;
    guint port = kDefaultPort;
    std::string application = kDefaultApplication;
    std::string stream_key;
    std::string tls_certificate;
    std::string tls_key;
    guint chunk_size = kDefaultChunkSize;
    guint max_connections = live::net::kDefaultMaxConnections;
    guint max_connections_per_address = live::net::kDefaultMaxConnectionsPerAddress;
    std::string http_address = kDefaultAddress;
    guint http_port = 0;
    bool gop_cache = true;
    guint max_gop_cache_duration = kDefaultGopCacheDurationMs;
    guint64 max_gop_cache_bytes = kDefaultGopCacheBytes;
    guint max_viewer_lag = kDefaultMaxViewerLagMs;
    guint viewer_timeout = kDefaultViewerTimeoutMs;
    guint max_viewers = kDefaultMaxViewers;
    std::vector<std::string> push_locations;
    bool push_tls_verify = true;
    guint write_interval = kDefaultWriteIntervalMs;
    guint video_write_delay = 0;
  };

  std::mutex settings_lock;
  Settings settings;

  bool start();
  void stop();
  GstFlowReturn render(GstBuffer* buffer);
  GstFlowReturn render_list(GstBufferList* list);
  bool event(GstEvent* event);
  GstStructure* stats();

  // net::PlayMount
  std::shared_ptr<void> keep_alive() override {
    return std::shared_ptr<void>(gst_object_ref(element_), gst_object_unref);
  }
  bool authorize_play(const net::StreamRequest& request) override;
  void play_started(const net::StreamRequest& request, const char* protocol) override;
  void play_stopped(const net::StreamRequest& request, const char* protocol,
                    const std::string& reason) override;
  void push_state_changed(const std::string& location, bool connected,
                          const std::string& reason) override;

 private:
  // The hub as seen by HTTP adoptions, which may complete after stop(): they check it here.
  struct HubHandle {
    std::mutex lock;
    net::RelayHub* hub = nullptr;
  };

  bool parse(GstBuffer* buffer, std::vector<relay::RelayMessagePtr>& out);
  void deliver(std::vector<relay::RelayMessagePtr> messages);
  template <typename Work>
  void with_hub(Work&& work);
  void handle_http_request(const std::shared_ptr<http::PendingStream>& request);
  void post_message(GstStructure* fields);

  GstFlvRelaySink* element_;

  // --- under state_lock_ ---
  std::mutex state_lock_;
  std::shared_ptr<net::Listener> listener_;
  std::shared_ptr<http::HttpPort> http_port_;
  std::string http_path_;
  std::shared_ptr<HubHandle> hub_;
  uint64_t refused_ = 0;
  uint64_t parse_errors_ = 0;

  // --- streaming thread only ---
  flv::FlvReader reader_;
  std::vector<flv::TagView> whole_tags_;  // parse()'s, kept for its capacity
};

bool FlvRelaySinkImpl::start() {
  Settings s;
  {
    std::lock_guard lock(settings_lock);
    s = settings;
  }
  if (s.stream_key.empty()) {
    GST_ELEMENT_ERROR(element_, RESOURCE, SETTINGS, ("No stream key set"),
                      ("flvrelaysink needs stream-key: players ask for one stream by name"));
    return false;
  }
  for (const auto& location : s.push_locations) {
    if (auto url = rtmp::parse_rtmp_url(location); !url) {
      GST_ELEMENT_ERROR(element_, RESOURCE, SETTINGS, ("Invalid push location"),
                        ("%s", url.error().describe().c_str()));
      return false;
    }
  }
  net::ListenerConfig config;
  config.address = s.address;
  config.port = static_cast<uint16_t>(s.port);
  config.tls_certificate = s.tls_certificate;
  config.tls_key = s.tls_key;
  config.session.outgoing_chunk_size = s.chunk_size;
  config.max_connections = s.max_connections;
  config.max_connections_per_address = s.max_connections_per_address;
  auto acquired = net::Listener::acquire(config);
  if (!acquired) {
    GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_WRITE, ("Cannot start the RTMP server"),
                      ("%s", acquired.error().describe().c_str()));
    return false;
  }
  std::shared_ptr<net::Listener> listener = acquired.value();

  net::RelayConfig relay_config;
  relay_config.gop_cache.enabled = s.gop_cache;
  relay_config.gop_cache.max_duration_ms = s.max_gop_cache_duration;
  relay_config.gop_cache.max_bytes = s.max_gop_cache_bytes;
  // A message held for a merged write is not late yet: lag and lack of progress count from
  // when it is due.
  relay_config.viewer.max_lag_us = int64_t(s.max_viewer_lag + s.video_write_delay) * 1000;
  relay_config.viewer.timeout_us = int64_t(s.viewer_timeout + s.video_write_delay) * 1000;
  relay_config.max_viewers = s.max_viewers;
  relay_config.flush_delay_us = int64_t(s.write_interval) * 1000;
  relay_config.video_flush_delay_us = int64_t(s.video_write_delay) * 1000;
  for (const auto& location : s.push_locations)
    relay_config.push_targets.push_back(rtmp::parse_rtmp_url(location).value());
  relay_config.push_tls_verify = s.push_tls_verify;
  auto hub = listener->add_play_mount(s.application, s.stream_key, this, relay_config);
  if (!hub) {
    GST_ELEMENT_ERROR(element_, RESOURCE, BUSY, ("Stream already served"),
                      ("%s", hub.error().describe().c_str()));
    return false;
  }
  auto handle = std::make_shared<HubHandle>();
  handle->hub = hub.value();

  std::shared_ptr<http::HttpPort> http_port;
  std::string http_path;
  if (s.http_port != 0) {
    auto port = http::HttpPort::acquire(s.http_address, uint16_t(s.http_port), {});
    if (!port) {
      listener->remove_play_mount(this);
      GST_ELEMENT_ERROR(element_, RESOURCE, OPEN_WRITE, ("Cannot start the HTTP server"),
                        ("%s", port.error().describe().c_str()));
      return false;
    }
    http_path = "/" + s.application + "/" + s.stream_key + ".flv";
    auto added = port.value()->add_stream_route(
        http_path, [this](std::shared_ptr<http::PendingStream> request) {
          handle_http_request(request);
        });
    if (!added) {
      listener->remove_play_mount(this);
      GST_ELEMENT_ERROR(element_, RESOURCE, BUSY, ("HTTP-FLV path already served"),
                        ("%s", added.error().describe().c_str()));
      return false;
    }
    http_port = port.value();
  }
  {
    std::lock_guard lock(state_lock_);
    listener_ = listener;
    http_port_ = http_port;
    http_path_ = http_path;
    hub_ = handle;
    refused_ = parse_errors_ = 0;
  }
  reader_.reset();
  GST_INFO_OBJECT(element_, "playing out application '%s' on rtmp port %u%s%s", s.application.c_str(),
                  listener->port(), listener->uses_tls() ? " (RTMPS)" : "",
                  http_port ? (" and HTTP-FLV on port " + std::to_string(http_port->port())).c_str() : "");
  return true;
}

void FlvRelaySinkImpl::stop() {
  std::shared_ptr<net::Listener> listener;
  std::shared_ptr<http::HttpPort> http_port;
  std::shared_ptr<HubHandle> handle;
  std::string http_path;
  {
    std::lock_guard lock(state_lock_);
    listener = std::move(listener_);
    http_port = std::move(http_port_);
    handle = std::move(hub_);
    http_path = http_path_;
  }
  if (http_port) http_port->remove_stream_route(http_path);  // no new HTTP requests
  if (handle) {
    std::lock_guard lock(handle->lock);
    handle->hub = nullptr;  // adoptions still in flight close their connection
  }
  // Ends the players; no I/O-thread callback runs after this. Their rtmp-play-stop messages
  // are still posted (notification tasks hold the element).
  if (listener) listener->remove_play_mount(this);
  listener.reset();
  http_port.reset();
}

// The HTTP server thread: a GET/HEAD for our .flv path. The decision is the application's,
// like an RTMP play's, and is made on a decision thread.
void FlvRelaySinkImpl::handle_http_request(const std::shared_ptr<http::PendingStream>& request) {
  std::shared_ptr<HubHandle> handle;
  net::StreamRequest play;
  {
    std::lock_guard lock(settings_lock);
    play.application = settings.application;
    play.stream_key = settings.stream_key;
  }
  {
    std::lock_guard lock(state_lock_);
    handle = hub_;
  }
  if (!handle) {
    request->refuse(404, "stream not found");
    return;
  }
  play.client_address = request->info().client_address;
  play.query = request->info().query;
  const bool head = request->info().head;
  const bool http_1_0 = request->info().http_1_0;
  net::DecisionRunner::get().decide([this, alive = keep_alive(), request, handle, play, head,
                                     http_1_0] {
    if (!authorize_play(play)) {
      request->refuse(403, "not authorized");
      return;
    }
    request->accept([handle, play, head, http_1_0](GIOStream* stream, int fd) {
      if (!stream) return;  // the client went away
      std::lock_guard lock(handle->lock);
      if (!handle->hub) {
        g_object_unref(stream);  // the element stopped meanwhile: close
        return;
      }
      handle->hub->adopt_http_viewer(stream, fd, play, head, http_1_0);
    });
  });
}

bool FlvRelaySinkImpl::parse(GstBuffer* buffer, std::vector<relay::RelayMessagePtr>& out) {
  // A DISCONT needs no reset: in a tag-per-buffer stream nothing is partial, and garbage after
  // a partial tag is reported by the reader below, which then starts again.
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return false;
  const std::span<const uint8_t> bytes(map.data, map.size);
  // Whole tags, as rtmpserversrc and flvmux push them: the messages point into the buffer,
  // which stays mapped while any of them lives (GOP cache, viewers' queues). A buffer from a
  // pool is copied instead: held for seconds, it could starve its pool.
  if (reader_.read_whole_tags(bytes, whole_tags_, SIZE_MAX)) {
    std::shared_ptr<const void> owner;
    if (buffer->pool == nullptr) {
      auto* held = new MappedBuffer{gst_buffer_ref(buffer), map};
      owner = std::shared_ptr<const MappedBuffer>(held, [](const MappedBuffer* m) {
        gst_buffer_unmap(m->buffer, const_cast<GstMapInfo*>(&m->map));
        gst_buffer_unref(m->buffer);
        delete m;
      });
    }
    for (const flv::TagView& tag : whole_tags_) {
      if (tag.type != 8 && tag.type != 9 && tag.type != 18) continue;
      if (owner)
        out.push_back(std::make_shared<const relay::RelayMessage>(tag.type, tag.timestamp, tag.payload, owner));
      else
        out.push_back(std::make_shared<const relay::RelayMessage>(
            tag.type, tag.timestamp, std::vector<uint8_t>(tag.payload.begin(), tag.payload.end())));
    }
    if (!owner) gst_buffer_unmap(buffer, &map);
    return true;
  }
  auto fed = reader_.feed(bytes);
  gst_buffer_unmap(buffer, &map);
  if (!fed) {
    GST_WARNING_OBJECT(element_, "not FLV: %s; resynchronising at the next buffer",
                       fed.error().describe().c_str());
    std::lock_guard lock(state_lock_);
    ++parse_errors_;
    reader_.reset();
    return true;
  }
  while (auto tag = reader_.next_tag()) {
    if (tag->type != 8 && tag->type != 9 && tag->type != 18) continue;
    out.push_back(std::make_shared<const relay::RelayMessage>(tag->type, tag->timestamp,
                                                              std::move(tag->payload)));
  }
  return true;
}

GstFlowReturn FlvRelaySinkImpl::render(GstBuffer* buffer) {
  std::vector<relay::RelayMessagePtr> messages;
  if (!parse(buffer, messages)) return GST_FLOW_ERROR;
  deliver(std::move(messages));
  return GST_FLOW_OK;
}

GstFlowReturn FlvRelaySinkImpl::render_list(GstBufferList* list) {
  std::vector<relay::RelayMessagePtr> messages;
  const guint n = gst_buffer_list_length(list);
  for (guint i = 0; i < n; ++i) {
    if (!parse(gst_buffer_list_get(list, i), messages)) return GST_FLOW_ERROR;
  }
  deliver(std::move(messages));  // one hand-over per list: one wakeup of the I/O thread
  return GST_FLOW_OK;
}

// Runs `work` with the hub while the element serves (between start and stop).
template <typename Work>
void FlvRelaySinkImpl::with_hub(Work&& work) {
  std::shared_ptr<HubHandle> handle;
  {
    std::lock_guard lock(state_lock_);
    handle = hub_;
  }
  if (!handle) return;
  std::lock_guard lock(handle->lock);
  if (handle->hub) work(*handle->hub);
}

void FlvRelaySinkImpl::deliver(std::vector<relay::RelayMessagePtr> messages) {
  if (messages.empty()) return;
  with_hub([&](net::RelayHub& hub) { hub.deliver(std::move(messages)); });
}

bool FlvRelaySinkImpl::event(GstEvent* event) {
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_EOS:
      with_hub([](net::RelayHub& hub) { hub.end_of_stream(); });
      break;
    case GST_EVENT_FLUSH_STOP:
      reader_.reset();
      break;
    default:
      break;
  }
  return true;
}

bool FlvRelaySinkImpl::authorize_play(const net::StreamRequest& request) {
  gboolean allowed = TRUE;
  g_signal_emit(element_, signals[SIGNAL_AUTHORIZE_PLAY], 0, request.client_address.c_str(),
                request.application.c_str(), request.stream_key.c_str(), request.query.c_str(),
                &allowed);
  if (!allowed) {
    GST_INFO_OBJECT(element_, "viewer %s not authorized", request.client_address.c_str());
    std::lock_guard lock(state_lock_);
    ++refused_;
  }
  return allowed;
}

// Notification thread (DecisionRunner): element messages.
void FlvRelaySinkImpl::play_started(const net::StreamRequest& request, const char* protocol) {
  GST_INFO_OBJECT(element_, "%s viewer %s started", protocol, request.client_address.c_str());
  post_message(gst_structure_new("rtmp-play-start", "client-address", G_TYPE_STRING,
                                 request.client_address.c_str(), "application", G_TYPE_STRING,
                                 request.application.c_str(), "protocol", G_TYPE_STRING, protocol,
                                 nullptr));
}

void FlvRelaySinkImpl::play_stopped(const net::StreamRequest& request, const char* protocol,
                                    const std::string& reason) {
  GST_INFO_OBJECT(element_, "%s viewer %s stopped: %s", protocol, request.client_address.c_str(),
                  reason.c_str());
  post_message(gst_structure_new("rtmp-play-stop", "client-address", G_TYPE_STRING,
                                 request.client_address.c_str(), "application", G_TYPE_STRING,
                                 request.application.c_str(), "protocol", G_TYPE_STRING, protocol,
                                 "reason", G_TYPE_STRING, reason.c_str(), nullptr));
}

void FlvRelaySinkImpl::push_state_changed(const std::string& location, bool connected,
                                          const std::string& reason) {
  if (connected) {
    GST_INFO_OBJECT(element_, "pushing to %s", location.c_str());
    post_message(gst_structure_new("rtmp-push-connected", "location", G_TYPE_STRING,
                                   location.c_str(), nullptr));
  } else {
    GST_WARNING_OBJECT(element_, "push to %s stopped: %s", location.c_str(), reason.c_str());
    post_message(gst_structure_new("rtmp-push-disconnected", "location", G_TYPE_STRING,
                                   location.c_str(), "reason", G_TYPE_STRING, reason.c_str(),
                                   nullptr));
  }
}

void FlvRelaySinkImpl::post_message(GstStructure* fields) {
  gst_element_post_message(GST_ELEMENT(element_),
                           gst_message_new_element(GST_OBJECT(element_), fields));
}

GstStructure* FlvRelaySinkImpl::stats() {
  net::RelayStats r;
  uint64_t refused, parse_errors;
  {
    std::lock_guard lock(state_lock_);
    refused = refused_;
    parse_errors = parse_errors_;
  }
  std::vector<net::PushTargetStats> pushes;
  with_hub([&](net::RelayHub& hub) {
    r = hub.stats();
    pushes = hub.push_stats();
  });
  GstStructure* s = gst_structure_new(
      "flv-relay-sink-stats", "rtmp-viewers", G_TYPE_UINT, r.rtmp_viewers, "http-flv-viewers",
      G_TYPE_UINT, r.http_flv_viewers, "viewers-total", G_TYPE_UINT64, r.viewers_total,
      "viewers-refused", G_TYPE_UINT64, guint64(r.viewers_refused + refused),
      "lag-disconnects", G_TYPE_UINT64, r.lag_disconnects, "lag-skips", G_TYPE_UINT64,
      r.lag_skips, "messages-in", G_TYPE_UINT64, r.messages_in, "bytes-out", G_TYPE_UINT64,
      r.bytes_out, "dropped-messages", G_TYPE_UINT64, r.dropped_messages, "gop-cache-bytes",
      G_TYPE_UINT64, r.gop_cache_bytes, "gop-cache-frames", G_TYPE_UINT64, r.gop_cache_frames,
      "parse-errors", G_TYPE_UINT64, guint64(parse_errors), nullptr);
  GValue list = G_VALUE_INIT;
  gst_value_array_init(&list, pushes.size());
  for (const auto& push : pushes) {
    GstStructure* target = gst_structure_new(
        "push-target", "location", G_TYPE_STRING, push.location.c_str(), "state", G_TYPE_STRING,
        push.state.c_str(), "connects", G_TYPE_UINT64, push.connects, "bytes-out", G_TYPE_UINT64,
        push.bytes_out, "dropped-messages", G_TYPE_UINT64, push.dropped_messages, "last-error",
        G_TYPE_STRING, push.last_error.c_str(), nullptr);
    GValue value = G_VALUE_INIT;
    g_value_init(&value, GST_TYPE_STRUCTURE);
    g_value_take_boxed(&value, target);
    gst_value_array_append_and_take_value(&list, &value);
  }
  gst_structure_take_value(s, "push-targets", &list);
  return s;
}

}  // namespace live::gst

using live::gst::FlvRelaySinkImpl;

G_DEFINE_TYPE(GstFlvRelaySink, gst_flv_relay_sink, GST_TYPE_BASE_SINK)

static FlvRelaySinkImpl& impl_of(gpointer object) { return *GST_FLV_RELAY_SINK(object)->impl; }

static void gst_flv_relay_sink_set_property(GObject* object, guint id, const GValue* value,
                                            GParamSpec* pspec) {
  auto& impl = impl_of(object);
  std::lock_guard lock(impl.settings_lock);
  auto& s = impl.settings;
  auto str = [&] { const gchar* v = g_value_get_string(value); return std::string(v ? v : ""); };
  switch (id) {
    case PROP_ADDRESS: s.address = str(); break;
    case PROP_PORT: s.port = g_value_get_uint(value); break;
    case PROP_APPLICATION: s.application = str(); break;
    case PROP_STREAM_KEY: s.stream_key = str(); break;
    case PROP_TLS_CERTIFICATE: s.tls_certificate = str(); break;
    case PROP_TLS_KEY: s.tls_key = str(); break;
    case PROP_CHUNK_SIZE: s.chunk_size = g_value_get_uint(value); break;
    case PROP_MAX_CONNECTIONS: s.max_connections = g_value_get_uint(value); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: s.max_connections_per_address = g_value_get_uint(value); break;
    case PROP_HTTP_ADDRESS: s.http_address = str(); break;
    case PROP_HTTP_PORT: s.http_port = g_value_get_uint(value); break;
    case PROP_GOP_CACHE: s.gop_cache = g_value_get_boolean(value); break;
    case PROP_MAX_GOP_CACHE_DURATION: s.max_gop_cache_duration = g_value_get_uint(value); break;
    case PROP_MAX_GOP_CACHE_BYTES: s.max_gop_cache_bytes = g_value_get_uint64(value); break;
    case PROP_MAX_VIEWER_LAG: s.max_viewer_lag = g_value_get_uint(value); break;
    case PROP_VIEWER_TIMEOUT: s.viewer_timeout = g_value_get_uint(value); break;
    case PROP_MAX_VIEWERS: s.max_viewers = g_value_get_uint(value); break;
    case PROP_PUSH_LOCATIONS: {
      s.push_locations.clear();
      const guint n = gst_value_array_get_size(value);
      for (guint i = 0; i < n && i < kMaxPushLocations; ++i) {
        const GValue* item = gst_value_array_get_value(value, i);
        if (G_VALUE_HOLDS_STRING(item) && g_value_get_string(item))
          s.push_locations.emplace_back(g_value_get_string(item));
      }
      if (n > kMaxPushLocations)
        GST_WARNING_OBJECT(object, "only the first %zu push locations are used", kMaxPushLocations);
      break;
    }
    case PROP_PUSH_TLS_VERIFY: s.push_tls_verify = g_value_get_boolean(value); break;
    case PROP_WRITE_INTERVAL: s.write_interval = g_value_get_uint(value); break;
    case PROP_VIDEO_WRITE_DELAY: s.video_write_delay = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

static void gst_flv_relay_sink_get_property(GObject* object, guint id, GValue* value,
                                            GParamSpec* pspec) {
  auto& impl = impl_of(object);
  if (id == PROP_STATS) {
    g_value_take_boxed(value, impl.stats());
    return;
  }
  std::lock_guard lock(impl.settings_lock);
  auto& s = impl.settings;
  switch (id) {
    case PROP_ADDRESS: g_value_set_string(value, s.address.c_str()); break;
    case PROP_PORT: g_value_set_uint(value, s.port); break;
    case PROP_APPLICATION: g_value_set_string(value, s.application.c_str()); break;
    case PROP_STREAM_KEY: g_value_set_string(value, s.stream_key.c_str()); break;
    case PROP_TLS_CERTIFICATE: g_value_set_string(value, s.tls_certificate.c_str()); break;
    case PROP_TLS_KEY: g_value_set_string(value, s.tls_key.c_str()); break;
    case PROP_CHUNK_SIZE: g_value_set_uint(value, s.chunk_size); break;
    case PROP_MAX_CONNECTIONS: g_value_set_uint(value, s.max_connections); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: g_value_set_uint(value, s.max_connections_per_address); break;
    case PROP_HTTP_ADDRESS: g_value_set_string(value, s.http_address.c_str()); break;
    case PROP_HTTP_PORT: g_value_set_uint(value, s.http_port); break;
    case PROP_GOP_CACHE: g_value_set_boolean(value, s.gop_cache); break;
    case PROP_MAX_GOP_CACHE_DURATION: g_value_set_uint(value, s.max_gop_cache_duration); break;
    case PROP_MAX_GOP_CACHE_BYTES: g_value_set_uint64(value, s.max_gop_cache_bytes); break;
    case PROP_MAX_VIEWER_LAG: g_value_set_uint(value, s.max_viewer_lag); break;
    case PROP_VIEWER_TIMEOUT: g_value_set_uint(value, s.viewer_timeout); break;
    case PROP_MAX_VIEWERS: g_value_set_uint(value, s.max_viewers); break;
    case PROP_PUSH_LOCATIONS:
      for (const auto& location : s.push_locations) {
        GValue item = G_VALUE_INIT;
        g_value_init(&item, G_TYPE_STRING);
        g_value_set_string(&item, location.c_str());
        gst_value_array_append_and_take_value(value, &item);
      }
      break;
    case PROP_PUSH_TLS_VERIFY: g_value_set_boolean(value, s.push_tls_verify); break;
    case PROP_WRITE_INTERVAL: g_value_set_uint(value, s.write_interval); break;
    case PROP_VIDEO_WRITE_DELAY: g_value_set_uint(value, s.video_write_delay); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
}

// Serving starts at READY->PAUSED and ends at PAUSED->READY, as rtmpserversrc's does
// (GstBaseSink's start/stop would run at NULL<->READY): in READY the stream is not served (its
// viewers are told and closed, the port is free) and properties set there apply at the next start.
static GstStateChangeReturn gst_flv_relay_sink_change_state(GstElement* element,
                                                            GstStateChange transition) {
  auto& impl = impl_of(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !impl.start())
    return GST_STATE_CHANGE_FAILURE;
  const GstStateChangeReturn result =
      GST_ELEMENT_CLASS(gst_flv_relay_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY ||
      (transition == GST_STATE_CHANGE_READY_TO_PAUSED && result == GST_STATE_CHANGE_FAILURE))
    impl.stop();
  return result;
}
static GstFlowReturn gst_flv_relay_sink_render(GstBaseSink* sink, GstBuffer* buffer) {
  return impl_of(sink).render(buffer);
}
static GstFlowReturn gst_flv_relay_sink_render_list(GstBaseSink* sink, GstBufferList* list) {
  return impl_of(sink).render_list(list);
}
static gboolean gst_flv_relay_sink_event(GstBaseSink* sink, GstEvent* event) {
  impl_of(sink).event(event);
  return GST_BASE_SINK_CLASS(gst_flv_relay_sink_parent_class)->event(sink, event);
}

static void gst_flv_relay_sink_finalize(GObject* object) {
  GST_FLV_RELAY_SINK(object)->impl.~unique_ptr();
  G_OBJECT_CLASS(gst_flv_relay_sink_parent_class)->finalize(object);
}

static void gst_flv_relay_sink_init(GstFlvRelaySink* self) {
  new (&self->impl) std::unique_ptr<FlvRelaySinkImpl>(std::make_unique<FlvRelaySinkImpl>(self));
  // A relay forwards as soon as data arrives: waiting for the clock would only add latency.
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
}

static void gst_flv_relay_sink_class_init(GstFlvRelaySinkClass* klass) {
  GST_DEBUG_CATEGORY_INIT(flv_relay_sink_debug, "flvrelaysink", 0, "FLV relay sink");
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  auto* basesink_class = GST_BASE_SINK_CLASS(klass);

  gobject_class->set_property = gst_flv_relay_sink_set_property;
  gobject_class->get_property = gst_flv_relay_sink_get_property;
  gobject_class->finalize = gst_flv_relay_sink_finalize;

  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address",
                          "Local address RTMP players connect to (shared by every element naming "
                          "the same address and port)", kDefaultAddress, ready));
  g_object_class_install_property(gobject_class, PROP_PORT,
      g_param_spec_uint("port", "Port",
                        "RTMP port players connect to, shared with rtmpserversrc elements on it "
                        "(0 = any free port, not shared)", 0, 65535, kDefaultPort, ready));
  g_object_class_install_property(gobject_class, PROP_APPLICATION,
      g_param_spec_string("application", "Application",
                          "RTMP application players ask for (rtmp://host/APP/key); also the "
                          "first path segment of the HTTP-FLV URL", kDefaultApplication, ready));
  g_object_class_install_property(gobject_class, PROP_STREAM_KEY,
      g_param_spec_string("stream-key", "Stream key",
                          "Stream name players ask for (rtmp://host/app/KEY, "
                          "http://host:http-port/app/KEY.flv); required", "", ready));
  g_object_class_install_property(gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM certificate (chain) file; with tls-key the RTMP port speaks RTMPS",
                          nullptr, ready));
  g_object_class_install_property(gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key", "PEM private key file for tls-certificate",
                          nullptr, ready));
  g_object_class_install_property(gobject_class, PROP_CHUNK_SIZE,
      g_param_spec_uint("chunk-size", "Chunk size",
                        "Outgoing RTMP chunk size (per listener: the first element on a port "
                        "decides)", kMinChunkSize, kMaxChunkSize, kDefaultChunkSize, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Max connections",
                        "Most simultaneous connections on the RTMP listener, players included "
                        "(per listener: the first element on a port decides)", 1, 65535,
                        live::net::kDefaultMaxConnections, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS_PER_ADDRESS,
      g_param_spec_uint("max-connections-per-address", "Max connections per address",
                        "Most simultaneous connections from one client IP address not yet "
                        "accepted as a publisher or player, refused at accept beyond it (0 = "
                        "unlimited; per listener: the first element on a port decides)", 0,
                        65535, live::net::kDefaultMaxConnectionsPerAddress, ready));
  g_object_class_install_property(gobject_class, PROP_HTTP_ADDRESS,
      g_param_spec_string("http-address", "HTTP address",
                          "Local address of the HTTP-FLV server", kDefaultAddress, ready));
  g_object_class_install_property(gobject_class, PROP_HTTP_PORT,
      g_param_spec_uint("http-port", "HTTP port",
                        "Serve HTTP-FLV at /APPLICATION/STREAM-KEY.flv on this port, shared with "
                        "hlsadaptivesink elements on it (0 = no HTTP-FLV)", 0, 65535, 0, ready));
  g_object_class_install_property(gobject_class, PROP_GOP_CACHE,
      g_param_spec_boolean("gop-cache", "GOP cache",
                           "Keep the frames since the last keyframe so a new viewer starts at "
                           "once (FALSE: new viewers wait for the next keyframe)", TRUE, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_GOP_CACHE_DURATION,
      g_param_spec_uint("max-gop-cache-duration", "Max GOP cache duration",
                        "Milliseconds of frames the GOP cache holds at most; a longer GOP is "
                        "not cached (audio-only streams keep 1 s)", 0, 600000,
                        kDefaultGopCacheDurationMs, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_GOP_CACHE_BYTES,
      g_param_spec_uint64("max-gop-cache-bytes", "Max GOP cache bytes",
                          "Bytes of frames the GOP cache holds at most; a larger GOP is not "
                          "cached", 0, G_GUINT64_CONSTANT(1) << 32, kDefaultGopCacheBytes, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_VIEWER_LAG,
      g_param_spec_uint("max-viewer-lag", "Max viewer lag",
                        "Milliseconds a message may wait for a slow viewer before that viewer "
                        "skips to the next keyframe", 100, 600000, kDefaultMaxViewerLagMs, ready));
  g_object_class_install_property(gobject_class, PROP_VIEWER_TIMEOUT,
      g_param_spec_uint("viewer-timeout", "Viewer timeout",
                        "Milliseconds a viewer may stay behind (or make no progress) before it "
                        "is disconnected", 1000, 3600000, kDefaultViewerTimeoutMs, ready));
  g_object_class_install_property(gobject_class, PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers",
                        "Most RTMP + HTTP-FLV viewers of this stream at once; more are refused "
                        "(0 = unlimited)", 0, G_MAXUINT, kDefaultMaxViewers, ready));
  g_object_class_install_property(gobject_class, PROP_PUSH_LOCATIONS,
      gst_param_spec_array("push-locations", "Push locations",
                           "rtmp:// and rtmps:// URLs (rtmp://host[:port]/app/key) the stream is "
                           "published to, reconnecting with backoff, e.g. "
                           "\"<rtmp://a/live/k1, rtmps://b/app/k2>\"",
                           g_param_spec_string("location", "Location", "One push URL", nullptr,
                                               static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)),
                           ready));
  g_object_class_install_property(gobject_class, PROP_PUSH_TLS_VERIFY,
      g_param_spec_boolean("push-tls-verify", "Push TLS verify",
                           "Check the certificate of rtmps:// push targets (FALSE accepts "
                           "self-signed ones, e.g. your own edge servers)", TRUE, ready));
  g_object_class_install_property(gobject_class, PROP_WRITE_INTERVAL,
      g_param_spec_uint("write-interval", "Write interval",
                        "Milliseconds audio and data messages may wait, at most, for the next "
                        "video message so that each viewer gets them in one write (about half "
                        "the system calls and TCP segments per viewer); video is never held "
                        "back; the wait in use is 40 us per viewer up to this (100 viewers: "
                        "4 ms); 0 = write each batch at once", 0,
                        kMaxWriteIntervalMs, kDefaultWriteIntervalMs, ready));
  g_object_class_install_property(gobject_class, PROP_VIDEO_WRITE_DELAY,
      g_param_spec_uint("video-write-delay", "Video write delay",
                        "Milliseconds video waits too, so that this much of the stream goes to "
                        "each viewer in one write (like SRS's merged-write latency): for large "
                        "audiences, fewer system calls and TCP segments per viewer at this much "
                        "added latency; 0 = video goes out at once", 0, kMaxVideoWriteDelayMs, 0,
                        ready));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "flv-relay-sink-stats: rtmp-viewers, http-flv-viewers, viewers-total, "
                         "viewers-refused, lag-disconnects, lag-skips, messages-in, bytes-out, "
                         "dropped-messages, gop-cache-bytes, gop-cache-frames, parse-errors, "
                         "push-targets (array of push-target: location (key hidden), state, "
                         "connects, bytes-out, dropped-messages, last-error)",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  // gboolean authorize-play(client-address, application, stream-key, query): emitted on a
  // decision thread (never the I/O thread) for each RTMP play and HTTP-FLV request for this
  // element's stream; a handler that returns FALSE refuses it (RTMP: NetStream.Play.Failed,
  // HTTP: 403). A handler may stop the pipeline.
  signals[SIGNAL_AUTHORIZE_PLAY] = g_signal_new_class_handler(
      "authorize-play", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
      G_CALLBACK(default_authorize_play), accumulate_all_true, nullptr, nullptr, G_TYPE_BOOLEAN,
      4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(element_class, "FLV relay sink", "Sink/Network",
      "Serves an FLV stream to RTMP and HTTP-FLV viewers with a GOP cache, and pushes it to "
      "other RTMP servers", "gst-live-server");

  element_class->change_state = gst_flv_relay_sink_change_state;
  basesink_class->render = gst_flv_relay_sink_render;
  basesink_class->render_list = gst_flv_relay_sink_render_list;
  basesink_class->event = gst_flv_relay_sink_event;
}

GST_ELEMENT_REGISTER_DEFINE(flvrelaysink, "flvrelaysink", GST_RANK_NONE, GST_TYPE_FLV_RELAY_SINK);
