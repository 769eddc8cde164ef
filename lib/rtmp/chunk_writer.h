// ChunkWriter: splits messages into chunks, compressing headers the way peers expect:
// fmt 0 for a new chunk stream, a new message stream id or a timestamp going backwards,
// fmt 1 when length or type change, fmt 2 when only the timestamp delta changes, fmt 3 when
// the delta repeats. Extended timestamps are written on every chunk of such a message,
// continuation chunks included (as the spec, librtmp and ffmpeg do).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "rtmp/message.h"

namespace live::rtmp {

// Chunk stream ids this project uses when it writes.
inline constexpr uint32_t control_chunk_stream = 2;  // protocol control and user control
inline constexpr uint32_t command_chunk_stream = 3;  // NetConnection commands
inline constexpr uint32_t status_chunk_stream = 5;   // NetStream commands and data
inline constexpr uint32_t audio_chunk_stream = 6;
inline constexpr uint32_t video_chunk_stream = 7;

class ChunkWriter {
 public:
  explicit ChunkWriter(uint32_t chunk_size = 128);

  // Appends the chunks of one message to `out`.
  void write(uint32_t chunk_stream_id, uint32_t timestamp, uint8_t type, uint32_t stream_id,
             std::span<const uint8_t> payload, std::vector<uint8_t>& out);
  void write(const Message& m, std::vector<uint8_t>& out) {
    write(m.chunk_stream_id, m.timestamp, m.type, m.stream_id, m.payload, out);
  }
  // Writes Set Chunk Size and uses the new size for every later message. Sizes are clamped
  // to 1..2^31-1.
  void set_chunk_size(uint32_t size, std::vector<uint8_t>& out);
  // Changes the size without announcing it (for tests and for streams agreed elsewhere).
  void set_chunk_size_silently(uint32_t size);
  uint32_t chunk_size() const { return chunk_size_; }

 private:
  struct StreamState {
    uint32_t timestamp = 0;
    uint32_t delta = 0;
    uint32_t length = 0;
    uint32_t stream_id = 0;
    uint8_t type = 0;
    bool delta_known = false;  // set by fmt 1/2 headers; fmt 3 after fmt 0 is ambiguous among peers
  };

  uint32_t chunk_size_;
  std::unordered_map<uint32_t, StreamState> streams_;
};

// One message as a standalone chunk sequence: a fmt 0 first chunk (full header, so the bytes do
// not depend on what was written on the chunk stream before), fmt 3 continuations, the extended
// timestamp (0xFFFFFF in the header + 4 bytes) on every chunk when timestamp >= 0xFFFFFF, a
// basic header of 1, 2 or 3 bytes by chunk stream id. Ids are clamped to 2..65599, chunk sizes
// to 1..2^31-1, payloads to 0xFFFFFF bytes, as ChunkWriter does. flvrelaysink encodes each
// relayed message once with this and shares the bytes among viewers.
void write_message_fmt0(uint32_t chunk_stream_id, uint32_t timestamp, uint8_t type, uint32_t stream_id,
                        std::span<const uint8_t> payload, uint32_t chunk_size, std::vector<uint8_t>& out);

}  // namespace live::rtmp
