// whepserversink: see the header and docs/elements/whepserversink.md.
//
// Inside the bin: video: h264parse ! rtph264pay ! tee, audio: rtpopuspay ! tee, built when the
// pad is requested; each session adds a queue per media and a webrtcbin (WhepViewer). HTTP
// requests arrive on the shared port's server thread (RequestRoute) and are served in order on
// the sink's session thread, which alone creates and destroys viewers, so a slow webrtcbin never
// holds up the HTTP server. webrtcbin's state changes are posted to that thread as jobs.
//
// Locks: settings_lock (properties), state_lock (sessions table, counters, what the stream
// is), jobs_lock (the session thread's queue). None is held while taking another.
#include "whepserversink/whepserversink.h"

#include <gst/video/video.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "http/http_port.h"
#include "http/request_route.h"
#include "net/realtime_demand.h"
#include "whepserversink/whep_protocol.h"
#include "whepserversink/whep_viewer.h"

GST_DEBUG_CATEGORY(whep_server_sink_debug);
#define GST_CAT_DEFAULT whep_server_sink_debug

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using live::whep::ViewerEvent;

constexpr guint kDefaultHttpPort = 8080;
constexpr guint kDefaultMaxViewers = 100;
constexpr auto kGatherTimeout = 2000ms;       // ICE gathering before answering with what we have
constexpr auto kConnectTimeout = 15s;         // answered but never connected: session ended
constexpr auto kDisconnectedTimeout = 5s;     // ICE disconnected this long: session ended
constexpr auto kMinKeyUnitInterval = 500ms;   // key unit requests to upstream, at most one per
constexpr auto kHousekeepingInterval = 250ms;
constexpr guint kVideoPayloadType = 96;  // of the shared payloaders; each viewer gets its offer's
constexpr guint kAudioPayloadType = 111;
constexpr char kViewerPrefix[] = "whepviewer-";

enum {
  PROP_0,
  PROP_APPLICATION,
  PROP_STREAM_KEY,
  PROP_HTTP_ADDRESS,
  PROP_HTTP_PORT,
  PROP_ICE_ADDRESSES,
  PROP_STUN_SERVER,
  PROP_TURN_SERVER,
  PROP_MAX_VIEWERS,
  PROP_STATS,
};

enum { SIGNAL_AUTHORIZE_PLAY, N_SIGNALS };
guint signals[N_SIGNALS];

gboolean accumulate_all_true(GSignalInvocationHint*, GValue* return_accu, const GValue* handler_return, gpointer) {
  const gboolean allowed = g_value_get_boolean(handler_return);
  g_value_set_boolean(return_accu, allowed);
  return allowed;
}

gboolean default_authorize_play(GstWhepServerSink*, const gchar*, const gchar*, const gchar*, const gchar*) {
  return TRUE;
}

struct Settings {
  std::string application = "live";
  std::string stream_key;
  std::string http_address = "0.0.0.0";
  guint http_port = kDefaultHttpPort;
  std::string ice_addresses;  // comma-separated
  std::string stun_server;
  std::string turn_server;
  guint max_viewers = kDefaultMaxViewers;
};

struct Session {
  std::unique_ptr<live::whep::WhepViewer> viewer;
  std::string client;
  Clock::time_point created = Clock::now();
  bool connected = false;
  std::optional<Clock::time_point> disconnected_since;
  live::net::RealtimeDemand realtime_demand;  // publishers are read at the short interval meanwhile
};

struct Counters {
  guint64 sessions_created = 0;
  guint64 sessions_ended = 0;
  guint64 sessions_timed_out = 0;  // never connected, ICE disconnected or failed
  guint64 offers_refused = 0;      // 4xx to a POST
  guint64 viewers_refused = 0;     // 503: max-viewers
  guint64 key_units_requested = 0;  // new viewers and PLI/FIR
  guint64 key_units_forwarded = 0;  // sent upstream after the rate limit
};

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(item.substr(a, b - a + 1));
  }
  return out;
}

live::http::ApiResponse text(unsigned status, const std::string& body) {
  return live::http::ApiResponse{status, "text/plain; charset=utf-8", body + "\n", {}};
}

}  // namespace

struct WhepSinkImpl {
  GstWhepServerSink* self;

  std::mutex settings_lock;
  Settings settings;

