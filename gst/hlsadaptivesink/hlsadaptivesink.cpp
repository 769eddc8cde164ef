// hlsadaptivesink: cuts every variant at the same presentation time (on keyframes that it asks
// upstream encoders for), writes MPEG-TS or fMP4 segments, LL-HLS parts, media and multivariant
// playlists, optionally encrypts (AES-128), serves (built-in HTTP) and uploads (HTTP PUT).
//
// Alignment: the first video pad is the reference. A boundary B[k] is the PTS of the reference's
// first keyframe at or after B[k-1] + target-duration. Every other variant starts its segment k
// at its first keyframe at or after B[k] (minus half a frame). Frames are held until it is
// known which segment they belong to, so pads may run at different speeds (no blocking).
// Audio frames belong to segment k when B[k] <= PTS < B[k+1].
//
// Locks: `state_lock` (runtime state, file writes) is taken first; GST_OBJECT_LOCK (settings,
// pad properties) only briefly under it. Element messages and upstream events are sent after
// state_lock is released; errors are posted under it (the lock is recursive for sync handlers).
#include "hlsadaptivesink.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aes_cbc.h"
#include "flv/audio_config.h"
#include "flv/avc_config.h"
#include "flv/hevc_config.h"
#include "hls/media_playlist.h"
#include "hls/multivariant_playlist.h"
#include "http/hls_http_server.h"
#include "http/http_uploader.h"
#include "mp4/fmp4_writer.h"
#include "ts/adts.h"
#include "ts/ts_segment_writer.h"

GST_DEBUG_CATEGORY_STATIC(hls_sink_debug);
#define GST_CAT_DEFAULT hls_sink_debug

namespace fs = std::filesystem;
using namespace live;
using namespace live::hlssink;
using live::ts::TsSegmentWriter;

namespace {

constexpr int64_t kSecond = GST_SECOND;
// Media timestamps (TS PTS, fMP4 decode times) are running time plus this offset, so that
// decode times of B-frame streams never go negative.
constexpr int64_t kMediaTimeOffset = 10 * kSecond;
// Limits on what upstream controls.
constexpr size_t kMaxPendingFramesPerPad = 20000;  // frames held waiting for a boundary
constexpr size_t kMaxFrameBytes = 64 * 1024 * 1024;
constexpr guint kMaxVideoPads = 16;
constexpr guint kMaxAudioPads = 1;
constexpr size_t kPackagingLatencyWindow = 1000;  // samples behind the packaging-latency stats
constexpr int64_t kDefaultAlignTolerance = 5 * GST_MSECOND;
constexpr int64_t kMaxAudioLag = 5 * kSecond;  // TS segments stop waiting for audio this far behind
// "No decode time": DTS running times can be negative, so -1 cannot mean none.
constexpr int64_t kNoTime = INT64_MIN;

enum class Kind { h264, h265, aac };

// What the caps of one pad said.
struct StreamConfig {
  Kind kind = Kind::h264;
  bool length_prefixed = true;  // avc/hvc1/hev1 (else Annex B byte-stream)
  std::vector<uint8_t> codec_data;
  // Parameter sets (without start codes) for Annex B insertion before keyframes (TS), and the
  // NAL length size of length-prefixed input.
  std::vector<std::vector<uint8_t>> parameter_sets;
  unsigned nal_length_size = 4;
  std::string codec_string;
  int width = 0, height = 0, fps_n = 0, fps_d = 1;
  flv::AudioSpecificConfig aac;
  int channels = 0;
};

struct Frame {
  int64_t pts = 0, dts = 0, duration = -1;  // running time, ns
  bool keyframe = false;
  bool discont = false;
  bool certain = false;  // reference pad: already known whether this keyframe is a boundary
  std::vector<uint8_t> data;
  std::shared_ptr<const StreamConfig> config;
};

struct Settings {
  std::string location = ".";
  int64_t target_duration = 2 * kSecond;
  guint playlist_length = 6;
  guint max_files = 10;
  GstHlsSegmentFormat format = GST_HLS_SEGMENT_FORMAT_MPEGTS;
  bool low_latency = false;
  int64_t part_duration = 333 * GST_MSECOND;
  bool program_date_time = true;
  guint http_port = 0;
  std::string http_address = "0.0.0.0";
  std::string http_index_file;
  std::string http_prefix;  // URL path the playlists are served under on http-port ("" = "/")
  std::string upload_location;
  bool encrypt = false;
  std::string key_uri;
  std::string key_file;
  guint key_rotation = 0;
  std::string master_name = "master.m3u8";
  std::string playlist_name = "index.m3u8";
  bool flat = false;
};

// One output rendition: a variant (video [+ muxed audio in TS]) or the fMP4 audio rendition.
struct Rendition {
  std::string name;
  std::string dir;         // directory of its files relative to location: "720p/" ("" when flat)
  std::string uri_prefix;  // prefix of its file names in playlists: "" ("720p_" when flat)
  std::string playlist_path;  // relative to location
  std::unique_ptr<hls::MediaPlaylist> playlist;
  std::optional<mp4::Fmp4Writer> mp4;
  std::unique_ptr<TsSegmentWriter> ts;
  std::shared_ptr<const StreamConfig> mp4_config;  // config the fMP4 init was made from
  uint32_t mp4_track_id = 1;
  uint32_t mp4_timescale = 90000;
  uint32_t init_generation = 0;
  // Segment in progress.
  uint64_t seg_index = 0;  // k
  bool started = false;
  int64_t seg_start = -1;
  std::vector<Frame> seg_frames;  // frames of segment k not yet written (all of them in TS)
  std::vector<uint8_t> seg_bytes;  // fMP4 fragments (parts) already written for segment k
  uint32_t parts_in_segment = 0;
  int64_t part_start = -1;
  int64_t parts_end = -1;  // latest PTS + duration among frames already written as parts
  int64_t audio_cursor = INT64_MIN;  // TS: audio with PTS below this is already in the segment
  bool discont_next = false;
  bool cut_found = false;  // segment k's video is complete (its end is known)
  int64_t cut_end = -1;    // PTS where segment k ends (next segment's start), -1 at the end
  bool cut_discont = false;  // the next segment starts after a discontinuity
  bool finished = false;
  // Bandwidth measurement.
  uint64_t peak_bps = 0;
  uint64_t total_bytes = 0;
  double total_seconds = 0;
  uint64_t segments = 0;
  std::deque<std::pair<std::string, bool>> retired;  // relative paths; bool = whole segment
};

struct VideoTrack {
  GstPad* pad = nullptr;  // not owned (owned by the element)
  std::string pad_name;
  std::shared_ptr<const StreamConfig> config;
  GstSegment segment;
  std::deque<Frame> pending;
  bool eos = false;
  bool discont_pending = false;
  int64_t max_pts = -1;
  uint64_t dropped = 0;
  uint64_t misaligned = 0;
  size_t grid_sent = 0;  // entries of Runtime::grid already requested from this pad
  Rendition out;
};

struct AudioTrack {
  GstPad* pad = nullptr;
  std::shared_ptr<const StreamConfig> config;
  GstSegment segment;
  std::deque<Frame> frames;  // shared by the TS variants; pruned once every variant is past
  bool eos = false;
  int64_t max_pts = -1;
  std::optional<Rendition> out;  // fMP4: its own rendition
  std::deque<Frame> pending;     // fMP4: frames not yet given to the rendition
};

struct KeyState {
  bool enabled = false;
  bool generated = true;
  uint64_t index = UINT64_MAX;
  AesKey key{};
  std::string uri;
};

struct Outbox {
  std::vector<GstMessage*> messages;
  std::vector<std::pair<GstPad*, GstEvent*>> events;
};

struct Runtime {
  Settings cfg;
  bool running = false;
  bool failed = false;
  std::vector<std::unique_ptr<VideoTrack>> videos;
  std::unique_ptr<AudioTrack> audio;
  std::vector<int64_t> boundaries;
  int64_t tolerance = kDefaultAlignTolerance;
  int64_t ref_progress = -1;
  int64_t next_request = -1;  // next grid boundary to request key units for
  std::vector<int64_t> grid;  // boundaries requested so far
  bool ref_follows_requests = true;  // false once a reference keyframe came off the grid
  uint64_t requests_sent = 0;
  std::optional<int64_t> wall_anchor_ms;
  int64_t wall_anchor_rt = 0;
  bool master_written = false;
  std::string master_text;
  bool eos_posted = false;
  uint64_t files_deleted = 0;
  uint64_t bytes_written = 0;
  uint64_t segments_written = 0;
  uint64_t parts_written = 0;
  KeyState key;
  std::unique_ptr<http::HlsHttpServer> server;
  std::unique_ptr<http::HttpUploader> uploader;
  uint64_t upload_failures = 0;
  std::string last_error;  // why the last write failed
  uint64_t audio_lag_events = 0;  // TS segments written without waiting for late audio
  // Packaging latency: monotonic arrival of the buffer being processed (-1 outside chain) to the
  // rename of the playlist that lists the segment/part it completed.
  int64_t chain_arrival_us = -1;
  std::deque<int64_t> packaging_latency_us;  // last kPackagingLatencyWindow samples
  uint64_t packaging_latency_count = 0;
};

struct Private {
  // Recursive: errors are posted with it held, and a synchronous bus handler may read `stats`.
  std::recursive_mutex state_lock;
  Settings settings;  // GST_OBJECT_LOCK
  Runtime rt;         // state_lock
  guint next_video = 0, next_audio = 0;
};

}  // namespace

struct _GstHlsAdaptiveSink {
  GstBin parent;
  Private* priv;  // constructed in place in priv_storage
  alignas(Private) unsigned char priv_storage[sizeof(Private)];
};

struct _GstHlsSinkPad {
  GstPad parent;
  gchar* variant_name;
  guint bitrate;
};

