// RFC 6381 codec strings (the CODECS attribute of EXT-X-STREAM-INF) and the few codec
// configuration facts the sink needs, computed from the decoder configuration records.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::hlssink {

// "avc1.PPCCLL" from an AVCDecoderConfigurationRecord (avcC).
Result<std::string> avc_codec_string(std::span<const uint8_t> avcc);
// "hvc1.P.C.TL.B" from an HEVCDecoderConfigurationRecord (hvcC).
Result<std::string> hevc_codec_string(std::span<const uint8_t> hvcc);
// "mp4a.40.<AOT>" from an AudioSpecificConfig.
Result<std::string> aac_codec_string(std::span<const uint8_t> asc);

struct AacConfig {
  unsigned object_type = 0;        // AOT (2 = AAC-LC)
  unsigned sampling_index = 0;     // 0..12 (15 = explicit rate)
  unsigned sample_rate = 0;
  unsigned channel_config = 0;
};
Result<AacConfig> parse_audio_specific_config(std::span<const uint8_t> asc);

// Parameter sets (SPS/PPS, VPS/SPS/PPS) from avcC or hvcC, each without start code,
// and the NAL length size the records declare.
struct ParameterSets {
  std::vector<std::vector<uint8_t>> nals;
  unsigned nal_length_size = 4;
};
Result<ParameterSets> avcc_parameter_sets(std::span<const uint8_t> avcc);
Result<ParameterSets> hvcc_parameter_sets(std::span<const uint8_t> hvcc);

}  // namespace live::hlssink