  std::mutex state_lock;
  std::map<std::string, Session> sessions;  // changed on the session thread only
  Counters counters;
  std::optional<live::whep::H264Profile> stream_profile;
  bool b_frames = false;
  std::optional<Clock::time_point> last_key_unit;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  int inputs = 0, inputs_at_eos = 0;

  // Internal elements (made by request_new_pad, object lifetime = the bin's).
  GstElement* video_parse = nullptr;
  GstElement* video_pay = nullptr;
  GstElement* video_tee = nullptr;
  GstElement* audio_pay = nullptr;
  GstElement* audio_tee = nullptr;

  // The session thread.
  std::mutex jobs_lock;
  std::condition_variable jobs_cv;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  std::thread worker;

  std::shared_ptr<live::http::HttpPort> port;
  std::unique_ptr<live::http::RequestRoute> route;
  std::string endpoint;  // "/app/key/whep" (has the stream key: not logged)

  std::mt19937_64 random{std::random_device{}()};

  explicit WhepSinkImpl(GstWhepServerSink* owner) : self(owner) {}

  Settings copy_settings() {
    std::lock_guard<std::mutex> lock(settings_lock);
    return settings;
  }

  // ---- session thread ----

  void post_job(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(jobs_lock);
    if (!stopping) jobs.push_back(std::move(job));
    jobs_cv.notify_one();
  }

  void run_jobs() {
    auto next_housekeeping = Clock::now() + kHousekeepingInterval;
    std::unique_lock<std::mutex> lock(jobs_lock);
    for (;;) {
      jobs_cv.wait_until(lock, next_housekeeping, [this] { return stopping || !jobs.empty(); });
      if (stopping) break;
      if (!jobs.empty()) {
        auto job = std::move(jobs.front());
        jobs.pop_front();
        lock.unlock();
        job();
        job = nullptr;  // a PendingRequest it held is answered (503) here, not under the lock
        lock.lock();
      }
      if (Clock::now() >= next_housekeeping) {
        lock.unlock();
        housekeeping();
        lock.lock();
        next_housekeeping = Clock::now() + kHousekeepingInterval;
      }
    }
    jobs.clear();
  }

  void start_worker() {
    {
      std::lock_guard<std::mutex> lock(jobs_lock);
      stopping = false;
    }
    worker = std::thread([this] { run_jobs(); });
  }

  void stop_worker() {
    {
      std::lock_guard<std::mutex> lock(jobs_lock);
      stopping = true;
      jobs_cv.notify_one();
    }
    if (worker.joinable()) worker.join();
    std::deque<std::function<void()>> left;
    {
      std::lock_guard<std::mutex> lock(jobs_lock);
      left.swap(jobs);
    }
  }

  std::string new_session_id() {
    uint8_t bytes[live::whep::kSessionIdBytes];
    for (auto& b : bytes) b = static_cast<uint8_t>(random());
    return live::whep::session_id_from_bytes(bytes);
  }

  void serve(const std::shared_ptr<live::http::PendingRequest>& pending) {
    const live::http::ApiRequest& request = pending->request();
    const live::whep::ParsedTarget target = live::whep::parse_target(request.path);
    live::http::ApiResponse response;
    if (target.kind == live::whep::Target::unknown) {
      response = text(404, "no such WHEP resource");
    } else if (target.kind == live::whep::Target::endpoint) {
      if (request.method == "POST") {
        response = create_session(request);
      } else {
        response = text(405, "the WHEP endpoint takes POST (an SDP offer)");
        response.headers.emplace_back("Allow", "POST, OPTIONS");
      }
    } else {
      bool known;
      {
        std::lock_guard<std::mutex> lock(state_lock);
        known = sessions.count(target.session_id) > 0;
      }
      if (!known) {
        response = text(404, "no such WHEP session");
      } else if (request.method == "DELETE") {
        end_session(target.session_id, "deleted by the client", false);
        response = live::http::ApiResponse{200, {}, {}, {}};
      } else {
        response = text(405, request.method == "PATCH"
                                 ? "trickle ICE is not supported: every candidate is in the answer"
                                 : "a WHEP session takes DELETE");
        response.headers.emplace_back("Allow", "DELETE, OPTIONS");
      }
    }
    pending->respond(std::move(response));
  }

