// StreamPipeline (see stream_pipeline.h).
#include "stream_pipeline.h"

#include <gio/gio.h>

#include <algorithm>
#include <cstring>

#include "recorder.h"

namespace live_server {

namespace {

void set_if(GstElement* element, const char* property, const std::string& value) {
  if (!value.empty()) g_object_set(element, property, value.c_str(), nullptr);
}

bool has_factory(const char* name) {
  GstElementFactory* factory = gst_element_factory_find(name);
  if (factory) gst_object_unref(factory);
  return factory != nullptr;
}

// A decoder for the video caps (the rungs decode the source once), or nullptr.
const char* video_decoder(const std::string& media) {
  if (media == "video/x-h264") return "avdec_h264";
  if (media == "video/x-h265") return "avdec_h265";
  if (media == "video/x-vp9") return has_factory("avdec_vp9") ? "avdec_vp9" : nullptr;
  if (media == "video/x-av1") {
    for (const char* name : {"dav1ddec", "av1dec", "avdec_av1"})
      if (has_factory(name)) return name;
  }
  return nullptr;
}

const char* video_parser(const std::string& media) {
  if (media == "video/x-h264") return "h264parse";
  if (media == "video/x-h265") return "h265parse";
  if (media == "video/x-vp9") return "vp9parse";
  if (media == "video/x-av1") return "av1parse";
  return "identity";
}

std::string codec_name(const std::string& media, const GstStructure* caps) {
  if (media == "video/x-h264") return "H.264";
  if (media == "video/x-h265") return "H.265";
  if (media == "video/x-vp9") return "VP9";
  if (media == "video/x-av1") return "AV1";
  if (media == "audio/x-opus") return "Opus";
  if (media == "audio/mpeg") {
    int version = 0;
    gst_structure_get_int(caps, "mpegversion", &version);
    return version == 1 ? "MP3" : "AAC";
  }
  return media;
}

// WebRTC receivers do not reorder frames, so only H.264 without B-frames can go to WebRTC as it
// is: Baseline and Constrained Baseline have none. From the demuxer's caps ("profile", read from
// codec_data), else codec_data's profile_idc (66 = Baseline). `profile` says what was found.
bool h264_without_b_frames(const GstStructure* caps, std::string& profile) {
  if (const gchar* name = gst_structure_get_string(caps, "profile")) {
    profile = name;
    return profile == "baseline" || profile == "constrained-baseline";
  }
  const GValue* value = gst_structure_get_value(caps, "codec_data");
  guint8 profile_idc = 0;
  if (value && GST_VALUE_HOLDS_BUFFER(value) &&
      gst_buffer_extract(gst_value_get_buffer(value), 1, &profile_idc, 1) == 1) {
    profile = "profile_idc " + std::to_string(profile_idc);
    return profile_idc == 66;
  }
  profile = "unknown";
  return false;
}

// A specific IP address (not 0.0.0.0 or ::, not a host name): WebRTC's host candidates go there.
bool specific_ip(const std::string& address) {
  GInetAddress* ip = g_inet_address_new_from_string(address.c_str());
  if (!ip) return false;
  const bool specific = !g_inet_address_get_is_any(ip);
  g_object_unref(ip);
  return specific;
}

}  // namespace

StreamPipeline::StreamPipeline(const Config& config, std::string key, std::string name)
    : config_(config), key_(std::move(key)), name_(std::move(name)),
      since_unix_s_(g_get_real_time() / G_USEC_PER_SEC) {}

StreamPipeline::~StreamPipeline() {
  if (!pipeline_) return;
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  GstBus* bus = gst_element_get_bus(pipeline_);
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  gst_object_unref(bus);
  {
    std::lock_guard lock(lock_);
    for (HeldPad& held : held_) gst_object_unref(held.pad);
    held_.clear();
  }
  recorder_.reset();
  if (dropped_hls_) gst_object_unref(dropped_hls_);
  gst_object_unref(pipeline_);
}

std::unique_ptr<StreamPipeline> StreamPipeline::start(const Config& config, const std::string& key,
                                                      const std::string& name, std::string& why) {
  std::unique_ptr<StreamPipeline> stream(new StreamPipeline(config, key, name));
  if (!stream->build(why)) return nullptr;
  if (gst_element_set_state(stream->pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    why = "the pipeline did not start (see the errors above)";
    return nullptr;
  }
  return stream;
}

GstElement* StreamPipeline::add(const char* factory, const char* name) {
  GstElement* element = gst_element_factory_make(factory, name);
  if (!element) {
    g_printerr("live-server: stream %s: GStreamer element '%s' is missing\n", name_.c_str(), factory);
    return nullptr;
  }
  gst_bin_add(GST_BIN(pipeline_), element);
  return element;
}

bool StreamPipeline::link_chain(std::initializer_list<GstElement*> elements) {
  GstElement* previous = nullptr;
  for (GstElement* element : elements) {
    if (!element) return false;
    if (previous && !gst_element_link(previous, element)) {
      g_printerr("live-server: stream %s: cannot link %s to %s\n", name_.c_str(),
                 GST_ELEMENT_NAME(previous), GST_ELEMENT_NAME(element));
      return false;
    }
    previous = element;
  }
  return true;
}

bool StreamPipeline::build(std::string& why) {
  pipeline_ = gst_pipeline_new(("stream-" + name_).c_str());
  gst_object_ref_sink(pipeline_);
  source_ = add("rtmpserversrc", "ingest");
  GstElement* flv = add("tee", "flv");
  relay_ = add("flvrelaysink", "relay");
  // flvrelaysink's render only queues, so it needs no thread of its own. The demuxer gets one
  // (a queue) only when transcoders may hold it up; without a ladder it runs in the ingest
  // thread: every queue is a thread hand-off per message, the largest cost of a passthrough stream.
  const bool transcodes = !config_.ladder.empty();
  GstElement* demux_queue = transcodes ? add("queue", "demux-queue") : nullptr;
  demux_ = add("rtmpchunkdemux", "demux");
  if (!source_ || !relay_ || !demux_) {
    why = "GStreamer elements are missing (is GST_PLUGIN_PATH set to the build's gst folder?)";
    return false;
  }
  const Config& c = config_;
  g_object_set(source_, "address", c.address.c_str(), "port", guint(c.rtmp_port), "application",
               c.application.c_str(), "stream-key", key_.c_str(), "idle-timeout", guint(c.idle_timeout),
               "max-connections-per-address", guint(c.max_connections_per_address), nullptr);
  g_object_set(relay_, "address", c.address.c_str(), "port", guint(c.rtmp_port), "application",
               c.application.c_str(), "stream-key", name_.c_str(), "http-address", c.address.c_str(),
               "http-port", guint(c.http_port),
               "max-connections-per-address", guint(c.max_connections_per_address),
               "video-write-delay", guint(c.video_write_delay), nullptr);
  for (GstElement* element : {source_, relay_}) {
    set_if(element, "tls-certificate", c.tls_certificate);
    set_if(element, "tls-key", c.tls_key);
  }
  const std::vector<std::string> targets = c.push_targets(key_);
  if (!targets.empty()) {
    GValue array = G_VALUE_INIT;
    gst_value_array_init(&array, targets.size());
    for (const std::string& target : targets) {
      GValue item = G_VALUE_INIT;
      g_value_init(&item, G_TYPE_STRING);
      g_value_set_string(&item, target.c_str());
      gst_value_array_append_and_take_value(&array, &item);
    }
    g_object_set_property(G_OBJECT(relay_), "push-locations", &array);
    g_value_unset(&array);
  }
  // The relay never blocks; the demux branch may wait for the transcoders, up to 3 s.
  if (demux_queue)
    g_object_set(demux_queue, "max-size-time", guint64(3 * GST_SECOND), "max-size-buffers", 0u,
                 "max-size-bytes", 0u, nullptr);
  if (!link_chain({source_, flv}) || !link_chain({flv, relay_}) ||
      !(demux_queue ? link_chain({flv, demux_queue, demux_}) : link_chain({flv, demux_}))) {
    why = "cannot link the stream's pipeline";
    return false;
  }
  if (c.webrtc) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    gst_bus_set_sync_handler(bus, on_sync_message, this, nullptr);
    gst_object_unref(bus);
  }
  g_signal_connect(demux_, "pad-added", G_CALLBACK(on_pad_added), this);
  g_signal_connect(demux_, "no-more-pads", G_CALLBACK(on_no_more_pads), this);
  if (c.records(key_)) recorder_ = std::make_unique<Recorder>(pipeline_, c.record_dir, name_);
  return true;
}

void StreamPipeline::on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  auto* self = static_cast<StreamPipeline*>(data);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const bool video = g_str_has_prefix(GST_PAD_NAME(pad), "video");
  // Before lock_: whepserversink's start waits for the HTTP server thread, which may be in
  // snapshot() waiting for lock_.
  if (self->config_.webrtc) self->start_webrtc_sink();
  std::lock_guard lock(self->lock_);
  if (self->hls_attached_ || (video && !self->video_codec_.empty()) ||
      (!video && !self->audio_codec_.empty())) {
    // A track that appeared later (a second track, a publisher that added audio): the
    // playlists are fixed by now, so RTMP/HTTP-FLV carry it and HLS does not.
    g_print("live-server: stream %s: extra %s track %s is relayed but not in HLS\n",
            self->name_.c_str(), video ? "video" : "audio", GST_PAD_NAME(pad));
    GstElement* sink = self->add("fakesink");
    g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
    gst_element_sync_state_with_parent(sink);
    GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
    gst_pad_link(pad, sinkpad);
    gst_object_unref(sinkpad);
  } else if (video) {
    self->add_video_branch(pad, s);
  } else {
    self->add_audio_branch(pad, s);
  }
  gst_caps_unref(caps);
}

