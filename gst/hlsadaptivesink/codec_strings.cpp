#include "codec_strings.h"

#include <cstdio>

#include "common/byte_io.h"

namespace live::hlssink {

namespace {
constexpr unsigned kAacRates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                    22050, 16000, 12000, 11025, 8000,  7350};

// Minimal MSB-first bit reader for AudioSpecificConfig.
struct BitReader {
  std::span<const uint8_t> data;
  size_t bit = 0;
  bool read(unsigned n, unsigned& out) {
    out = 0;
    for (unsigned i = 0; i < n; ++i, ++bit) {
      if (bit / 8 >= data.size()) return false;
      out = (out << 1) | ((data[bit / 8] >> (7 - bit % 8)) & 1);
    }
    return true;
  }
};
}  // namespace

Result<std::string> avc_codec_string(std::span<const uint8_t> avcc) {
  if (avcc.size() < 4) return make_error(Errc::truncated, "avcC shorter than 4 bytes");
  if (avcc[0] != 1) return make_error(Errc::malformed, "avcC configurationVersion is not 1");
  char buf[32];
  std::snprintf(buf, sizeof buf, "avc1.%02X%02X%02X", avcc[1], avcc[2], avcc[3]);
  return std::string(buf);
}

Result<std::string> hevc_codec_string(std::span<const uint8_t> hvcc) {
  if (hvcc.size() < 23) return make_error(Errc::truncated, "hvcC shorter than 23 bytes");
  unsigned profile_space = hvcc[1] >> 6;
  bool tier = (hvcc[1] >> 5) & 1;
  unsigned profile_idc = hvcc[1] & 0x1f;
  uint32_t compat = load_be32(&hvcc[2]);
  // The compatibility flags are written bit-reversed, in hex, without leading zeros.
  uint32_t reversed = 0;
  for (int i = 0; i < 32; ++i) reversed |= ((compat >> i) & 1u) << (31 - i);
  unsigned level = hvcc[12];
  std::string s = "hvc1.";
  if (profile_space) s += char('A' + profile_space - 1);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%u.%X.%c%u", profile_idc, reversed, tier ? 'H' : 'L', level);
  s += buf;
  // Constraint bytes (6), trailing zero bytes omitted.
  int last = -1;
  for (int i = 0; i < 6; ++i)
    if (hvcc[6 + i]) last = i;
  for (int i = 0; i <= last; ++i) {
    std::snprintf(buf, sizeof buf, ".%X", hvcc[6 + i]);
    s += buf;
  }
  return s;
}

Result<AacConfig> parse_audio_specific_config(std::span<const uint8_t> asc) {
  BitReader br{asc};
  AacConfig c;
  unsigned v;
  if (!br.read(5, v)) return make_error(Errc::truncated, "AudioSpecificConfig too short");
  c.object_type = v;
  if (c.object_type == 31) {
    if (!br.read(6, v)) return make_error(Errc::truncated, "AudioSpecificConfig too short");
    c.object_type = 32 + v;
  }
  if (!br.read(4, v)) return make_error(Errc::truncated, "AudioSpecificConfig too short");
  c.sampling_index = v;
  if (v == 15) {
    if (!br.read(24, v)) return make_error(Errc::truncated, "AudioSpecificConfig too short");
    c.sample_rate = v;
  } else if (v < 13) {
    c.sample_rate = kAacRates[v];
  } else {
    return make_error(Errc::malformed, "reserved AAC sampling frequency index");
  }
  if (!br.read(4, v)) return make_error(Errc::truncated, "AudioSpecificConfig too short");
  c.channel_config = v;
  return c;
}

Result<std::string> aac_codec_string(std::span<const uint8_t> asc) {
  auto cfg = parse_audio_specific_config(asc);
  if (!cfg) return cfg.error();
  return "mp4a.40." + std::to_string(cfg->object_type);
}

Result<ParameterSets> avcc_parameter_sets(std::span<const uint8_t> avcc) {
  ByteReader r(avcc);
  uint8_t version, profile, compat, level, len_byte, nsps;
  if (!r.read_u8(version) || !r.read_u8(profile) || !r.read_u8(compat) || !r.read_u8(level) ||
      !r.read_u8(len_byte) || !r.read_u8(nsps))
    return make_error(Errc::truncated, "avcC header");
  ParameterSets ps;
  ps.nal_length_size = (len_byte & 3) + 1;
  auto read_list = [&](unsigned count) -> bool {
    for (unsigned i = 0; i < count; ++i) {
      uint16_t len;
      std::span<const uint8_t> nal;
      if (!r.read_be16(len) || !r.read_bytes(len, nal)) return false;
      ps.nals.emplace_back(nal.begin(), nal.end());
    }
    return true;
  };
  if (!read_list(nsps & 0x1f)) return make_error(Errc::truncated, "avcC SPS list");
  uint8_t npps;
  if (!r.read_u8(npps) || !read_list(npps)) return make_error(Errc::truncated, "avcC PPS list");
  return ps;
}

Result<ParameterSets> hvcc_parameter_sets(std::span<const uint8_t> hvcc) {
  if (hvcc.size() < 23) return make_error(Errc::truncated, "hvcC header");
  ParameterSets ps;
  ps.nal_length_size = (hvcc[21] & 3) + 1;
  ByteReader r(hvcc.subspan(22));
  uint8_t narrays;
  if (!r.read_u8(narrays)) return make_error(Errc::truncated, "hvcC arrays");
  for (unsigned a = 0; a < narrays; ++a) {
    uint8_t type;
    uint16_t count;
    if (!r.read_u8(type) || !r.read_be16(count)) return make_error(Errc::truncated, "hvcC array");
    for (unsigned i = 0; i < count; ++i) {
      uint16_t len;
      std::span<const uint8_t> nal;
      if (!r.read_be16(len) || !r.read_bytes(len, nal)) return make_error(Errc::truncated, "hvcC NAL");
      ps.nals.emplace_back(nal.begin(), nal.end());
    }
  }
  return ps;
}

}  // namespace live::hlssink
