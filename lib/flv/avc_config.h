// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3), the body of an H.264 sequence header,
// plus the picture size from its first SPS.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::flv {

inline constexpr size_t kMaxParameterSets = 32;  // per array, per record

struct AvcConfig {
  uint8_t profile = 0;
  uint8_t profile_compatibility = 0;
  uint8_t level = 0;
  uint8_t nal_length_size = 4;
  std::vector<std::vector<uint8_t>> sps;
  std::vector<std::vector<uint8_t>> pps;
  uint32_t width = 0;   // 0 when the SPS could not be parsed
  uint32_t height = 0;
  uint32_t fps_num = 0;  // frame rate from the SPS's VUI timing; 0/0 when it has none
  uint32_t fps_den = 0;

  // RFC 6381: "avc1.64001f".
  std::string codec_string() const;
};

Result<AvcConfig> parse_avc_config(std::span<const uint8_t> record);

struct AvcSpsInfo {
  uint8_t profile = 0;
  uint8_t profile_compatibility = 0;  // constraint_set flags byte
  uint8_t level = 0;
  uint32_t chroma_format_idc = 1;
  uint32_t width = 0;
  uint32_t height = 0;
  // Frames per second as fps_num / fps_den (reduced) from the VUI timing information, as
  // h264parse reads it (time_scale / 2 num_units_in_tick); 0/0 without timing or outside
  // (0, 1000] frames per second.
  uint32_t fps_num = 0;
  uint32_t fps_den = 0;

  // RFC 6381 from the SPS itself, for byte-stream input without an avcC: "avc1.64001f".
  std::string codec_string() const;
};
// `nal` is the SPS NAL unit including its one-byte NAL header.
Result<AvcSpsInfo> parse_avc_sps(std::span<const uint8_t> nal);

}  // namespace live::flv