void StreamPipeline::on_no_more_pads(GstElement*, gpointer data) {
  auto* self = static_cast<StreamPipeline*>(data);
  std::vector<std::pair<GstPad*, std::vector<GstBuffer*>>> kept;
  GstElement* hls = nullptr;
  {
    std::lock_guard lock(self->lock_);
    hls = self->attach_hls();
  }
  // Started without lock_, and its stats read by snapshot() only once started: its start
  // registers its HTTP site, which waits for the HTTP server thread, while holding the lock its
  // "stats" takes; that thread may be answering /api/streams in snapshot().
  if (hls) {
    gst_element_set_locked_state(hls, FALSE);
    gst_element_sync_state_with_parent(hls);
    gst_object_unref(hls);
    std::lock_guard lock(self->lock_);
    self->hls_started_ = true;
    kept = self->release_held();
  }
  self->drop_unfed_webrtc_sink();
  // The demuxer's streaming thread (no-more-pads comes from its chain or EOS), as the kept
  // buffers came: pushed in order before anything newer. Not under lock_: the sink posts
  // messages whose handlers may ask for a snapshot.
  for (auto& [pad, buffers] : kept) {
    for (GstBuffer* buffer : buffers) gst_pad_push(pad, buffer);
    gst_object_unref(pad);
  }
}