  live::http::ApiResponse refuse_offer(unsigned status, const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(state_lock);
      counters.offers_refused++;
    }
    GST_INFO_OBJECT(self, "offer refused (%u): %s", status, reason.c_str());
    return text(status, reason);
  }

  live::http::ApiResponse create_session(const live::http::ApiRequest& request) {
    {
      // On the session thread (never the HTTP thread): a handler may take its time (an HTTP
      // auth callback) or stop the pipeline. The client as "address:port", as flvrelaysink gives it.
      const Settings s = copy_settings();
      gboolean allowed = TRUE;
      g_signal_emit(self, signals[SIGNAL_AUTHORIZE_PLAY], 0, request.client_address.c_str(), s.application.c_str(),
                    s.stream_key.c_str(), request.query.c_str(), &allowed);
      if (!allowed) return refuse_offer(403, "playing this stream is not allowed");
    }
    if (request.content_type != "application/sdp")
      return refuse_offer(415, "the offer must be sent as Content-Type: application/sdp");
    std::string reason;
    auto offer = live::whep::parse_offer(request.body, &reason);
    if (!offer) return refuse_offer(400, reason);
    const Settings s = copy_settings();
    std::optional<live::whep::H264Profile> profile;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      if (s.max_viewers > 0 && sessions.size() >= s.max_viewers) {
        counters.viewers_refused++;
        auto busy = text(503, "this stream has its maximum number of viewers (" + std::to_string(s.max_viewers) + ")");
        busy.headers.emplace_back("Retry-After", "10");
        return busy;
      }
      if (b_frames) return text(503, "the stream has B-frames, which WebRTC cannot carry");
      profile = stream_profile;
    }
    struct Planned {
      GstElement* tee;
      const char* media;
      const char* encoding;
      int clock_rate;
      live::whep::Choice choice;
    };
    std::vector<Planned> planned;
    std::string problems;
    bool video_done = false, audio_done = false;
    for (const auto& media : offer->media) {
      if (media.rejected()) continue;
      std::string why;
      if (media.kind == "video" && video_tee != nullptr && !video_done) {
        video_done = true;
        if (auto c = live::whep::choose_h264(media, profile, &why)) planned.push_back({video_tee, "video", "H264", 90000, *c});
        else problems += (problems.empty() ? "" : "; ") + why;
      } else if (media.kind == "audio" && audio_tee != nullptr && !audio_done) {
        audio_done = true;
        if (auto c = live::whep::choose_opus(media, &why)) planned.push_back({audio_tee, "audio", "OPUS", 48000, *c});
        else problems += (problems.empty() ? "" : "; ") + why;
      }
    }
    if (!problems.empty()) return refuse_offer(406, "no usable codec: " + problems);
    if (planned.empty())
      return refuse_offer(406, std::string("the offer asks for nothing this stream sends (it sends") +
                                   (video_tee ? " H.264 video" : "") + (audio_tee ? " Opus audio" : "") + ")");

    const std::string id = new_session_id();
    live::whep::ViewerConfig config;
    config.name = kViewerPrefix + id;
    config.ice_addresses = split_addresses(s.ice_addresses);
    config.stun_server = s.stun_server;
    config.turn_server = s.turn_server;
    auto viewer = std::make_unique<live::whep::WhepViewer>(
        GST_BIN(self), config, [this, id](ViewerEvent event) { post_job([this, id, event] { on_viewer_event(id, event); }); });
    for (const Planned& p : planned) viewer->add_branch(p.tee, p.media, p.encoding, p.clock_rate, p.choice);
    {
      std::lock_guard<std::mutex> lock(state_lock);
      Session& session = sessions[id];
      session.viewer = std::move(viewer);
      session.client = request.client_address;
      session.realtime_demand.set(true);
    }
    auto answer = sessions_viewer(id)->answer(request.body, kGatherTimeout);
    if (!answer) {
      end_session(id, "negotiation failed", false);
      return refuse_offer(answer.error().code == live::Errc::malformed ? 400 : 406, answer.error().context);
    }
    guint viewers;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      counters.sessions_created++;
      viewers = static_cast<guint>(sessions.size());
    }
    GST_INFO_OBJECT(self, "WHEP session for %s, %u viewer(s)", request.client_address.c_str(), viewers);
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_element(GST_OBJECT(self), gst_structure_new(
                                 "whep-session-start", "session-id", G_TYPE_STRING, id.c_str(), "client-address",
                                 G_TYPE_STRING, request.client_address.c_str(), "viewers", G_TYPE_UINT, viewers, nullptr)));
    live::http::ApiResponse created{201, "application/sdp", *answer, {}};
    created.headers.emplace_back("Location", endpoint + "/" + id);
    return created;
  }

  live::whep::WhepViewer* sessions_viewer(const std::string& id) {
    std::lock_guard<std::mutex> lock(state_lock);
    auto it = sessions.find(id);
    return it == sessions.end() ? nullptr : it->second.viewer.get();
  }

  // Session thread (or the state change, with the thread stopped).
  void end_session(const std::string& id, const char* reason, bool timed_out) {
    Session ended;
    guint viewers;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      auto it = sessions.find(id);
      if (it == sessions.end()) return;
      ended = std::move(it->second);
      sessions.erase(it);
      counters.sessions_ended++;
      if (timed_out) counters.sessions_timed_out++;
      viewers = static_cast<guint>(sessions.size());
    }
    ended.viewer.reset();
    // GstBin clears the sink flag with the last sink child; the bin stays a sink (EOS, below).
    GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
    GST_INFO_OBJECT(self, "WHEP session of %s ended (%s), %u viewer(s)", ended.client.c_str(), reason, viewers);
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_element(GST_OBJECT(self), gst_structure_new(
                                 "whep-session-end", "session-id", G_TYPE_STRING, id.c_str(), "reason",
                                 G_TYPE_STRING, reason, "viewers", G_TYPE_UINT, viewers, nullptr)));
  }

  void on_viewer_event(const std::string& id, ViewerEvent event) {
    bool newly_connected = false;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      auto it = sessions.find(id);
      if (it == sessions.end()) return;
      Session& s = it->second;
      if (event == ViewerEvent::connected) {
        newly_connected = !s.connected;
        s.connected = true;
        s.disconnected_since.reset();
      } else if (event == ViewerEvent::disconnected && !s.disconnected_since) {
        s.disconnected_since = Clock::now();
      }
    }
    if (event == ViewerEvent::failed) end_session(id, "ICE or DTLS failed", true);
    else if (event == ViewerEvent::closed) end_session(id, "connection closed", false);
    else if (newly_connected) request_key_unit();  // the new viewer starts at a key frame
  }

  void housekeeping() {
    std::vector<std::pair<std::string, const char*>> expired;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      const auto now = Clock::now();
      for (const auto& [id, s] : sessions) {
        if (!s.connected && now - s.created > kConnectTimeout) expired.emplace_back(id, "never connected");
        else if (s.disconnected_since && now - *s.disconnected_since > kDisconnectedTimeout)
          expired.emplace_back(id, "ICE disconnected");
      }
    }
    for (const auto& [id, reason] : expired) end_session(id, reason, true);
  }

  void request_key_unit() {
    GstPad* pay_src = video_pay ? gst_element_get_static_pad(video_pay, "src") : nullptr;
    if (pay_src == nullptr) return;
    gst_pad_send_event(pay_src, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pay_src);
  }

  // ---- start / stop ----

  bool start() {
    const Settings s = copy_settings();
    if (s.stream_key.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("whepserversink needs a stream-key"), (nullptr));
      return false;
    }
    auto acquired = live::http::HttpPort::acquire(s.http_address, static_cast<uint16_t>(s.http_port), {});
    if (!acquired) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("cannot serve WHEP: %s", acquired.error().context.c_str()),
                        (nullptr));
      return false;
    }
    port = *acquired;
    endpoint = live::whep::endpoint_path(s.application, s.stream_key);
    start_worker();
    live::http::RequestRouteConfig config;
    config.allowed_methods = "POST, DELETE, PATCH, OPTIONS";
    config.exposed_headers = "Location, Content-Type";
    auto added = live::http::RequestRoute::add(port, endpoint, config, [this](std::shared_ptr<live::http::PendingRequest> r) {
      post_job([this, r] { serve(r); });
    });
    if (!added) {
      // The error names the path, which holds the stream key: say it without the path.
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE,
                        ("cannot serve WHEP on HTTP port %u: %s", s.http_port,
                         added.error().code == live::Errc::refused ? "this stream's endpoint is already served there"
                                                                   : "the application or stream key cannot be a URL path"),
                        (nullptr));
      stop_worker();
      port.reset();
      return false;
    }
    route = std::move(*added);
    return true;
  }

  void stop() {
    route.reset();  // no new requests; the held ones answered 503
    stop_worker();
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      for (const auto& [id, s] : sessions) ids.push_back(id);
    }
    for (const auto& id : ids) end_session(id, "the stream stopped", false);
    port.reset();
    std::lock_guard<std::mutex> lock(state_lock);
    last_pts = GST_CLOCK_TIME_NONE;
    b_frames = false;
    inputs_at_eos = 0;
  }

  GstStructure* stats() {
    std::lock_guard<std::mutex> lock(state_lock);
    guint connected = 0;
    for (const auto& [id, s] : sessions) connected += s.connected ? 1 : 0;
    return gst_structure_new("whep-server-sink-stats", "viewers", G_TYPE_UINT, static_cast<guint>(sessions.size()),
                             "viewers-connected", G_TYPE_UINT, connected, "sessions-created", G_TYPE_UINT64,
                             counters.sessions_created, "sessions-ended", G_TYPE_UINT64, counters.sessions_ended,
                             "sessions-timed-out", G_TYPE_UINT64, counters.sessions_timed_out, "offers-refused",
                             G_TYPE_UINT64, counters.offers_refused, "viewers-refused", G_TYPE_UINT64,
                             counters.viewers_refused, "key-units-requested", G_TYPE_UINT64,
                             counters.key_units_requested, "key-units-forwarded", G_TYPE_UINT64,
                             counters.key_units_forwarded, "b-frames", G_TYPE_BOOLEAN, b_frames, nullptr);
  }
};

