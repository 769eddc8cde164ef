#include "flv/vp9_config.h"

#include <cstdio>

#include "common/byte_io.h"

namespace live::flv {

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