// At most this much input is kept aside for HLS before it is attached (normally a fraction of
// a second: the demuxer announces its tracks with the first frames); the rest is dropped.
constexpr size_t kMaxKeptBytes = 16 << 20;

struct StreamPipeline::KeptBuffers {
  std::vector<GstBuffer*> buffers;
  size_t bytes = 0;
  bool dropping = false;
  std::string stream, pad;
  ~KeptBuffers() {
    for (GstBuffer* b : buffers) gst_buffer_unref(b);
  }
  void keep(GstBuffer* buffer) {
    if (bytes + gst_buffer_get_size(buffer) > kMaxKeptBytes) {
      if (!dropping)
        g_printerr("live-server: stream %s: HLS not attached after %zu bytes of %s: dropping until it is\n",
                   stream.c_str(), bytes, pad.c_str());
      dropping = true;
      gst_buffer_unref(buffer);
      return;
    }
    bytes += gst_buffer_get_size(buffer);
    buffers.push_back(buffer);
  }
};

void StreamPipeline::hold_for_hls(GstElement* last, const std::string& hls_pad, bool in_demux_thread) {
  if (in_demux_thread) {
    // No queue: a queue is a thread and a hand-off per buffer for the life of the stream, to
    // bridge the moment until the demuxer has announced every track.
    GstPad* src = gst_element_request_pad_simple(last, "src_%u");
    auto* kept = new KeptBuffers{{}, 0, false, name_, hls_pad};
    const gulong probe = gst_pad_add_probe(
        src, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        [](GstPad*, GstPadProbeInfo* info, gpointer data) {
          auto* kept = static_cast<KeptBuffers*>(data);
          if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
            kept->keep(GST_PAD_PROBE_INFO_BUFFER(info));
          } else {
            GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
            for (guint i = 0; i < gst_buffer_list_length(list); ++i)
              kept->keep(gst_buffer_ref(gst_buffer_list_get(list, i)));
            gst_buffer_list_unref(list);
          }
          GST_PAD_PROBE_INFO_DATA(info) = nullptr;
          return GST_PAD_PROBE_HANDLED;  // taken: the probe owns it now
        },
        kept, [](gpointer data) { delete static_cast<KeptBuffers*>(data); });
    held_.push_back({src, probe, hls_pad, kept});
    return;
  }
  GstElement* queue = add("queue");
  g_object_set(queue, "max-size-time", guint64(3 * GST_SECOND), "max-size-buffers", 0u,
               "max-size-bytes", 0u, nullptr);
  link_chain({last, queue});
  GstPad* src = gst_element_get_static_pad(queue, "src");
  const gulong probe = gst_pad_add_probe(
      src, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM,
      [](GstPad*, GstPadProbeInfo*, gpointer) { return GST_PAD_PROBE_OK; }, nullptr, nullptr);
  held_.push_back({src, probe, hls_pad, nullptr});
}

// Passthrough into HLS alone (no ladder, recorder or WebRTC): the demuxer's H.264 and AAC caps
// already carry what hlsadaptivesink needs (codec_data, size, profile and level, frame rate from
// the SPS), so h264parse and aacparse would only cost CPU: about 15 % of the streaming threads
// (docs/benchmarks.md). Encoders, decoders and muxers downstream keep their parsers.
bool StreamPipeline::only_hls_and_relay() const {
  return config_.ladder.empty() && !recorder_ && !config_.webrtc;
}

