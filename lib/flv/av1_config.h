// AV1CodecConfigurationRecord ("av1C", AV1-ISOBMFF 2.3): the body of an av01 sequence start.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::flv {

struct Av1Config {
  uint8_t seq_profile = 0;
  uint8_t seq_level_idx_0 = 0;
  bool seq_tier_0 = false;
  bool high_bitdepth = false;
  bool twelve_bit = false;
  bool monochrome = false;
  bool chroma_subsampling_x = false;
  bool chroma_subsampling_y = false;
  uint8_t chroma_sample_position = 0;
  std::vector<uint8_t> config_obus;

  uint8_t bit_depth() const { return high_bitdepth ? (twelve_bit ? 12 : 10) : 8; }
  // AV1-ISOBMFF Codecs Parameter String, short form: "av01.0.04M.08".
  std::string codec_string() const;
};

Result<Av1Config> parse_av1_config(std::span<const uint8_t> record);

}  // namespace live::flv