G_DEFINE_TYPE(GstHlsSinkPad, gst_hls_sink_pad, GST_TYPE_PAD)
G_DEFINE_TYPE(GstHlsAdaptiveSink, gst_hls_adaptive_sink, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE(hlsadaptivesink, "hlsadaptivesink", GST_RANK_NONE,
                                      GST_TYPE_HLS_ADAPTIVE_SINK,
                                      GST_DEBUG_CATEGORY_INIT(hls_sink_debug, "hlsadaptivesink", 0,
                                                              "adaptive HLS sink"));

enum { PROP_PAD_0, PROP_PAD_VARIANT_NAME, PROP_PAD_BITRATE };

static void gst_hls_sink_pad_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* pad = GST_HLS_SINK_PAD(object);
  GST_OBJECT_LOCK(pad);
  switch (id) {
    case PROP_PAD_VARIANT_NAME:
      g_free(pad->variant_name);
      pad->variant_name = g_value_dup_string(value);
      break;
    case PROP_PAD_BITRATE: pad->bitrate = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(pad);
}

static void gst_hls_sink_pad_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* pad = GST_HLS_SINK_PAD(object);
  GST_OBJECT_LOCK(pad);
  switch (id) {
    case PROP_PAD_VARIANT_NAME: g_value_set_string(value, pad->variant_name); break;
    case PROP_PAD_BITRATE: g_value_set_uint(value, pad->bitrate); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(pad);
}

static void gst_hls_sink_pad_finalize(GObject* object) {
  g_free(GST_HLS_SINK_PAD(object)->variant_name);
  G_OBJECT_CLASS(gst_hls_sink_pad_parent_class)->finalize(object);
}

static void gst_hls_sink_pad_class_init(GstHlsSinkPadClass* klass) {
  auto* gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->set_property = gst_hls_sink_pad_set_property;
  gobject_class->get_property = gst_hls_sink_pad_get_property;
  gobject_class->finalize = gst_hls_sink_pad_finalize;
  g_object_class_install_property(
      gobject_class, PROP_PAD_VARIANT_NAME,
      g_param_spec_string("variant-name", "Variant name",
                          "Name of this variant (its directory / file prefix); default: <height>p, "
                          "or the pad name when heights repeat",
                          nullptr, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_PAD_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate", "BANDWIDTH to announce in bits/s (0 = measured peak)", 0,
                        G_MAXUINT, 0, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}

static void gst_hls_sink_pad_init(GstHlsSinkPad*) {}

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_TARGET_DURATION,
  PROP_PLAYLIST_LENGTH,
  PROP_MAX_FILES,
  PROP_SEGMENT_FORMAT,
  PROP_LOW_LATENCY,
  PROP_PART_DURATION,
  PROP_PROGRAM_DATE_TIME,
  PROP_HTTP_PORT,
  PROP_HTTP_ADDRESS,
  PROP_HTTP_INDEX_FILE,
  PROP_HTTP_PREFIX,
  PROP_UPLOAD_LOCATION,
  PROP_ENCRYPT,
  PROP_KEY_URI,
  PROP_KEY_FILE,
  PROP_KEY_ROTATION,
  PROP_MASTER_NAME,
  PROP_PLAYLIST_NAME,
  PROP_FLAT,
  PROP_STATS,
};

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, alignment = (string) au; "
                    "video/x-h265, stream-format = (string) { hvc1, hev1 }, alignment = (string) au"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"));

static GType segment_format_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_HLS_SEGMENT_FORMAT_MPEGTS, "MPEG-2 transport stream segments (.ts)", "mpegts"},
      {GST_HLS_SEGMENT_FORMAT_FMP4, "Fragmented MP4 / CMAF segments (.m4s, init.mp4)", "fmp4"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstHlsSegmentFormat", values));
  return type;
}

static Private& P(GstHlsAdaptiveSink* self) { return *self->priv; }

// ---------------------------------------------------------------------------------------------
// Files

static std::string join(const std::string& dir, const std::string& rel) { return (fs::path(dir) / rel).string(); }

static bool write_atomic(const std::string& path, std::span<const uint8_t> bytes) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    if (!f) return false;
  }
  fs::rename(tmp, path, ec);
  return !ec;
}

