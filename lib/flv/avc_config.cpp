#include "flv/avc_config.h"

#include <cstdio>
#include <numeric>

#include "common/byte_io.h"
#include "flv/bit_reader.h"

namespace live::flv {

namespace {
// False on a delta_scale outside -128..127 (H.264 7.4.2.1.1.1): a malformed SPS, and a larger
// se(v) would overflow the sum below.
bool skip_scaling_list(BitReader& br, int size) {
  int last = 8, next = 8;
  for (int j = 0; j < size && br.ok(); ++j) {
    if (next != 0) {
      const int32_t delta = br.se();
      if (delta < -128 || delta > 127) return false;
      next = (last + delta + 256) % 256;
    }
    last = next == 0 ? last : next;
  }
  return true;
}
bool is_high_profile(uint8_t p) {
  switch (p) {
    case 100: case 110: case 122: case 244: case 44: case 83: case 86: case 118: case 128:
    case 138: case 139: case 134: case 135:
      return true;
    default:
      return false;
  }
}
std::string avc1_string(uint8_t profile, uint8_t compatibility, uint8_t level) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "avc1.%02x%02x%02x", profile, compatibility, level);
  return buf;
}
// vui_parameters() up to the timing information (H.264 E.1.1). A VUI that ends early only
// leaves the frame rate unknown: the picture size read before it stands.
void read_vui_frame_rate(BitReader& br, AvcSpsInfo& info) {
  if (!br.flag()) return;  // vui_parameters_present_flag
  if (br.flag() && br.bits(8) == 255) br.skip(32);  // aspect_ratio_idc, Extended_SAR: sar w, h
  if (br.flag()) br.flag();                         // overscan_appropriate_flag
  if (br.flag()) {                                  // video_signal_type_present_flag
    br.skip(4);                                     // video_format, video_full_range_flag
    if (br.flag()) br.skip(24);                     // colour primaries, transfer, matrix
  }
  if (br.flag()) {  // chroma_loc_info_present_flag
    br.ue();
    br.ue();
  }
  if (!br.flag()) return;  // timing_info_present_flag
  const uint64_t num_units_in_tick = br.bits(32);
  const uint64_t time_scale = br.bits(32);
  if (!br.ok() || num_units_in_tick == 0 || time_scale == 0) return;
  uint64_t num = time_scale, den = 2 * num_units_in_tick;  // a frame is two ticks (fields)
  if (num > 1000 * den) return;
  const uint64_t divisor = std::gcd(num, den);
  num /= divisor;
  den /= divisor;
  if (num > INT32_MAX || den > INT32_MAX) return;  // a GStreamer fraction holds gints
  info.fps_num = uint32_t(num);
  info.fps_den = uint32_t(den);
}
}  // namespace

