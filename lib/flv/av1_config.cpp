#include "flv/av1_config.h"

#include <cstdio>

#include "common/byte_io.h"

namespace live::flv {

Result<Av1Config> parse_av1_config(std::span<const uint8_t> r) {
  if (r.size() < 4) return make_error(Errc::truncated, "av1C");
  if (r[0] != 0x81) return make_error(Errc::unsupported, "av1C marker/version");
  Av1Config c;
  c.seq_profile = r[1] >> 5;
  c.seq_level_idx_0 = r[1] & 0x1F;
  c.seq_tier_0 = (r[2] & 0x80) != 0;
  c.high_bitdepth = (r[2] & 0x40) != 0;
  c.twelve_bit = (r[2] & 0x20) != 0;
  c.monochrome = (r[2] & 0x10) != 0;
  c.chroma_subsampling_x = (r[2] & 0x08) != 0;
  c.chroma_subsampling_y = (r[2] & 0x04) != 0;
  c.chroma_sample_position = r[2] & 3;
  c.config_obus.assign(r.begin() + 4, r.end());
  return c;
}

std::string Av1Config::codec_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "av01.%u.%02u%c.%02u", seq_profile, seq_level_idx_0, seq_tier_0 ? 'H' : 'M',
                bit_depth());
  return buf;
}

}  // namespace live::flv