struct _GstWhepServerSink {
  GstBin parent;
  WhepSinkImpl* impl;
};

G_DEFINE_TYPE(GstWhepServerSink, gst_whep_server_sink, GST_TYPE_BIN)

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("video/x-h264, stream-format=(string){ avc, byte-stream }"));
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-opus"));

// h264parse's output: the stream's profile (for the offer's profile-level-id) and B-frames
// (presentation order differs from decode order: WebRTC receivers do not reorder).
static GstPadProbeReturn watch_video(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* self = static_cast<GstWhepServerSink*>(data);
  WhepSinkImpl& impl = *self->impl;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      const gchar* name = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
      std::lock_guard<std::mutex> lock(impl.state_lock);
      impl.stream_profile = name ? live::whep::profile_from_caps_name(name) : std::nullopt;
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  GstClockTime previous;
  {
    std::lock_guard<std::mutex> lock(impl.state_lock);
    previous = impl.last_pts;
    if (GST_CLOCK_TIME_IS_VALID(pts)) impl.last_pts = pts;
    if (GST_CLOCK_TIME_IS_VALID(pts) && GST_CLOCK_TIME_IS_VALID(previous) && pts < previous) impl.b_frames = true;
    else if (!impl.b_frames) return GST_PAD_PROBE_OK;
  }
  if (GST_CLOCK_TIME_IS_VALID(previous))
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("H.264 with B-frames cannot be sent over WebRTC: transcode it (x264enc tune=zerolatency bframes=0)"),
                      ("a frame with PTS %" GST_TIME_FORMAT " follows one with PTS %" GST_TIME_FORMAT
                       " (presentation order differs from decode order)",
                       GST_TIME_ARGS(pts), GST_TIME_ARGS(previous)));
  gst_buffer_unref(buffer);
  GST_PAD_PROBE_INFO_FLOW_RETURN(info) = GST_FLOW_ERROR;
  return GST_PAD_PROBE_HANDLED;
}

