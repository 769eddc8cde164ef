// rtmpchunkdemux: RTMP message stream (FLV tags or raw RTMP chunks) to elementary streams.
//
// Threads: the sink pad's streaming thread runs chain/sink_event and owns all parsing and pad
// state; the application thread reads `stats` (atomic counters) and sets properties (under the
// object lock). No lock is held while pushing downstream.
//
// Timestamps: FLV/RTMP timestamps are 32-bit milliseconds that wrap; they are extended to
// 64 bits by accumulating signed 32-bit differences, so a wrap is just one more small step.
// A step larger than max-timestamp-jump (without DISCONT), or a step backwards after a DISCONT
// input buffer, is treated as a new timeline that continues 1 ms after the last one. A forward
// step after DISCONT is kept (rtmpserversrc re-bases a reconnected publisher that way).
// Script data (onMetaData) timestamps are ignored: writers stamp it 0 whatever the media time.
// The output segment starts at the first audio/video tag's time; its base is the running time
// of the input buffer that carried that tag when upstream is timestamped (live), else 0.
#include "rtmpchunkdemux/rtmpchunkdemux.h"

#include <gst/base/gstflowcombiner.h>
#include <gst/pbutils/pbutils.h>

#include <atomic>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "flv/audio_config.h"
#include "flv/audio_tag.h"
#include "flv/av1_config.h"
#include "flv/vp9_config.h"
#include "flv/avc_config.h"
#include "flv/flv_tag.h"
#include "flv/fourcc.h"
#include "flv/hevc_config.h"
#include "flv/script_data.h"
#include "flv/video_tag.h"
#include "rtmp/chunk_reader.h"

GST_DEBUG_CATEGORY_STATIC(rtmp_chunk_demux_debug);
#define GST_CAT_DEFAULT rtmp_chunk_demux_debug

namespace live::gst {

namespace {

constexpr guint kDefaultMaxTimestampJumpMs = 10000;
constexpr guint kDefaultTrackDiscoveryWindowMs = 1000;
constexpr guint kMaxTrackDiscoveryWindowMs = 60000;
// Pads per kind; E-RTMP track ids are 8-bit, but nothing real uses more than a few.
constexpr size_t kMaxTracksPerKind = 16;

enum { PROP_0, PROP_MAX_TIMESTAMP_JUMP, PROP_TRACK_DISCOVERY_WINDOW, PROP_STATS };

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-flv; application/x-rtmp-chunks"));

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("video/x-h264, stream-format=(string)avc, alignment=(string)au; "
                    "video/x-h265, stream-format=(string)hvc1, alignment=(string)au; "
                    "video/x-av1, stream-format=(string)obu-stream, alignment=(string)tu; "
                    "video/x-vp9; video/x-flash-video, flvversion=(int)1; video/x-vp6-flash"));

GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=(int)4, stream-format=(string)raw; "
                    "audio/mpeg, mpegversion=(int)1, layer=(int)3; audio/x-opus; "
                    "audio/x-ac3; audio/x-eac3; audio/x-raw; audio/x-alaw; audio/x-mulaw; "
                    "audio/x-nellymoser"));

enum class InputKind { unknown, flv, chunks };

// One elementary stream: a (kind, E-RTMP track id) pair, and its source pad once it has caps.
struct Track {
  bool video = false;
  uint8_t track_id = 0;
  GstPad* pad = nullptr;  // owned by the element once added
  uint32_t fourcc = 0;    // current codec; 0 for legacy codecs without a FourCC
  uint8_t legacy_codec = 0;  // legacy CodecID / SoundFormat when fourcc is 0 (or .mp3)
  uint32_t rate = 0;         // audio, from the legacy header or the MP3 frame header
  uint32_t channels = 0;
  uint8_t sample_bits = 16;     // legacy PCM: SoundSize
  std::vector<uint8_t> config;  // body of the last sequence start
  GstCaps* caps = nullptr;      // caps last pushed on the pad
  bool caps_dirty = true;
  bool discont = true;
};

// Reads rate and channels from an MPEG audio frame header, if `data` starts with one.
bool parse_mpeg_audio_header(std::span<const uint8_t> d, uint32_t& rate, uint32_t& channels) {
  if (d.size() < 4 || d[0] != 0xFF || (d[1] & 0xE0) != 0xE0) return false;
  static constexpr uint32_t kRates[3] = {44100, 48000, 32000};
  uint8_t version = (d[1] >> 3) & 3;  // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
  uint8_t index = (d[2] >> 2) & 3;
  if (version == 1 || index == 3) return false;
  rate = kRates[index] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
  channels = (d[3] >> 6) == 3 ? 1 : 2;
  return true;
}

}  // namespace

class RtmpChunkDemuxImpl {
 public:
  explicit RtmpChunkDemuxImpl(GstRtmpChunkDemux* element) : element_(element) {
    combiner_ = gst_flow_combiner_new();
  }
  ~RtmpChunkDemuxImpl() {
    clear_tracks(false);
    gst_flow_combiner_free(combiner_);
    if (global_tags_) gst_tag_list_unref(global_tags_);
  }

  GstFlowReturn chain(GstBuffer* buffer);
  gboolean sink_event(GstEvent* event);
  void reset_for_stop() {
    clear_tracks(true);
    reset_input();
    have_first_ = false;
    no_more_pads_sent_ = false;
    metadata_.reset();
    if (global_tags_) gst_tag_list_unref(global_tags_);
    global_tags_ = nullptr;
    upstream_segment_valid_ = false;
    group_id_ = gst_util_group_id_next();
  }
  GstStructure* stats() const;

  // Settings (object lock).
  guint max_timestamp_jump_ms = kDefaultMaxTimestampJumpMs;
  guint track_discovery_window_ms = kDefaultTrackDiscoveryWindowMs;

