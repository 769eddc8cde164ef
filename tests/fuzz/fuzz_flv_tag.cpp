// Fuzz target: FLV framing and tag parsing (lib/flv). The input is fed to FlvReader whole and
// split in two (same tags either way), read in place when it is whole tags (the same tags as
// feed() again, views inside the input), and used directly as a tag payload. Every payload goes
// through the video/audio/script parsers and the codec configuration parsers; an Enhanced RTMP
// single-track video tag must survive writer -> parser unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "flv/audio_config.h"
#include "flv/audio_tag.h"
#include "flv/av1_config.h"
#include "flv/vp9_config.h"
#include "flv/avc_config.h"
#include "flv/flv_tag.h"
#include "flv/hevc_config.h"
#include "flv/script_data.h"
#include "flv/video_tag.h"

using namespace live::flv;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<Tag> read_tags(std::span<const uint8_t> a, std::span<const uint8_t> b, bool& ok) {
  FlvReader reader;
  ok = reader.feed(a).ok() && reader.feed(b).ok();
  std::vector<Tag> tags;
  while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
  return tags;
}

void parse_configs(uint32_t code, std::span<const uint8_t> body) {
  if (auto c = parse_avc_config(body)) (void)c->codec_string();
  if (auto c = parse_hevc_config(body)) (void)c->codec_string();
  if (auto c = parse_av1_config(body)) (void)c->codec_string();
  if (auto c = parse_vp9_config(body)) (void)c->codec_string();
  if (auto c = parse_audio_specific_config(body)) (void)c->codec_string();
  (void)parse_opus_head(body);
  (void)parse_multichannel_config(body);
  (void)audio_codec_string(code);
}

void parse_payload(std::span<const uint8_t> payload) {
  if (auto v = parse_video_tag(payload)) {
    for (const auto& t : v->tracks) {
      check(t.data.data() >= payload.data() && t.data.data() + t.data.size() <= payload.data() + payload.size());
      parse_configs(t.fourcc, t.data);
    }
    if (v->enhanced && !v->multitrack && !v->command && v->timestamp_offset_nanos == 0 && v->tracks.size() == 1) {
      const auto& t = v->tracks[0];
      std::vector<uint8_t> out;
      write_ex_video(out, v->frame_type, t.packet_type, VideoTrackWrite{0, t.fourcc, t.composition_time, t.data});
      auto again = parse_video_tag(out);
      check(again.ok() && again->tracks.size() == 1 && again->tracks[0].fourcc == t.fourcc &&
            again->tracks[0].composition_time == t.composition_time &&
            std::equal(t.data.begin(), t.data.end(), again->tracks[0].data.begin(), again->tracks[0].data.end()));
    }
  }
  if (auto a = parse_audio_tag(payload)) {
    for (const auto& t : a->tracks) parse_configs(t.fourcc, t.data);
  }
  if (auto s = parse_script_tag(payload)) (void)read_stream_metadata(s->value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  bool whole_ok = false, split_ok = false;
  auto whole = read_tags(input, {}, whole_ok);
  size_t cut = size ? data[0] % size : 0;
  auto split = read_tags(input.first(cut), input.subspan(cut), split_ok);
  check(whole_ok == split_ok && whole.size() == split.size());
  for (size_t i = 0; i < whole.size(); ++i)
    check(whole[i].type == split[i].type && whole[i].timestamp == split[i].timestamp &&
          whole[i].payload == split[i].payload);
  // In place: when it takes the input, it must be feed()'s tags exactly, viewed inside the input.
  FlvReader in_place;
  std::vector<TagView> views;
  if (in_place.read_whole_tags(input, views, 64)) {
    check(whole_ok && views.size() == whole.size() && in_place.bytes_consumed() == size);
    for (size_t i = 0; i < views.size(); ++i) {
      const auto& v = views[i];
      check(v.payload.data() >= data && v.payload.data() + v.payload.size() <= data + size);
      check(v.type == whole[i].type && v.timestamp == whole[i].timestamp && v.filtered == whole[i].filtered &&
            v.stream_id == whole[i].stream_id &&
            std::equal(v.payload.begin(), v.payload.end(), whole[i].payload.begin(), whole[i].payload.end()));
    }
  } else {
    check(views.empty() && in_place.bytes_consumed() == 0);
  }
  for (const auto& t : whole) parse_payload(t.payload);
  parse_payload(input);
  return 0;
}