static bool write_atomic(const std::string& path, const std::string& text) {
  return write_atomic(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// ---------------------------------------------------------------------------------------------
// Caps

static std::shared_ptr<const StreamConfig> config_from_caps(GstCaps* caps, std::string& why) {
  auto c = std::make_shared<StreamConfig>();
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const char* name = gst_structure_get_name(s);
  const GValue* cd = gst_structure_get_value(s, "codec_data");
  if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
    GstBuffer* b = gst_value_get_buffer(cd);
    GstMapInfo m;
    if (gst_buffer_map(b, &m, GST_MAP_READ)) {
      c->codec_data.assign(m.data, m.data + m.size);
      gst_buffer_unmap(b, &m);
    }
  }
  const char* format = gst_structure_get_string(s, "stream-format");
  if (g_str_equal(name, "video/x-h264") || g_str_equal(name, "video/x-h265")) {
    const bool h264 = g_str_equal(name, "video/x-h264");
    c->kind = h264 ? Kind::h264 : Kind::h265;
    c->length_prefixed = !(format && g_str_equal(format, "byte-stream"));
    gst_structure_get_int(s, "width", &c->width);
    gst_structure_get_int(s, "height", &c->height);
    gst_structure_get_fraction(s, "framerate", &c->fps_n, &c->fps_d);
    if (c->length_prefixed) {
      if (c->codec_data.empty()) { why = "no codec_data in avc/hvc1 caps"; return nullptr; }
      if (h264) {
        auto avc = flv::parse_avc_config(c->codec_data);
        if (!avc) { why = "bad codec_data: " + avc.error().describe(); return nullptr; }
        c->parameter_sets = std::move(avc->sps);
        for (auto& pps : avc->pps) c->parameter_sets.push_back(std::move(pps));
        c->nal_length_size = avc->nal_length_size;
        c->codec_string = avc->codec_string();
      } else {
        auto hevc = flv::parse_hevc_config(c->codec_data);
        if (!hevc) { why = "bad codec_data: " + hevc.error().describe(); return nullptr; }
        for (auto& array : hevc->arrays)
          for (auto& nal : array.nalus) c->parameter_sets.push_back(std::move(nal));
        c->nal_length_size = hevc->nal_length_size;
        c->codec_string = hevc->codec_string();
      }
    }
  } else {
    c->kind = Kind::aac;
    if (c->codec_data.empty()) { why = "no AudioSpecificConfig (codec_data) in AAC caps"; return nullptr; }
    auto cfg = flv::parse_audio_specific_config(c->codec_data);
    if (!cfg) { why = "bad AudioSpecificConfig"; return nullptr; }
    c->aac = *cfg;
    c->codec_string = cfg->codec_string();
    gst_structure_get_int(s, "channels", &c->channels);
    if (!c->channels) c->channels = int(c->aac.channel_configuration);
  }
  return c;
}

// Byte-stream H.264 without codec_data: the codec string comes from the first SPS.
static void learn_codec_from_annexb(StreamConfig& c, std::span<const uint8_t> au) {
  for (size_t i = 0; i + 4 < au.size(); ++i) {
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) {
      uint8_t type = au[i + 3] & 0x1f;
      if (c.kind == Kind::h264 && type == 7) {
        // The SPS runs to the next start code (emulation prevention keeps 00 00 01 out of it).
        size_t end = i + 3;
        while (end + 2 < au.size() && !(au[end] == 0 && au[end + 1] == 0 && au[end + 2] == 1)) ++end;
        if (end + 2 >= au.size()) end = au.size();
        if (auto sps = flv::parse_avc_sps(au.subspan(i + 3, end - (i + 3)))) c.codec_string = sps->codec_string();
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Media conversions

static uint64_t to_90k(int64_t rt) { return uint64_t((rt + kMediaTimeOffset) / 100000 * 9 + ((rt + kMediaTimeOffset) % 100000) * 9 / 100000); }
static int64_t to_ticks(int64_t rt, uint32_t timescale) {
  return int64_t(gst_util_uint64_scale_round(uint64_t(rt + kMediaTimeOffset), timescale, GST_SECOND));
}

// Length-prefixed access unit -> Annex B with an access unit delimiter, and parameter sets
// before keyframes (each TS segment must decode on its own).
static std::vector<uint8_t> to_annexb(const Frame& f) {
  const StreamConfig& c = *f.config;
  std::vector<uint8_t> out;
  out.reserve(f.data.size() + 64);
  static const uint8_t sc[] = {0, 0, 0, 1};
  if (c.kind == Kind::h264) out.insert(out.end(), {0, 0, 0, 1, 0x09, 0xf0});
  else out.insert(out.end(), {0, 0, 0, 1, 0x46, 0x01, 0x50});
  if (!c.length_prefixed) {
    // Already Annex B: drop a leading AUD of its own to avoid two.
    out.insert(out.end(), f.data.begin(), f.data.end());
    return out;
  }
  if (f.keyframe)
    for (const auto& nal : c.parameter_sets) {
      out.insert(out.end(), sc, sc + 4);
      out.insert(out.end(), nal.begin(), nal.end());
    }
  const unsigned n = c.nal_length_size;
  size_t pos = 0;
  while (pos + n <= f.data.size()) {
    size_t len = 0;
    for (unsigned i = 0; i < n; ++i) len = (len << 8) | f.data[pos + i];
    pos += n;
    if (len > f.data.size() - pos) break;
    const uint8_t type = c.kind == Kind::h264 ? (f.data[pos] & 0x1f) : ((f.data[pos] >> 1) & 0x3f);
    const bool is_aud = c.kind == Kind::h264 ? type == 9 : type == 35;
    if (!is_aud) {
      out.insert(out.end(), sc, sc + 4);
      out.insert(out.end(), f.data.begin() + long(pos), f.data.begin() + long(pos + len));
    }
    pos += len;
  }
  return out;
}

static Result<std::vector<uint8_t>> to_adts(const Frame& f) {
  const flv::AudioSpecificConfig& a = f.config->aac;
  return ts::adts_frame({a.object_type, a.sampling_frequency_index, a.channel_configuration}, f.data);
}

// ---------------------------------------------------------------------------------------------
// Output helpers (state_lock held)

static std::string rel_to_playlist(const Settings& cfg, const std::string& root_rel) {
  return cfg.flat ? root_rel : "../" + root_rel;
}

static void publish_file(Runtime& r, const std::string& rel, std::span<const uint8_t> bytes, http::UploadKind kind,
                         bool& ok) {
  if (!write_atomic(join(r.cfg.location, rel), bytes)) {
    r.last_error = "cannot write " + rel + ": " + std::strerror(errno);
    ok = false;
    return;
  }
  r.bytes_written += bytes.size();
  if (r.uploader) r.uploader->put_file(rel, join(r.cfg.location, rel), kind);
}

static void retire_files(Runtime& r, Rendition& out) {
  for (auto& uri : out.playlist->take_removed_uris()) {
    const bool whole = uri.find(".part") == std::string::npos;
    out.retired.emplace_back(out.dir + uri, whole);
  }
  auto whole_count = [&] {
    return size_t(std::count_if(out.retired.begin(), out.retired.end(), [](auto& e) { return e.second; }));
  };
  while (!out.retired.empty() && whole_count() > r.cfg.max_files) {
    const std::string rel = out.retired.front().first;
    out.retired.pop_front();
    std::error_code ec;
    if (fs::remove(join(r.cfg.location, rel), ec)) r.files_deleted++;
    if (r.uploader) r.uploader->remove(rel);
  }
}

static void post_element_message(GstHlsAdaptiveSink* self, Outbox& box, GstStructure* s) {
  box.messages.push_back(gst_message_new_element(GST_OBJECT(self), s));
}

static std::vector<Rendition*> all_renditions(Runtime& r) {
  std::vector<Rendition*> v;
  for (auto& t : r.videos) v.push_back(&t->out);
  if (r.audio && r.audio->out) v.push_back(&*r.audio->out);
  return v;
}

static void write_playlist(GstHlsAdaptiveSink* self, Runtime& r, Rendition& out, Outbox& box, bool& ok,
                           bool lists_new_media = false) {
  if (r.cfg.low_latency) {
    std::vector<hls::RenditionReport> reports;
    for (Rendition* other : all_renditions(r)) {
      if (other == &out || !other->playlist) continue;
      reports.push_back(other->playlist->rendition_report(rel_to_playlist(r.cfg, other->playlist_path)));
    }
    out.playlist->set_rendition_reports(std::move(reports));
  }
  const std::string text = out.playlist->render();
  if (!write_atomic(join(r.cfg.location, out.playlist_path), text)) {
    r.last_error = "cannot write " + out.playlist_path + ": " + std::strerror(errno);
    ok = false;
    return;
  }
  int64_t latency_us = -1;
  if (lists_new_media && r.chain_arrival_us >= 0) {
    latency_us = g_get_monotonic_time() - r.chain_arrival_us;
    r.packaging_latency_us.push_back(latency_us);
    if (r.packaging_latency_us.size() > kPackagingLatencyWindow) r.packaging_latency_us.pop_front();
    r.packaging_latency_count++;
  }
  if (r.uploader)
    r.uploader->put_bytes(out.playlist_path, std::vector<uint8_t>(text.begin(), text.end()), http::UploadKind::playlist);
  if (r.server) {
    if (out.playlist->ended()) {
      r.server->forget_playlist(out.playlist_path);
    } else {
      const uint32_t part = out.playlist->next_part_index();
      if (part > 0) r.server->notify_playlist(out.playlist_path, int64_t(out.playlist->next_msn()), int64_t(part) - 1);
      else r.server->notify_playlist(out.playlist_path, int64_t(out.playlist->next_msn()) - 1, -1);
    }
  }
  retire_files(r, out);
  GstStructure* msg = gst_structure_new("hls-playlist-updated", "variant", G_TYPE_STRING, out.name.c_str(), "location",
                                        G_TYPE_STRING, join(r.cfg.location, out.playlist_path).c_str(), nullptr);
  if (latency_us >= 0) gst_structure_set(msg, "packaging-latency-us", G_TYPE_INT64, gint64(latency_us), nullptr);
  post_element_message(self, box, msg);
}

// EXT-X-PRELOAD-HINT for the next part; the built-in server holds a GET for it until it exists.
static void set_preload_hint(Runtime& r, Rendition& out, const std::string& uri) {
  out.playlist->set_preload_hint(hls::PreloadHint{uri, std::nullopt, std::nullopt});
  if (r.server) r.server->expect_file(out.dir + uri);
}

static std::optional<hls::Key> segment_key(GstHlsAdaptiveSink* self, Runtime& r, uint64_t msn, bool& ok) {
  if (!r.key.enabled) return std::nullopt;
  const uint64_t index = (r.key.generated && r.cfg.key_rotation) ? msn / r.cfg.key_rotation : 0;
  if (index != r.key.index) {
    if (r.key.generated) {
      auto k = random_aes_key();
      if (!k) { r.last_error = k.error().describe(); ok = false; return std::nullopt; }
      r.key.key = *k;
    }
    const std::string name = "key" + std::to_string(index) + ".key";
    bool wrote = true;
    // A key the application gave, served from its own key-uri, stays out of the public directory.
    if (r.key.generated || r.cfg.key_uri.empty()) publish_file(r, name, r.key.key, http::UploadKind::segment, wrote);
    if (!wrote) { r.last_error = "cannot write " + name; ok = false; return std::nullopt; }
    r.key.index = index;
    if (!r.cfg.key_uri.empty()) {
      std::string uri = r.cfg.key_uri;
      const auto at = uri.find("%u");
      if (at != std::string::npos) uri.replace(at, 2, std::to_string(index));
      r.key.uri = uri;
    } else {
      r.key.uri = name;  // made relative to each playlist by the caller
    }
    GST_INFO_OBJECT(self, "encryption key %" G_GUINT64_FORMAT " in %s", index, name.c_str());
  }
  hls::Key key;
  key.uri = r.cfg.key_uri.empty() ? rel_to_playlist(r.cfg, r.key.uri) : r.key.uri;
  key.iv = iv_from_sequence(msn);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Renditions

static void setup_rendition(Runtime& r, Rendition& out, const std::string& name) {
  out.name = name;
  out.dir = r.cfg.flat ? "" : name + "/";
  out.uri_prefix = r.cfg.flat ? name + "_" : "";
  out.playlist_path = out.dir + out.uri_prefix + r.cfg.playlist_name;
  hls::MediaPlaylistConfig pc;
  pc.target_duration = uint32_t(std::max<int64_t>(1, (r.cfg.target_duration + kSecond / 2) / kSecond));
  pc.window_segments = r.cfg.playlist_length;
  if (r.cfg.low_latency) pc.part_target = double(r.cfg.part_duration) / kSecond;
  if (r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4) pc.map = hls::MapInfo{out.uri_prefix + "init.mp4", std::nullopt};
  out.playlist = std::make_unique<hls::MediaPlaylist>(pc);
}

// How long a variant may wait for the other video pads' caps before naming itself anyway.
constexpr int64_t kNamingWait = 3 * kSecond;

static bool all_videos_configured(const Runtime& r) {
  for (const auto& o : r.videos)
    if (!o->config && !o->eos) return false;
  return true;
}

static std::string variant_name_for(Runtime& r, VideoTrack& t) {
  std::string name;
  if (auto* sp = GST_HLS_SINK_PAD(t.pad)) {
    GST_OBJECT_LOCK(sp);
    if (sp->variant_name) name = sp->variant_name;
    GST_OBJECT_UNLOCK(sp);
  }
  if (!name.empty()) return name;
  const int h = t.config ? t.config->height : 0;
  if (h > 0) {
    int same = 0;
    for (auto& o : r.videos)
      if (o->config && o->config->height == h) same++;
    if (same == 1) return std::to_string(h) + "p";
  }
  return t.pad_name;
}

// Builds the fMP4 writer (and writes init.mp4) for a rendition whose codec config changed.
static bool ensure_mp4(Runtime& r, Rendition& out, const std::shared_ptr<const StreamConfig>& c, bool& ok) {
  if (out.mp4 && out.mp4_config == c) return true;
  if (out.mp4_config && c->codec_data == out.mp4_config->codec_data && out.mp4) {
    out.mp4_config = c;
    return true;
  }
  mp4::TrackConfig tc;
  tc.track_id = 1;
  tc.codec_config = c->codec_data;
  if (c->kind == Kind::aac) {
    tc.codec = mp4::Codec::aac;
    tc.timescale = c->aac.sample_rate ? c->aac.sample_rate : 48000;
    tc.sample_rate = tc.timescale;
    tc.channels = uint16_t(c->channels ? c->channels : 2);
  } else {
    if (!c->length_prefixed) { r.last_error = "fMP4 needs stream-format avc/hvc1 (codec_data)"; ok = false; return false; }
    tc.codec = c->kind == Kind::h264 ? mp4::Codec::h264 : mp4::Codec::h265;
    tc.timescale = 90000;
    tc.width = uint32_t(c->width);
    tc.height = uint32_t(c->height);
  }
  auto w = mp4::Fmp4Writer::create({tc});
  if (!w) { r.last_error = "fMP4 writer: " + w.error().describe(); ok = false; return false; }
  const bool first = !out.mp4;
  out.mp4.emplace(std::move(*w));
  out.mp4_config = c;
  out.mp4_timescale = tc.timescale;
  std::string init_name = out.uri_prefix + "init.mp4";
  if (!first) {
    out.init_generation++;
    init_name = out.uri_prefix + "init" + std::to_string(out.init_generation) + ".mp4";
    out.playlist->set_map(hls::MapInfo{init_name, std::nullopt});
    out.discont_next = true;
  }
  const auto bytes = out.mp4->init_segment();
  publish_file(r, out.dir + init_name, bytes, http::UploadKind::segment, ok);
  return ok;
}

static Result<std::vector<uint8_t>> mp4_fragment(Rendition& out, const std::vector<Frame>& frames, size_t begin,
                                                 size_t end, int64_t end_dts, bool with_styp) {
  std::vector<mp4::Sample> samples;
  samples.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    const Frame& f = frames[i];
    mp4::Sample s;
    s.dts = to_ticks(f.dts, out.mp4_timescale);
    s.pts = to_ticks(f.pts, out.mp4_timescale);
    int64_t next_dts;
    if (i + 1 < frames.size()) next_dts = to_ticks(frames[i + 1].dts, out.mp4_timescale);
    else if (end_dts != kNoTime) next_dts = to_ticks(end_dts, out.mp4_timescale);
    else next_dts = to_ticks(f.dts + (f.duration > 0 ? f.duration : 0), out.mp4_timescale);
    s.duration = uint32_t(std::max<int64_t>(0, next_dts - s.dts));
    s.keyframe = f.keyframe;
    s.data = f.data;
    samples.push_back(s);
  }
  mp4::TrackRun run{out.mp4_track_id, samples};
  return out.mp4->write_fragment(std::span<const mp4::TrackRun>(&run, 1), with_styp);
}

static double frames_span(const std::vector<Frame>& frames, size_t begin, size_t end, int64_t end_dts) {
  if (begin >= end) return 0;
  int64_t stop = end < frames.size() ? frames[end].dts : end_dts;
  if (stop == kNoTime) stop = frames[end - 1].dts + std::max<int64_t>(0, frames[end - 1].duration);
  return double(stop - frames[begin].dts) / kSecond;
}

// TS: may segment k be muxed now? Its audio must have arrived, unless the audio is so far behind
// the video (stalled, or never started) that waiting longer would stall the stream itself.
static bool audio_ready_until(Runtime& r, int64_t limit, int64_t video_progress) {
  if (!r.audio) return true;
  if (r.audio->eos) return true;
  if (limit >= 0 && r.audio->max_pts >= limit) return true;
  if (video_progress > std::max(limit, r.audio->max_pts) + kMaxAudioLag) {
    r.audio_lag_events++;
    return true;
  }
  return false;
}

// TS: video frames and the audio frames given, interleaved by decode time.
static std::vector<uint8_t> mux_ts(Rendition& out, const std::vector<Frame>& video, const std::vector<Frame>& audio) {
  auto write_audio = [&](const Frame& a) {
    auto adts = to_adts(a);
    if (!adts) {
      GST_WARNING("%s: AAC frame of %zu bytes dropped: %s", out.name.c_str(), a.data.size(), adts.error().describe().c_str());
      return;
    }
    out.ts->write_audio(*adts, to_90k(a.pts));
  };
  size_t ai = 0;
  for (auto& f : video) {
    while (ai < audio.size() && audio[ai].pts <= f.dts) write_audio(audio[ai++]);
    out.ts->write_video(to_annexb(f), to_90k(f.pts), to_90k(f.dts), f.keyframe);
  }
  for (; ai < audio.size(); ++ai) write_audio(audio[ai]);
  return out.ts->take();
}

static void ensure_ts(Runtime& r, Rendition& out, const StreamConfig& c) {
  if (!out.ts)
    out.ts = std::make_unique<TsSegmentWriter>(
        c.kind == Kind::h265 ? TsSegmentWriter::VideoCodec::h265 : TsSegmentWriter::VideoCodec::h264, r.audio != nullptr);
}

// LL-HLS: writes parts of the segment in progress from seg_frames while at least one full part
// is available (all of them when `flush`). fMP4 only.
// TS parts carry the audio up to the next video frame (at the end: up to audio_end, -1 = all),
// once it has arrived (video_progress: the variant's newest PTS, for the audio lag rule).
static void write_parts(GstHlsAdaptiveSink* self, Runtime& r, Rendition& out, bool flush, int64_t end_dts,
                        int64_t audio_end, int64_t video_progress, Outbox& box, bool& ok) {
  if (!r.cfg.low_latency) return;
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  const bool ts_audio = !fmp4 && r.audio && &out != (r.audio->out ? &*r.audio->out : nullptr);
  bool wrote = false;
  while (!out.seg_frames.empty() && ok) {
    // Pack frames while the part stays within part-duration.
    size_t n = 0;
    bool full = false;  // the next frame would overflow the part
    const int64_t start = out.seg_frames.front().dts;
    while (n < out.seg_frames.size()) {
      const Frame& f = out.seg_frames[n];
      const bool last = n + 1 == out.seg_frames.size();
      if (last && f.duration <= 0) break;  // end unknown until the next frame arrives
      const int64_t fend = last ? f.dts + f.duration : out.seg_frames[n + 1].dts;  // (DTS may be < 0)
      if (fend - start > r.cfg.part_duration) {
        full = true;
        break;
      }
      n++;
    }
    if (!full && !flush) break;
    if (n == 0) n = 1;  // a frame longer than a part still goes out alone
    if (!full) n = out.seg_frames.size();
    int64_t part_audio_end = audio_end;
    if (n < out.seg_frames.size()) {
      part_audio_end = out.seg_frames[n].dts;
      if (audio_end >= 0) part_audio_end = std::min(part_audio_end, audio_end);
    }
    if (ts_audio && n < out.seg_frames.size() && !audio_ready_until(r, part_audio_end, video_progress)) break;
    for (size_t j = 0; j < n; ++j)
      out.parts_end = std::max(out.parts_end, out.seg_frames[j].pts + std::max<int64_t>(0, out.seg_frames[j].duration));
    std::vector<Frame> part(std::make_move_iterator(out.seg_frames.begin()),
                            std::make_move_iterator(out.seg_frames.begin() + long(n)));
    out.seg_frames.erase(out.seg_frames.begin(), out.seg_frames.begin() + long(n));
    const int64_t next_dts = !out.seg_frames.empty() ? out.seg_frames.front().dts : end_dts;
    if (fmp4 && !ensure_mp4(r, out, part.front().config, ok)) return;
    if (out.parts_in_segment == 0) {
      // Discontinuity and date of the segment must stand before its first part.
      hls::SegmentStart ss;
      ss.discontinuity = out.discont_next;
      if (r.cfg.program_date_time && r.wall_anchor_ms)
        ss.program_date_time_ms = *r.wall_anchor_ms + (out.seg_start - r.wall_anchor_rt) / int64_t(GST_MSECOND);
      if (auto res = out.playlist->begin_segment(ss); !res) { r.last_error = res.error().describe(); ok = false; return; }
    }
    Result<std::vector<uint8_t>> frag = std::vector<uint8_t>{};
    if (fmp4) {
      frag = mp4_fragment(out, part, 0, part.size(), next_dts, out.parts_in_segment == 0);
    } else {
      ensure_ts(r, out, *part.front().config);
      out.ts->begin_segment();  // PAT/PMT in every part: each one is parseable on its own
      std::vector<Frame> audio;
      if (ts_audio) {
        for (auto& a : r.audio->frames)
          if (a.pts >= out.audio_cursor && (part_audio_end < 0 || a.pts < part_audio_end)) audio.push_back(a);
        out.audio_cursor = part_audio_end < 0 ? INT64_MAX : std::max(out.audio_cursor, part_audio_end);
      }
      frag = mux_ts(out, part, audio);
    }
    if (!frag) { r.last_error = "fMP4 part: " + frag.error().describe(); ok = false; return; }
    const std::string ext = fmp4 ? ".m4s" : ".ts";
    const uint64_t msn = out.playlist->next_msn();
    const std::string uri = out.uri_prefix + "seg" + std::to_string(msn) + ".part" + std::to_string(out.parts_in_segment) + ext;
    publish_file(r, out.dir + uri, *frag, http::UploadKind::segment, ok);
    if (!ok) return;
    out.seg_bytes.insert(out.seg_bytes.end(), frag->begin(), frag->end());
    hls::PartInfo pi;
    pi.duration = frames_span(part, 0, part.size(), next_dts);
    pi.uri = uri;
    pi.independent = part.front().keyframe;
    if (auto res = out.playlist->add_part(pi); !res) {
      r.last_error = out.name + " add_part (" + std::to_string(part.size()) + " frames, dts " +
                     std::to_string(part.front().dts) + ".." + std::to_string(next_dts) +
                     "): " + res.error().describe();
      ok = false;
      return;
    }
    out.parts_in_segment++;
    r.parts_written++;
    set_preload_hint(r, out, out.uri_prefix + "seg" + std::to_string(msn) + ".part" + std::to_string(out.parts_in_segment) + ext);
    wrote = true;
  }
  if (wrote) write_playlist(self, r, out, box, ok, true);
}

// Completes segment k of a rendition: frames of the segment are out.seg_frames (+ parts already
// written), audio (TS variants) is passed in. end_pts: start of the next segment, or -1 at the end;
// end_dts: decode time of the next segment's first frame, or kNoTime.
static void finish_segment(GstHlsAdaptiveSink* self, Runtime& r, Rendition& out, std::vector<Frame>& audio,
                           int64_t end_pts, int64_t end_dts, int64_t audio_end, Outbox& box, bool& ok) {
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  const uint64_t msn = out.playlist->next_msn();
  const int64_t start = out.seg_start;
  // Duration: up to the next segment start, or to the end of the last frame.
  int64_t end = end_pts;
  if (end < 0) {
    end = out.parts_end;
    for (auto& f : out.seg_frames) end = std::max(end, f.pts + std::max<int64_t>(0, f.duration));
    if (end < 0) end = start;
  }
  std::vector<uint8_t> bytes;
  if (fmp4) {
    write_parts(self, r, out, true, end_dts, -1, -1, box, ok);
    if (!ok) return;
    if (!out.seg_frames.empty()) {
      if (!ensure_mp4(r, out, out.seg_frames.front().config, ok)) return;
      auto frag = mp4_fragment(out, out.seg_frames, 0, out.seg_frames.size(), end_dts, true);
      if (!frag) { r.last_error = "fMP4 segment: " + frag.error().describe(); ok = false; return; }
      out.seg_bytes.insert(out.seg_bytes.end(), frag->begin(), frag->end());
    }
    bytes = std::move(out.seg_bytes);
  } else if (r.cfg.low_latency) {
    write_parts(self, r, out, true, end_dts, audio_end, -1, box, ok);
    if (!ok) return;
    bytes = std::move(out.seg_bytes);
  } else {
    ensure_ts(r, out, *out.seg_frames.front().config);
    out.ts->begin_segment();
    bytes = mux_ts(out, out.seg_frames, audio);
  }
  const bool discont = out.discont_next;
  out.discont_next = false;
  out.seg_frames.clear();
  out.seg_bytes.clear();
  out.parts_in_segment = 0;
  out.parts_end = -1;

  hls::SegmentInfo si;
  si.duration = double(end - start) / kSecond;
  si.uri = out.uri_prefix + "seg" + std::to_string(msn) + (fmp4 ? ".m4s" : ".ts");
  si.discontinuity = discont;
  if (r.cfg.program_date_time && r.wall_anchor_ms)
    si.program_date_time_ms = *r.wall_anchor_ms + (start - r.wall_anchor_rt) / int64_t(GST_MSECOND);
  if (!fmp4) {
    si.key = segment_key(self, r, msn, ok);
    if (!ok) return;
    if (si.key) {
      auto enc = aes128_cbc_encrypt(bytes, r.key.key, *si.key->iv);
      if (!enc) { r.last_error = enc.error().describe(); ok = false; return; }
      bytes = std::move(*enc);
    }
  }
  publish_file(r, out.dir + si.uri, bytes, http::UploadKind::segment, ok);
  if (!ok) return;
  if (auto res = out.playlist->add_segment(si); !res) { r.last_error = "add_segment: " + res.error().describe(); ok = false; return; }
  out.playlist->set_preload_hint(std::nullopt);
  if (r.cfg.low_latency)
    set_preload_hint(r, out, out.uri_prefix + "seg" + std::to_string(msn + 1) + ".part0" + (fmp4 ? ".m4s" : ".ts"));
  r.segments_written++;
  out.segments++;
  out.total_bytes += bytes.size();
  out.total_seconds += si.duration;
  if (si.duration > 0.05) out.peak_bps = std::max<uint64_t>(out.peak_bps, uint64_t(bytes.size() * 8 / si.duration));
  write_playlist(self, r, out, box, ok, true);
  post_element_message(self, box,
                       gst_structure_new("hls-segment-added", "variant", G_TYPE_STRING, out.name.c_str(), "sequence",
                                         G_TYPE_UINT64, guint64(msn), "duration", G_TYPE_UINT64,
                                         guint64(end - start), "location", G_TYPE_STRING,
                                         join(r.cfg.location, out.dir + si.uri).c_str(), "start-pts",
                                         G_TYPE_UINT64, guint64(start), nullptr));
  out.seg_index++;
}

static void write_master(GstHlsAdaptiveSink* self, Runtime& r, Outbox& box, bool& ok) {
  for (Rendition* out : all_renditions(r))
    if (out->segments == 0) return;  // every rendition needs a measured segment first
  hls::MultivariantPlaylist m;
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  uint64_t audio_peak = 0, audio_avg = 0;
  std::string audio_codec;
  if (r.audio && r.audio->config) audio_codec = r.audio->config->codec_string;
  if (fmp4 && r.audio && r.audio->out) {
    Rendition& a = *r.audio->out;
    audio_peak = a.peak_bps;
    audio_avg = a.total_seconds > 0 ? uint64_t(a.total_bytes * 8 / a.total_seconds) : 0;
    hls::AudioRendition ar;
    ar.group_id = "audio";
    ar.name = a.name;
    ar.uri = a.playlist_path;
    ar.channels = uint32_t(r.audio->config ? r.audio->config->channels : 0);
    m.add_audio(ar);
  }
  if (r.cfg.low_latency || fmp4) m.set_version(fmp4 ? 7 : 6);
  for (auto& t : r.videos) {
    Rendition& o = t->out;
    hls::VariantStream v;
    v.uri = o.playlist_path;
    guint bitrate = 0;
    GST_OBJECT_LOCK(t->pad);
    bitrate = GST_HLS_SINK_PAD(t->pad)->bitrate;
    GST_OBJECT_UNLOCK(t->pad);
    v.bandwidth = bitrate ? bitrate : o.peak_bps + audio_peak;
    if (o.total_seconds > 0) v.average_bandwidth = uint64_t(o.total_bytes * 8 / o.total_seconds) + audio_avg;
    if (t->config) {
      v.codecs = t->config->codec_string;
      if (!audio_codec.empty()) v.codecs += "," + audio_codec;
      v.width = uint32_t(t->config->width);
      v.height = uint32_t(t->config->height);
      if (t->config->fps_n > 0 && t->config->fps_d > 0) v.frame_rate = double(t->config->fps_n) / t->config->fps_d;
    }
    if (fmp4 && r.audio && r.audio->out) v.audio_group = "audio";
    m.add_variant(v);
  }
  std::string text = m.render();
  if (text == r.master_text) return;
  if (!write_atomic(join(r.cfg.location, r.cfg.master_name), text)) { r.last_error = "cannot write " + r.cfg.master_name; ok = false; return; }
  if (r.uploader)
    r.uploader->put_bytes(r.cfg.master_name, std::vector<uint8_t>(text.begin(), text.end()), http::UploadKind::playlist);
  r.master_text = std::move(text);
  r.master_written = true;
  post_element_message(self, box,
                       gst_structure_new("hls-playlist-updated", "variant", G_TYPE_STRING, "", "location",
                                         G_TYPE_STRING, join(r.cfg.location, r.cfg.master_name).c_str(), nullptr));
}

// ---------------------------------------------------------------------------------------------
// The alignment engine

static VideoTrack* reference(Runtime& r) { return r.videos.empty() ? nullptr : r.videos.front().get(); }


// Moves what is known of segment k of one variant out of its pending queue; writes the segment
// when complete. Returns true when it made progress.
static bool advance_video(GstHlsAdaptiveSink* self, Runtime& r, VideoTrack& t, Outbox& box, bool& ok) {
  Rendition& out = t.out;
  if (out.finished || r.boundaries.empty()) return false;
  const VideoTrack* ref = reference(r);
  const bool is_ref = ref == &t;
  bool progress = false;
  if (!out.started) {
    while (!t.pending.empty() &&
           !(t.pending.front().keyframe && t.pending.front().pts >= r.boundaries[0] - r.tolerance)) {
      t.pending.pop_front();
      t.dropped++;
      progress = true;
    }
    if (t.pending.empty()) return progress;
    // Default names depend on the other variants' heights: wait until every video pad has
    // caps so the names do not depend on thread timing (bounded: a pad that never gets caps
    // must not hold the others back for more than kNamingWait).
    if (out.name.empty() && !all_videos_configured(r) &&
        t.pending.back().pts - t.pending.front().pts < kNamingWait)
      return progress;
    out.started = true;
    out.seg_start = t.pending.front().pts;
    if (out.name.empty()) {
      out.name = variant_name_for(r, t);
      setup_rendition(r, out, out.name);
    }
  }
  if (!out.cut_found) {
    const size_t k = out.seg_index;
    const bool next_known = r.boundaries.size() > k + 1;
    size_t i = 0;
    for (; i < t.pending.size(); ++i) {
      const Frame& f = t.pending[i];
      // (The segment's own first keyframe is no cut, even when parts already took every frame.)
      if (!f.keyframe || (out.seg_frames.empty() && out.parts_in_segment == 0 && i == 0)) continue;
      if (f.discont) break;  // a discontinuity always starts a new segment
      if (next_known) {
        if (f.pts >= r.boundaries[k + 1] - r.tolerance) {
          if (f.pts > r.boundaries[k + 1] + r.tolerance) t.misaligned++;
          break;
        }
      } else if (!(is_ref ? f.certain : f.pts + r.tolerance <= r.ref_progress)) {
        break;  // could become the boundary: wait
      }
    }
    if (i < t.pending.size())
      GST_LOG("%s: segment %zu waits at keyframe %" GST_TIME_FORMAT " (boundaries %zu, ref progress %" GST_TIME_FORMAT
              ")", t.pad_name.c_str(), k, GST_TIME_ARGS(t.pending[i].pts), r.boundaries.size(),
              GST_TIME_ARGS(r.ref_progress));
    // Frames [0, i) belong to segment k.
    for (size_t j = 0; j < i; ++j) {
      out.seg_frames.push_back(std::move(t.pending.front()));
      t.pending.pop_front();
      progress = true;
    }
    if (!t.pending.empty()) {
      const Frame& f = t.pending.front();
      if (f.keyframe && (f.discont || (next_known && f.pts >= r.boundaries[k + 1] - r.tolerance))) {
        out.cut_found = true;
        out.cut_end = f.pts;
        out.cut_discont = f.discont;
      }
    } else if (t.eos && (next_known || ref->eos)) {
      out.cut_found = true;
      out.cut_end = -1;
    }
    if (!out.cut_found) write_parts(self, r, out, false, kNoTime, -1, t.max_pts, box, ok);
  }
  if (!out.cut_found) return progress;
  // Video of segment k complete; TS variants also need its audio.
  const size_t k = out.seg_index;
  const int64_t audio_end = r.boundaries.size() > k + 1 ? r.boundaries[k + 1] : -1;
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  std::vector<Frame> audio;
  if (!fmp4 && r.audio) {
    if (!audio_ready_until(r, audio_end, t.max_pts)) return progress;
    const int64_t lo = k == 0 ? INT64_MIN : r.boundaries[k];
    for (auto& a : r.audio->frames)
      if (a.pts >= lo && (audio_end < 0 || a.pts < audio_end)) audio.push_back(a);
  }
  if (out.seg_frames.empty() && out.parts_in_segment == 0) {
    out.cut_found = false;
    if (out.cut_end < 0) out.finished = true;
    return progress;
  }
  // Across a discontinuity the segment ends with its last frame, not at the next start.
  const bool continues = !out.cut_discont && out.cut_end >= 0 && !t.pending.empty();
  finish_segment(self, r, out, audio, continues ? out.cut_end : -1, continues ? t.pending.front().dts : kNoTime,
                 audio_end, box, ok);
  out.audio_cursor = audio_end < 0 ? INT64_MAX : audio_end;
  out.cut_discont = false;
  if (!t.pending.empty()) {
    if (t.pending.front().discont) {
      out.discont_next = true;
      t.pending.front().discont = false;
    }
    out.seg_start = t.pending.front().pts;
  }
  if (out.cut_end < 0) out.finished = true;
  out.cut_found = false;
  return true;
}

// fMP4 audio rendition: segment k = audio with B[k] <= PTS < B[k+1].
static bool advance_audio(GstHlsAdaptiveSink* self, Runtime& r, Outbox& box, bool& ok) {
  if (!r.audio || !r.audio->out || r.boundaries.empty()) return false;
  AudioTrack& a = *r.audio;
  Rendition& out = *a.out;
  if (out.finished) return false;
  bool progress = false;
  if (!out.started) {
    while (!a.pending.empty() && a.pending.front().pts < r.boundaries[0]) {
      a.pending.pop_front();
      progress = true;
    }
    if (a.pending.empty() && !a.eos) return progress;
    out.started = true;
  }
  const VideoTrack* ref = reference(r);
  const size_t k = out.seg_index;
  const bool next_known = r.boundaries.size() > k + 1;
  const int64_t limit = next_known ? r.boundaries[k + 1] : r.ref_progress;
  while (!a.pending.empty() && a.pending.front().pts < limit) {
    if (out.seg_frames.empty() && out.parts_in_segment == 0) out.seg_start = a.pending.front().pts;
    out.seg_frames.push_back(std::move(a.pending.front()));
    a.pending.pop_front();
    progress = true;
  }
  const bool complete = (next_known && (!a.pending.empty() || a.eos)) || (a.eos && ref && ref->eos && !next_known);
  if (!complete) {
    write_parts(self, r, out, false, kNoTime, -1, -1, box, ok);
    return progress;
  }
  if (!next_known) {  // the end: everything left
    while (!a.pending.empty()) {
      if (out.seg_frames.empty() && out.parts_in_segment == 0) out.seg_start = a.pending.front().pts;
      out.seg_frames.push_back(std::move(a.pending.front()));
      a.pending.pop_front();
    }
  }
  if (out.seg_frames.empty() && out.seg_bytes.empty()) {
    if (!next_known) out.finished = true;
    else out.seg_index++;  // no audio in this segment
    return true;
  }
  std::vector<Frame> none;
  finish_segment(self, r, out, none, a.pending.empty() ? -1 : a.pending.front().pts,
                 a.pending.empty() ? kNoTime : a.pending.front().dts, -1, box, ok);
  if (!next_known) out.finished = true;
  return true;
}

// Sends force-key-unit upstream for the grid boundaries up to two target durations ahead.
// A pad gets its requests only once its encoder has produced output: GstVideoEncoder (1.22)
// evaluates requests that arrive before its first frame against a not yet adjusted segment,
// fires them all at once and then never again.
static void request_key_units(Runtime& r, int64_t now, Outbox& box) {
  if (r.boundaries.empty() || !r.ref_follows_requests) return;
  const int64_t target = r.cfg.target_duration;
  if (r.next_request < 0) r.next_request = r.boundaries[0] + target;
  while (r.next_request <= now + 2 * target) {
    r.grid.push_back(r.next_request);
    r.next_request += target;
  }
  for (auto& t : r.videos) {
    if (t->max_pts < 0) continue;
    for (; t->grid_sent < r.grid.size(); ++t->grid_sent) {
      box.events.emplace_back(GST_PAD(gst_object_ref(t->pad)),
                              gst_video_event_new_upstream_force_key_unit(GstClockTime(r.grid[t->grid_sent]), TRUE,
                                                                          guint(t->grid_sent)));
      r.requests_sent++;
    }
  }
}

static void process(GstHlsAdaptiveSink* self, Runtime& r, Outbox& box) {
  bool ok = true;
  bool progress = true;
  while (progress && ok) {
    progress = false;
    for (auto& t : r.videos) progress |= advance_video(self, r, *t, box, ok);
    progress |= advance_audio(self, r, box, ok);
  }
  if (!ok) {
    r.failed = true;
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not write HLS output in %s", r.cfg.location.c_str()),
                      ("%s", r.last_error.c_str()));
    return;
  }
  // TS: audio frames every variant has written can go.
  if (r.audio && r.cfg.format == GST_HLS_SEGMENT_FORMAT_MPEGTS && !r.videos.empty()) {
    size_t min_k = SIZE_MAX;
    for (auto& t : r.videos) min_k = std::min<size_t>(min_k, t->out.finished ? SIZE_MAX - 1 : t->out.seg_index);
    if (min_k < r.boundaries.size()) {
      const int64_t lo = r.boundaries[min_k];
      while (!r.audio->frames.empty() && r.audio->frames.front().pts < lo) r.audio->frames.pop_front();
    }
  }
  bool any_segment = false;
  for (Rendition* out : all_renditions(r)) any_segment |= out->segments > 0;
  if (any_segment) write_master(self, r, box, ok);

  // End of stream: every input ended and every rendition finished.
  bool all_eos = !r.videos.empty();
  for (auto& t : r.videos) all_eos &= t->eos;
  if (r.audio) all_eos &= r.audio->eos;
  if (all_eos && !r.eos_posted) {
    for (Rendition* out : all_renditions(r)) {
      if (!out->playlist) continue;
      out->playlist->end();
      write_playlist(self, r, *out, box, ok);
    }
    write_master(self, r, box, ok);
    r.eos_posted = true;
    box.messages.push_back(gst_message_new_eos(GST_OBJECT(self)));
  }
}

static void flush_outbox(GstHlsAdaptiveSink* self, Outbox& box) {
  for (auto& [pad, event] : box.events) {
    gst_pad_push_event(pad, event);
    gst_object_unref(pad);
  }
  for (GstMessage* m : box.messages) gst_element_post_message(GST_ELEMENT(self), m);
  box = {};
}

// ---------------------------------------------------------------------------------------------
// Pads

static VideoTrack* find_video(Runtime& r, GstPad* pad) {
  for (auto& t : r.videos)
    if (t->pad == pad) return t.get();
  return nullptr;
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
    Frame f;
    VideoTrack* t = find_video(r, pad);
    AudioTrack* a = r.audio && r.audio->pad == pad ? r.audio.get() : nullptr;
    if (!t && !a) {  // released pad
      gst_buffer_unref(buf);
      return GST_FLOW_FLUSHING;
    }
    GstSegment* seg = t ? &t->segment : &a->segment;
    if (!GST_BUFFER_PTS_IS_VALID(buf) || (t && !t->config) || (a && !a->config)) {
      GST_WARNING_OBJECT(pad, "dropping buffer without PTS or caps");
      gst_buffer_unref(buf);
      return GST_FLOW_OK;
    }
    const guint64 pts = GST_BUFFER_PTS(buf);
    const guint64 dts = GST_BUFFER_DTS_IS_VALID(buf) ? GST_BUFFER_DTS(buf) : pts;
    guint64 rt_pts = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
    if (rt_pts == GST_CLOCK_TIME_NONE) {
      gst_buffer_unref(buf);
      return GST_FLOW_OK;  // outside the segment
    }
    f.pts = int64_t(rt_pts);
    f.dts = f.pts - (int64_t(pts) - int64_t(dts));
    f.duration = GST_BUFFER_DURATION_IS_VALID(buf) ? int64_t(GST_BUFFER_DURATION(buf)) : -1;
    if (f.duration < 0) {  // parsers do not always say: 1024 samples per AAC frame, 1/fps
      const StreamConfig* c = t ? t->config.get() : a->config.get();
      if (c->kind == Kind::aac && c->aac.sample_rate)
        f.duration = int64_t(gst_util_uint64_scale(1024, GST_SECOND, c->aac.sample_rate));
      else if (c->kind != Kind::aac && c->fps_n > 0)
        f.duration = int64_t(gst_util_uint64_scale(GST_SECOND, c->fps_d, c->fps_n));
    }
    f.discont = GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT);
    if (gst_buffer_get_size(buf) > kMaxFrameBytes) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Frame larger than %zu bytes", kMaxFrameBytes), (nullptr));
      gst_buffer_unref(buf);
      return GST_FLOW_ERROR;
    }
    GstMapInfo m;
    if (gst_buffer_map(buf, &m, GST_MAP_READ)) {
      f.data.assign(m.data, m.data + m.size);
      gst_buffer_unmap(buf, &m);
    }
    if (t) {
      f.keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
      f.config = t->config;
      if (t->discont_pending) {  // caps change: a new segment with EXT-X-DISCONTINUITY
        t->discont_pending = false;
        if (!t->pending.empty() || t->out.started) f.discont = f.keyframe;
      }
      if (f.discont && !t->out.started && t->pending.empty()) f.discont = false;
      if (t->config->codec_string.empty()) {
        auto c = std::make_shared<StreamConfig>(*t->config);
        learn_codec_from_annexb(*c, f.data);
        if (!c->codec_string.empty()) t->config = c;
      }
      if (t->pending.size() >= kMaxPendingFramesPerPad) {
        GST_ELEMENT_ERROR(self, STREAM, FAILED,
                          ("Variant %s is more than %zu frames ahead of the reference", t->pad_name.c_str(),
                           kMaxPendingFramesPerPad),
                          (nullptr));
        r.failed = true;
        gst_buffer_unref(buf);
        return GST_FLOW_ERROR;
      }
      if (t == reference(r)) {
        if (f.keyframe) {
          const int64_t half_frame =
              t->config->fps_n > 0 ? int64_t(gst_util_uint64_scale(GST_SECOND, t->config->fps_d, 2 * t->config->fps_n))
                                   : r.tolerance;
          if (r.boundaries.empty()) {
            r.boundaries.push_back(f.pts);
            r.tolerance = std::max<int64_t>(kDefaultAlignTolerance, half_frame);
            r.wall_anchor_ms = g_get_real_time() / 1000;
            r.wall_anchor_rt = f.pts;
          } else if (f.discont || f.pts >= r.boundaries.back() + r.cfg.target_duration - half_frame) {
            r.boundaries.push_back(f.pts);
            // Only the newest requests matter (older boundaries are long decided).
            const auto from = r.grid.size() > 8 ? r.grid.end() - 8 : r.grid.begin();
            const bool on_grid =
                std::any_of(from, r.grid.end(), [&](int64_t g) { return std::llabs(g - f.pts) <= half_frame; });
            if (f.discont) {
              r.next_request = f.pts + r.cfg.target_duration;  // the grid restarts here
            } else if (!on_grid) {
              // The reference does not follow the requests (passthrough): from now on its
              // keyframes decide, and the others are asked for a key unit right there.
              if (r.ref_follows_requests)
                GST_INFO_OBJECT(self, "reference keyframe at %" GST_TIME_FORMAT " is off the requested grid: "
                                "following the reference", GST_TIME_ARGS(f.pts));
              r.ref_follows_requests = false;
              for (auto& o : r.videos)
                if (o.get() != t)
                  box.events.emplace_back(GST_PAD(gst_object_ref(o->pad)),
                                          gst_video_event_new_upstream_force_key_unit(GstClockTime(f.pts), TRUE, 0));
            }
          }
          f.certain = true;
        }
        r.ref_progress = std::max(r.ref_progress, f.pts);
      }
      t->max_pts = std::max(t->max_pts, f.pts);
      t->pending.push_back(std::move(f));
      request_key_units(r, t->max_pts, box);
    } else {
      f.keyframe = true;
      f.config = a->config;
      a->max_pts = std::max(a->max_pts, f.pts);
      if (a->out) a->pending.push_back(f);
      else a->frames.push_back(std::move(f));
    }
    gst_buffer_unref(buf);
    r.chain_arrival_us = arrived_us;
    process(self, r, box);
    r.chain_arrival_us = -1;
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
      std::string why;
      auto c = config_from_caps(caps, why);
      if (!c) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Unusable caps on %s: %s", GST_PAD_NAME(pad), why.c_str()), (nullptr));
        ret = FALSE;
        break;
      }
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      if (VideoTrack* t = find_video(r, pad)) {
        if (t->config && t->config->codec_data != c->codec_data) t->discont_pending = true;
        t->config = c;
      } else if (r.audio && r.audio->pad == pad) {
        r.audio->config = c;
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
      if (VideoTrack* t = find_video(r, pad)) gst_segment_copy_into(seg, &t->segment);
      else if (r.audio && r.audio->pad == pad) gst_segment_copy_into(seg, &r.audio->segment);
      break;
    }
    case GST_EVENT_EOS: {
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      if (VideoTrack* t = find_video(r, pad)) t->eos = true;
      else if (r.audio && r.audio->pad == pad) r.audio->eos = true;
      if (r.running && !r.failed) process(self, r, box);
      break;
    }
    case GST_EVENT_FLUSH_STOP: {
      std::lock_guard lock(p.state_lock);
      Runtime& r = p.rt;
      if (VideoTrack* t = find_video(r, pad)) t->eos = false;
      else if (r.audio && r.audio->pad == pad) r.audio->eos = false;
      break;
    }
    default: break;
  }
  gst_event_unref(event);
  flush_outbox(self, box);
  return ret;
}