void StreamPipeline::add_video_branch(GstPad* pad, const GstStructure* caps) {
  const std::string media = gst_structure_get_name(caps);
  video_codec_ = codec_name(media, caps);
  gst_structure_get_int(caps, "width", &width_);
  gst_structure_get_int(caps, "height", &height_);
  GstElement* parse = only_hls_and_relay() && media == "video/x-h264" ? nullptr : add(video_parser(media));
  video_tee_ = add("tee", "video-tee");
  g_object_set(video_tee_, "allow-not-linked", TRUE, nullptr);  // a codec with no branch for it
  GstPad* sinkpad = gst_element_get_static_pad(parse ? parse : video_tee_, "sink");
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
  if (parse) link_chain({parse, video_tee_});
  // H.264 and H.265 go into HLS as they are; other codecs are transcoded for HLS at the source
  // size, and RTMP / HTTP-FLV viewers get them unchanged.
  const bool passthrough = media == "video/x-h264" || media == "video/x-h265";
  std::vector<Rung> rungs;
  if (passthrough) {
    // Without a ladder nothing else links to video_tee_ (gst_element_link would take the
    // kept pad, an unlinked tee pad, for the decoder's branch).
    hold_for_hls(video_tee_, "video_0", config_.ladder.empty());
    variants_.push_back((width_ ? std::to_string(width_) + "x" + std::to_string(height_) + " " : "") +
                        video_codec_ + " source");
  } else {
    g_print("live-server: stream %s: %s video cannot go into HLS as it is: transcoded to H.264 "
            "(RTMP and HTTP-FLV viewers get the %s unchanged)\n",
            name_.c_str(), video_codec_.c_str(), video_codec_.c_str());
    rungs.push_back({width_ > 0 ? width_ : 1280, height_ > 0 ? height_ : 720, 2500});
  }
  for (const Rung& rung : config_.ladder) {
    if (height_ > 0 && rung.height >= height_) {
      g_print("live-server: stream %s: rung %dx%d skipped (source is %dx%d)\n", name_.c_str(),
              rung.width, rung.height, width_, height_);
      continue;
    }
    rungs.push_back(rung);
  }
  const char* decoder = video_decoder(media);
  // WebRTC's video: the top rung (an encoder that makes key units when a viewer joins), else the
  // source when it has no B-frames, else the source transcoded once.
  bool webrtc_from_rung = false;
  if (config_.webrtc) {
    std::string profile;
    if (!rungs.empty() && decoder) {
      webrtc_from_rung = true;
      g_print("live-server: stream %s: WebRTC plays the %dx%d rung (H.264 without B-frames)\n",
              name_.c_str(), rungs[0].width, rungs[0].height);
    } else if (media == "video/x-h264" && h264_without_b_frames(caps, profile)) {
      g_print("live-server: stream %s: WebRTC passes the source H.264 through (%s: no B-frames)\n",
              name_.c_str(), profile.c_str());
      feed_webrtc(video_tee_, {}, "video");
    } else if (decoder) {
      g_print("live-server: stream %s: WebRTC gets the source transcoded once to H.264 without B-frames "
              "(x264enc tune=zerolatency bframes=0, %dx%d): %s %s may have B-frames\n",
              name_.c_str(), width_, height_, video_codec_.c_str(),
              media == "video/x-h264" ? ("profile " + profile).c_str() : "is not H.264 and");
      GstElement* decode = add(decoder);
      GstElement* convert = add("videoconvert");
      GstElement* format = add("capsfilter");
      GstElement* encode = add("x264enc");
      GstElement* profile_filter = add("capsfilter");
      GstCaps* i420 = gst_caps_from_string("video/x-raw,format=I420");
      g_object_set(format, "caps", i420, nullptr);
      gst_caps_unref(i420);
      // Main, as the rungs: every browser's offer has it (4d001f); x264's default High is
      // answered as High 4:4:4 only once a viewer's webrtcbin has seen the caps.
      GstCaps* main = gst_caps_from_string("video/x-h264,profile=main");
      g_object_set(profile_filter, "caps", main, nullptr);
      gst_caps_unref(main);
      if (encode) {
        gst_util_set_object_arg(G_OBJECT(encode), "tune", "zerolatency");
        gst_util_set_object_arg(G_OBJECT(encode), "speed-preset", config_.encoder_preset.c_str());
        g_object_set(encode, "bframes", 0u, "bitrate", 2500u, nullptr);
      }
      feed_webrtc(video_tee_, {decode, convert, format, encode, profile_filter}, "video");
    } else {
      g_print("live-server: stream %s: no %s decoder installed: WebRTC carries no video\n", name_.c_str(),
              video_codec_.c_str());
    }
  }
  if (rungs.empty()) return start_new_elements();
  if (!decoder) {
    g_print("live-server: stream %s: no %s decoder installed: HLS carries %s\n", name_.c_str(),
            video_codec_.c_str(), passthrough ? "the source only" : "no video");
    return start_new_elements();
  }
  GstElement* queue = add("queue");
  g_object_set(queue, "max-size-time", guint64(2 * GST_SECOND), "max-size-buffers", 0u,
               "max-size-bytes", 0u, nullptr);
  GstElement* decode = add(decoder);
  GstElement* raw = add("tee");
  link_chain({video_tee_, queue, decode, raw});
  for (const Rung& rung : rungs) {
    GstElement* q = add("queue");
    GstElement* scale = add("videoscale");
    GstElement* size = add("capsfilter");
    GstElement* encode = add("x264enc");
    GstElement* profile = add("capsfilter");
    GstElement* parse_out = add("h264parse");
    GstCaps* want = gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, rung.width, "height",
                                        G_TYPE_INT, rung.height, "pixel-aspect-ratio",
                                        GST_TYPE_FRACTION, 1, 1, nullptr);
    g_object_set(size, "caps", want, nullptr);
    gst_caps_unref(want);
    GstCaps* main = gst_caps_from_string("video/x-h264,profile=main");
    g_object_set(profile, "caps", main, nullptr);
    gst_caps_unref(main);
    gst_util_set_object_arg(G_OBJECT(encode), "tune", "zerolatency");
    gst_util_set_object_arg(G_OBJECT(encode), "speed-preset", config_.encoder_preset.c_str());
    // Key units come when hlsadaptivesink asks (at the source's keyframes), not on a timer.
    g_object_set(encode, "bitrate", guint(rung.kbps), "key-int-max", 600u, nullptr);
    link_chain({raw, q, scale, size, encode, profile, parse_out});
    GstElement* out = parse_out;
    if (webrtc_from_rung && &rung == &rungs.front()) {
      out = add("tee");
      link_chain({parse_out, out});
    }
    hold_for_hls(out, "video_" + std::to_string(variants_.size()), false);
    if (out != parse_out) feed_webrtc(out, {}, "video");
    variants_.push_back(std::to_string(rung.width) + "x" + std::to_string(rung.height) + " " +
                        std::to_string(rung.kbps) + " kbit/s");
  }
  start_new_elements();
}

// Elements added to the running pipeline (a branch) follow its state.
void StreamPipeline::start_new_elements() {
  GstIterator* it = gst_bin_iterate_elements(GST_BIN(pipeline_));
  gst_iterator_foreach(it, [](const GValue* v, gpointer) {
    GstElement* e = GST_ELEMENT(g_value_get_object(v));
    if (GST_STATE(e) == GST_STATE_NULL) gst_element_sync_state_with_parent(e);
  }, nullptr);
  gst_iterator_free(it);
}

