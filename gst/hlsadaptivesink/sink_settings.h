// hlsadaptivesink's element properties: the settings they hold, their GParamSpecs, and the
// GstHlsSinkPad (per-variant pad properties).
#pragma once

#include <gst/gst.h>

#include <string>

#include "hls/segment_aligner.h"
#include "hlsadaptivesink.h"

namespace live::hlssink {

struct Settings {
  std::string location = ".";
  int64_t target_duration = 2 * GST_SECOND;
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
  bool in_memory = false;  // files kept for the HTTP server / uploader, none on disk
  bool post_messages = true;  // hls-segment-added / hls-playlist-updated on the bus
};

// What every hlsadaptivesink of the process may hold together for segmenting (property
// process-held-media-limit; 512 MiB until set).
inline constexpr uint64_t kDefaultProcessHeldMedia = 512ull << 20;
hls::HeldMediaBudget& process_held_media();

// Property ids: PROP_STATS is read by the element itself.
enum { PROP_0, PROP_STATS = 100 };

void install_properties(GObjectClass* klass);
// Call with GST_OBJECT_LOCK held. false: not a settings property.
bool set_setting(Settings& s, guint id, const GValue* value);
bool get_setting(const Settings& s, guint id, GValue* value);

}  // namespace live::hlssink
