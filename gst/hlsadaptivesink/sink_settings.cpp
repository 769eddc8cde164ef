#include "sink_settings.h"

namespace live::hlssink {

namespace {

enum {
  PROP_LOCATION = 1,
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
  PROP_PROCESS_HELD_MEDIA_LIMIT,
  PROP_IN_MEMORY,
  PROP_POST_MESSAGES,
};

GType segment_format_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_HLS_SEGMENT_FORMAT_MPEGTS, "MPEG-2 transport stream segments (.ts)", "mpegts"},
      {GST_HLS_SEGMENT_FORMAT_FMP4, "Fragmented MP4 / CMAF segments (.m4s, init.mp4)", "fmp4"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstHlsSegmentFormat", values));
  return type;
}

}  // namespace

hls::HeldMediaBudget& process_held_media() {
  static hls::HeldMediaBudget* budget = [] {
    auto* b = new hls::HeldMediaBudget;  // never freed: elements may outlive static destructors
    b->limit.store(kDefaultProcessHeldMedia);
    return b;
  }();
  return *budget;
}

void install_properties(GObjectClass* gobject_class) {
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
  g_object_class_install_property(gobject_class, PROP_IN_MEMORY,
      g_param_spec_boolean("in-memory", "In memory",
                           "Keep the output in memory instead of writing it to location: served on http-port "
                           "and/or uploaded to upload-location (one of them is needed). No file is created; "
                           "at most 512 MiB per sink and 2 GiB per process",
                           FALSE, rw));
  g_object_class_install_property(gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean("post-messages", "Post messages",
                           "Post hls-segment-added and hls-playlist-updated element messages (several a "
                           "second per rendition with low-latency; an application that does not read them "
                           "saves the work and the bus wakeups)",
                           TRUE, rw));
  g_object_class_install_property(gobject_class, PROP_PROCESS_HELD_MEDIA_LIMIT,
      g_param_spec_uint64("process-held-media-limit", "Process held media limit",
                          "Bytes of media ALL hlsadaptivesink elements of the process may hold together while "
                          "they wait for keyframe cuts (shared: the value set last applies to every one). When "
                          "it is full, a sink holding more than its fair share (limit / sinks) fails with an "
                          "error, so one publisher without keyframes cannot take the memory of the others",
                          1 << 20, G_MAXUINT64, kDefaultProcessHeldMedia,
                          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "Counters (segments, bytes, deletions, alignment)", GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  gst_type_mark_as_plugin_api(segment_format_get_type(), GstPluginAPIFlags(0));
}

bool set_setting(Settings& s, guint id, const GValue* value) {
  auto str = [&] {
    const char* v = g_value_get_string(value);
    return std::string(v ? v : "");
  };
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
    case PROP_IN_MEMORY: s.in_memory = g_value_get_boolean(value); break;
    case PROP_POST_MESSAGES: s.post_messages = g_value_get_boolean(value); break;
    case PROP_PROCESS_HELD_MEDIA_LIMIT: process_held_media().limit.store(g_value_get_uint64(value)); break;
    default: return false;
  }
  return true;
}

bool get_setting(const Settings& s, guint id, GValue* value) {
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
    case PROP_IN_MEMORY: g_value_set_boolean(value, s.in_memory); break;
    case PROP_POST_MESSAGES: g_value_set_boolean(value, s.post_messages); break;
    case PROP_PROCESS_HELD_MEDIA_LIMIT: g_value_set_uint64(value, process_held_media().limit.load()); break;
    default: return false;
  }
  return true;
}

}  // namespace live::hlssink
