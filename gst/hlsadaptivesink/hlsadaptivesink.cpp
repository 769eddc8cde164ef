// hlsadaptivesink: cuts every variant at the same presentation time (on keyframes that it asks
// upstream encoders for), writes MPEG-TS or fMP4 segments, LL-HLS parts, media and multivariant
// playlists, optionally encrypts (AES-128), serves (built-in HTTP) and uploads (HTTP PUT).
//
// This file is the element: pads, properties, state, and the chain and event functions. The
// alignment rules are live::hls::SegmentAligner (lib/hls); sink_runtime.cpp feeds it and hands
// its decisions to the RenditionWriters (rendition_writer.cpp), which write through the
// OutputStore (output_store.cpp).
//
// Locks: `state_lock` (runtime state, file writes) is taken first; GST_OBJECT_LOCK (settings,
// pad properties) only briefly under it. Element messages and upstream events are sent after
// state_lock is released; errors are posted under it (the lock is recursive for sync handlers).
#include "hlsadaptivesink.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>

#include "sink_pad.h"
#include "sink_runtime.h"
#include "sink_settings.h"
#include "stream_caps.h"

GST_DEBUG_CATEGORY(hls_sink_debug);
#define GST_CAT_DEFAULT hls_sink_debug

using namespace live;
using namespace live::hlssink;

namespace {

struct Private {
  // Recursive: errors are posted with it held, and a synchronous bus handler may read `stats`.
  std::recursive_mutex state_lock;
  Settings settings;  // GST_OBJECT_LOCK
  Runtime rt;         // state_lock
  guint next_video = 0, next_audio = 0;
  // Element messages (and EOS) in the order the runtime made them, queued under state_lock and
  // posted after it by one thread at a time: a segment message made by one pad's thread is
  // never posted after the EOS another pad's thread made next. post_lock is never held while
  // posting (a bus sync handler may stop the pipeline).
  std::mutex post_lock;
  std::deque<GstMessage*> to_post;  // post_lock
  bool posting = false;             // post_lock: a thread is posting to_post

  ~Private() {
    for (GstMessage* m : to_post) gst_message_unref(m);
  }
};

// Upstream events gathered under state_lock, sent after it.
struct Outbox {
  std::vector<std::pair<GstPad*, GstEvent*>> events;
};

}  // namespace

// A GstElement flagged as a sink, not a GstBin: it has request pads and writes its files
// itself, with no child elements (a childless bin answered latency and position queries with
// nothing, and looked like a container in gst-inspect and pipeline graphs).
struct _GstHlsAdaptiveSink {
  GstElement parent;
  Private* priv;  // constructed in place in priv_storage
  alignas(Private) unsigned char priv_storage[sizeof(Private)];
};

G_DEFINE_TYPE(GstHlsAdaptiveSink, gst_hls_adaptive_sink, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE(hlsadaptivesink, "hlsadaptivesink", GST_RANK_NONE,
                                      GST_TYPE_HLS_ADAPTIVE_SINK,
                                      GST_DEBUG_CATEGORY_INIT(hls_sink_debug, "hlsadaptivesink", 0,
                                                              "adaptive HLS sink"));

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, alignment = (string) au; "
                    "video/x-h265, stream-format = (string) { hvc1, hev1 }, alignment = (string) au"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"));

static Private& P(GstHlsAdaptiveSink* self) { return *self->priv; }

// Track index of a pad (SIZE_MAX: none, e.g. released).
static size_t track_of_pad(const Runtime& r, GstPad* pad) {
  for (size_t i = 0; i < r.videos.size(); ++i)
    if (r.videos[i]->pad == pad) return i;
  if (r.audio && r.audio->pad == pad) return r.aligner ? r.audio_index() : r.videos.size();
  return SIZE_MAX;
}

static void fail_write(GstHlsAdaptiveSink* self, Runtime& r, const Error& e) {
  r.failed = true;
  GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not write HLS output in %s", r.cfg.location.c_str()),
                    ("%s", e.describe().c_str()));
}

// Under state_lock: the runtime's messages (then `then`, if given) join the element's posting order.
static void queue_messages(GstHlsAdaptiveSink* self, Runtime& r, GstMessage* then = nullptr) {
  Private& p = P(self);
  std::lock_guard lock(p.post_lock);
  for (GstStructure* s : r.out->messages) p.to_post.push_back(gst_message_new_element(GST_OBJECT(self), s));
  r.out->messages.clear();
  if (then) p.to_post.push_back(then);
}

// Runs the runtime's processing and collects what it has to send; eos_seqnum: of the EOS event
// being handled (GST_SEQNUM_INVALID otherwise), given to the EOS message.

