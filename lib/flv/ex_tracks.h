// Enhanced RTMP framing that audio and video tags share: the ModEx entries before the packet
// type, the multitrack byte and shared FourCC, and the per-track headers that follow.
// `media` ("audio"/"video") only names the error messages.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "common/byte_io.h"
#include "common/result.h"
#include "flv/video_tag.h"  // MultitrackType, kMaxTracksPerTag, kMaxModExEntries

namespace live::flv {

// Follows ModEx entries while `packet_type` is `mod_ex_type` and returns the real packet type.
// A TimestampOffsetNano entry sets `timestamp_offset_nanos`; other types are skipped by size.
Result<uint8_t> read_mod_ex(ByteReader& r, uint8_t packet_type, uint8_t mod_ex_type,
                            uint32_t& timestamp_offset_nanos, const char* media);

struct ExTrackHeader {
  bool multitrack = false;
  MultitrackType multitrack_type = MultitrackType::one_track;
  uint8_t packet_type = 0;     // of every track (for multitrack: from the multitrack byte)
  uint32_t shared_fourcc = 0;  // 0 with many_tracks_many_codecs (each track has its own)
};

// Reads what follows the packet type: the multitrack byte when `packet_type` is
// `multitrack_type` (nested multitrack/ModEx is malformed), then the shared FourCC.
Result<ExTrackHeader> read_ex_track_header(ByteReader& r, uint8_t packet_type, uint8_t multitrack_type,
                                           uint8_t mod_ex_type, const char* media);

struct ExTrack {
  uint8_t track_id = 0;
  uint32_t fourcc = 0;
  std::span<const uint8_t> body;
};

// Calls `on_track` for every track of the rest of `r` (one track for a plain E-RTMP tag), at
// most kMaxTracksPerTag.
Result<void> read_ex_tracks(ByteReader& r, const ExTrackHeader& header, const char* media,
                            const std::function<Result<void>(const ExTrack&)>& on_track);

}  // namespace live::flv
