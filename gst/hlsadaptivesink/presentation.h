// Presentation: what the renditions of one hlsadaptivesink share while it runs: settings, the
// output store, encryption keys, the audio muxed into MPEG-TS variants, the wall-clock anchor of
// EXT-X-PROGRAM-DATE-TIME, counters, and the element messages to post once the state lock is
// released. Also the multivariant playlist, written from every rendition's figures.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "hls/segment_aligner.h"
#include "media_frame.h"
#include "output_store.h"
#include "segment_keys.h"

namespace live::hlssink {

class RenditionWriter;

struct WriterSettings {
  bool fmp4 = false;
  bool low_latency = false;
  int64_t part_duration = 333'000'000;
  int64_t target_duration = 2 * kSecond;
  unsigned playlist_length = 6;
  unsigned max_files = 10;
  bool program_date_time = true;
  bool flat = false;
  bool post_messages = true;
  std::string playlist_name = "index.m3u8";
  std::string master_name = "master.m3u8";
};

// Monotonic time from a buffer's arrival to the rename of the playlist listing what it completed.
struct PackagingLatency {
  static constexpr size_t kWindow = 1000;  // samples behind the percentiles
  int64_t arrival_us = -1;                 // of the buffer being processed (-1 outside chain)
  std::deque<int64_t> samples_us;
  uint64_t count = 0;
  int64_t record();  // a sample now (-1 outside chain)
  int64_t percentile(size_t q) const;
};

// One variant's line in the multivariant playlist.
struct VariantEntry {
  const RenditionWriter* rendition = nullptr;
  const StreamConfig* config = nullptr;  // nullptr: no caps yet
  unsigned bitrate = 0;                  // from the pad; 0 = measured peak
};

struct Presentation {
  WriterSettings cfg;
  OutputStore store;
  SegmentKeys keys;
  hls::SegmentAligner* aligner = nullptr;  // MPEG-TS: when audio may be muxed
  std::deque<Frame> ts_audio;              // audio of the MPEG-TS variants, oldest first
  std::optional<int64_t> wall_anchor_ms;
  int64_t wall_anchor_rt = 0;
  uint64_t segments_written = 0;
  uint64_t parts_written = 0;
  std::vector<RenditionWriter*> renditions;  // variants first, then the audio rendition
  PackagingLatency latency;
  std::vector<GstStructure*> messages;  // element messages to post after the state lock
  std::string master_text;               // the multivariant playlist last written
  // What the master playlist was last rendered from: it only changes with a finished segment
  // (bitrates), a new stream configuration or a pad's bitrate, not with every buffer.
  std::vector<uintptr_t> master_inputs;
  struct WrittenBitrates {
    const RenditionWriter* rendition;
    uint64_t bandwidth;  // BANDWIDTH last written
    uint64_t average;    // AVERAGE-BANDWIDTH last written (0: none)
  };
  std::vector<WrittenBitrates> master_bitrates;

  std::string rel_to_playlist(const std::string& root_relative) const {
    return cfg.flat ? root_relative : "../" + root_relative;
  }
  std::optional<int64_t> program_date_time_ms(int64_t running_time) const;
  // Writes the multivariant playlist once every rendition has a segment, and when it changes.
  // audio: the fMP4 audio rendition (nullptr in MPEG-TS mode).
  Result<void> write_master(const std::vector<VariantEntry>& variants, const RenditionWriter* audio,
                            const StreamConfig* audio_config);
};

}  // namespace live::hlssink