static void run_process(GstHlsAdaptiveSink* self, Runtime& r, Outbox& box, guint32 eos_seqnum) {
  auto ended = process(r);
  queue_messages(self, r);
  box.events.insert(box.events.end(), r.events.begin(), r.events.end());
  r.events.clear();
  if (!ended) {
    fail_write(self, r, ended.error());
    return;
  }
  if (*ended) {
    GstMessage* eos = gst_message_new_eos(GST_OBJECT(self));
    if (eos_seqnum != GST_SEQNUM_INVALID) gst_message_set_seqnum(eos, eos_seqnum);
    queue_messages(self, r, eos);
  }
}

static void flush_outbox(GstHlsAdaptiveSink* self, Outbox& box) {
  for (auto& [pad, event] : box.events) {
    gst_pad_push_event(pad, event);
    gst_object_unref(pad);
  }
  box = {};
  // Posts everything queued so far, unless another thread is at it: that one posts ours too,
  // after what was queued before them.
  Private& p = P(self);
  std::unique_lock lock(p.post_lock);
  if (p.posting) return;
  p.posting = true;
  while (!p.to_post.empty()) {
    GstMessage* m = p.to_post.front();
    p.to_post.pop_front();
    lock.unlock();
    gst_element_post_message(GST_ELEMENT(self), m);
    lock.lock();
  }
  p.posting = false;
}

// ---------------------------------------------------------------------------------------------
// Data flow

// The buffer as a Frame in running time; false: not usable (no PTS, outside the segment).
static bool frame_from_buffer(GstBuffer* buf, const GstSegment& seg, const StreamConfig& c, Frame& f) {
  if (!GST_BUFFER_PTS_IS_VALID(buf)) return false;
  const guint64 pts = GST_BUFFER_PTS(buf);
  const guint64 dts = GST_BUFFER_DTS_IS_VALID(buf) ? GST_BUFFER_DTS(buf) : pts;
  const guint64 rt_pts = gst_segment_to_running_time(&seg, GST_FORMAT_TIME, pts);
  if (rt_pts == GST_CLOCK_TIME_NONE) return false;
  f.pts = int64_t(rt_pts);
  f.dts = f.pts - (int64_t(pts) - int64_t(dts));
  f.duration = GST_BUFFER_DURATION_IS_VALID(buf) ? int64_t(GST_BUFFER_DURATION(buf)) : -1;
  if (f.duration < 0) {  // parsers do not always say: 1024 samples per AAC frame, 1/fps
    if (c.kind == Kind::aac && c.aac.sample_rate)
      f.duration = int64_t(gst_util_uint64_scale(1024, GST_SECOND, c.aac.sample_rate));
    else if (c.kind != Kind::aac && c.fps_n > 0)
      f.duration = int64_t(gst_util_uint64_scale(GST_SECOND, c.fps_d, c.fps_n));
  }
  f.keyframe = c.kind == Kind::aac || !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  GstMapInfo m;
  if (gst_buffer_map(buf, &m, GST_MAP_READ)) {
    f.data.assign(m.data, m.data + m.size);
    gst_buffer_unmap(buf, &m);
  }
  return true;
}

static GstFlowReturn sink_chain(GstPad* pad, GstObject* parent, GstBuffer* buf) {
  auto* self = GST_HLS_ADAPTIVE_SINK(parent);
  Private& p = P(self);
  Outbox box;
  GstFlowReturn ret = GST_FLOW_OK;
  const int64_t arrived_us = g_get_monotonic_time();  // before the lock: waiting for it is latency too
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    if (!r.running || r.failed) {
      gst_buffer_unref(buf);
      return r.failed ? GST_FLOW_ERROR : GST_FLOW_FLUSHING;
    }
    const size_t track = track_of_pad(r, pad);
    if (track == SIZE_MAX) {  // released pad
      gst_buffer_unref(buf);
      return GST_FLOW_FLUSHING;
    }
    VideoTrack* t = track < r.videos.size() ? r.videos[track].get() : nullptr;
    AudioTrack* a = t ? nullptr : r.audio.get();
    const std::shared_ptr<const StreamConfig> config = t ? t->config : a->config;
    if (gst_buffer_get_size(buf) > kMaxFrameBytes) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Frame larger than %zu bytes", kMaxFrameBytes), (nullptr));
      gst_buffer_unref(buf);
      return GST_FLOW_ERROR;
    }
    Frame f;
    if (!config || !frame_from_buffer(buf, t ? t->segment : a->segment, *config, f)) {
      GST_LOG_OBJECT(pad, "dropping buffer without PTS or caps, or outside the segment");
      gst_buffer_unref(buf);
      return GST_FLOW_OK;
    }
    bool discont = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT);
    gst_buffer_unref(buf);
    if (t) {
      if (t->discont_pending) {  // caps change: a new segment with EXT-X-DISCONTINUITY
        t->discont_pending = false;
        if (!t->held.empty() || t->writer->named()) discont = f.keyframe;
      }
      if (t->config->codec_string.empty()) {
        auto c = std::make_shared<StreamConfig>(*t->config);
        learn_codec_from_annexb(*c, f.data);
        if (!c->codec_string.empty()) t->config = c;
      }
      f.config = t->config;
    } else {
      f.config = a->config;
    }
    if (auto pushed = push_frame(r, track, std::move(f), discont); !pushed) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED,
                        ("Variant %s: %s", t ? t->pad_name.c_str() : "audio", pushed.error().context.c_str()),
                        ("limits are in docs/elements/hlsadaptivesink.md"));
      r.failed = true;
      return GST_FLOW_ERROR;
    }
    r.out->latency.arrival_us = arrived_us;
    run_process(self, r, box, GST_SEQNUM_INVALID);
    r.out->latency.arrival_us = -1;
    if (r.failed) ret = GST_FLOW_ERROR;
  }
  flush_outbox(self, box);
  return ret;
}

