#include "media_frame.h"

#include "flv/avc_config.h"
#include "ts/adts.h"

namespace live::hlssink {

namespace {

// Start of the next 00 00 01 start code at or after `from` (au.size() when none); the start
// code may be preceded by a fourth zero byte, which then belongs to it.
size_t next_start_code(std::span<const uint8_t> au, size_t from) {
  for (size_t i = from; i + 2 < au.size(); ++i)
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) return i;
  return au.size();
}

bool is_aud(Kind kind, uint8_t first_nal_byte) {
  return kind == Kind::h264 ? (first_nal_byte & 0x1f) == 9 : ((first_nal_byte >> 1) & 0x3f) == 35;
}

}  // namespace

void learn_codec_from_annexb(StreamConfig& c, std::span<const uint8_t> au) {
  for (size_t i = 0; i + 4 < au.size(); ++i) {
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) {
      uint8_t type = au[i + 3] & 0x1f;
      if (c.kind == Kind::h264 && type == 7) {
        // The SPS runs to the next start code (emulation prevention keeps 00 00 01 out of it).
        size_t end = i + 3;
        while (end + 2 < au.size() && !(au[end] == 0 && au[end + 1] == 0 && au[end + 2] == 1)) ++end;
        if (end + 2 >= au.size()) end = au.size();
        if (auto sps = flv::parse_avc_sps(au.subspan(i + 3, end - (i + 3)))) c.codec_string = sps->codec_string();
        return;
      }
    }
  }
}

std::vector<uint8_t> to_annexb(const Frame& f) {
  const StreamConfig& c = *f.config;
  std::vector<uint8_t> out;
  out.reserve(f.data.size() + 64);
  static const uint8_t sc[] = {0, 0, 0, 1};
  if (c.kind == Kind::h264) out.insert(out.end(), {0, 0, 0, 1, 0x09, 0xf0});
  else out.insert(out.end(), {0, 0, 0, 1, 0x46, 0x01, 0x50});
  if (!c.length_prefixed) {
    // Already Annex B: copy every NAL unit but an AUD of its own.
    const std::span<const uint8_t> au(f.data);
    size_t pos = next_start_code(au, 0);
    if (pos > 0) out.insert(out.end(), f.data.begin(), f.data.begin() + long(pos));  // bytes before any start code
    while (pos < au.size()) {
      const size_t nal = pos + 3;
      size_t end = next_start_code(au, nal);
      size_t stop = end;  // a zero before the next start code is its leading byte
      if (end < au.size() && stop > nal && au[stop - 1] == 0) --stop;
      if (nal >= au.size() || !is_aud(c.kind, au[nal])) {
        out.insert(out.end(), sc, sc + 4);
        out.insert(out.end(), f.data.begin() + long(nal), f.data.begin() + long(stop));
      }
      pos = end;
    }
    return out;
  }
  if (f.keyframe)
    for (const auto& nal : c.parameter_sets) {
      out.insert(out.end(), sc, sc + 4);
      out.insert(out.end(), nal.begin(), nal.end());
    }
  const unsigned n = c.nal_length_size;
  size_t pos = 0;
  while (pos + n <= f.data.size()) {
    size_t len = 0;
    for (unsigned i = 0; i < n; ++i) len = (len << 8) | f.data[pos + i];
    pos += n;
    if (len > f.data.size() - pos) break;
    if (len > 0 && !is_aud(c.kind, f.data[pos])) {
      out.insert(out.end(), sc, sc + 4);
      out.insert(out.end(), f.data.begin() + long(pos), f.data.begin() + long(pos + len));
    }
    pos += len;
  }
  return out;
}

Result<std::vector<uint8_t>> to_adts(const Frame& f) {
  const flv::AudioSpecificConfig& a = f.config->aac;
  return ts::adts_frame({a.object_type, a.sampling_frequency_index, a.channel_configuration}, f.data);
}

uint64_t to_90k(int64_t rt) {
  const int64_t t = rt + kMediaTimeOffset;
  return uint64_t(t / 100000 * 9 + (t % 100000) * 9 / 100000);
}

int64_t to_ticks(int64_t rt, uint32_t timescale) {
  const unsigned __int128 t = uint64_t(rt + kMediaTimeOffset);
  return int64_t((t * timescale + kSecond / 2) / kSecond);
}

}  // namespace live::hlssink
