// What hlsadaptivesink holds of its input: the codec configuration a pad's caps gave, the
// frames (copied out of their buffers), and the conversions the containers need (Annex B for
// MPEG-TS video, ADTS for MPEG-TS audio, 90 kHz and track timescales). No GStreamer here.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "flv/audio_config.h"

namespace live::hlssink {

inline constexpr int64_t kSecond = 1'000'000'000;
// Media timestamps (TS PTS, fMP4 decode times) are running time plus this offset, so that
// decode times of B-frame streams never go negative.
inline constexpr int64_t kMediaTimeOffset = 10 * kSecond;

enum class Kind { h264, h265, aac };

// What the caps of one pad said.
struct StreamConfig {
  Kind kind = Kind::h264;
  bool length_prefixed = true;  // avc/hvc1/hev1 (else Annex B byte-stream)
  std::vector<uint8_t> codec_data;
  // Parameter sets (without start codes) for Annex B insertion before keyframes (TS), and the
  // NAL length size of length-prefixed input.
  std::vector<std::vector<uint8_t>> parameter_sets;
  unsigned nal_length_size = 4;
  std::string codec_string;
  int width = 0, height = 0, fps_n = 0, fps_d = 1;
  flv::AudioSpecificConfig aac;
  int channels = 0;
};

struct Frame {
  int64_t pts = 0, dts = 0, duration = -1;  // running time, ns
  bool keyframe = false;
  std::vector<uint8_t> data;
  std::shared_ptr<const StreamConfig> config;
};

// Byte-stream H.264 without codec_data: the codec string comes from the first SPS.
void learn_codec_from_annexb(StreamConfig& c, std::span<const uint8_t> au);

// An access unit in Annex B with one access unit delimiter first (an AUD of the input is
// dropped, so there is never a second one), and the parameter sets before keyframes of
// length-prefixed input (each TS segment must decode on its own).
std::vector<uint8_t> to_annexb(const Frame& f);
Result<std::vector<uint8_t>> to_adts(const Frame& f);

uint64_t to_90k(int64_t running_time);
int64_t to_ticks(int64_t running_time, uint32_t timescale);

}  // namespace live::hlssink