void StreamPipeline::add_audio_branch(GstPad* pad, const GstStructure* caps) {
  const std::string media = gst_structure_get_name(caps);
  audio_codec_ = codec_name(media, caps);
  GstElement* first = nullptr;
  GstElement* last = nullptr;
  if (audio_codec_ == "AAC" && only_hls_and_relay()) {
    // Nothing to add: the demuxer's AAC goes into HLS as it is.
  } else if (audio_codec_ == "AAC") {
    first = last = add("aacparse");
  } else {
    g_print("live-server: stream %s: %s audio is transcoded to AAC for HLS (RTMP and HTTP-FLV "
            "viewers get it unchanged)\n", name_.c_str(), audio_codec_.c_str());
    first = add("decodebin");
    GstElement* convert = add("audioconvert");
    GstElement* resample = add("audioresample");
    GstElement* encode = add("avenc_aac");
    last = add("aacparse");
    g_signal_connect(first, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* decoded, gpointer convert) {
      GstPad* sink = gst_element_get_static_pad(GST_ELEMENT(convert), "sink");
      if (!gst_pad_is_linked(sink)) gst_pad_link(decoded, sink);
      gst_object_unref(sink);
    }), convert);
    g_object_set(encode, "bitrate", 128000, nullptr);
    link_chain({convert, resample, encode, last});
  }
  audio_tee_ = add("tee", "audio-tee");
  if (last) link_chain({last, audio_tee_});
  GstPad* sinkpad = gst_element_get_static_pad(first ? first : audio_tee_, "sink");
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
  // Passed-through AAC stays in the demuxer's thread (a decoder may not: decodebin); with a
  // ladder the HLS inputs keep their queues, as the transcoded variants do.
  hold_for_hls(audio_tee_, "audio_0", audio_codec_ == "AAC" && config_.ladder.empty());
  if (config_.webrtc)  // WebRTC plays Opus
    feed_webrtc(audio_tee_, {add("avdec_aac"), add("audioconvert"), add("audioresample"), add("opusenc")}, "audio");
  start_new_elements();
}

void StreamPipeline::start_webrtc_sink() {
  {
    std::lock_guard lock(lock_);
    if (whep_ || webrtc_failed_) return;
  }
  GstElement* sink = gst_element_factory_make("whepserversink", "webrtc");
  if (!sink) {
    g_printerr("live-server: stream %s: GStreamer element 'whepserversink' is missing: no WebRTC\n", name_.c_str());
    std::lock_guard lock(lock_);
    webrtc_failed_ = true;
    return;
  }
  const Config& c = config_;
  g_object_set(sink, "application", c.application.c_str(), "stream-key", name_.c_str(), "http-address",
               c.address.c_str(), "http-port", guint(c.http_port), nullptr);
  // Listening on one address: candidates only there (libnice needs loopback named to use it);
  // otherwise the element's default, every non-loopback interface.
  if (specific_ip(c.address)) g_object_set(sink, "ice-addresses", c.address.c_str(), nullptr);
  if (!c.stun_server.empty()) g_object_set(sink, "stun-server", c.stun_server.c_str(), nullptr);
  if (!c.turn_server.empty()) g_object_set(sink, "turn-server", c.turn_server.c_str(), nullptr);
  // WebRTC viewers pass the same play policy as RTMP and HTTP-FLV viewers (allow-list, HTTP callback).
  if (play_authorizer_) g_signal_connect(sink, "authorize-play", play_authorizer_, play_authorizer_data_);
  g_signal_connect(sink, "authorize-play", G_CALLBACK(note_webrtc_offer), this);  // after the policy: allowed ones
  {
    std::lock_guard lock(webrtc_lock_);
    webrtc_elements_.push_back(sink);
  }
  gst_bin_add(GST_BIN(pipeline_), sink);
  if (!gst_element_sync_state_with_parent(sink)) {  // e.g. the endpoint taken: its error says why
    remove_webrtc_sink(sink);
    std::lock_guard lock(lock_);
    webrtc_failed_ = true;
    return;
  }
  std::lock_guard lock(lock_);
  whep_ = sink;
}

void StreamPipeline::remove_webrtc_sink(GstElement* sink) {
  {
    std::lock_guard lock(webrtc_lock_);
    webrtc_elements_.erase(std::remove(webrtc_elements_.begin(), webrtc_elements_.end(), sink),
                           webrtc_elements_.end());
  }
  gst_element_set_locked_state(sink, TRUE);
  gst_element_set_state(sink, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline_), sink);
}

GstBusSyncReply StreamPipeline::on_sync_message(GstBus*, GstMessage* message, gpointer data) {
  auto* self = static_cast<StreamPipeline*>(data);
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR && self->from_webrtc(GST_MESSAGE_SRC(message)))
    self->webrtc_stopped_ = true;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ELEMENT) {
    const GstStructure* s = gst_message_get_structure(message);
    guint sessions = 0;
    if ((gst_structure_has_name(s, "whep-session-start") || gst_structure_has_name(s, "whep-session-end")) &&
        gst_structure_get_uint(s, "viewers", &sessions))
      self->webrtc_sessions_ = sessions;
  }
  return GST_BUS_PASS;
}

