// Video tag headers: legacy FLV (FrameType + CodecID, AVCPacketType + composition time) and
// Enhanced RTMP v1/v2 (IsExHeader, VideoPacketType, FourCC, ModEx, multitrack).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"

namespace live::flv {

enum class FrameType : uint8_t {
  keyframe = 1,
  inter = 2,
  disposable_inter = 3,
  generated_keyframe = 4,
  command = 5,
};

// Legacy CodecID values (low nibble of the first byte without IsExHeader).
enum class LegacyVideoCodec : uint8_t {
  sorenson_h263 = 2,
  screen = 3,
  vp6 = 4,
  vp6_alpha = 5,
  screen2 = 6,
  avc = 7,
  hevc_ext = 12,  // non-standard but widespread (pre-E-RTMP Chinese CDN extension): AVC layout
};

enum class VideoPacketType : uint8_t {
  sequence_start = 0,
  coded_frames = 1,
  sequence_end = 2,
  coded_frames_x = 3,  // coded frames without the composition time field (it is 0)
  metadata = 4,
  mpeg2ts_sequence_start = 5,
  multitrack = 6,
  mod_ex = 7,
};

enum class MultitrackType : uint8_t { one_track = 0, many_tracks = 1, many_tracks_many_codecs = 2 };

// Limits on what a peer can make us do for one tag.
inline constexpr size_t kMaxTracksPerTag = 16;
inline constexpr size_t kMaxModExEntries = 8;

// One track's packet inside a video tag. For legacy AVC/HEVC the packet type is mapped onto
// the E-RTMP one (0 sequence header -> sequence_start, 1 NALU -> coded_frames, 2 -> sequence_end)
// and fourcc is avc1/hvc1; for other legacy codecs packet_type is coded_frames and fourcc 0.
struct VideoTrackPacket {
  uint8_t track_id = 0;
  uint32_t fourcc = 0;
  VideoPacketType packet_type = VideoPacketType::coded_frames;
  int32_t composition_time = 0;    // milliseconds, signed 24-bit on the wire
  std::span<const uint8_t> data;   // body after all headers; points into the parsed payload
};

struct VideoTag {
  bool enhanced = false;
  FrameType frame_type = FrameType::inter;
  uint8_t legacy_codec_id = 0;          // only without IsExHeader
  bool multitrack = false;
  MultitrackType multitrack_type = MultitrackType::one_track;
  std::optional<uint8_t> command;       // frame type 5 (video info/command), no media then
  uint32_t timestamp_offset_nanos = 0;  // from ModEx TimestampOffsetNano, 0..999999
  std::vector<VideoTrackPacket> tracks;

  bool keyframe() const { return frame_type == FrameType::keyframe || frame_type == FrameType::generated_keyframe; }
};

// Parses a video tag payload. The spans in the result point into `payload`.
Result<VideoTag> parse_video_tag(std::span<const uint8_t> payload);

// Writers (the inverse of the parser), appending one tag payload to `out`.
// Legacy AVC (CodecID 7): packet_type is sequence_start / coded_frames / sequence_end.
void write_legacy_avc_video(std::vector<uint8_t>& out, FrameType frame_type, VideoPacketType packet_type,
                            int32_t composition_time, std::span<const uint8_t> data);

struct VideoTrackWrite {
  uint8_t track_id = 0;
  uint32_t fourcc = 0;
  int32_t composition_time = 0;  // written only for coded_frames of avc1/hvc1
  std::span<const uint8_t> data;
};

// Enhanced RTMP single-track tag. For coded_frames with a fourcc other than avc1/hvc1 no
// composition time is written, as the spec says.
void write_ex_video(std::vector<uint8_t>& out, FrameType frame_type, VideoPacketType packet_type,
                    const VideoTrackWrite& track);
// Enhanced RTMP multitrack tag (E-RTMP v2). With one_track exactly one track is written; with
// many_tracks all tracks must share the first track's fourcc.
void write_ex_video_multitrack(std::vector<uint8_t>& out, FrameType frame_type, MultitrackType type,
                               VideoPacketType packet_type, std::span<const VideoTrackWrite> tracks);

// True when coded_frames of this fourcc carry a composition time field (avc1, hvc1).
bool fourcc_has_composition_time(uint32_t fourcc);

}  // namespace live::flv
