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

Result<Vp9Config> parse_vp9_config(std::span<const uint8_t> r) {
  // With the FullBox prefix: version 1, flags 0, then 8 bytes, then codecInitializationData.
  auto fits = [&](size_t offset) {
    return r.size() >= offset + 8 && r.size() == offset + 8 + load_be16(r.data() + offset + 6);
  };
  size_t offset;
  if (r.size() >= 12 && r[0] == 1 && r[1] == 0 && r[2] == 0 && r[3] == 0 && fits(4)) {
    offset = 4;
  } else if (fits(0)) {
    offset = 0;
  } else {
    return make_error(r.size() < 8 ? Errc::truncated : Errc::malformed, "vpcC");
  }
  const uint8_t* p = r.data() + offset;
  Vp9Config c;
  c.profile = p[0];
  c.level = p[1];
  c.bit_depth = p[2] >> 4;
  c.chroma_subsampling = (p[2] >> 1) & 7;
  c.video_full_range = p[2] & 1;
  c.colour_primaries = p[3];
  c.transfer_characteristics = p[4];
  c.matrix_coefficients = p[5];
  if (c.profile > 3 || (c.bit_depth != 8 && c.bit_depth != 10 && c.bit_depth != 12))
    return make_error(Errc::malformed, "vpcC profile/bit depth");
  return c;
}

std::string Vp9Config::codec_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "vp09.%02u.%02u.%02u", profile, level, bit_depth);
  return buf;
}

}  // namespace live::flv