static GstPad* request_new_pad(GstElement* element, GstPadTemplate* templ, const gchar* req_name, const GstCaps*) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  Private& p = P(self);
  const bool video = g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video_%u");
  std::string name;
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
    if (req_name && sscanf(req_name, video ? "video_%u" : "audio_%u", &index) == 1) {
    }
    name = (video ? "video_" : "audio_") + std::to_string(index);
    if (video) p.next_video = std::max(p.next_video, index + 1);
    else p.next_audio = std::max(p.next_audio, index + 1);
  }
  GstPad* pad = GST_PAD(g_object_new(GST_TYPE_HLS_SINK_PAD, "name", name.c_str(), "direction", GST_PAD_SINK,
                                     "template", templ, nullptr));
  gst_pad_set_chain_function(pad, sink_chain);
  gst_pad_set_event_function(pad, sink_event);
  GST_PAD_SET_PROXY_CAPS(pad);
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    if (video) {
      auto t = std::make_unique<VideoTrack>();
      t->pad = pad;
      t->pad_name = name;
      gst_segment_init(&t->segment, GST_FORMAT_TIME);
      // Keep pad order: the lowest-numbered video pad is the reference.
      auto pos = std::find_if(r.videos.begin(), r.videos.end(), [&](auto& o) {
        return std::stoul(o->pad_name.substr(6)) > std::stoul(name.substr(6));
      });
      r.videos.insert(pos, std::move(t));
    } else {
      r.audio = std::make_unique<AudioTrack>();
      r.audio->pad = pad;
      gst_segment_init(&r.audio->segment, GST_FORMAT_TIME);
    }
  }
  gst_pad_set_active(pad, TRUE);
  gst_element_add_pad(element, pad);
  return pad;
}