// Upstream key unit requests (new viewers, PLI/FIR from any viewer): at most one per
// kMinKeyUnitInterval reaches the encoder.
static GstPadProbeReturn limit_key_units(GstPad*, GstPadProbeInfo* info, gpointer data) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (!gst_video_event_is_force_key_unit(event)) return GST_PAD_PROBE_OK;
  WhepSinkImpl& impl = *static_cast<GstWhepServerSink*>(data)->impl;
  std::lock_guard<std::mutex> lock(impl.state_lock);
  impl.counters.key_units_requested++;
  const auto now = Clock::now();
  if (impl.last_key_unit && now - *impl.last_key_unit < kMinKeyUnitInterval) return GST_PAD_PROBE_DROP;
  impl.last_key_unit = now;
  impl.counters.key_units_forwarded++;
  return GST_PAD_PROBE_OK;
}

// EOS from our inputs: the bin posts EOS once every input has it (webrtcbin's own are dropped).
static GstPadProbeReturn watch_eos(GstPad*, GstPadProbeInfo* info, gpointer data) {
  if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) != GST_EVENT_EOS) return GST_PAD_PROBE_OK;
  auto* self = static_cast<GstWhepServerSink*>(data);
  bool all;
  {
    std::lock_guard<std::mutex> lock(self->impl->state_lock);
    all = ++self->impl->inputs_at_eos >= self->impl->inputs;
  }
  if (all) gst_element_post_message(GST_ELEMENT(self), gst_message_new_eos(GST_OBJECT(self)));
  return GST_PAD_PROBE_OK;
}

