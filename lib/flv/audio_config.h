// Audio codec configuration: MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1, the body of
// an AAC sequence header) and the Opus identification header "OpusHead" (RFC 7845 5.1, the
// body of an Opus sequence start). Also RFC 6381 strings for the audio FourCCs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::flv {

struct AudioSpecificConfig {
  uint8_t object_type = 0;          // the core object type (2 = AAC-LC) after SBR/PS unwrapping
  uint8_t signalled_object_type = 0;  // as first written: 5 (SBR) or 29 (PS) for explicit signalling
  uint32_t sample_rate = 0;          // core sampling frequency (index or explicit 24-bit value)
  uint8_t sampling_frequency_index = 0;  // 15 = explicit
  uint8_t channel_configuration = 0;
  bool sbr = false;                  // SBR signalled (explicitly or by the backward-compatible sync extension)
  bool ps = false;
  uint32_t extension_sample_rate = 0;  // SBR output rate, 0 when no SBR

  uint32_t output_sample_rate() const { return sbr && extension_sample_rate ? extension_sample_rate : sample_rate; }
  // Channels from the configuration (0 = in a program config element, not parsed); PS implies stereo output.
  uint32_t channels() const;
  // "mp4a.40.2", or mp4a.40.5 / mp4a.40.29 for explicitly signalled HE-AAC v1/v2.
  std::string codec_string() const;
};

Result<AudioSpecificConfig> parse_audio_specific_config(std::span<const uint8_t> bytes);

inline constexpr size_t kOpusHeadMinSize = 19;

struct OpusHead {
  uint8_t version = 1;
  uint8_t channels = 0;
  uint16_t pre_skip = 0;
  uint32_t input_sample_rate = 0;
  int16_t output_gain = 0;
  uint8_t mapping_family = 0;
  uint8_t stream_count = 1;
  uint8_t coupled_count = 0;
  std::vector<uint8_t> channel_mapping;
};

Result<OpusHead> parse_opus_head(std::span<const uint8_t> bytes);

// RFC 6381 codecs value for an audio FourCC without configuration-dependent parts:
// Opus "opus", .mp3 "mp4a.40.34", fLaC "fLaC", ac-3 "ac-3", ec-3 "ec-3"; empty if unknown.
// For mp4a use AudioSpecificConfig::codec_string().
std::string audio_codec_string(uint32_t fourcc);

}  // namespace live::flv