 private:
  void reset_input() {
    flv_reader_ = flv::FlvReader();
    chunk_reader_ = rtmp::ChunkReader();
    timeline_started_ = false;
  }
  void clear_tracks(bool remove_pads);
  GstFlowReturn process_tag(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload);
  GstFlowReturn process_aggregate(uint32_t timestamp, std::span<const uint8_t> payload);
  GstFlowReturn process_video(int64_t ms, std::span<const uint8_t> payload);
  GstFlowReturn process_audio(int64_t ms, std::span<const uint8_t> payload);
  void process_script(std::span<const uint8_t> payload);
  int64_t extend_timestamp(uint32_t raw);
  Track& track(bool video, uint8_t track_id);
  Track* find_track(bool video, uint8_t track_id);
  GstCaps* build_caps(const Track& t) const;
  bool ensure_pad(Track& t);
  GstFlowReturn push(Track& t, std::span<const uint8_t> data, int64_t ms, uint32_t nanos, int32_t cts_ms,
                     bool keyframe);
  GstBuffer* buffer_from(std::span<const uint8_t> data) const;
  void check_no_more_pads(int64_t ms);
  void push_tags_to(Track& t);
  GstTagList* make_global_tags() const;

  GstRtmpChunkDemux* element_;
  GstFlowCombiner* combiner_;
  InputKind input_ = InputKind::unknown;
  flv::FlvReader flv_reader_;
  rtmp::ChunkReader chunk_reader_;
  // The input buffer whose tags are being read in place (tag-per-buffer input): payloads
  // inside it leave as buffers sharing its memory instead of copies.
  struct InPlaceInput {
    GstBuffer* buffer = nullptr;
    const uint8_t* data = nullptr;
    size_t size = 0;
  } in_place_;
  std::vector<flv::TagView> in_place_tags_;
  std::vector<Track> tracks_;
  guint video_pads_ = 0, audio_pads_ = 0;
  guint group_id_ = gst_util_group_id_next();

  // Timeline.
  bool timeline_started_ = false;  // false after start and after every DISCONT
  bool after_discont_ = false;
  uint32_t last_raw_ = 0;
  int64_t last_ext_ms_ = 0;
  bool have_first_ = false;
  int64_t first_ms_ = 0;
  GstClockTime input_running_time_ = GST_CLOCK_TIME_NONE;  // of the buffer being parsed
  GstSegment upstream_segment_;
  bool upstream_segment_valid_ = false;
  GstClockTime segment_base_ = 0;

  bool no_more_pads_sent_ = false;
  std::optional<flv::StreamMetadata> metadata_;
  bool metadata_before_media_ = false;
  bool seen_media_ = false;
  GstTagList* global_tags_ = nullptr;

  // Statistics (read from any thread).
  std::atomic<uint64_t> bytes_in_{0}, tags_{0}, video_buffers_{0}, audio_buffers_{0}, bytes_out_{0},
      dropped_{0}, malformed_{0}, discontinuities_{0}, timestamp_jumps_{0}, caps_changes_{0},
      metadata_count_{0};
  std::atomic<guint> video_pad_count_{0}, audio_pad_count_{0};
};

GstStructure* RtmpChunkDemuxImpl::stats() const {
  return gst_structure_new(
      "rtmp-chunk-demux-stats", "bytes-in", G_TYPE_UINT64, guint64(bytes_in_), "tags", G_TYPE_UINT64,
      guint64(tags_), "video-buffers", G_TYPE_UINT64, guint64(video_buffers_), "audio-buffers", G_TYPE_UINT64,
      guint64(audio_buffers_), "bytes-out", G_TYPE_UINT64, guint64(bytes_out_), "dropped-tags", G_TYPE_UINT64,
      guint64(dropped_), "malformed-tags", G_TYPE_UINT64, guint64(malformed_), "discontinuities",
      G_TYPE_UINT64, guint64(discontinuities_), "timestamp-jumps", G_TYPE_UINT64, guint64(timestamp_jumps_),
      "caps-changes", G_TYPE_UINT64, guint64(caps_changes_), "metadata-tags", G_TYPE_UINT64,
      guint64(metadata_count_), "video-pads", G_TYPE_UINT, guint(video_pad_count_), "audio-pads", G_TYPE_UINT,
      guint(audio_pad_count_), nullptr);
}

void RtmpChunkDemuxImpl::clear_tracks(bool remove_pads) {
  for (auto& t : tracks_) {
    if (t.pad) {
      gst_flow_combiner_remove_pad(combiner_, t.pad);
      if (remove_pads) gst_element_remove_pad(GST_ELEMENT(element_), t.pad);
    }
    if (t.caps) gst_caps_unref(t.caps);
  }
  tracks_.clear();
  video_pads_ = audio_pads_ = 0;
  video_pad_count_ = audio_pad_count_ = 0;
}

int64_t RtmpChunkDemuxImpl::extend_timestamp(uint32_t raw) {
  if (!timeline_started_) {
    timeline_started_ = true;
    if (!have_first_) {
      last_raw_ = raw;
      last_ext_ms_ = raw;
      return last_ext_ms_;
    }
    // First tag after a DISCONT: keep a forward step, restart a backward one.
    int32_t diff = int32_t(raw - last_raw_);
    last_raw_ = raw;
    if (diff < 0) {
      timestamp_jumps_++;
      last_ext_ms_ += 1;
    } else {
      last_ext_ms_ += diff;
    }
    return last_ext_ms_;
  }
  int32_t diff = int32_t(raw - last_raw_);
  last_raw_ = raw;
  guint max_jump;
  GST_OBJECT_LOCK(element_);
  max_jump = max_timestamp_jump_ms;
  GST_OBJECT_UNLOCK(element_);
  if (max_jump > 0 && (diff > int64_t(max_jump) || diff < -int64_t(max_jump))) {
    GST_WARNING_OBJECT(element_, "timestamp jump of %d ms: continuing the timeline", diff);
    timestamp_jumps_++;
    for (auto& t : tracks_) t.discont = true;
    last_ext_ms_ += 1;
  } else {
    last_ext_ms_ += diff;
  }
  return last_ext_ms_;
}