static GstElement* make(const char* factory, GstWhepServerSink* self) {
  GstElement* e = gst_element_factory_make(factory, nullptr);
  if (e == nullptr)
    GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("whepserversink needs the element %s", factory), (nullptr));
  return e;
}

static GstPad* gst_whep_server_sink_request_new_pad(GstElement* element, GstPadTemplate* templ, const gchar*,
                                                    const GstCaps*) {
  auto* self = GST_WHEP_SERVER_SINK(element);
  WhepSinkImpl& impl = *self->impl;
  const bool video = g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video");
  if ((video && impl.video_tee) || (!video && impl.audio_tee)) {
    GST_WARNING_OBJECT(self, "the %s pad exists already", video ? "video" : "audio");
    return nullptr;
  }
  GstElement* tee = make("tee", self);
  GstElement* pay = make(video ? "rtph264pay" : "rtpopuspay", self);
  GstElement* parse = video ? make("h264parse", self) : nullptr;
  if (!tee || !pay || (video && !parse)) {
    for (GstElement* e : {tee, pay, parse})
      if (e) gst_object_unref(e);
    return nullptr;
  }
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);
  g_object_set(pay, "pt", video ? kVideoPayloadType : kAudioPayloadType, "mtu", 1200u, nullptr);
  gst_bin_add_many(GST_BIN(self), tee, pay, nullptr);
  GstElement* first = pay;
  if (video) {
    // SPS/PPS before every IDR: a viewer joining at any key frame can decode it.
    g_object_set(parse, "config-interval", -1, nullptr);
    g_object_set(pay, "config-interval", -1, "aggregate-mode", 1 /* zero-latency */, nullptr);
    gst_bin_add(GST_BIN(self), parse);
    gst_element_link(parse, pay);
    first = parse;
    GstPad* parsed = gst_element_get_static_pad(parse, "src");
    gst_pad_add_probe(parsed, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      watch_video, self, nullptr);
    gst_object_unref(parsed);
    GstPad* parse_sink = gst_element_get_static_pad(parse, "sink");
    gst_pad_add_probe(parse_sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, limit_key_units, self, nullptr);
    gst_object_unref(parse_sink);
  }
  gst_element_link(pay, tee);
  GstPad* tee_sink = gst_element_get_static_pad(tee, "sink");
  gst_pad_add_probe(tee_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, watch_eos, self, nullptr);
  gst_object_unref(tee_sink);
  for (GstElement* e : {first, pay, tee}) gst_element_sync_state_with_parent(e);
  GstPad* target = gst_element_get_static_pad(first, "sink");
  GstPad* ghost = gst_ghost_pad_new_from_template(video ? "video" : "audio", target, templ);
  gst_object_unref(target);
  {
    std::lock_guard<std::mutex> lock(impl.state_lock);
    impl.inputs++;
    if (video) impl.video_parse = parse, impl.video_pay = pay, impl.video_tee = tee;
    else impl.audio_pay = pay, impl.audio_tee = tee;
  }
  if (GST_STATE(self) > GST_STATE_NULL) gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(element, ghost);
  return ghost;
}

