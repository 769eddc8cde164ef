// Shared by the lib/rtmp tests: captures and source.flv (from tests/lib/test_data.h), the
// handshake size that precedes the chunk stream of a capture, and message equality.
#pragma once

#include <cstddef>

#include "../test_data.h"
#include "rtmp/message.h"

namespace live::rtmp::test {

using test_data::read_capture;
using test_data::read_flv_tags;

inline constexpr size_t handshake_bytes = 1 + 1536 + 1536;  // C0 C1 C2 / S0 S1 S2

inline bool same_message(const Message& a, const Message& b) {
  return a.chunk_stream_id == b.chunk_stream_id && a.timestamp == b.timestamp && a.type == b.type &&
         a.stream_id == b.stream_id && a.payload == b.payload;
}

}  // namespace live::rtmp::test
