// Shared test fixture: the H.264 + AAC streams of tests/data/captures/source.flv as Fmp4Writer
// input (320x180 25 fps with B-frames, 3 GOPs of 25 frames; 44.1 kHz mono AAC).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flv_samples.h"
#include "mp4/fmp4_writer.h"

namespace live::mp4::test {

struct SourceStreams {
  FlvStreams flv;
  TrackConfig video_track;
  TrackConfig audio_track;
  std::vector<Sample> video;  // 90 kHz
  std::vector<Sample> audio;  // 44.1 kHz
};

inline std::string test_data_dir() {
  const char* dir = std::getenv("LIVE_TEST_DATA");
  if (!dir) ADD_FAILURE() << "LIVE_TEST_DATA is not set (run through meson test)";
  return dir ? dir : "";
}

// Loads the fixture; every sample's data points into `out.flv`, so keep `out` alive.
inline bool load_source(SourceStreams& out) {
  std::string error;
  if (!read_flv(test_data_dir() + "/captures/source.flv", out.flv, error)) {
    ADD_FAILURE() << error;
    return false;
  }
  if (out.flv.video.size() != 75 || out.flv.audio.size() != 131 || out.flv.avc_config.empty() ||
      out.flv.aac_config.empty()) {
    ADD_FAILURE() << "unexpected fixture content: " << out.flv.video.size() << " video, " << out.flv.audio.size()
                  << " audio frames";
    return false;
  }
  out.video_track = TrackConfig{1, Codec::h264, 90000, out.flv.avc_config, 320, 180, 0, 0, "und"};
  out.audio_track = TrackConfig{2, Codec::aac, 44100, out.flv.aac_config, 0, 0, 44100, 1, "eng"};
  const int64_t origin = out.flv.video.front().dts_ms;
  for (size_t i = 0; i < out.flv.video.size(); ++i) {
    const FlvFrame& f = out.flv.video[i];
    Sample s;
    s.dts = (f.dts_ms - origin) * 90;
    s.pts = (f.dts_ms + f.cts_ms - origin) * 90;
    s.duration = i + 1 < out.flv.video.size() ? uint32_t((out.flv.video[i + 1].dts_ms - f.dts_ms) * 90) : 3600;
    s.keyframe = f.keyframe;
    s.data = f.data;
    out.video.push_back(s);
  }
  // AAC frames are 1024 samples; FLV's millisecond stamps only say where the first one starts.
  const int64_t audio_start = (out.flv.audio.front().dts_ms - origin) * 44100 / 1000;
  for (size_t i = 0; i < out.flv.audio.size(); ++i) {
    Sample s;
    s.dts = s.pts = audio_start + int64_t(i) * 1024;
    s.duration = 1024;
    s.keyframe = true;
    s.data = out.flv.audio[i].data;
    out.audio.push_back(s);
  }
  return true;
}

// Indexes of the keyframes (segment starts) in `video`.
inline std::vector<size_t> keyframe_indexes(const std::vector<Sample>& video) {
  std::vector<size_t> out;
  for (size_t i = 0; i < video.size(); ++i)
    if (video[i].keyframe) out.push_back(i);
  return out;
}

}  // namespace live::mp4::test