static void gst_whep_server_sink_release_pad(GstElement* element, GstPad* pad) {
  auto* self = GST_WHEP_SERVER_SINK(element);
  WhepSinkImpl& impl = *self->impl;
  const bool video = g_str_equal(GST_PAD_NAME(pad), "video");
  gst_element_remove_pad(element, pad);
  std::lock_guard<std::mutex> lock(impl.state_lock);
  impl.inputs--;
  // The chain stays (viewers may be linked to its tee) until the bin is disposed.
  (void)video;
}

// A viewer's webrtcbin failing ends that session, never the stream; its EOS is not ours.
static void gst_whep_server_sink_handle_message(GstBin* bin, GstMessage* message) {
  auto* self = GST_WHEP_SERVER_SINK(bin);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS && GST_MESSAGE_SRC(message) != GST_OBJECT(bin)) {
    gst_message_unref(message);
    return;
  }
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    // The child of ours the message comes from.
    GstObject* child = GST_MESSAGE_SRC(message);
    while (child != nullptr && GST_OBJECT_PARENT(child) != GST_OBJECT(bin)) child = GST_OBJECT_PARENT(child);
    const gchar* name = child ? GST_OBJECT_NAME(child) : nullptr;
    if (name != nullptr && g_str_has_prefix(name, kViewerPrefix)) {
      GError* error = nullptr;
      gst_message_parse_error(message, &error, nullptr);
      GST_WARNING_OBJECT(self, "a viewer's webrtcbin failed: %s", error ? error->message : "?");
      if (error) g_error_free(error);
      const std::string id = name + strlen(kViewerPrefix);
      self->impl->post_job([impl = self->impl, id] { impl->end_session(id, "webrtcbin error", true); });
      gst_message_unref(message);
      return;
    }
  }
  GST_BIN_CLASS(gst_whep_server_sink_parent_class)->handle_message(bin, message);
}

static GstStateChangeReturn gst_whep_server_sink_change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_WHEP_SERVER_SINK(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    if (!self->impl->start()) return GST_STATE_CHANGE_FAILURE;
  } else if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    self->impl->stop();
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_whep_server_sink_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE && transition == GST_STATE_CHANGE_READY_TO_PAUSED) self->impl->stop();
  return ret;
}

static void set_string(std::string* field, const GValue* value) {
  const gchar* s = g_value_get_string(value);
  *field = s ? s : "";
}

