#include "ts/adts.h"

namespace live::ts {

Result<std::vector<uint8_t>> adts_frame(const AdtsParams& params, std::span<const uint8_t> raw) {
  const size_t len = raw.size() + kAdtsHeaderSize;
  if (len > kMaxAdtsFrameBytes) return make_error(Errc::limit_exceeded, "AAC frame too large for ADTS");
  // ADTS profile is the object type minus one, and only has room for AOT 1..4.
  const unsigned profile = params.object_type >= 1 && params.object_type <= 4 ? params.object_type - 1u : 1u;
  const unsigned index = params.sampling_frequency_index & 0xf;
  const unsigned channels = params.channel_configuration & 7;
  std::vector<uint8_t> out = {0xff,
                              0xf1,  // MPEG-4, layer 0, no CRC
                              uint8_t((profile << 6) | (index << 2) | (channels >> 2)),
                              uint8_t(((channels & 3) << 6) | ((len >> 11) & 3)),
                              uint8_t(len >> 3),
                              uint8_t(((len & 7) << 5) | 0x1f),  // buffer fullness 0x7ff (VBR)
                              0xfc};                             // one raw data block
  out.insert(out.end(), raw.begin(), raw.end());
  return out;
}

}  // namespace live::ts