Result<AvcSpsInfo> parse_avc_sps(std::span<const uint8_t> nal) {
  if (nal.size() < 4) return make_error(Errc::truncated, "SPS");
  if ((nal[0] & 0x1F) != 7) return make_error(Errc::malformed, "not an SPS NAL unit");
  std::vector<uint8_t> rbsp = unescape_rbsp(nal.subspan(1));
  BitReader br(rbsp);
  AvcSpsInfo info;
  info.profile = uint8_t(br.bits(8));
  info.profile_compatibility = uint8_t(br.bits(8));
  info.level = uint8_t(br.bits(8));
  if (br.ue() > 31) return make_error(Errc::malformed, "SPS id");
  bool separate_colour_plane = false;
  if (is_high_profile(info.profile)) {
    info.chroma_format_idc = br.ue();
    if (info.chroma_format_idc > 3) return make_error(Errc::malformed, "chroma_format_idc");
    if (info.chroma_format_idc == 3) separate_colour_plane = br.flag();
    br.ue();  // bit_depth_luma_minus8
    br.ue();  // bit_depth_chroma_minus8
    br.flag();
    if (br.flag()) {  // seq_scaling_matrix_present_flag
      int lists = info.chroma_format_idc != 3 ? 8 : 12;
      for (int i = 0; i < lists; ++i)
        if (br.flag() && !skip_scaling_list(br, i < 6 ? 16 : 64))
          return make_error(Errc::malformed, "SPS scaling list delta out of range");
    }
  }
  br.ue();  // log2_max_frame_num_minus4
  uint32_t poc_type = br.ue();
  if (poc_type == 0) {
    br.ue();
  } else if (poc_type == 1) {
    br.flag();
    br.se();
    br.se();
    uint32_t cycle = br.ue();
    if (cycle > 255) return make_error(Errc::malformed, "num_ref_frames_in_pic_order_cnt_cycle");
    for (uint32_t i = 0; i < cycle; ++i) br.se();
  } else if (poc_type != 2) {
    return make_error(Errc::malformed, "pic_order_cnt_type");
  }
  br.ue();  // max_num_ref_frames
  br.flag();
  uint32_t width_mbs = br.ue() + 1;
  uint32_t height_map_units = br.ue() + 1;
  bool frame_mbs_only = br.flag();
  if (!frame_mbs_only) br.flag();
  br.flag();  // direct_8x8_inference_flag
  uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
  if (br.flag()) {
    crop_l = br.ue();
    crop_r = br.ue();
    crop_t = br.ue();
    crop_b = br.ue();
  }
  if (!br.ok()) return make_error(Errc::truncated, "SPS bits");
  if (width_mbs > 1024 || height_map_units > 1024) return make_error(Errc::limit_exceeded, "SPS picture size");
  uint32_t chroma = separate_colour_plane ? 0 : info.chroma_format_idc;
  uint32_t sub_w = (chroma == 1 || chroma == 2) ? 2 : 1;
  uint32_t sub_h = chroma == 1 ? 2 : 1;
  uint32_t crop_unit_x = chroma == 0 ? 1 : sub_w;
  uint32_t crop_unit_y = (chroma == 0 ? 1 : sub_h) * (frame_mbs_only ? 1 : 2);
  uint32_t w = width_mbs * 16, h = height_map_units * 16 * (frame_mbs_only ? 1 : 2);
  uint64_t cx = uint64_t(crop_unit_x) * (uint64_t(crop_l) + crop_r);
  uint64_t cy = uint64_t(crop_unit_y) * (uint64_t(crop_t) + crop_b);
  if (cx >= w || cy >= h) return make_error(Errc::malformed, "SPS cropping larger than picture");
  info.width = uint32_t(w - cx);
  info.height = uint32_t(h - cy);
  read_vui_frame_rate(br, info);
  return info;
}

Result<AvcConfig> parse_avc_config(std::span<const uint8_t> record) {
  ByteReader r(record);
  uint8_t version = 0, b = 0;
  AvcConfig c;
  if (!r.read_u8(version) || !r.read_u8(c.profile) || !r.read_u8(c.profile_compatibility) ||
      !r.read_u8(c.level) || !r.read_u8(b))
    return make_error(Errc::truncated, "avcC header");
  if (version != 1) return make_error(Errc::unsupported, "avcC version " + std::to_string(version));
  c.nal_length_size = uint8_t((b & 3) + 1);
  if (c.nal_length_size == 3) return make_error(Errc::malformed, "avcC NAL length size 3");
  for (int array = 0; array < 2; ++array) {
    uint8_t count = 0;
    if (!r.read_u8(count)) return make_error(Errc::truncated, "avcC parameter set count");
    if (array == 0) count &= 0x1F;
    if (count > kMaxParameterSets) return make_error(Errc::limit_exceeded, "avcC parameter sets");
    for (int i = 0; i < count; ++i) {
      uint16_t len = 0;
      std::span<const uint8_t> ps;
      if (!r.read_be16(len) || !r.read_bytes(len, ps)) return make_error(Errc::truncated, "avcC parameter set");
      (array == 0 ? c.sps : c.pps).emplace_back(ps.begin(), ps.end());
    }
  }
  // Profiles 100+ may carry chroma/bit depth/SPS-ext after this; nothing we need.
  if (!c.sps.empty()) {
    if (auto sps = parse_avc_sps(c.sps[0])) {
      c.width = sps->width;
      c.height = sps->height;
      c.fps_num = sps->fps_num;
      c.fps_den = sps->fps_den;
    }
  }
  return c;
}

std::string AvcConfig::codec_string() const { return avc1_string(profile, profile_compatibility, level); }

std::string AvcSpsInfo::codec_string() const { return avc1_string(profile, profile_compatibility, level); }

}  // namespace live::flv
