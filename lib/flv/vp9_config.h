// VPCodecConfigurationRecord ("vpcC", VP Codec ISO-BMFF binding): the body of a vp09 sequence
// start.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"

namespace live::flv {

struct Vp9Config {
  uint8_t profile = 0;
  uint8_t level = 0;
  uint8_t bit_depth = 8;
  uint8_t chroma_subsampling = 0;
  bool video_full_range = false;
  uint8_t colour_primaries = 1;
  uint8_t transfer_characteristics = 1;
  uint8_t matrix_coefficients = 1;

  // "vp09.00.10.08" (profile, level, bit depth).
  std::string codec_string() const;
};

// Accepts the record with or without the vpcC FullBox version/flags prefix (writers differ).
Result<Vp9Config> parse_vp9_config(std::span<const uint8_t> record);

}  // namespace live::flv
