#include "flv/hevc_config.h"

#include <cstdio>

#include "common/byte_io.h"
#include "flv/bit_reader.h"

namespace live::flv {

Result<HevcSpsInfo> parse_hevc_sps(std::span<const uint8_t> nal) {
  if (nal.size() < 4) return make_error(Errc::truncated, "HEVC SPS");
  if (((nal[0] >> 1) & 0x3F) != 33) return make_error(Errc::malformed, "not an HEVC SPS NAL unit");
  std::vector<uint8_t> rbsp = unescape_rbsp(nal.subspan(2));
  BitReader br(rbsp);
  br.bits(4);  // sps_video_parameter_set_id
  uint32_t max_sub_layers_minus1 = br.bits(3);
  br.bits(1);
  // profile_tier_level(1, max_sub_layers_minus1)
  br.skip(88);
  br.bits(8);  // general_level_idc
  bool profile_present[8] = {}, level_present[8] = {};
  for (uint32_t i = 0; i < max_sub_layers_minus1; ++i) {
    profile_present[i] = br.flag();
    level_present[i] = br.flag();
  }
  if (max_sub_layers_minus1 > 0)
    for (uint32_t i = max_sub_layers_minus1; i < 8; ++i) br.bits(2);
  for (uint32_t i = 0; i < max_sub_layers_minus1; ++i) {
    if (profile_present[i]) br.skip(88);
    if (level_present[i]) br.bits(8);
  }
  if (br.ue() > 15) return make_error(Errc::malformed, "HEVC SPS id");
  HevcSpsInfo info;
  info.chroma_format_idc = br.ue();
  if (info.chroma_format_idc > 3) return make_error(Errc::malformed, "HEVC chroma_format_idc");
  bool separate_colour_plane = info.chroma_format_idc == 3 && br.flag();
  uint32_t width = br.ue(), height = br.ue();
  uint32_t left = 0, right = 0, top = 0, bottom = 0;
  if (br.flag()) {
    left = br.ue();
    right = br.ue();
    top = br.ue();
    bottom = br.ue();
  }
  if (!br.ok()) return make_error(Errc::truncated, "HEVC SPS bits");
  if (width == 0 || height == 0 || width > 16888 || height > 16888)  // level 6.2 maximum
    return make_error(Errc::limit_exceeded, "HEVC SPS picture size");
  uint32_t chroma = separate_colour_plane ? 0 : info.chroma_format_idc;
  uint64_t sub_w = (chroma == 1 || chroma == 2) ? 2 : 1, sub_h = chroma == 1 ? 2 : 1;
  uint64_t cx = sub_w * (uint64_t(left) + right), cy = sub_h * (uint64_t(top) + bottom);
  if (cx >= width || cy >= height) return make_error(Errc::malformed, "HEVC conformance window larger than picture");
  info.width = uint32_t(width - cx);
  info.height = uint32_t(height - cy);
  return info;
}

Result<HevcConfig> parse_hevc_config(std::span<const uint8_t> record) {
  if (record.size() < 23) return make_error(Errc::truncated, "hvcC header");
  const uint8_t* p = record.data();
  if (p[0] != 1) return make_error(Errc::unsupported, "hvcC version " + std::to_string(p[0]));
  HevcConfig c;
  c.profile_space = p[1] >> 6;
  c.tier_flag = (p[1] & 0x20) != 0;
  c.profile_idc = p[1] & 0x1F;
  c.profile_compatibility_flags = load_be32(p + 2);
  c.constraint_indicator_flags = (uint64_t(load_be16(p + 6)) << 32) | load_be32(p + 8);
  c.level_idc = p[12];
  c.chroma_format_idc = p[16] & 3;
  c.bit_depth_luma = uint8_t((p[17] & 7) + 8);
  c.bit_depth_chroma = uint8_t((p[18] & 7) + 8);
  c.nal_length_size = uint8_t((p[21] & 3) + 1);
  if (c.nal_length_size == 3) return make_error(Errc::malformed, "hvcC NAL length size 3");
  uint8_t num_arrays = p[22];
  if (num_arrays > kMaxHvccArrays) return make_error(Errc::limit_exceeded, "hvcC arrays");
  ByteReader r(record.subspan(23));
  for (uint8_t i = 0; i < num_arrays; ++i) {
    uint8_t b = 0;
    uint16_t count = 0;
    if (!r.read_u8(b) || !r.read_be16(count)) return make_error(Errc::truncated, "hvcC array header");
    if (count > kMaxHvccNalusPerArray) return make_error(Errc::limit_exceeded, "hvcC NAL units per array");
    HevcConfig::NaluArray array;
    array.completeness = (b & 0x80) != 0;
    array.nal_unit_type = b & 0x3F;
    for (uint16_t n = 0; n < count; ++n) {
      uint16_t len = 0;
      std::span<const uint8_t> nalu;
      if (!r.read_be16(len) || !r.read_bytes(len, nalu)) return make_error(Errc::truncated, "hvcC NAL unit");
      array.nalus.emplace_back(nalu.begin(), nalu.end());
    }
    c.arrays.push_back(std::move(array));
  }
  for (const auto& array : c.arrays) {
    if (array.nal_unit_type != 33 || array.nalus.empty()) continue;
    if (auto sps = parse_hevc_sps(array.nalus[0])) {
      c.width = sps->width;
      c.height = sps->height;
    }
    break;
  }
  return c;
}

std::string HevcConfig::codec_string() const {
  std::string s = "hvc1.";
  if (profile_space > 0) s += char('A' + profile_space - 1);
  s += std::to_string(profile_idc);
  // The compatibility flags in reverse bit order, hex, no leading zeros.
  uint32_t reversed = 0;
  for (int i = 0; i < 32; ++i)
    if (profile_compatibility_flags & (1u << i)) reversed |= 1u << (31 - i);
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%X", reversed);
  s += buf;
  s += tier_flag ? ".H" : ".L";
  s += std::to_string(level_idc);
  // Six constraint bytes, trailing zero bytes omitted.
  int last = -1;
  for (int i = 0; i < 6; ++i)
    if ((constraint_indicator_flags >> (40 - 8 * i)) & 0xFF) last = i;
  for (int i = 0; i <= last; ++i) {
    std::snprintf(buf, sizeof buf, ".%X", unsigned((constraint_indicator_flags >> (40 - 8 * i)) & 0xFF));
    s += buf;
  }
  return s;
}

}  // namespace live::flv