static gboolean sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_HLS_ADAPTIVE_SINK(parent);
  Private& p = P(self);
  Outbox box;
  gboolean ret = TRUE;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps;
      gst_event_parse_caps(event, &caps);
      auto c = config_from_caps(caps);
      if (!c) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Unusable caps on %s: %s", GST_PAD_NAME(pad), c.error().context.c_str()),
                          (nullptr));
        ret = FALSE;
        break;
      }
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      const size_t track = track_of_pad(r, pad);
      if (track < r.videos.size()) {
        VideoTrack& t = *r.videos[track];
        if (t.config && t.config->codec_data != (*c)->codec_data) t.discont_pending = true;
        t.config = *c;
      } else if (track != SIZE_MAX) {
        r.audio->config = *c;
      }
      break;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* seg;
      gst_event_parse_segment(event, &seg);
      if (seg->format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Need TIME segments"), (nullptr));
        ret = FALSE;
        break;
      }
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      const size_t track = track_of_pad(r, pad);
      if (track < r.videos.size()) gst_segment_copy_into(seg, &r.videos[track]->segment);
      else if (track != SIZE_MAX) gst_segment_copy_into(seg, &r.audio->segment);
      break;
    }
    case GST_EVENT_EOS: {
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      const size_t track = track_of_pad(r, pad);
      if (track < r.videos.size()) r.videos[track]->eos = true;
      else if (track != SIZE_MAX) r.audio->eos = true;
      if (track != SIZE_MAX && r.running && !r.failed) {
        end_of_stream(r, track);
        run_process(self, r, box, gst_event_get_seqnum(event));
      }
      break;
    }
    case GST_EVENT_FLUSH_STOP: {
      // What the pad's track holds and its segment in progress are dropped; it restarts at its
      // next keyframe, after a discontinuity.
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      const size_t track = track_of_pad(r, pad);
      if (track < r.videos.size()) r.videos[track]->eos = false;
      else if (track != SIZE_MAX) r.audio->eos = false;
      if (track != SIZE_MAX && r.running && !r.failed) {
        if (auto res = flush_track(r, track); !res) fail_write(self, r, res.error());
        queue_messages(self, r);
      }
      break;
    }
    default: break;
  }
  gst_event_unref(event);
  flush_outbox(self, box);
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Pads

static guint pad_number(const std::string& name) { return guint(std::stoul(name.substr(name.find('_') + 1))); }

