// Fuzz target: the codec configuration record parsers of lib/flv, the bodies of sequence
// headers that a publisher sends (avcC, hvcC, av1C, vpcC, AudioSpecificConfig, OpusHead, the
// E-RTMP multichannel config, SPS NAL units, the E-RTMP track framing). The first byte picks
// the parser, the rest is the record. Whatever a parser accepts must describe the record:
// parameter sets inside it and within the documented counts, a codec string of printable
// ASCII, picture sizes that fit the codec's bounds.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "flv/audio_config.h"
#include "flv/audio_tag.h"
#include "flv/av1_config.h"
#include "flv/avc_config.h"
#include "flv/ex_tracks.h"
#include "flv/hevc_config.h"
#include "flv/video_tag.h"
#include "flv/vp9_config.h"

using namespace live;
using namespace live::flv;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_codec_string(const std::string& s) {
  check(!s.empty() && s.size() < 64);
  for (char c : s) check(c > 0x20 && c < 0x7f);
}

// H.264/H.265 sizes come from 32-bit exp-Golomb counts of 16/8-pixel units; anything the
// parsers report must stay far below what would overflow a width * height product.
void check_picture(uint32_t width, uint32_t height) {
  check(width <= 65536 && height <= 65536);
}

size_t total_bytes(const std::vector<std::vector<uint8_t>>& sets) {
  size_t n = 0;
  for (const auto& s : sets) n += s.size();
  return n;
}

void fuzz_avc(std::span<const uint8_t> record) {
  auto c = parse_avc_config(record);
  if (!c) return;
  check(c->sps.size() <= kMaxParameterSets && c->pps.size() <= kMaxParameterSets);
  check(total_bytes(c->sps) + total_bytes(c->pps) <= record.size());
  check(c->nal_length_size >= 1 && c->nal_length_size <= 4);
  check_picture(c->width, c->height);
  check_codec_string(c->codec_string());
}

void fuzz_hevc(std::span<const uint8_t> record) {
  auto c = parse_hevc_config(record);
  if (!c) return;
  check(c->arrays.size() <= kMaxHvccArrays);
  size_t bytes = 0;
  for (const auto& a : c->arrays) {
    check(a.nalus.size() <= kMaxHvccNalusPerArray);
    bytes += total_bytes(a.nalus);
  }
  check(bytes <= record.size());
  check(c->nal_length_size >= 1 && c->nal_length_size <= 4);
  check_picture(c->width, c->height);
  check_codec_string(c->codec_string());
}

void fuzz_av1(std::span<const uint8_t> record) {
  auto c = parse_av1_config(record);
  if (!c) return;
  check(c->config_obus.size() <= record.size());
  check(c->bit_depth() == 8 || c->bit_depth() == 10 || c->bit_depth() == 12);
  check_codec_string(c->codec_string());
}

void fuzz_vp9(std::span<const uint8_t> record) {
  auto c = parse_vp9_config(record);
  if (!c) return;
  check_codec_string(c->codec_string());
}

void fuzz_audio_specific_config(std::span<const uint8_t> bytes) {
  auto c = parse_audio_specific_config(bytes);
  if (!c) return;
  check(c->sample_rate > 0 || c->sampling_frequency_index == 15);
  check(c->sampling_frequency_index <= 15);
  check(c->channel_configuration <= 15);
  (void)c->channels();
  (void)c->output_sample_rate();
  check_codec_string(c->codec_string());
}

void fuzz_opus_head(std::span<const uint8_t> bytes) {
  auto h = parse_opus_head(bytes);
  if (!h) return;
  check(bytes.size() >= kOpusHeadMinSize);
  check(h->channel_mapping.size() <= 255 && h->channel_mapping.size() <= bytes.size());
}

void fuzz_multichannel(std::span<const uint8_t> bytes) {
  auto m = parse_multichannel_config(bytes);
  if (!m) return;
  check(m->channel_order <= 2);
}

void fuzz_sps(std::span<const uint8_t> nal, bool hevc) {
  if (hevc) {
    if (auto s = parse_hevc_sps(nal)) check_picture(s->width, s->height);
  } else if (auto s = parse_avc_sps(nal)) {
    check_picture(s->width, s->height);
    check_codec_string(s->codec_string());
  }
}

// The E-RTMP framing after the packet type, as the video and audio tag parsers use it; the
// byte after the selector is the packet type, the next picks video or audio numbering.
void fuzz_ex_tracks(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return;
  const bool video = bytes[0] & 1;
  const uint8_t multitrack_type = video ? 6 : 5;
  const char* media = video ? "video" : "audio";
  ByteReader r(bytes.subspan(2));
  uint32_t nanos = 0;
  auto packet_type = read_mod_ex(r, bytes[1] & 0x0f, 7, nanos, media);
  if (!packet_type) return;
  check(nanos <= 999999);
  auto header = read_ex_track_header(r, *packet_type, multitrack_type, 7, media);
  if (!header) return;
  const std::span<const uint8_t> rest = r.rest();
  size_t tracks = 0;
  (void)read_ex_tracks(r, *header, media, [&](const ExTrack& t) -> Result<void> {
    ++tracks;
    check(t.body.data() >= rest.data() && t.body.data() + t.body.size() <= rest.data() + rest.size());
    if (!header->multitrack || header->multitrack_type != MultitrackType::many_tracks_many_codecs)
      check(t.fourcc == header->shared_fourcc);
    return {};
  });
  check(tracks <= kMaxTracksPerTag);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> body(data + 1, size - 1);
  switch (data[0] % 10) {
    case 0: fuzz_avc(body); break;
    case 1: fuzz_hevc(body); break;
    case 2: fuzz_av1(body); break;
    case 3: fuzz_vp9(body); break;
    case 4: fuzz_audio_specific_config(body); break;
    case 5: fuzz_opus_head(body); break;
    case 6: fuzz_multichannel(body); break;
    case 7: fuzz_sps(body, false); break;
    case 8: fuzz_sps(body, true); break;
    case 9: fuzz_ex_tracks(body); break;
  }
  return 0;
}