Track* RtmpChunkDemuxImpl::find_track(bool video, uint8_t track_id) {
  for (auto& t : tracks_)
    if (t.video == video && t.track_id == track_id) return &t;
  return nullptr;
}

Track& RtmpChunkDemuxImpl::track(bool video, uint8_t track_id) {
  if (Track* t = find_track(video, track_id)) return *t;
  Track t;
  t.video = video;
  t.track_id = track_id;
  tracks_.push_back(std::move(t));
  return tracks_.back();
}

GstCaps* RtmpChunkDemuxImpl::build_caps(const Track& t) const {
  GstCaps* caps = nullptr;
  auto codec_data = [&](GstCaps* c) {
    GstBuffer* b = buffer_from(t.config);
    gst_caps_set_simple(c, "codec_data", GST_TYPE_BUFFER, b, nullptr);
    gst_buffer_unref(b);
  };
  if (t.video) {
    switch (t.fourcc) {
      case flv::fourcc::avc1: {
        auto cfg = flv::parse_avc_config(t.config);
        if (!cfg) return nullptr;
        caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "avc", "alignment",
                                   G_TYPE_STRING, "au", nullptr);
        codec_data(caps);
        if (cfg->width && cfg->height)
          gst_caps_set_simple(caps, "width", G_TYPE_INT, gint(cfg->width), "height", G_TYPE_INT,
                              gint(cfg->height), nullptr);
        // From the SPS, as h264parse would say (onMetaData's framerate, below, wins over it):
        // sinks linked without a parser (live-server's passthrough) take frame durations and
        // the playlist's FRAME-RATE from it.
        if (cfg->fps_num && cfg->fps_den)
          gst_caps_set_simple(caps, "framerate", GST_TYPE_FRACTION, gint(cfg->fps_num), gint(cfg->fps_den), nullptr);
        gst_codec_utils_h264_caps_set_level_and_profile(caps, t.config.data() + 1, guint(t.config.size() - 1));
        break;
      }
      case flv::fourcc::hvc1: {
        auto cfg = flv::parse_hevc_config(t.config);
        if (!cfg) return nullptr;
        caps = gst_caps_new_simple("video/x-h265", "stream-format", G_TYPE_STRING, "hvc1", "alignment",
                                   G_TYPE_STRING, "au", nullptr);
        codec_data(caps);
        if (cfg->width && cfg->height)
          gst_caps_set_simple(caps, "width", G_TYPE_INT, gint(cfg->width), "height", G_TYPE_INT,
                              gint(cfg->height), nullptr);
        gst_codec_utils_h265_caps_set_level_tier_and_profile(caps, t.config.data() + 1,
                                                              guint(t.config.size() - 1));
        break;
      }
      case flv::fourcc::av01: {
        caps = gst_caps_new_simple("video/x-av1", "stream-format", G_TYPE_STRING, "obu-stream", "alignment",
                                   G_TYPE_STRING, "tu", nullptr);
        if (!t.config.empty()) {
          auto cfg = flv::parse_av1_config(t.config);
          if (!cfg) {
            gst_caps_unref(caps);
            return nullptr;
          }
          codec_data(caps);
          static const char* kProfiles[] = {"main", "high", "professional"};
          if (cfg->seq_profile < 3)
            gst_caps_set_simple(caps, "profile", G_TYPE_STRING, kProfiles[cfg->seq_profile], nullptr);
        }
        break;
      }
      case flv::fourcc::vp09: {
        caps = gst_caps_new_empty_simple("video/x-vp9");
        if (!t.config.empty()) {
          if (auto cfg = flv::parse_vp9_config(t.config)) {
            std::string profile = std::to_string(cfg->profile);
            const char* chroma = cfg->chroma_subsampling <= 1 ? "4:2:0" : cfg->chroma_subsampling == 2 ? "4:2:2" : "4:4:4";
            gst_caps_set_simple(caps, "profile", G_TYPE_STRING, profile.c_str(), "bit-depth-luma", G_TYPE_UINT,
                                guint(cfg->bit_depth), "bit-depth-chroma", G_TYPE_UINT, guint(cfg->bit_depth),
                                "chroma-format", G_TYPE_STRING, chroma, nullptr);
          }
        }
        break;
      }
      case 0:
        if (t.legacy_codec == uint8_t(flv::LegacyVideoCodec::sorenson_h263))
          caps = gst_caps_new_simple("video/x-flash-video", "flvversion", G_TYPE_INT, 1, nullptr);
        else if (t.legacy_codec == uint8_t(flv::LegacyVideoCodec::vp6))
          caps = gst_caps_new_empty_simple("video/x-vp6-flash");
        break;
      default:
        break;
    }
    if (caps && metadata_ && t.track_id == 0) {
      GstStructure* s = gst_caps_get_structure(caps, 0);
      if (!gst_structure_has_field(s, "width") && metadata_->width && metadata_->height && *metadata_->width > 0 &&
          *metadata_->height > 0 && *metadata_->width < 65536 && *metadata_->height < 65536)
        gst_caps_set_simple(caps, "width", G_TYPE_INT, gint(*metadata_->width), "height", G_TYPE_INT,
                            gint(*metadata_->height), nullptr);
      if (metadata_->framerate && *metadata_->framerate > 0 && *metadata_->framerate < 1000) {
        gint n = 0, d = 1;
        gst_util_double_to_fraction(*metadata_->framerate, &n, &d);
        gst_caps_set_simple(caps, "framerate", GST_TYPE_FRACTION, n, d, nullptr);
      }
    }
    return caps;
  }

  switch (t.fourcc) {
    case flv::fourcc::mp4a: {
      auto cfg = flv::parse_audio_specific_config(t.config);
      if (!cfg) return nullptr;
      caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format", G_TYPE_STRING, "raw",
                                 "framed", G_TYPE_BOOLEAN, TRUE, "rate", G_TYPE_INT, gint(cfg->output_sample_rate()),
                                 nullptr);
      if (cfg->channels()) gst_caps_set_simple(caps, "channels", G_TYPE_INT, gint(cfg->channels()), nullptr);
      codec_data(caps);
      gst_codec_utils_aac_caps_set_level_and_profile(caps, t.config.data(), guint(t.config.size()));
      break;
    }
    case flv::fourcc::mp3:
      caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 1, "layer", G_TYPE_INT, 3, "parsed",
                                 G_TYPE_BOOLEAN, FALSE, nullptr);
      if (t.rate && t.channels)
        gst_caps_set_simple(caps, "rate", G_TYPE_INT, gint(t.rate), "channels", G_TYPE_INT, gint(t.channels), nullptr);
      break;
    case flv::fourcc::opus: {
      if (!flv::parse_opus_head(t.config)) return nullptr;
      GstBuffer* head = buffer_from(t.config);
      caps = gst_codec_utils_opus_create_caps_from_header(head, nullptr);
      gst_buffer_unref(head);
      break;
    }
    case flv::fourcc::ac3:
      caps = gst_caps_new_simple("audio/x-ac3", "framed", G_TYPE_BOOLEAN, TRUE, "alignment", G_TYPE_STRING, "frame",
                                 nullptr);
      break;
    case flv::fourcc::eac3:
      caps = gst_caps_new_simple("audio/x-eac3", "framed", G_TYPE_BOOLEAN, TRUE, "alignment", G_TYPE_STRING, "frame",
                                 nullptr);
      break;
    case 0: {
      auto format = static_cast<flv::SoundFormat>(t.legacy_codec);
      switch (format) {
        case flv::SoundFormat::pcm_le:
        case flv::SoundFormat::pcm_platform:  // in practice little-endian everywhere FLV was written
          caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, t.sample_bits == 8 ? "U8" : "S16LE",
                                     "layout", G_TYPE_STRING, "interleaved", nullptr);
          break;
        case flv::SoundFormat::g711_alaw:
          caps = gst_caps_new_empty_simple("audio/x-alaw");
          break;
        case flv::SoundFormat::g711_mulaw:
          caps = gst_caps_new_empty_simple("audio/x-mulaw");
          break;
        case flv::SoundFormat::nellymoser:
        case flv::SoundFormat::nellymoser_8k:
        case flv::SoundFormat::nellymoser_16k:
          caps = gst_caps_new_empty_simple("audio/x-nellymoser");
          break;
        default:
          return nullptr;
      }
      gst_caps_set_simple(caps, "rate", G_TYPE_INT, gint(t.rate), "channels", G_TYPE_INT, gint(t.channels), nullptr);
      break;
    }
    default:
      break;
  }
  return caps;
}

