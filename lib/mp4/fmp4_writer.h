// Fmp4Writer: fragmented MP4 / CMAF writer (ISO/IEC 14496-12, ISO/IEC 23000-19).
// Sans-I/O: tracks and samples in, bytes out.
//
//   init segment:  ftyp (iso6, cmfc) + moov (mvhd, trak per track, mvex/trex)
//   fragment:      [styp] + moof (mfhd, traf per track: tfhd default-base-is-moof, tfdt, trun)
//                  + mdat
//
// One fragment is one HLS fMP4 segment or one LL-HLS part (a segment made of parts is the
// concatenation of its parts' fragments; put styp on the first one only).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::mp4 {

enum class Codec {
  h264,  // sample entry avc1, codec_config = AVCDecoderConfigurationRecord (avcC, caps codec_data)
  h265,  // sample entry hvc1, codec_config = HEVCDecoderConfigurationRecord (hvcC)
  aac,   // sample entry mp4a + esds, codec_config = AudioSpecificConfig
  av1,   // sample entry av01, codec_config = AV1CodecConfigurationRecord (av1C); samples are
         // OBUs in the low-overhead format without temporal delimiters (as in Enhanced RTMP)
  opus,  // sample entry Opus + dOps, codec_config = the OpusHead header (RFC 7845 5.1, as in
         // Ogg / Enhanced RTMP sequence start); timescale should be 48000
};

struct TrackConfig {
  uint32_t track_id = 1;  // non-zero, unique
  Codec codec = Codec::h264;
  uint32_t timescale = 90000;  // ticks per second of every time in this track's samples
  std::vector<uint8_t> codec_config;
  // video
  uint32_t width = 0;
  uint32_t height = 0;
  // audio
  uint32_t sample_rate = 0;  // Hz (< 65536)
  uint16_t channels = 0;
  std::string language = "und";  // ISO 639-2/T, three lowercase letters
};

// One access unit. Times are in the track's timescale. Video data is AVCC/HVCC: NAL units
// each prefixed with its length (the size given by the codec record, normally 4 bytes), as
// GStreamer's stream-format=avc / hvc1 caps give them. AAC data is one raw frame (no ADTS).
struct Sample {
  int64_t dts = 0;          // decode time, >= 0
  int64_t pts = 0;          // presentation time; pts - dts must fit in 32 bits signed
  uint32_t duration = 0;    // decode duration
  bool keyframe = false;    // sync sample (IDR/IRAP); every AAC frame is one
  std::span<const uint8_t> data;
};

// The samples one track contributes to a fragment, in decode order.
struct TrackRun {
  uint32_t track_id = 1;
  std::span<const Sample> samples;
};

// Named limits (all controlled by the caller, checked anyway).
inline constexpr size_t kMaxTracks = 16;
inline constexpr size_t kMaxSamplesPerRun = 1 << 20;
inline constexpr size_t kMaxCodecConfigBytes = 1 << 16;
inline constexpr uint64_t kMaxFragmentBytes = uint64_t(1) << 31;

class Fmp4Writer {
 public:
  // Checks the track list (ids, timescales, codec configs, sizes).
  static Result<Fmp4Writer> create(std::vector<TrackConfig> tracks);

  // ftyp + moov. The same bytes every call.
  std::vector<uint8_t> init_segment() const;

  // moof + mdat for the given runs (each track at most once, samples in decode order), with a
  // styp first when `with_styp` (start of an HLS segment). The mfhd sequence number starts at
  // 1 and increases by one per fragment. Errors: unknown track, negative dts, decreasing dts,
  // composition offset out of range, empty fragment, too large.
  Result<std::vector<uint8_t>> write_fragment(std::span<const TrackRun> runs, bool with_styp);

  // The sequence number the next write_fragment() will use.
  uint32_t next_sequence_number() const { return sequence_number_; }
  const std::vector<TrackConfig>& tracks() const { return tracks_; }

 private:
  explicit Fmp4Writer(std::vector<TrackConfig> tracks) : tracks_(std::move(tracks)) {}

  std::vector<TrackConfig> tracks_;
  uint32_t sequence_number_ = 1;
};

// Sample flags written in trun (ISO/IEC 14496-12 8.8.3.1).
inline constexpr uint32_t kSyncSampleFlags = 0x02000000;     // depends_on=2 (no), non_sync=0
inline constexpr uint32_t kNonSyncSampleFlags = 0x01010000;  // depends_on=1 (yes), non_sync=1

}  // namespace live::mp4
