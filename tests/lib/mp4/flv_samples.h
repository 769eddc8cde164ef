// Reads the H.264 and AAC elementary streams out of an FLV file (tests/data) into the shape
// Fmp4Writer takes: decoder configuration records and timed samples. Test helper only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace live::mp4::test {

struct FlvFrame {
  int64_t dts_ms = 0;
  int32_t cts_ms = 0;
  bool keyframe = false;
  std::vector<uint8_t> data;
};

struct FlvStreams {
  std::vector<uint8_t> avc_config;  // AVCDecoderConfigurationRecord
  std::vector<uint8_t> hevc_config;  // HEVCDecoderConfigurationRecord (Enhanced RTMP hvc1)
  std::vector<uint8_t> av1_config;   // AV1CodecConfigurationRecord (Enhanced RTMP av01)
  std::vector<uint8_t> aac_config;  // AudioSpecificConfig
  std::vector<FlvFrame> video;      // H.264/H.265: length-prefixed NAL units; AV1: OBUs
  std::vector<FlvFrame> audio;      // raw AAC frames
};

// Returns false with a reason if the file is not the kind of FLV expected.
bool read_flv(const std::string& path, FlvStreams& out, std::string& error);

}  // namespace live::mp4::test