GstTagList* RtmpChunkDemuxImpl::make_global_tags() const {
  GstTagList* tags = gst_tag_list_new_empty();
  gst_tag_list_set_scope(tags, GST_TAG_SCOPE_GLOBAL);
  gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_TAG_CONTAINER_FORMAT, "RTMP/FLV", nullptr);
  if (metadata_ && metadata_->encoder)
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_TAG_ENCODER, metadata_->encoder->c_str(), nullptr);
  return tags;
}

void RtmpChunkDemuxImpl::push_tags_to(Track& t) {
  gst_pad_push_event(t.pad, gst_event_new_tag(make_global_tags()));
  GstTagList* stream_tags = gst_tag_list_new_empty();
  if (t.caps)
    gst_pb_utils_add_codec_description_to_tag_list(stream_tags, t.video ? GST_TAG_VIDEO_CODEC : GST_TAG_AUDIO_CODEC,
                                                   t.caps);
  if (metadata_ && t.track_id == 0) {
    const auto& rate = t.video ? metadata_->videodatarate : metadata_->audiodatarate;
    if (rate && *rate > 0 && *rate < 4e6)  // kbit/s
      gst_tag_list_add(stream_tags, GST_TAG_MERGE_REPLACE, GST_TAG_NOMINAL_BITRATE, guint(*rate * 1000), nullptr);
  }
  gst_pad_push_event(t.pad, gst_event_new_tag(stream_tags));
}

bool RtmpChunkDemuxImpl::ensure_pad(Track& t) {
  if (!t.caps_dirty) return t.pad != nullptr;
  GstCaps* caps = build_caps(t);
  if (!caps) return false;  // not enough configuration yet (or an unusable one)
  t.caps_dirty = false;
  if (t.pad) {
    if (!gst_caps_is_equal(caps, t.caps)) {
      GST_INFO_OBJECT(t.pad, "new caps %" GST_PTR_FORMAT, caps);
      caps_changes_++;
      gst_caps_replace(&t.caps, caps);
      gst_pad_push_event(t.pad, gst_event_new_caps(caps));
    }
    gst_caps_unref(caps);
    return true;
  }
  guint& counter = t.video ? video_pads_ : audio_pads_;
  if (counter >= kMaxTracksPerKind) {
    gst_caps_unref(caps);
    return false;
  }
  std::string name = (t.video ? "video_" : "audio_") + std::to_string(counter++);
  GstElementClass* klass = GST_ELEMENT_GET_CLASS(element_);
  GstPad* pad = gst_pad_new_from_template(
      gst_element_class_get_pad_template(klass, t.video ? "video_%u" : "audio_%u"), name.c_str());
  gst_pad_use_fixed_caps(pad);
  gst_pad_set_active(pad, TRUE);
  t.pad = pad;
  t.caps = caps;
  gchar* stream_id = gst_pad_create_stream_id_printf(pad, GST_ELEMENT(element_), "%s%u", t.video ? "video" : "audio",
                                                     guint(t.track_id));
  GstEvent* start = gst_event_new_stream_start(stream_id);
  g_free(stream_id);
  gst_event_set_group_id(start, group_id_);
  gst_event_set_stream_flags(start, GST_STREAM_FLAG_NONE);
  gst_pad_push_event(pad, start);
  gst_pad_push_event(pad, gst_event_new_caps(caps));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = segment.time = GstClockTime(first_ms_) * GST_MSECOND;
  segment.base = segment_base_;
  gst_pad_push_event(pad, gst_event_new_segment(&segment));
  GST_INFO_OBJECT(element_, "adding pad %s with caps %" GST_PTR_FORMAT, name.c_str(), caps);
  gst_element_add_pad(GST_ELEMENT(element_), pad);
  gst_flow_combiner_add_pad(combiner_, pad);
  push_tags_to(t);
  (t.video ? video_pad_count_ : audio_pad_count_)++;
  return true;
}