static void release_pad(GstElement* element, GstPad* pad) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  Private& p = P(self);
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    r.videos.erase(std::remove_if(r.videos.begin(), r.videos.end(), [&](auto& t) { return t->pad == pad; }),
                   r.videos.end());
    if (r.audio && r.audio->pad == pad) r.audio.reset();
  }
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
  std::error_code ec;
  fs::create_directories(r.cfg.location, ec);
  if (ec) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("Cannot create %s: %s", r.cfg.location.c_str(), ec.message().c_str()),
                      (nullptr));
    return false;
  }
  const bool fmp4 = r.cfg.format == GST_HLS_SEGMENT_FORMAT_FMP4;
  r.key = {};
  r.key.enabled = r.cfg.encrypt || !r.cfg.key_uri.empty() || !r.cfg.key_file.empty();
  if (r.key.enabled && r.cfg.low_latency) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("AES-128 (whole-segment CBC) cannot be combined with low-latency parts"),
                      (nullptr));
    return false;
  }
  if (r.key.enabled && fmp4) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("AES-128 encryption is implemented for segment-format=mpegts only"),
                      (nullptr));
    return false;
  }
  if (r.key.enabled && !r.cfg.key_file.empty()) {
    std::ifstream f(r.cfg.key_file, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(r.key.key.data()), 16)) {
      GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot read a 16-byte key from %s", r.cfg.key_file.c_str()), (nullptr));
      return false;
    }
    r.key.generated = false;
  }
  for (auto& t : r.videos) {
    std::string name = t->out.name;
    t->out = Rendition{};
    t->pending.clear();
    t->eos = false;
    t->max_pts = -1;
    t->dropped = t->misaligned = 0;
    t->grid_sent = 0;
    gst_segment_init(&t->segment, GST_FORMAT_TIME);
  }
  if (r.audio) {
    r.audio->frames.clear();
    r.audio->pending.clear();
    r.audio->eos = false;
    r.audio->max_pts = -1;
    r.audio->out.reset();
    gst_segment_init(&r.audio->segment, GST_FORMAT_TIME);
    if (fmp4) {
      r.audio->out.emplace();
      setup_rendition(r, *r.audio->out, "audio");
    }
  }
  r.boundaries.clear();
  r.ref_progress = -1;
  r.next_request = -1;
  r.grid.clear();
  r.ref_follows_requests = true;
  r.requests_sent = 0;
  r.wall_anchor_ms.reset();
  r.master_written = false;
  r.master_text.clear();
  r.eos_posted = false;
  r.files_deleted = r.bytes_written = r.segments_written = r.parts_written = 0;
  r.failed = false;
  r.upload_failures = 0;
  r.audio_lag_events = 0;
  r.last_error.clear();
  if (!r.cfg.upload_location.empty()) {
    http::HttpUploaderConfig uc;
    uc.base_url = r.cfg.upload_location;
    if (!uc.base_url.empty() && uc.base_url.back() != '/') uc.base_url += '/';
    GstHlsAdaptiveSink* weak = self;
    r.uploader = std::make_unique<http::HttpUploader>(uc, [weak](const http::UploadFailure& fail) {
      GST_ELEMENT_WARNING(weak, RESOURCE, WRITE,
                          ("Upload of %s failed after %u attempts: %s", fail.url.c_str(), fail.attempts,
                           fail.reason.c_str()),
                          (nullptr));
    });
    auto st = r.uploader->start();
    if (!st) {
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Bad upload-location: %s", st.error().describe().c_str()), (nullptr));
      r.uploader.reset();
      return false;
    }
  }
  if (r.cfg.http_port) {
    http::HlsHttpServerConfig sc;
    sc.root_dir = r.cfg.location;
    sc.index_file = r.cfg.http_index_file;
    sc.url_prefix = r.cfg.http_prefix;
    sc.target_duration_ms = r.cfg.target_duration / int64_t(GST_MSECOND);
    r.server = std::make_unique<http::HlsHttpServer>(sc);
    if (r.cfg.low_latency) r.server->set_part_target_ms(r.cfg.part_duration / int64_t(GST_MSECOND));
    auto port = r.server->start(r.cfg.http_address, uint16_t(r.cfg.http_port));
    if (!port) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE,
                        ("Cannot serve HTTP on %s:%u%s: %s", r.cfg.http_address.c_str(), r.cfg.http_port,
                         r.cfg.http_prefix.c_str(), port.error().describe().c_str()),
                        (nullptr));
      r.server.reset();
      return false;
    }
    GST_INFO_OBJECT(self, "serving %s on http://%s:%u%s/", r.cfg.location.c_str(), r.cfg.http_address.c_str(), *port,
                    r.cfg.http_prefix.c_str());
  }
  r.running = true;
  return true;
}

