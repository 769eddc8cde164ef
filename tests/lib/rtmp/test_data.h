// Shared helpers for lib/rtmp tests: capture files and a minimal FLV tag walker.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "rtmp/message.h"

namespace live::rtmp::test {

inline std::string data_path(const std::string& name) {
  const char* dir = std::getenv("LIVE_TEST_DATA");
  if (!dir) {
    ADD_FAILURE() << "LIVE_TEST_DATA is not set (run through meson test)";
    return name;
  }
  return std::string(dir) + "/" + name;
}

inline std::vector<uint8_t> read_capture(const std::string& name) {
  std::ifstream f(data_path("captures/" + name), std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open captures/" << name;
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline constexpr size_t handshake_bytes = 1 + 1536 + 1536;  // C0 C1 C2 / S0 S1 S2

struct FlvTag {
  uint8_t type;
  uint32_t timestamp;
  std::vector<uint8_t> data;
};

// Walks an FLV file: 9-byte header, then (previous tag size, tag)*.
inline std::vector<FlvTag> read_flv_tags(const std::vector<uint8_t>& file) {
  std::vector<FlvTag> tags;
  EXPECT_GE(file.size(), 13u);
  EXPECT_EQ(std::string(file.begin(), file.begin() + 3), "FLV");
  size_t pos = load_be32(file.data() + 5) + 4;
  while (pos + 11 <= file.size()) {
    const uint8_t* h = file.data() + pos;
    const uint32_t size = load_be24(h + 1);
    const uint32_t ts = load_be24(h + 4) | (uint32_t(h[7]) << 24);
    if (pos + 11 + size > file.size()) {
      ADD_FAILURE() << "truncated FLV tag at " << pos;
      break;
    }
    tags.push_back(FlvTag{uint8_t(h[0] & 0x1f), ts, std::vector<uint8_t>(h + 11, h + 11 + size)});
    pos += 11 + size + 4;
  }
  return tags;
}

inline bool same_message(const Message& a, const Message& b) {
  return a.chunk_stream_id == b.chunk_stream_id && a.timestamp == b.timestamp && a.type == b.type &&
         a.stream_id == b.stream_id && a.payload == b.payload;
}

}  // namespace live::rtmp::test