GstBuffer* RtmpChunkDemuxImpl::buffer_from(std::span<const uint8_t> data) const {
  const uint8_t* base = in_place_.data;
  if (in_place_.buffer && !data.empty() && data.data() >= base && data.data() + data.size() <= base + in_place_.size)
    return gst_buffer_copy_region(in_place_.buffer, GST_BUFFER_COPY_MEMORY, gsize(data.data() - base), data.size());
  return gst_buffer_new_memdup(data.data(), data.size());
}

GstFlowReturn RtmpChunkDemuxImpl::push(Track& t, std::span<const uint8_t> data, int64_t ms, uint32_t nanos,
                                       int32_t cts_ms, bool keyframe) {
  if (!ensure_pad(t)) {
    dropped_++;
    GST_LOG_OBJECT(element_, "no caps yet for %s track %u: dropping", t.video ? "video" : "audio", t.track_id);
    return GST_FLOW_OK;
  }
  GstBuffer* buffer = buffer_from(data);
  GstClockTime dts = GstClockTime(ms) * GST_MSECOND + nanos;
  int64_t pts = int64_t(dts) + int64_t(cts_ms) * GST_MSECOND;
  GST_BUFFER_DTS(buffer) = dts;
  GST_BUFFER_PTS(buffer) = GstClockTime(pts < 0 ? 0 : pts);
  if (!keyframe) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  if (t.discont) {
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
    t.discont = false;
  }
  (t.video ? video_buffers_ : audio_buffers_)++;
  bytes_out_ += data.size();
  GstFlowReturn ret = gst_pad_push(t.pad, buffer);
  return gst_flow_combiner_update_pad_flow(combiner_, t.pad, ret);
}

GstFlowReturn RtmpChunkDemuxImpl::process_video(int64_t ms, std::span<const uint8_t> payload) {
  auto tag = flv::parse_video_tag(payload);
  if (!tag) {
    malformed_++;
    GST_WARNING_OBJECT(element_, "bad video tag: %s", tag.error().describe().c_str());
    return GST_FLOW_OK;
  }
  if (tag->command) return GST_FLOW_OK;
  seen_media_ = true;
  GstFlowReturn ret = GST_FLOW_OK;
  for (const auto& p : tag->tracks) {
    if (p.track_id != 0 && !find_track(true, p.track_id) && tracks_.size() >= 2 * kMaxTracksPerKind) {
      dropped_++;
      continue;
    }
    Track& t = track(true, p.track_id);
    uint32_t fourcc = p.fourcc;
    std::span<const uint8_t> data = p.data;
    if (fourcc == 0) {
      auto codec = static_cast<flv::LegacyVideoCodec>(tag->legacy_codec_id);
      if (codec == flv::LegacyVideoCodec::vp6) {
        if (data.empty()) continue;
        data = data.subspan(1);  // horizontal/vertical size adjustment byte
      } else if (codec != flv::LegacyVideoCodec::sorenson_h263) {
        dropped_++;
        continue;
      }
      if (t.fourcc != 0 || t.legacy_codec != tag->legacy_codec_id) t.caps_dirty = true;
      t.legacy_codec = tag->legacy_codec_id;
    }
    if (t.fourcc != fourcc) {
      GST_INFO_OBJECT(element_, "video track %u codec now %s", p.track_id, flv::fourcc_to_string(fourcc).c_str());
      t.fourcc = fourcc;
      t.config.clear();
      t.caps_dirty = true;
    }
    switch (p.packet_type) {
      case flv::VideoPacketType::sequence_start:
        if (!std::equal(p.data.begin(), p.data.end(), t.config.begin(), t.config.end())) {
          t.config.assign(p.data.begin(), p.data.end());
          t.caps_dirty = true;
        }
        // Push new caps now so they precede the next frame even if it comes in a later tag.
        if (!ensure_pad(t) && t.caps_dirty) {
          malformed_++;
          GST_WARNING_OBJECT(element_, "unusable %s sequence start (%zu bytes)", flv::fourcc_to_string(fourcc).c_str(),
                             p.data.size());
        }
        break;
      case flv::VideoPacketType::coded_frames: {
        GstFlowReturn r = push(t, data, ms, tag->timestamp_offset_nanos, p.composition_time, tag->keyframe());
        if (r != GST_FLOW_OK) ret = r;
        break;
      }
      default:  // sequence end, HDR metadata, MPEG-2 TS descriptors: nothing to output
        break;
    }
  }
  return ret;
}

