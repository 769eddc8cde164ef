// ChunkReader: reassembles RTMP messages from the chunk stream (the bytes after the handshake).
// Sans-I/O: feed() takes any piece of input and appends every message it completes; the
// result is the same however the input is split. Set Chunk Size and Abort act at once, as the
// spec requires; they are also passed out so a session can see them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "rtmp/message.h"

namespace live::rtmp {

inline constexpr uint32_t default_chunk_size = 128;
inline constexpr uint32_t max_protocol_chunk_size = 0x7fffffff;  // Set Chunk Size is 31 bits
inline constexpr uint32_t min_chunk_stream_id = 2;
inline constexpr uint32_t max_chunk_stream_id = 65599;

struct ChunkReaderLimits {
  uint32_t max_message_size = 8 * 1024 * 1024;  // largest message we reassemble
  uint32_t max_chunk_streams = 64;              // distinct chunk stream ids seen
  uint32_t max_chunk_size = 16 * 1024 * 1024;   // largest Set Chunk Size honoured (<= 2^31-1)
  // Bytes of unfinished messages held at once over all chunk streams (interleaving peers
  // hold one audio and one video message; a hostile one could start one on every stream).
  uint32_t max_partial_bytes = 32 * 1024 * 1024;
};

class ChunkReader {
 public:
  explicit ChunkReader(ChunkReaderLimits limits = {});

  // Consumes all of `in` (partial headers are kept internally) and appends each completed
  // message to `out`. Returns the bytes consumed. After an error the reader is unusable.
  Result<size_t> feed(std::span<const uint8_t> in, std::vector<Message>& out);

  uint32_t chunk_size() const { return chunk_size_; }
  // For streams that start after a chunk size was agreed elsewhere (e.g. a capture cut).
  void set_chunk_size(uint32_t size) { chunk_size_ = size; }
  size_t chunk_stream_count() const { return streams_.size(); }
  // Bytes of unfinished messages held now (what max_partial_bytes bounds).
  size_t partial_bytes() const { return partial_bytes_; }

  // Whether this reader would parse any further input exactly as `other` would: same chunk
  // size, same per-stream headers and partial messages, same position inside a chunk.
  // Split-invariance tests and the fuzz target compare readers with it.
  bool same_state(const ChunkReader& other) const;

 private:
  struct StreamState {
    uint32_t timestamp = 0;       // of the current/last message
    uint32_t delta = 0;           // applied by fmt 3 headers that start a message
    uint32_t length = 0;
    uint32_t stream_id = 0;
    uint8_t type = 0;
    bool has_header = false;
    bool extended = false;        // last fmt 0-2 header used an extended timestamp
    uint32_t extended_value = 0;  // the raw 32-bit field it carried
    bool in_message = false;
    std::vector<uint8_t> payload;

    bool operator==(const StreamState&) const = default;
  };

  struct Stream {
    uint32_t csid = 0;
    StreamState state;
  };
  // Ids below this (every id a one-byte basic header can name, the usual case) are found
  // through a flat table, others by a scan; at most limits_.max_chunk_streams exist.
  static constexpr uint32_t kDirectIds = 64;

  enum class Phase { header, payload };

  StreamState* find_stream(uint32_t csid);
  const StreamState* find_stream(uint32_t csid) const;

  // Header bytes needed given what is buffered so far; 0 if undecidable yet (never).
  size_t header_size_needed() const;
  Result<void> process(std::span<const uint8_t> in, std::vector<Message>& out);
  Result<void> finish_header(std::vector<Message>& out, size_t& replay_from);
  Result<void> complete_message(StreamState& stream, uint32_t csid, std::vector<Message>& out);

  ChunkReaderLimits limits_;
  uint32_t chunk_size_ = default_chunk_size;
  std::vector<Stream> streams_;                     // in the order first seen
  std::array<uint32_t, kDirectIds> direct_index_{};  // csid -> index in streams_ + 1, 0 = none
  Phase phase_ = Phase::header;
  uint8_t header_[3 + 11 + 4] = {};
  size_t header_len_ = 0;
  bool failed_ = false;
  size_t partial_bytes_ = 0;  // payload bytes of unfinished messages, all streams
  // payload phase: the chunk stream being read (looked up by id so the reader stays copyable)
  uint32_t current_csid_ = 0;
  size_t chunk_left_ = 0;
};

}  // namespace live::rtmp