gboolean StreamPipeline::note_webrtc_offer(GstElement*, const gchar*, const gchar*, const gchar*, const gchar*,
                                           gpointer data) {
  static_cast<StreamPipeline*>(data)->webrtc_offer_at_us_ = g_get_monotonic_time();
  return TRUE;
}

// The WebRTC transcode (decode + x264 at the source size: about a quarter of a core for 720p30)
// runs only while a WHEP session exists or an offer came in the last 5 s, after its first GOP
// (which gives the encoder's caps, so whepserversink can answer offers): otherwise its input is
// dropped. It resumes at the next source keyframe (the decoder needs one), while the offer's ICE
// gathering runs; whepserversink asks the encoder for a key unit when the viewer connects.
GstPadProbeReturn StreamPipeline::gate_webrtc_transcode(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* self = static_cast<StreamPipeline*>(data);
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_FLAG_DELTA_UNIT);
  if (keyframe && self->webrtc_transcode_keyframes_ < 2) self->webrtc_transcode_keyframes_++;
  // The first GOP passes (nothing before its keyframe); gated from the second keyframe on.
  if (self->webrtc_transcode_keyframes_ < 2)
    return self->webrtc_transcode_keyframes_ ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
  constexpr int64_t kOfferWarmUs = 5 * G_USEC_PER_SEC;
  if (self->webrtc_sessions_.load() == 0 && g_get_monotonic_time() - self->webrtc_offer_at_us_.load() > kOfferWarmUs) {
    self->webrtc_transcode_open_ = false;
    return GST_PAD_PROBE_DROP;
  }
  if (!self->webrtc_transcode_open_) {
    if (!keyframe) return GST_PAD_PROBE_DROP;
    self->webrtc_transcode_open_ = true;
  }
  return GST_PAD_PROBE_OK;
}

bool StreamPipeline::from_webrtc(GstObject* source) {
  std::lock_guard lock(webrtc_lock_);
  for (GstObject* o = source; o; o = GST_OBJECT_PARENT(o))
    if (std::find(webrtc_elements_.begin(), webrtc_elements_.end(), GST_ELEMENT_CAST(o)) != webrtc_elements_.end())
      return true;
  return false;
}

bool StreamPipeline::handle_webrtc_error(GstMessage* message) {
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ERROR || !from_webrtc(GST_MESSAGE_SRC(message))) return false;
  webrtc_stopped_ = true;
  GError* error = nullptr;
  gst_message_parse_error(message, &error, nullptr);
  g_printerr("live-server: stream %s: WebRTC stopped: %s: %s (HLS, RTMP and HTTP-FLV go on)\n", name_.c_str(),
             GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), error ? error->message : "error");
  g_clear_error(&error);
  GstElement* sink = nullptr;
  {
    std::lock_guard lock(lock_);
    std::swap(sink, whep_);
    webrtc_failed_ = true;
  }
  if (sink) remove_webrtc_sink(sink);
  return true;
}

void StreamPipeline::drop_unfed_webrtc_sink() {
  GstElement* sink = nullptr;
  {
    std::lock_guard lock(lock_);
    if (!whep_ || GST_ELEMENT(whep_)->numsinkpads > 0) return;
    sink = whep_;
    whep_ = nullptr;
  }
  // No track it can carry: without inputs it would never post EOS, and the stream never end.
  g_print("live-server: stream %s: no track WebRTC can carry: no WHEP endpoint\n", name_.c_str());
  remove_webrtc_sink(sink);
}

void StreamPipeline::feed_webrtc(GstElement* tee, std::initializer_list<GstElement*> chain, const char* pad) {
  for (GstElement* element : chain)
    if (!element) {
      g_printerr("live-server: stream %s: WebRTC carries no %s\n", name_.c_str(), pad);
      return;
    }
  GstElement* sink = whep_;
  if (!sink) return;
  // Leaky: a stalled WebRTC branch drops its oldest second, never holds the tee (HLS, recording).
  GstElement* queue = add("queue");
  g_object_set(queue, "max-size-time", guint64(GST_SECOND), "max-size-buffers", 0u, "max-size-bytes", 0u,
               nullptr);
  gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
  {
    std::lock_guard lock(webrtc_lock_);
    webrtc_elements_.push_back(queue);
    webrtc_elements_.insert(webrtc_elements_.end(), chain.begin(), chain.end());
  }
  // A pad of its own: gst_element_link would take a tee's unlinked pad (one kept for HLS).
  GstPad* tee_src = gst_element_request_pad_simple(tee, "src_%u");
  GstPad* queue_sink = gst_element_get_static_pad(queue, "sink");
  // After a WebRTC error the branch takes nothing more: the tee gets OK, never the error.
  gst_pad_add_probe(queue_sink, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, [](GstPad*, GstPadProbeInfo*, gpointer data) {
    return static_cast<StreamPipeline*>(data)->webrtc_stopped_ ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  }, this, nullptr);
  gst_pad_link(tee_src, queue_sink);
  gst_object_unref(queue_sink);
  gst_object_unref(tee_src);
  if (chain.size() > 0 && std::strcmp(pad, "video") == 0) {
    GstPad* queue_src = gst_element_get_static_pad(queue, "src");
    gst_pad_add_probe(queue_src, GST_PAD_PROBE_TYPE_BUFFER, gate_webrtc_transcode, this, nullptr);
    gst_object_unref(queue_src);
  }
  GstElement* last = queue;
  for (GstElement* element : chain) {
    if (!link_chain({last, element})) return;
    last = element;
  }
  GstPad* src = gst_element_get_static_pad(last, "src");
  GstPad* sinkpad = gst_element_request_pad_simple(sink, pad);
  if (!sinkpad || gst_pad_link(src, sinkpad) != GST_PAD_LINK_OK)
    g_printerr("live-server: stream %s: cannot link WebRTC's %s\n", name_.c_str(), pad);
  if (sinkpad) gst_object_unref(sinkpad);
  gst_object_unref(src);
}