GstFlowReturn RtmpChunkDemuxImpl::process_audio(int64_t ms, std::span<const uint8_t> payload) {
  auto tag = flv::parse_audio_tag(payload);
  if (!tag) {
    malformed_++;
    GST_WARNING_OBJECT(element_, "bad audio tag: %s", tag.error().describe().c_str());
    return GST_FLOW_OK;
  }
  seen_media_ = true;
  GstFlowReturn ret = GST_FLOW_OK;
  for (const auto& p : tag->tracks) {
    if (p.track_id != 0 && !find_track(false, p.track_id) && tracks_.size() >= 2 * kMaxTracksPerKind) {
      dropped_++;
      continue;
    }
    Track& t = track(false, p.track_id);
    if (t.fourcc != p.fourcc) {
      GST_INFO_OBJECT(element_, "audio track %u codec now %s", p.track_id, flv::fourcc_to_string(p.fourcc).c_str());
      t.fourcc = p.fourcc;
      t.config.clear();
      t.caps_dirty = true;
    }
    uint32_t rate = t.rate, channels = t.channels;
    if (!tag->enhanced) {
      uint8_t bits = tag->sound_size ? 16 : 8;
      if (p.fourcc == 0 && (t.legacy_codec != uint8_t(tag->format) || t.sample_bits != bits)) t.caps_dirty = true;
      t.legacy_codec = uint8_t(tag->format);
      t.sample_bits = bits;
      rate = tag->legacy_rate_hz();
      channels = tag->legacy_channels();
    }
    if (p.fourcc == flv::fourcc::mp3) parse_mpeg_audio_header(p.data, rate, channels);
    if (p.fourcc != flv::fourcc::mp4a && (rate != t.rate || channels != t.channels)) {
      t.rate = rate;
      t.channels = channels;
      t.caps_dirty = true;
    }
    switch (p.packet_type) {
      case flv::AudioPacketType::sequence_start:
        if (!std::equal(p.data.begin(), p.data.end(), t.config.begin(), t.config.end())) {
          t.config.assign(p.data.begin(), p.data.end());
          t.caps_dirty = true;
        }
        if (!ensure_pad(t) && t.caps_dirty) {
          malformed_++;
          GST_WARNING_OBJECT(element_, "unusable %s sequence start (%zu bytes)",
                             flv::fourcc_to_string(p.fourcc).c_str(), p.data.size());
        }
        break;
      case flv::AudioPacketType::coded_frames: {
        if (p.fourcc == 0 && !tag->enhanced && tag->format == flv::SoundFormat::speex) {
          dropped_++;
          break;
        }
        GstFlowReturn r = push(t, p.data, ms, tag->timestamp_offset_nanos, 0, true);
        if (r != GST_FLOW_OK) ret = r;
        break;
      }
      default:  // sequence end, multichannel config (the codec config carries the layout)
        break;
    }
  }
  return ret;
}

void RtmpChunkDemuxImpl::process_script(std::span<const uint8_t> payload) {
  auto script = flv::parse_script_tag(payload);
  if (!script) {
    malformed_++;
    GST_WARNING_OBJECT(element_, "bad script tag: %s", script.error().describe().c_str());
    return;
  }
  if (script->name != "onMetaData" || !script->value.is_object_like()) return;
  metadata_count_++;
  metadata_ = flv::read_stream_metadata(script->value);
  if (!seen_media_) metadata_before_media_ = true;
  GST_INFO_OBJECT(element_, "onMetaData: video %d audio %d", metadata_->videocodecid || metadata_->video_fourcc,
                  metadata_->audiocodecid || metadata_->audio_fourcc);
  for (auto& t : tracks_) {
    if (!t.pad) continue;
    if (t.video && t.track_id == 0) t.caps_dirty = true;
    ensure_pad(t);
    push_tags_to(t);
  }
}

void RtmpChunkDemuxImpl::check_no_more_pads(int64_t ms) {
  if (no_more_pads_sent_ || (video_pads_ == 0 && audio_pads_ == 0)) return;
  bool done = false;
  if (metadata_ && metadata_before_media_ && !metadata_->has_video_track_map && !metadata_->has_audio_track_map) {
    bool want_video = metadata_->videocodecid || metadata_->video_fourcc;
    bool want_audio = metadata_->audiocodecid || metadata_->audio_fourcc;
    if (want_video || want_audio) done = (!want_video || video_pads_ > 0) && (!want_audio || audio_pads_ > 0);
  }
  guint window;
  GST_OBJECT_LOCK(element_);
  window = track_discovery_window_ms;
  GST_OBJECT_UNLOCK(element_);
  if (!done && ms - first_ms_ >= int64_t(window)) done = true;
  if (done) {
    GST_INFO_OBJECT(element_, "no more pads: %u video, %u audio", video_pads_, audio_pads_);
    no_more_pads_sent_ = true;
    gst_element_no_more_pads(GST_ELEMENT(element_));
  }
}

GstFlowReturn RtmpChunkDemuxImpl::process_tag(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload) {
  tags_++;
  if (type == uint8_t(flv::TagType::script_data)) {
    // Script data stays off the timeline: files and rtmpserversrc stamp onMetaData 0 whatever
    // the media times are, and a mid-stream @setDataFrame must not look like a jump.
    process_script(payload);
    return GST_FLOW_OK;
  }
  if (type != uint8_t(flv::TagType::audio) && type != uint8_t(flv::TagType::video)) return GST_FLOW_OK;
  int64_t ms = extend_timestamp(timestamp);
  if (!have_first_) {
    have_first_ = true;
    first_ms_ = ms;
    segment_base_ = GST_CLOCK_TIME_IS_VALID(input_running_time_) ? input_running_time_ : 0;
    GST_DEBUG_OBJECT(element_, "first timestamp %" G_GINT64_FORMAT " ms, segment base %" GST_TIME_FORMAT, ms,
                     GST_TIME_ARGS(segment_base_));
  }
  GstFlowReturn ret =
      type == uint8_t(flv::TagType::video) ? process_video(ms, payload) : process_audio(ms, payload);
  check_no_more_pads(ms);
  return ret;
}