static void stop(GstHlsAdaptiveSink* self) {
  Private& p = P(self);
  std::unique_ptr<http::HlsHttpServer> server;
  std::unique_ptr<http::HttpUploader> uploader;
  {
    std::lock_guard lock(p.state_lock);
    Runtime& r = p.rt;
    r.running = false;
    server = std::move(r.server);
    uploader = std::move(r.uploader);
    for (auto& t : r.videos) {
      t->pending.clear();
      t->out.seg_frames.clear();
    }
  }
  if (uploader) uploader->stop(true);
  if (server) server->stop();
}

static GstStateChangeReturn change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_HLS_ADAPTIVE_SINK(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_hls_adaptive_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) stop(self);
  return ret;
}

// ---------------------------------------------------------------------------------------------
// Properties

static GstStructure* make_stats(GstHlsAdaptiveSink* self) {
  Private& p = P(self);
  std::lock_guard lock(p.state_lock);
  Runtime& r = p.rt;
  uint64_t dropped = 0, misaligned = 0;
  for (auto& t : r.videos) {
    dropped += t->dropped;
    misaligned += t->misaligned;
  }
  GstStructure* s = gst_structure_new(
      "hlsadaptivesink-stats", "variants", G_TYPE_UINT, guint(r.videos.size()), "segments-written", G_TYPE_UINT64,
      guint64(r.segments_written), "parts-written", G_TYPE_UINT64, guint64(r.parts_written), "bytes-written",
      G_TYPE_UINT64, guint64(r.bytes_written), "files-deleted", G_TYPE_UINT64, guint64(r.files_deleted),
      "boundaries", G_TYPE_UINT64, guint64(r.boundaries.size()), "key-unit-requests", G_TYPE_UINT64,
      guint64(r.requests_sent), "reference-follows-requests", G_TYPE_BOOLEAN, gboolean(r.ref_follows_requests),
      "audio-lag-segments", G_TYPE_UINT64, guint64(r.audio_lag_events), "dropped-frames", G_TYPE_UINT64, guint64(dropped), "misaligned-cuts", G_TYPE_UINT64,
      guint64(misaligned), "http-port", G_TYPE_UINT, guint(r.server ? r.server->port() : 0), nullptr);
  if (r.uploader) {
    auto us = r.uploader->stats();
    gst_structure_set(s, "uploads-ok", G_TYPE_UINT64, guint64(us.puts_ok), "deletes-ok", G_TYPE_UINT64,
                      guint64(us.deletes_ok), "upload-failures", G_TYPE_UINT64, guint64(us.failures), nullptr);
  }
  {
    std::vector<int64_t> v(r.packaging_latency_us.begin(), r.packaging_latency_us.end());
    std::sort(v.begin(), v.end());
    auto pct = [&](size_t q) { return v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * q / 100)]; };
    gst_structure_set(s, "packaging-latency-count", G_TYPE_UINT64, guint64(r.packaging_latency_count),
                      "packaging-latency-p50-us", G_TYPE_INT64, gint64(pct(50)), "packaging-latency-p99-us",
                      G_TYPE_INT64, gint64(pct(99)), "packaging-latency-max-us", G_TYPE_INT64,
                      gint64(v.empty() ? 0 : v.back()), nullptr);
  }
  for (auto& t : r.videos) {
    std::string prefix = t->out.name.empty() ? t->pad_name : t->out.name;
    gst_structure_set(s, (prefix + "-peak-bitrate").c_str(), G_TYPE_UINT64, guint64(t->out.peak_bps), nullptr);
  }
  return s;
}