GstElement* StreamPipeline::attach_hls() {
  if (hls_attached_) return nullptr;
  hls_attached_ = true;
  const bool has_video = std::any_of(held_.begin(), held_.end(),
                                     [](const HeldPad& h) { return h.hls_pad == "video_0"; });
  if (!has_video) {
    // hlsadaptivesink cuts at video keyframes: an audio-only stream is relayed, not in HLS.
    g_print("live-server: stream %s has no video HLS can carry: RTMP and HTTP-FLV only\n", name_.c_str());
    for (HeldPad& held : held_) {
      GstElement* sink = add("fakesink");
      g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
      GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
      gst_pad_link(held.pad, sinkpad);
      gst_object_unref(sinkpad);
      gst_element_sync_state_with_parent(sink);
      gst_pad_remove_probe(held.pad, held.probe);  // drops what it kept
    }
    return nullptr;
  }
  // Locked until its pads are linked and on_no_more_pads starts it: the pipeline may be changing
  // state meanwhile (its start is async), and a bin brings every child along, which would start
  // the sink before it has a video pad (an error seen with 20 publishers at once).
  GstElement* hls = gst_element_factory_make("hlsadaptivesink", "hls");
  if (!hls) {
    g_printerr("live-server: stream %s: GStreamer element 'hlsadaptivesink' is missing\n", name_.c_str());
    return nullptr;
  }
  gst_element_set_locked_state(hls, TRUE);
  gst_bin_add(GST_BIN(pipeline_), hls);
  hls_ = hls;
  const std::string dir = config_.output_dir + "/" + config_.application + "/" + name_;
  const std::string prefix = "/" + config_.application + "/" + name_;
  g_object_set(hls, "location", dir.c_str(), "http-address", config_.address.c_str(),
               "http-port", guint(config_.http_port), "http-prefix",
               prefix.c_str(), "playlist-length", guint(config_.playlist_length), "low-latency",
               gboolean(config_.low_latency), "in-memory", gboolean(config_.hls_in_memory),
               // Its per-update messages are not read here (stats and the HTTP routes say it all).
               "post-messages", FALSE, nullptr);
  gst_util_set_object_arg(G_OBJECT(hls), "segment-format", config_.segment_format.c_str());
  // Request the pads in order (video_0 is the source and the alignment reference).
  std::sort(held_.begin(), held_.end(), [](const HeldPad& a, const HeldPad& b) { return a.hls_pad < b.hls_pad; });
  for (HeldPad& held : held_) {
    GstPad* sinkpad = gst_element_request_pad_simple(hls, held.hls_pad.c_str());
    if (!sinkpad || gst_pad_link(held.pad, sinkpad) != GST_PAD_LINK_OK)
      g_printerr("live-server: stream %s: cannot link HLS pad %s\n", name_.c_str(), held.hls_pad.c_str());
    if (sinkpad) gst_object_unref(sinkpad);
  }
  return GST_ELEMENT(gst_object_ref(hls));
}

std::vector<std::pair<GstPad*, std::vector<GstBuffer*>>> StreamPipeline::release_held() {
  std::vector<std::pair<GstPad*, std::vector<GstBuffer*>>> kept;
  for (HeldPad& held : held_) {
    if (held.kept) {
      kept.emplace_back(GST_PAD(gst_object_ref(held.pad)), std::move(held.kept->buffers));
      held.kept->buffers.clear();
      held.kept = nullptr;
    }
    gst_pad_remove_probe(held.pad, held.probe);
    gst_pad_add_probe(held.pad, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                      isolate_hls, this, nullptr);
  }
  if (recorder_) recorder_->tracks_ready(video_tee_, audio_tee_);
  return kept;
}

// Chains the buffer into the HLS sink itself, so that its flow return can be seen and replaced:
// an error (a write failure) is reported to the application by the sink's ERROR message and ends
// HLS only; the tee upstream gets OK and the relay, push targets and recorder go on.
GstPadProbeReturn StreamPipeline::isolate_hls(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* self = static_cast<StreamPipeline*>(data);
  if (self->hls_failed_.load()) return GST_PAD_PROBE_DROP;
  GstPad* peer = gst_pad_get_peer(pad);
  if (!peer) return GST_PAD_PROBE_DROP;
  GstFlowReturn ret;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    ret = gst_pad_chain(peer, GST_PAD_PROBE_INFO_BUFFER(info));
  else
    ret = gst_pad_chain_list(peer, GST_PAD_PROBE_INFO_BUFFER_LIST(info));
  gst_object_unref(peer);
  GST_PAD_PROBE_INFO_DATA(info) = nullptr;  // the chain took it
  if (ret == GST_FLOW_ERROR || ret == GST_FLOW_NOT_NEGOTIATED) {
    self->hls_failed_.store(true);
    ret = GST_FLOW_OK;
  }
  GST_PAD_PROBE_INFO_FLOW_RETURN(info) = ret;
  return GST_PAD_PROBE_HANDLED;
}