// An RTMP aggregate message holds FLV tags (with back pointers) whose timestamps are relative
// to the first one; the message timestamp replaces that first timestamp.
GstFlowReturn RtmpChunkDemuxImpl::process_aggregate(uint32_t timestamp, std::span<const uint8_t> payload) {
  flv::FlvReader reader;
  if (auto r = reader.feed(payload); !r) {
    malformed_++;
    return GST_FLOW_OK;
  }
  std::optional<uint32_t> first;
  GstFlowReturn ret = GST_FLOW_OK;
  while (auto tag = reader.next_tag()) {
    if (!first) first = tag->timestamp;
    ret = process_tag(tag->type, timestamp + (tag->timestamp - *first), tag->payload);
    if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED) break;
  }
  return ret;
}

GstFlowReturn RtmpChunkDemuxImpl::chain(GstBuffer* buffer) {
  bytes_in_ += gst_buffer_get_size(buffer);
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DISCONT) && have_first_) {
    GST_INFO_OBJECT(element_, "DISCONT input: restarting the parser and the timeline");
    discontinuities_++;
    reset_input();
    for (auto& t : tracks_) t.discont = true;
  }
  input_running_time_ = GST_CLOCK_TIME_NONE;
  if (upstream_segment_valid_ && GST_BUFFER_PTS_IS_VALID(buffer))
    input_running_time_ = gst_segment_to_running_time(&upstream_segment_, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));

  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    gst_buffer_unref(buffer);
    return GST_FLOW_ERROR;
  }
  std::span<const uint8_t> bytes(map.data, map.size);
  GstFlowReturn ret = GST_FLOW_OK;
  auto combine = [&](GstFlowReturn r) {
    if (r != GST_FLOW_OK) ret = r;
    return r == GST_FLOW_OK || r == GST_FLOW_NOT_LINKED;
  };
  if (input_ == InputKind::chunks) {
    std::vector<rtmp::Message> messages;
    auto fed = chunk_reader_.feed(bytes, messages);
    gst_buffer_unmap(buffer, &map);
    gst_buffer_unref(buffer);
    for (auto& m : messages) {
      bool go = true;
      if (m.type == 8 || m.type == 9 || m.type == 18)
        go = combine(process_tag(m.type, m.timestamp, m.payload));
      else if (m.type == uint8_t(rtmp::MessageType::aggregate))
        go = combine(process_aggregate(m.timestamp, m.payload));
      if (!go) return ret;
    }
    if (!fed) {
      GST_ELEMENT_ERROR(element_, STREAM, DEMUX, ("Invalid RTMP chunk stream"), ("%s", fed.error().describe().c_str()));
      return GST_FLOW_ERROR;
    }
    return ret == GST_FLOW_NOT_LINKED && (video_pads_ + audio_pads_) == 0 ? GST_FLOW_OK : ret;
  }

  // One tag per buffer (rtmpserversrc's output): read in place, payloads leave without a copy.
  // Only one, so an output buffer never keeps other tags' bytes alive.
  auto run_tag = [&](uint8_t type, bool filtered, uint32_t timestamp, std::span<const uint8_t> payload) {
    if (filtered) {  // encrypted content: nothing we can decode
      dropped_++;
      return true;
    }
    return combine(process_tag(type, timestamp, payload));
  };
  if (flv_reader_.read_whole_tags(bytes, in_place_tags_, 1)) {
    in_place_ = {buffer, map.data, map.size};
    for (const flv::TagView& tag : in_place_tags_)
      if (!run_tag(tag.type, tag.filtered, tag.timestamp, tag.payload)) break;
    in_place_ = {};
    gst_buffer_unmap(buffer, &map);
    gst_buffer_unref(buffer);
    return ret;
  }
  auto fed = flv_reader_.feed(bytes);
  gst_buffer_unmap(buffer, &map);
  gst_buffer_unref(buffer);
  while (auto tag = flv_reader_.next_tag())
    if (!run_tag(tag->type, tag->filtered, tag->timestamp, tag->payload)) return ret;
  if (!fed) {
    GST_ELEMENT_ERROR(element_, STREAM, DEMUX, ("Invalid FLV stream"), ("%s", fed.error().describe().c_str()));
    return GST_FLOW_ERROR;
  }
  return ret;
}

gboolean RtmpChunkDemuxImpl::sink_event(GstEvent* event) {
  GstPad* sinkpad = element_->sinkpad;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps;
      gst_event_parse_caps(event, &caps);
      GstStructure* s = gst_caps_get_structure(caps, 0);
      input_ = gst_structure_has_name(s, "application/x-rtmp-chunks") ? InputKind::chunks : InputKind::flv;
      if (input_ == InputKind::chunks) {
        gint chunk_size = 0;
        reset_input();
        if (gst_structure_get_int(s, "chunk-size", &chunk_size) && chunk_size >= 1)
          chunk_reader_.set_chunk_size(guint(chunk_size));
      }
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_STREAM_START: {
      guint group;
      if (gst_event_parse_group_id(event, &group)) group_id_ = group;
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* segment;
      gst_event_parse_segment(event, &segment);
      upstream_segment_valid_ = segment->format == GST_FORMAT_TIME;
      if (upstream_segment_valid_) gst_segment_copy_into(segment, &upstream_segment_);
      gst_event_unref(event);
      return TRUE;
    }
    case GST_EVENT_EOS:
      if (video_pads_ + audio_pads_ == 0) {
        GST_ELEMENT_ERROR(element_, STREAM, DEMUX, ("No audio or video stream found"),
                          ("%" G_GUINT64_FORMAT " tags, %" G_GUINT64_FORMAT " bytes", guint64(tags_),
                           guint64(bytes_in_)));
        gst_event_unref(event);
        return FALSE;
      }
      if (!no_more_pads_sent_) {
        no_more_pads_sent_ = true;
        gst_element_no_more_pads(GST_ELEMENT(element_));
      }
      return gst_pad_event_default(sinkpad, GST_OBJECT(element_), event);
    case GST_EVENT_FLUSH_STOP:
      reset_input();
      gst_flow_combiner_reset(combiner_);
      for (auto& t : tracks_) t.discont = true;
      return gst_pad_event_default(sinkpad, GST_OBJECT(element_), event);
    default:
      return gst_pad_event_default(sinkpad, GST_OBJECT(element_), event);
  }
}

}  // namespace live::gst

