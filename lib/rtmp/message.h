// An RTMP message as the chunk layer delivers it. An FLV tag carries exactly the same fields
// (type, size, timestamp, payload), which is why rtmpserversrc can emit one tag per message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace live::rtmp {

enum class MessageType : uint8_t {
  set_chunk_size = 1,
  abort = 2,
  acknowledgement = 3,
  user_control = 4,
  window_ack_size = 5,
  set_peer_bandwidth = 6,
  audio = 8,
  video = 9,
  data_amf3 = 15,
  shared_object_amf3 = 16,
  command_amf3 = 17,
  data_amf0 = 18,
  shared_object_amf0 = 19,
  command_amf0 = 20,
  aggregate = 22,
};

// Spare capacity ChunkReader leaves after each message's payload (up to 1 MiB): room for a
// container's framing around it, so that a consumer can frame the payload in place instead of
// copying it (rtmpserversrc: the FLV tag header and PreviousTagSize, 15 bytes).
inline constexpr size_t kPayloadFramingRoom = 16;

struct Message {
  uint32_t chunk_stream_id = 0;
  uint32_t timestamp = 0;  // absolute, milliseconds, wraps at 2^32 as on the wire
  uint8_t type = 0;        // a MessageType value; unknown types are passed on, not rejected
  uint32_t stream_id = 0;  // message stream id (little-endian on the wire)
  std::vector<uint8_t> payload;

  MessageType message_type() const { return static_cast<MessageType>(type); }
};

}  // namespace live::rtmp