static void set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_HLS_ADAPTIVE_SINK(object);
  Settings& s = P(self).settings;
  GST_OBJECT_LOCK(self);
  auto str = [&] { const char* v = g_value_get_string(value); return std::string(v ? v : ""); };
  switch (id) {
    case PROP_LOCATION: s.location = str(); break;
    case PROP_TARGET_DURATION: s.target_duration = int64_t(g_value_get_uint64(value)); break;
    case PROP_PLAYLIST_LENGTH: s.playlist_length = g_value_get_uint(value); break;
    case PROP_MAX_FILES: s.max_files = g_value_get_uint(value); break;
    case PROP_SEGMENT_FORMAT: s.format = GstHlsSegmentFormat(g_value_get_enum(value)); break;
    case PROP_LOW_LATENCY: s.low_latency = g_value_get_boolean(value); break;
    case PROP_PART_DURATION: s.part_duration = int64_t(g_value_get_uint64(value)); break;
    case PROP_PROGRAM_DATE_TIME: s.program_date_time = g_value_get_boolean(value); break;
    case PROP_HTTP_PORT: s.http_port = g_value_get_uint(value); break;
    case PROP_HTTP_ADDRESS: s.http_address = str(); break;
    case PROP_HTTP_INDEX_FILE: s.http_index_file = str(); break;
    case PROP_HTTP_PREFIX: s.http_prefix = str(); break;
    case PROP_UPLOAD_LOCATION: s.upload_location = str(); break;
    case PROP_ENCRYPT: s.encrypt = g_value_get_boolean(value); break;
    case PROP_KEY_URI: s.key_uri = str(); break;
    case PROP_KEY_FILE: s.key_file = str(); break;
    case PROP_KEY_ROTATION: s.key_rotation = g_value_get_uint(value); break;
    case PROP_MASTER_NAME: s.master_name = str(); break;
    case PROP_PLAYLIST_NAME: s.playlist_name = str(); break;
    case PROP_FLAT: s.flat = g_value_get_boolean(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

static void get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_HLS_ADAPTIVE_SINK(object);
  if (id == PROP_STATS) {
    g_value_take_boxed(value, make_stats(self));
    return;
  }
  Settings& s = P(self).settings;
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_LOCATION: g_value_set_string(value, s.location.c_str()); break;
    case PROP_TARGET_DURATION: g_value_set_uint64(value, guint64(s.target_duration)); break;
    case PROP_PLAYLIST_LENGTH: g_value_set_uint(value, s.playlist_length); break;
    case PROP_MAX_FILES: g_value_set_uint(value, s.max_files); break;
    case PROP_SEGMENT_FORMAT: g_value_set_enum(value, s.format); break;
    case PROP_LOW_LATENCY: g_value_set_boolean(value, s.low_latency); break;
    case PROP_PART_DURATION: g_value_set_uint64(value, guint64(s.part_duration)); break;
    case PROP_PROGRAM_DATE_TIME: g_value_set_boolean(value, s.program_date_time); break;
    case PROP_HTTP_PORT: g_value_set_uint(value, s.http_port); break;
    case PROP_HTTP_ADDRESS: g_value_set_string(value, s.http_address.c_str()); break;
    case PROP_HTTP_INDEX_FILE: g_value_set_string(value, s.http_index_file.c_str()); break;
    case PROP_HTTP_PREFIX: g_value_set_string(value, s.http_prefix.c_str()); break;
    case PROP_UPLOAD_LOCATION: g_value_set_string(value, s.upload_location.c_str()); break;
    case PROP_ENCRYPT: g_value_set_boolean(value, s.encrypt); break;
    case PROP_KEY_URI: g_value_set_string(value, s.key_uri.c_str()); break;
    case PROP_KEY_FILE: g_value_set_string(value, s.key_file.c_str()); break;
    case PROP_KEY_ROTATION: g_value_set_uint(value, s.key_rotation); break;
    case PROP_MASTER_NAME: g_value_set_string(value, s.master_name.c_str()); break;
    case PROP_PLAYLIST_NAME: g_value_set_string(value, s.playlist_name.c_str()); break;
    case PROP_FLAT: g_value_set_boolean(value, s.flat); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
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
  const auto rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location", "Output directory (created if missing)", ".", rw));
  g_object_class_install_property(gobject_class, PROP_TARGET_DURATION,
      g_param_spec_uint64("target-duration", "Target duration",
                          "Segment duration in ns: a segment ends at the first reference keyframe at or after it",
                          100 * GST_MSECOND, 60 * GST_SECOND, 2 * GST_SECOND, rw));
  g_object_class_install_property(gobject_class, PROP_PLAYLIST_LENGTH,
      g_param_spec_uint("playlist-length", "Playlist length", "Segments listed in each media playlist (0 = all)", 0,
                        100000, 6, rw));
  g_object_class_install_property(gobject_class, PROP_MAX_FILES,
      g_param_spec_uint("max-files", "Max files",
                        "Segments kept on disk after they left the playlist, per rendition, before deletion", 0,
                        100000, 10, rw));
  g_object_class_install_property(gobject_class, PROP_SEGMENT_FORMAT,
      g_param_spec_enum("segment-format", "Segment format", "Container of the segments", segment_format_get_type(),
                        GST_HLS_SEGMENT_FORMAT_MPEGTS, rw));
  g_object_class_install_property(gobject_class, PROP_LOW_LATENCY,
      g_param_spec_boolean("low-latency", "Low latency",
                           "LL-HLS: partial segments, preload hints, rendition reports (not with AES-128)", FALSE,
                           rw));
  g_object_class_install_property(gobject_class, PROP_PART_DURATION,
      g_param_spec_uint64("part-duration", "Part duration", "LL-HLS part duration (PART-TARGET) in ns",
                          50 * GST_MSECOND, 5 * GST_SECOND, 333 * GST_MSECOND, rw));
  g_object_class_install_property(gobject_class, PROP_PROGRAM_DATE_TIME,
      g_param_spec_boolean("program-date-time", "Program date time", "Write EXT-X-PROGRAM-DATE-TIME", TRUE, rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_PORT,
      g_param_spec_uint("http-port", "HTTP port", "Serve location over HTTP on this port (0 = no server)", 0, 65535, 0,
                        rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_ADDRESS,
      g_param_spec_string("http-address", "HTTP address", "Address the HTTP server listens on", "0.0.0.0", rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_INDEX_FILE,
      g_param_spec_string("http-index-file", "HTTP index file",
                          "File served at / by the HTTP server (e.g. a player page); empty = none", "", rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_PREFIX,
      g_param_spec_string("http-prefix", "HTTP prefix",
                          "URL path under which the playlists are served on http-port (e.g. /live/cam1 serves "
                          "/live/cam1/master.m3u8), so several sinks (and flvrelaysink) can share one port; "
                          "empty = /",
                          "", rw));
  g_object_class_install_property(gobject_class, PROP_UPLOAD_LOCATION,
      g_param_spec_string("upload-location", "Upload location",
                          "URL prefix to PUT every file to (and DELETE old segments from); empty = no upload", "", rw));
  g_object_class_install_property(gobject_class, PROP_ENCRYPT,
      g_param_spec_boolean("encrypt", "Encrypt",
                           "AES-128 encrypt segments (also on when encryption-key-uri or -file is set)", FALSE, rw));
  g_object_class_install_property(gobject_class, PROP_KEY_URI,
      g_param_spec_string("encryption-key-uri", "Encryption key URI",
                          "URI written in EXT-X-KEY (\"%u\" is replaced by the key index); empty = the key file "
                          "written into location",
                          "", rw));
  g_object_class_install_property(gobject_class, PROP_KEY_FILE,
      g_param_spec_string("encryption-key-file", "Encryption key file",
                          "File holding the 16-byte AES key; empty = generate keys", "", rw));
  g_object_class_install_property(gobject_class, PROP_KEY_ROTATION,
      g_param_spec_uint("key-rotation", "Key rotation", "New generated key every N segments (0 = never)", 0, 1000000, 0,
                        rw));
  g_object_class_install_property(gobject_class, PROP_MASTER_NAME,
      g_param_spec_string("playlist-name", "Multivariant playlist name", "File name of the multivariant playlist",
                          "master.m3u8", rw));
  g_object_class_install_property(gobject_class, PROP_PLAYLIST_NAME,
      g_param_spec_string("variant-playlist-name", "Media playlist name", "File name of each media playlist",
                          "index.m3u8", rw));
  g_object_class_install_property(gobject_class, PROP_FLAT,
      g_param_spec_boolean("flat", "Flat layout",
                           "All files in location with a <variant>_ prefix instead of one directory per variant",
                           FALSE, rw));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "Counters (segments, bytes, deletions, alignment)", GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template_with_gtype(element_class, &video_template, GST_TYPE_HLS_SINK_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &audio_template, GST_TYPE_HLS_SINK_PAD);
  gst_element_class_set_static_metadata(element_class, "Adaptive HLS sink", "Sink/Muxer",
                                        "Aligned multi-variant HLS / LL-HLS (MPEG-TS or fMP4) to files, HTTP and PUT",
                                        "gst-live-server");
  element_class->request_new_pad = request_new_pad;
  element_class->release_pad = release_pad;
  element_class->change_state = change_state;
  gst_type_mark_as_plugin_api(segment_format_get_type(), GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_HLS_SINK_PAD, GstPluginAPIFlags(0));
}

static void gst_hls_adaptive_sink_init(GstHlsAdaptiveSink* self) {
  self->priv = new (self->priv_storage) Private();
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