bool StreamPipeline::drop_failed_hls(GstObject* source, const std::string& reason) {
  GstElement* hls;
  {
    std::lock_guard lock(lock_);
    // A second error of a sink already taken out (a failed start posts one and fails the state
    // change, which posts another): handled, it must not end the stream.
    if (dropped_hls_ && source == GST_OBJECT(dropped_hls_)) return true;
    if (!hls_ || source != GST_OBJECT(hls_)) return false;
    hls = hls_;
    hls_ = nullptr;
    hls_error_ = reason;
    dropped_hls_ = GST_ELEMENT(gst_object_ref(hls));
  }
  hls_failed_.store(true);
  // Out of the pipeline: it would never post EOS (a failed sink does not), and the pipeline's
  // EOS at shutdown waits for every sink. Its HTTP routes go with it (404 instead of a playlist
  // that no longer moves); what it wrote stays on disk.
  gst_element_set_locked_state(hls, TRUE);
  gst_element_set_state(hls, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline_), hls);
  return true;
}

// Bit/s over the snapshots of the last 5 s (whoever asked: API, metrics, status line).
uint64_t StreamPipeline::relay_bitrate(uint64_t bytes_out) const {
  constexpr int64_t kWindowMicros = 5 * G_USEC_PER_SEC;
  const int64_t now = g_get_monotonic_time();
  std::lock_guard lock(lock_);
  out_samples_.emplace_back(now, bytes_out);
  while (out_samples_.size() > 2 && now - out_samples_[1].first >= kWindowMicros)
    out_samples_.erase(out_samples_.begin());
  const auto& [then, bytes_then] = out_samples_.front();
  if (now - then < G_USEC_PER_SEC / 2 || bytes_out < bytes_then) return 0;
  return (bytes_out - bytes_then) * 8 * G_USEC_PER_SEC / uint64_t(now - then);
}

StreamSnapshot StreamPipeline::snapshot() const {
  StreamSnapshot out;
  out.name = name_;
  out.since_unix_s = since_unix_s_;
  {
    std::lock_guard lock(lock_);
    out.video_codec = video_codec_;
    out.audio_codec = audio_codec_;
    out.width = width_;
    out.height = height_;
    out.variants = variants_;
  }
  GstStructure* s = nullptr;
  g_object_get(source_, "stats", &s, nullptr);
  if (s) {
    gboolean publishing = FALSE;
    gst_structure_get_boolean(s, "publishing", &publishing);
    out.publishing = publishing;
    gst_structure_get_uint64(s, "bitrate", &out.bitrate_in);
    gst_structure_get_uint64(s, "bytes-in", &out.bytes_in);
    gst_structure_free(s);
  }
  g_object_get(relay_, "stats", &s, nullptr);
  if (s) {
    gst_structure_get_uint(s, "rtmp-viewers", &out.rtmp_viewers);
    gst_structure_get_uint(s, "http-flv-viewers", &out.http_flv_viewers);
    gst_structure_get_uint64(s, "bytes-out", &out.bytes_out_relay);
    gst_structure_get_uint64(s, "dropped-messages", &out.dropped_frames);
    out.bitrate_out_relay = relay_bitrate(out.bytes_out_relay);
    const GValue* targets = gst_structure_get_value(s, "push-targets");
    for (guint i = 0; targets && i < gst_value_array_get_size(targets); ++i) {
      const GstStructure* t = gst_value_get_structure(gst_value_array_get_value(targets, i));
      const gchar* location = gst_structure_get_string(t, "location");
      const gchar* state = gst_structure_get_string(t, "state");
      out.push_targets.emplace_back(location ? location : "", state ? state : "");
    }
    gst_structure_free(s);
  }
  GstElement* hls = nullptr;
  {
    std::lock_guard lock(lock_);
    if (hls_ && hls_started_) hls = GST_ELEMENT(gst_object_ref(hls_));
  }
  if (hls) {
    g_object_get(hls, "stats", &s, nullptr);
    if (s) {
      guint64 dropped = 0;
      gst_structure_get_uint64(s, "dropped-frames", &dropped);
      out.dropped_frames += dropped;
      gst_structure_get_uint64(s, "segments-written", &out.segments);
      gst_structure_get_uint64(s, "bytes-written", &out.hls_bytes_written);
      gst_structure_get_int64(s, "packaging-latency-p99-us", &out.packaging_latency_p99_us);
      gst_structure_free(s);
    }
    gst_object_unref(hls);
  }
  GstElement* whep = nullptr;
  {
    std::lock_guard lock(lock_);
    if (whep_) whep = GST_ELEMENT(gst_object_ref(whep_));
  }
  if (whep) {
    out.webrtc = true;
    g_object_get(whep, "stats", &s, nullptr);
    if (s) {
      gst_structure_get_uint(s, "viewers", &out.webrtc_viewers);
      gst_structure_free(s);
    }
    gst_object_unref(whep);
  }
  if (recorder_) out.recording = recorder_->current_file();
  {
    std::lock_guard lock(lock_);
    out.hls_error = hls_error_;
  }
  return out;
}

// To the stream's source only, not the pipeline: a bin sends the event to every source inside it,
// webrtcbin's nicesrc of a WHEP session that never connected included, and that call blocked the
// main thread for good (SIGTERM with such a session open hung live-server; a second signal could
// not stop it). The EOS flows from rtmpserversrc through every branch.
void StreamPipeline::send_eos() { gst_element_send_event(source_, gst_event_new_eos()); }

void StreamPipeline::publish_started() {
  if (recorder_) recorder_->start_file();
}

void StreamPipeline::publish_stopped() {
  if (recorder_) recorder_->stop_file();
}

}  // namespace live_server
