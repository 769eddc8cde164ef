// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3, "hvcC"), the body of an H.265
// sequence start.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::flv {

inline constexpr size_t kMaxHvccArrays = 16;
inline constexpr size_t kMaxHvccNalusPerArray = 32;

struct HevcConfig {
  uint8_t profile_space = 0;
  bool tier_flag = false;
  uint8_t profile_idc = 0;
  uint32_t profile_compatibility_flags = 0;
  uint64_t constraint_indicator_flags = 0;  // 48 bits
  uint8_t level_idc = 0;
  uint8_t chroma_format_idc = 0;
  uint8_t bit_depth_luma = 8;
  uint8_t bit_depth_chroma = 8;
  uint8_t nal_length_size = 4;
  struct NaluArray {
    uint8_t nal_unit_type = 0;
    bool completeness = false;
    std::vector<std::vector<uint8_t>> nalus;
  };
  std::vector<NaluArray> arrays;
  uint32_t width = 0;   // from the first SPS (after the conformance window); 0 if unparsable
  uint32_t height = 0;

  // RFC 6381 / ISO/IEC 14496-15 Annex E: "hvc1.1.6.L93.B0".
  std::string codec_string() const;
};

Result<HevcConfig> parse_hevc_config(std::span<const uint8_t> record);

struct HevcSpsInfo {
  uint32_t chroma_format_idc = 1;
  uint32_t width = 0;
  uint32_t height = 0;
};
// `nal` is the SPS NAL unit including its two-byte NAL header.
Result<HevcSpsInfo> parse_hevc_sps(std::span<const uint8_t> nal);

}  // namespace live::flv