static GstPad* request_new_pad(GstElement* element, GstPadTemplate* templ, const gchar* req_name, const GstCaps*) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  Private& p = P(self);
  const bool video = g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video_%u");
  std::string name;
  GstPad* pad = nullptr;
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    if (r.running) {
      GST_WARNING_OBJECT(self, "pads can only be requested before the sink starts");
      return nullptr;
    }
    if (video && r.videos.size() >= kMaxVideoPads) return nullptr;
    if (!video && r.audio) {
      GST_WARNING_OBJECT(self, "only %u audio pad is supported", kMaxAudioPads);
      return nullptr;
    }
    guint index = video ? p.next_video : p.next_audio;
    if (req_name && sscanf(req_name, video ? "video_%u" : "audio_%u", &index) != 1) {
      GST_WARNING_OBJECT(self, "pad name %s does not match %s", req_name, GST_PAD_TEMPLATE_NAME_TEMPLATE(templ));
      return nullptr;
    }
    name = (video ? "video_" : "audio_") + std::to_string(index);
    if (GstPad* existing = gst_element_get_static_pad(element, name.c_str())) {
      gst_object_unref(existing);
      GST_WARNING_OBJECT(self, "a pad named %s exists already", name.c_str());
      return nullptr;
    }
    pad = GST_PAD(g_object_new(GST_TYPE_HLS_SINK_PAD, "name", name.c_str(), "direction", GST_PAD_SINK, "template",
                               templ, nullptr));
    gst_pad_set_chain_function(pad, sink_chain);
    gst_pad_set_event_function(pad, sink_event);
    GST_PAD_SET_PROXY_CAPS(pad);
    if (video) {
      auto t = std::make_unique<VideoTrack>();
      t->pad = pad;
      t->pad_name = name;
      gst_segment_init(&t->segment, GST_FORMAT_TIME);
      // Keep pad order: the lowest-numbered video pad is the reference.
      auto pos = std::find_if(r.videos.begin(), r.videos.end(),
                              [&](auto& o) { return pad_number(o->pad_name) > index; });
      r.videos.insert(pos, std::move(t));
      p.next_video = std::max(p.next_video, index + 1);
    } else {
      r.audio = std::make_unique<AudioTrack>();
      r.audio->pad = pad;
      gst_segment_init(&r.audio->segment, GST_FORMAT_TIME);
      p.next_audio = std::max(p.next_audio, index + 1);
    }
  }
  gst_pad_set_active(pad, TRUE);
  if (!gst_element_add_pad(element, pad)) {  // (the name was taken in the meantime)
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    r.videos.erase(std::remove_if(r.videos.begin(), r.videos.end(), [&](auto& t) { return t->pad == pad; }),
                   r.videos.end());
    if (r.audio && r.audio->pad == pad) r.audio.reset();
    gst_object_unref(gst_object_ref_sink(pad));
    GST_WARNING_OBJECT(self, "could not add pad %s", name.c_str());
    return nullptr;
  }
  return pad;
}

static void release_pad(GstElement* element, GstPad* pad) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  Private& p = P(self);
  Outbox box;
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    const size_t track = track_of_pad(r, pad);
    if (r.running && track != SIZE_MAX) {
      // The aligner keeps its tracks while running: a released pad's track just ends.
      if (track < r.videos.size()) {
        r.videos[track]->pad = nullptr;
        r.videos[track]->eos = true;
      } else {
        r.audio->pad = nullptr;
        r.audio->eos = true;
      }
      if (!r.failed) {
        end_of_stream(r, track);
        run_process(self, r, box, GST_SEQNUM_INVALID);
      }
    } else {
      r.videos.erase(std::remove_if(r.videos.begin(), r.videos.end(), [&](auto& t) { return t->pad == pad; }),
                     r.videos.end());
      if (r.audio && r.audio->pad == pad) r.audio.reset();
    }
  }
  flush_outbox(self, box);
  gst_pad_set_active(pad, FALSE);
  gst_element_remove_pad(element, pad);
}

// ---------------------------------------------------------------------------------------------
// State

