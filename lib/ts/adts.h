// ADTS framing (ISO/IEC 14496-3 1.A.2, no CRC) for raw AAC frames: how MPEG-TS (stream type
// 0x0f) carries AAC, so TsSegmentWriter::write_audio() takes ADTS frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace live::ts {

inline constexpr size_t kAdtsHeaderSize = 7;
inline constexpr size_t kMaxAdtsFrameBytes = 8191;  // 13-bit aac_frame_length, header included

// From the AudioSpecificConfig (live::flv::AudioSpecificConfig has these fields).
struct AdtsParams {
  uint8_t object_type = 2;              // AAC-LC; ADTS can only say 1..4, others are sent as LC
  uint8_t sampling_frequency_index = 4;  // 44100 Hz
  uint8_t channel_configuration = 2;
};

// `raw` with an ADTS header in front; limit_exceeded when it does not fit kMaxAdtsFrameBytes.
Result<std::vector<uint8_t>> adts_frame(const AdtsParams& params, std::span<const uint8_t> raw);

}  // namespace live::ts