static void gst_whep_server_sink_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_WHEP_SERVER_SINK(object);
  std::lock_guard<std::mutex> lock(self->impl->settings_lock);
  Settings& s = self->impl->settings;
  switch (id) {
    case PROP_APPLICATION: set_string(&s.application, value); break;
    case PROP_STREAM_KEY: set_string(&s.stream_key, value); break;
    case PROP_HTTP_ADDRESS: set_string(&s.http_address, value); break;
    case PROP_HTTP_PORT: s.http_port = g_value_get_uint(value); break;
    case PROP_ICE_ADDRESSES: set_string(&s.ice_addresses, value); break;
    case PROP_STUN_SERVER: set_string(&s.stun_server, value); break;
    case PROP_TURN_SERVER: set_string(&s.turn_server, value); break;
    case PROP_MAX_VIEWERS: s.max_viewers = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_whep_server_sink_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_WHEP_SERVER_SINK(object);
  if (id == PROP_STATS) {
    g_value_take_boxed(value, self->impl->stats());
    return;
  }
  std::lock_guard<std::mutex> lock(self->impl->settings_lock);
  const Settings& s = self->impl->settings;
  switch (id) {
    case PROP_APPLICATION: g_value_set_string(value, s.application.c_str()); break;
    case PROP_STREAM_KEY: g_value_set_string(value, s.stream_key.c_str()); break;
    case PROP_HTTP_ADDRESS: g_value_set_string(value, s.http_address.c_str()); break;
    case PROP_HTTP_PORT: g_value_set_uint(value, s.http_port); break;
    case PROP_ICE_ADDRESSES: g_value_set_string(value, s.ice_addresses.c_str()); break;
    case PROP_STUN_SERVER: g_value_set_string(value, s.stun_server.c_str()); break;
    case PROP_TURN_SERVER: g_value_set_string(value, s.turn_server.c_str()); break;
    case PROP_MAX_VIEWERS: g_value_set_uint(value, s.max_viewers); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_whep_server_sink_finalize(GObject* object) {
  auto* self = GST_WHEP_SERVER_SINK(object);
  delete self->impl;
  G_OBJECT_CLASS(gst_whep_server_sink_parent_class)->finalize(object);
}

static void gst_whep_server_sink_init(GstWhepServerSink* self) {
  self->impl = new WhepSinkImpl(self);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
  // A webrtcbin added while playing starts an async state change of its own; passed up, it would
  // take the whole (live) pipeline back to PAUSED and stall every source.
  g_object_set(self, "async-handling", TRUE, nullptr);
}

static void gst_whep_server_sink_class_init(GstWhepServerSinkClass* klass) {
  GST_DEBUG_CATEGORY_INIT(whep_server_sink_debug, "whepserversink", 0, "WHEP server sink");
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_whep_server_sink_set_property;
  gobject_class->get_property = gst_whep_server_sink_get_property;
  gobject_class->finalize = gst_whep_server_sink_finalize;
  element_class->request_new_pad = gst_whep_server_sink_request_new_pad;
  element_class->release_pad = gst_whep_server_sink_release_pad;
  element_class->change_state = gst_whep_server_sink_change_state;
  GST_BIN_CLASS(klass)->handle_message = gst_whep_server_sink_handle_message;

  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_APPLICATION,
      g_param_spec_string("application", "Application",
                          "First path segment of the WHEP endpoint: POST /{application}/{stream-key}/whep", "live", ready));
  g_object_class_install_property(gobject_class, PROP_STREAM_KEY,
      g_param_spec_string("stream-key", "Stream key", "Second path segment of the WHEP endpoint; required", "", ready));
  g_object_class_install_property(gobject_class, PROP_HTTP_ADDRESS,
      g_param_spec_string("http-address", "HTTP address",
                          "Address of the HTTP server (shared with the other elements naming the same port)", "0.0.0.0",
                          ready));
  g_object_class_install_property(gobject_class, PROP_HTTP_PORT,
      g_param_spec_uint("http-port", "HTTP port", "Port of the shared HTTP server that serves the WHEP endpoint", 1,
                        65535, kDefaultHttpPort, ready));
  g_object_class_install_property(gobject_class, PROP_ICE_ADDRESSES,
      g_param_spec_string("ice-addresses", "ICE addresses",
                          "Comma-separated local IP addresses for host candidates (e.g. 127.0.0.1); empty: every "
                          "non-loopback interface (libnice's choice)", "", ready));
  g_object_class_install_property(gobject_class, PROP_STUN_SERVER,
      g_param_spec_string("stun-server", "STUN server", "stun://host:port for server-reflexive candidates; empty: none",
                          "", ready));
  g_object_class_install_property(gobject_class, PROP_TURN_SERVER,
      g_param_spec_string("turn-server", "TURN server", "turn(s)://user:password@host:port for relayed candidates; empty: none",
                          "", ready));
  g_object_class_install_property(gobject_class, PROP_MAX_VIEWERS,
      g_param_spec_uint("max-viewers", "Max viewers", "WHEP sessions at once; more offers get 503 (0: no limit)", 0,
                        G_MAXUINT, kDefaultMaxViewers,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  // gboolean authorize-play(client-address, application, stream-key, query): emitted on the
  // element's session thread for every WHEP offer (POST); a handler returning FALSE refuses it
  // with 403. A handler may block (e.g. an HTTP auth callback) or stop the pipeline.
  signals[SIGNAL_AUTHORIZE_PLAY] = g_signal_new_class_handler(
      "authorize-play", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, G_CALLBACK(default_authorize_play),
      accumulate_all_true, nullptr, nullptr, G_TYPE_BOOLEAN, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
      G_TYPE_STRING);
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "whep-server-sink-stats: viewers, viewers-connected, sessions-created, sessions-ended, "
                         "sessions-timed-out, offers-refused, viewers-refused, key-units-requested, "
                         "key-units-forwarded, b-frames",
                         GST_TYPE_STRUCTURE, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(element_class, "WHEP server sink", "Sink/Network/WebRTC",
                                        "Serves the stream to WebRTC players by WHEP (one webrtcbin per viewer, "
                                        "payloaded once)",
                                        "gst-live-server");
}

GST_ELEMENT_REGISTER_DEFINE(whepserversink, "whepserversink", GST_RANK_NONE, GST_TYPE_WHEP_SERVER_SINK);