static bool start(GstHlsAdaptiveSink* self) {
  Private& p = P(self);
  std::lock_guard lock(p.state_lock);
  Runtime& r = p.rt;
  GST_OBJECT_LOCK(self);
  r.cfg = p.settings;
  GST_OBJECT_UNLOCK(self);
  if (r.videos.empty()) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("hlsadaptivesink needs at least one video_%%u pad"), (nullptr));
    return false;
  }
  if (r.cfg.in_memory && r.cfg.http_port == 0 && r.cfg.upload_location.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("in-memory=true needs http-port or upload-location: nothing would serve the output"), (nullptr));
    return false;
  }
  (void)start_runtime(r);
  Presentation& out = *r.out;
  if (auto opened = out.store.open(r.cfg.location, r.cfg.in_memory); !opened) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", opened.error().context.c_str()), (nullptr));
    return false;
  }
  KeySettings keys;
  keys.enabled = r.cfg.encrypt || !r.cfg.key_uri.empty() || !r.cfg.key_file.empty();
  keys.key_uri = r.cfg.key_uri;
  keys.key_file = r.cfg.key_file;
  keys.rotation = r.cfg.key_rotation;
  keys.flat = r.cfg.flat;
  if (keys.enabled && r.cfg.low_latency) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("AES-128 (whole-segment CBC) cannot be combined with low-latency parts"),
                      (nullptr));
    return false;
  }
  if (keys.enabled && r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("AES-128 encryption is implemented for segment-format=mpegts only"),
                      (nullptr));
    return false;
  }
  if (auto k = out.keys.start(keys); !k) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("%s", k.error().context.c_str()), (nullptr));
    return false;
  }
  if (!r.cfg.upload_location.empty()) {
    GstHlsAdaptiveSink* weak = self;
    auto st = out.store.start_upload(r.cfg.upload_location, [weak](const http::UploadFailure& fail) {
      GST_ELEMENT_WARNING(weak, RESOURCE, WRITE,
                          ("Upload of %s failed after %u attempts: %s", fail.url.c_str(), fail.attempts,
                           fail.reason.c_str()),
                          (nullptr));
    });
    if (!st) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Bad upload-location: %s", st.error().describe().c_str()), (nullptr));
      return false;
    }
  }
  if (r.cfg.http_port) {
    http::HlsHttpServerConfig sc;
    sc.index_file = r.cfg.http_index_file;
    sc.url_prefix = r.cfg.http_prefix;
    sc.target_duration_ms = r.cfg.target_duration / int64_t(GST_MSECOND);
    const int64_t part_ms = r.cfg.low_latency ? r.cfg.part_duration / int64_t(GST_MSECOND) : 0;
    auto port = out.store.start_http(sc, r.cfg.http_address, uint16_t(r.cfg.http_port), part_ms);
    if (!port) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE,
                        ("Cannot serve HTTP on %s:%u%s: %s", r.cfg.http_address.c_str(), r.cfg.http_port,
                         r.cfg.http_prefix.c_str(), port.error().describe().c_str()),
                        (nullptr));
      return false;
    }
    GST_INFO_OBJECT(self, "serving %s on http://%s:%u%s/", r.cfg.in_memory ? "the output (in memory)" : r.cfg.location.c_str(),
                    r.cfg.http_address.c_str(), *port, r.cfg.http_prefix.c_str());
  }
  r.running = true;
  return true;
}

static void stop(GstHlsAdaptiveSink* self) {
  Private& p = P(self);
  OutputStore::Services services;
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    r.running = false;
    if (r.out) services = r.out->store.take_services();
    for (auto& t : r.videos) t->held.clear();
    // Tracks of pads released while running go now.
    r.videos.erase(std::remove_if(r.videos.begin(), r.videos.end(), [](auto& t) { return t->pad == nullptr; }),
                   r.videos.end());
    if (r.audio && !r.audio->pad) r.audio.reset();
  }
  services.stop();
}

static GstStateChangeReturn change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start(self)) {
    stop(self);
    return GST_STATE_CHANGE_FAILURE;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_hls_adaptive_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) stop(self);
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Properties

static void set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_HLS_ADAPTIVE_SINK(object);
  GST_OBJECT_LOCK(self);
  const bool known = set_setting(P(self).settings, id, value);
  GST_OBJECT_UNLOCK(self);
  if (!known) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_HLS_ADAPTIVE_SINK(object);
  if (id == PROP_STATS) {
    std::lock_guard lock(P(self).state_lock);
    g_value_take_boxed(value, make_stats(P(self).rt));
    return;
  }
  GST_OBJECT_LOCK(self);
  const bool known = get_setting(P(self).settings, id, value);
  GST_OBJECT_UNLOCK(self);
  if (!known) G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void finalize(GObject* object) {
  auto* self = GST_HLS_ADAPTIVE_SINK(object);
  self->priv->~Private();
  G_OBJECT_CLASS(gst_hls_adaptive_sink_parent_class)->finalize(object);
}

static void gst_hls_adaptive_sink_class_init(GstHlsAdaptiveSinkClass* klass) {
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = set_property;
  gobject_class->get_property = get_property;
  gobject_class->finalize = finalize;
  install_properties(gobject_class);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &video_template, GST_TYPE_HLS_SINK_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &audio_template, GST_TYPE_HLS_SINK_PAD);
  gst_element_class_set_static_metadata(element_class, "Adaptive HLS sink", "Sink/Muxer",
                                        "Aligned multi-variant HLS / LL-HLS (MPEG-TS or fMP4) to files, HTTP and PUT",
                                        "gst-live-server");
  element_class->request_new_pad = request_new_pad;
  element_class->release_pad = release_pad;
  element_class->change_state = change_state;
  gst_type_mark_as_plugin_api(GST_TYPE_HLS_SINK_PAD, GstPluginAPIFlags(0));
}

static void gst_hls_adaptive_sink_init(GstHlsAdaptiveSink* self) {
  self->priv = new (self->priv_storage) Private();
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