using live::gst::RtmpChunkDemuxImpl;

G_DEFINE_TYPE(GstRtmpChunkDemux, gst_rtmp_chunk_demux, GST_TYPE_ELEMENT)

static GstFlowReturn chain_cb(GstPad*, GstObject* parent, GstBuffer* buffer) {
  return GST_RTMP_CHUNK_DEMUX(parent)->impl->chain(buffer);
}

static gboolean sink_event_cb(GstPad*, GstObject* parent, GstEvent* event) {
  return GST_RTMP_CHUNK_DEMUX(parent)->impl->sink_event(event);
}

static void gst_rtmp_chunk_demux_init(GstRtmpChunkDemux* self) {
  new (&self->impl) std::unique_ptr<RtmpChunkDemuxImpl>(std::make_unique<RtmpChunkDemuxImpl>(self));
  self->sinkpad = gst_pad_new_from_static_template(&live::gst::sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, chain_cb);
  gst_pad_set_event_function(self->sinkpad, sink_event_cb);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
}

static void gst_rtmp_chunk_demux_finalize(GObject* object) {
  GstRtmpChunkDemux* self = GST_RTMP_CHUNK_DEMUX(object);
  self->impl.~unique_ptr();
  G_OBJECT_CLASS(gst_rtmp_chunk_demux_parent_class)->finalize(object);
}

static GstStateChangeReturn gst_rtmp_chunk_demux_change_state(GstElement* element, GstStateChange transition) {
  GstRtmpChunkDemux* self = GST_RTMP_CHUNK_DEMUX(element);
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_rtmp_chunk_demux_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) self->impl->reset_for_stop();
  return ret;
}

static void gst_rtmp_chunk_demux_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  GstRtmpChunkDemux* self = GST_RTMP_CHUNK_DEMUX(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case live::gst::PROP_MAX_TIMESTAMP_JUMP:
      self->impl->max_timestamp_jump_ms = g_value_get_uint(value);
      break;
    case live::gst::PROP_TRACK_DISCOVERY_WINDOW:
      self->impl->track_discovery_window_ms = g_value_get_uint(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_rtmp_chunk_demux_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  GstRtmpChunkDemux* self = GST_RTMP_CHUNK_DEMUX(object);
  switch (id) {
    case live::gst::PROP_MAX_TIMESTAMP_JUMP:
      GST_OBJECT_LOCK(self);
      g_value_set_uint(value, self->impl->max_timestamp_jump_ms);
      GST_OBJECT_UNLOCK(self);
      break;
    case live::gst::PROP_TRACK_DISCOVERY_WINDOW:
      GST_OBJECT_LOCK(self);
      g_value_set_uint(value, self->impl->track_discovery_window_ms);
      GST_OBJECT_UNLOCK(self);
      break;
    case live::gst::PROP_STATS:
      g_value_take_boxed(value, self->impl->stats());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_rtmp_chunk_demux_class_init(GstRtmpChunkDemuxClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->finalize = gst_rtmp_chunk_demux_finalize;
  gobject_class->set_property = gst_rtmp_chunk_demux_set_property;
  gobject_class->get_property = gst_rtmp_chunk_demux_get_property;
  element_class->change_state = gst_rtmp_chunk_demux_change_state;

  g_object_class_install_property(
      gobject_class, live::gst::PROP_MAX_TIMESTAMP_JUMP,
      g_param_spec_uint("max-timestamp-jump", "Maximum timestamp jump",
                        "Largest step between tag timestamps (ms) taken as real; a larger one starts a new "
                        "timeline 1 ms after the last tag (0 = accept any step)",
                        0, G_MAXINT32, live::gst::kDefaultMaxTimestampJumpMs,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, live::gst::PROP_TRACK_DISCOVERY_WINDOW,
      g_param_spec_uint("track-discovery-window", "Track discovery window",
                        "Stream time (ms) after the first tag at which the pads found so far are declared "
                        "complete (no-more-pads), unless onMetaData already said which streams exist",
                        0, live::gst::kMaxTrackDiscoveryWindowMs, live::gst::kDefaultTrackDiscoveryWindowMs,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, live::gst::PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "rtmp-chunk-demux-stats: bytes-in, tags, video-buffers, audio-buffers, bytes-out, "
                         "dropped-tags, malformed-tags, discontinuities, timestamp-jumps, caps-changes, "
                         "metadata-tags, video-pads, audio-pads",
                         GST_TYPE_STRUCTURE, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &live::gst::sink_template);
  gst_element_class_add_static_pad_template(element_class, &live::gst::video_template);
  gst_element_class_add_static_pad_template(element_class, &live::gst::audio_template);
  gst_element_class_set_static_metadata(
      element_class, "RTMP message demuxer", "Codec/Demuxer",
      "Demuxes an RTMP message stream (FLV tags or raw RTMP chunks) into elementary streams, including "
      "Enhanced RTMP (HEVC, AV1, VP9, Opus, multitrack)",
      "gst-live-server");
  GST_DEBUG_CATEGORY_INIT(rtmp_chunk_demux_debug, "rtmpchunkdemux", 0, "RTMP message demuxer");
}

// SECONDARY: stock flvdemux (PRIMARY) keeps plain .flv files, where it also offers pull-mode
// seeking and indexes; we are picked where it is missing and for application/x-rtmp-chunks,
// and pipelines that need Enhanced RTMP name us explicitly (rtmpserversrc ! rtmpchunkdemux).
GST_ELEMENT_REGISTER_DEFINE(rtmpchunkdemux, "rtmpchunkdemux", GST_RANK_SECONDARY, GST_TYPE_RTMP_CHUNK_DEMUX);
