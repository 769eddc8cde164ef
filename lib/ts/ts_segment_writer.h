// MPEG-2 transport stream writer for HLS segments: one program, one video PID and an
// optional AAC (ADTS) PID. Each segment starts with PAT and PMT and is self-contained, so
// the sink can cut at any access unit it chooses (no stock muxer in the way of alignment).
// Sans-I/O: access units in, bytes out.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace live::ts {

class TsSegmentWriter {
 public:
  enum class VideoCodec { h264, h265 };

  static constexpr uint16_t kPmtPid = 0x1000;
  static constexpr uint16_t kVideoPid = 0x100;
  static constexpr uint16_t kAudioPid = 0x101;

  TsSegmentWriter(VideoCodec codec, bool has_audio) : codec_(codec), has_audio_(has_audio) {}

  // Writes PAT and PMT; call at the start of every segment.
  void begin_segment();
  // One Annex B access unit; timestamps in 90 kHz units (wrapped to 33 bits here).
  void write_video(std::span<const uint8_t> access_unit, uint64_t pts90, uint64_t dts90, bool keyframe);
  // One ADTS frame (header included).
  void write_audio(std::span<const uint8_t> adts_frame, uint64_t pts90);

  // Bytes written since the last take().
  std::vector<uint8_t> take() { return std::exchange(out_, {}); }

 private:
  void write_section(uint16_t pid, uint8_t& cc, std::span<const uint8_t> section);
  void write_pes(uint16_t pid, uint8_t& cc, std::span<const uint8_t> pes, bool random_access,
                 bool with_pcr, uint64_t pcr90);

  VideoCodec codec_;
  bool has_audio_;
  uint8_t pat_cc_ = 0, pmt_cc_ = 0, video_cc_ = 0, audio_cc_ = 0;
  std::vector<uint8_t> out_;
};

uint32_t mpeg2_crc32(std::span<const uint8_t> data);

}  // namespace live::ts
