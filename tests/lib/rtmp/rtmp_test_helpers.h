// Shared by the lib/rtmp tests: captures and source.flv (from tests/lib/test_data.h), the
// handshake size that precedes the chunk stream of a capture, and message equality.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "../test_data.h"
#include "rtmp/message.h"

namespace live::rtmp::test {

using test_data::read_capture;
using test_data::read_flv_tags;

inline constexpr size_t handshake_bytes = 1 + 1536 + 1536;  // C0 C1 C2 / S0 S1 S2

// The chunk stream of a recorded direction: what follows its handshake (empty, and a test
// failure, if the capture is not longer than a handshake).
inline std::span<const uint8_t> after_handshake(const std::vector<uint8_t>& capture) {
  EXPECT_GT(capture.size(), handshake_bytes) << "capture shorter than a handshake";
  if (capture.size() <= handshake_bytes) return {};
  return std::span(capture).subspan(handshake_bytes);
}

inline bool same_message(const Message& a, const Message& b) {
  return a.chunk_stream_id == b.chunk_stream_id && a.timestamp == b.timestamp && a.type == b.type &&
         a.stream_id == b.stream_id && a.payload == b.payload;
}

}  // namespace live::rtmp::test
