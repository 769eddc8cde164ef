// Shared by the lib/relay tests: messages of each kind, and a synthetic live timeline
// (30 fps video with a keyframe every gop_ms, AAC audio every 23 ms) in timestamp order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "flv/audio_tag.h"
#include "flv/video_tag.h"
#include "relay/relay_message.h"

namespace live::relay::test {

// Payload bytes after the tag headers: a pattern that differs per timestamp, so messages can be
// told apart after a round trip.
inline std::vector<uint8_t> body(size_t size, uint32_t seed) {
  std::vector<uint8_t> b(size);
  for (size_t i = 0; i < size; ++i) b[i] = uint8_t(seed * 31 + i * 7);
  return b;
}

inline RelayMessagePtr make(uint8_t type, uint32_t ts, std::vector<uint8_t> payload) {
  return std::make_shared<const RelayMessage>(type, ts, std::move(payload));
}

inline RelayMessagePtr avc(flv::FrameType frame, flv::VideoPacketType packet, uint32_t ts, size_t size) {
  std::vector<uint8_t> p;
  flv::write_legacy_avc_video(p, frame, packet, 0, body(size, ts));
  return make(9, ts, std::move(p));
}
inline RelayMessagePtr key(uint32_t ts, size_t size = 20000) {
  return avc(flv::FrameType::keyframe, flv::VideoPacketType::coded_frames, ts, size);
}
inline RelayMessagePtr delta(uint32_t ts, size_t size = 3000) {
  return avc(flv::FrameType::inter, flv::VideoPacketType::coded_frames, ts, size);
}
inline RelayMessagePtr video_config(uint32_t ts, uint8_t version = 1) {
  return avc(flv::FrameType::keyframe, flv::VideoPacketType::sequence_start, ts, 30 + version);
}
inline RelayMessagePtr aac(uint32_t ts, size_t size = 200) {
  std::vector<uint8_t> p;
  flv::write_legacy_aac_audio(p, flv::AudioPacketType::coded_frames, body(size, ts));
  return make(8, ts, std::move(p));
}
inline RelayMessagePtr audio_config(uint32_t ts) {
  std::vector<uint8_t> p;
  flv::write_legacy_aac_audio(p, flv::AudioPacketType::sequence_start, std::vector<uint8_t>{0x12, 0x10});
  return make(8, ts, std::move(p));
}
inline void append_amf0_string(std::vector<uint8_t>& out, std::string_view s) {
  out.push_back(0x02);
  out.push_back(uint8_t(s.size() >> 8));
  out.push_back(uint8_t(s.size()));
  for (char c : s) out.push_back(uint8_t(c));
}
inline std::vector<uint8_t> amf0_string(std::string_view s) {
  std::vector<uint8_t> out;
  append_amf0_string(out, s);
  return out;
}
inline RelayMessagePtr metadata(uint32_t ts, uint8_t version = 0) {
  std::vector<uint8_t> p;
  append_amf0_string(p, "onMetaData");
  for (uint8_t b : {0x08, 0, 0, 0, 0, 0, 0, 9}) p.push_back(b);  // ECMA array, no entries, end marker
  p.push_back(version);
  return make(18, ts, std::move(p));
}

// A live stream in timestamp order: video at 30 fps (keyframe every gop_ms), audio every 23 ms.
class Timeline {
 public:
  explicit Timeline(uint32_t gop_ms = 2000, bool video = true, bool audio = true, uint32_t start_ms = 0)
      : gop_ms_(gop_ms), video_(video), audio_(audio), next_video_ms_(start_ms), next_audio_ms_(start_ms),
        start_ms_(start_ms) {}

  RelayMessagePtr next() {
    const bool take_video = video_ && (!audio_ || int32_t(next_video_ms_ - next_audio_ms_) <= 0);
    if (take_video) {
      const uint32_t ts = next_video_ms_;
      const bool is_key = frame_ % (gop_ms_ * 30 / 1000) == 0;
      ++frame_;
      next_video_ms_ = start_ms_ + uint32_t(frame_ * 1000 / 30);
      return is_key ? key(ts) : delta(ts);
    }
    const uint32_t ts = next_audio_ms_;
    next_audio_ms_ += 23;
    return aac(ts);
  }

 private:
  uint32_t gop_ms_;
  bool video_;
  bool audio_;
  uint32_t next_video_ms_;
  uint32_t next_audio_ms_;
  uint32_t start_ms_;
  uint64_t frame_ = 0;
};

}  // namespace live::relay::test
