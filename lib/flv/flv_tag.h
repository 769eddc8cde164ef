// FLV file framing: the 9-byte file header, tags (11-byte header + payload) and the
// PreviousTagSize trailers. FlvReader is a streaming, sans-I/O parser that is fed bytes in any
// split and yields whole tags; the write_* functions produce the same framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"

namespace live::flv {

enum class TagType : uint8_t { audio = 8, video = 9, script_data = 18 };

// Largest tag payload we accept. The field is 24 bits (16 MiB); we allow all of it because one
// 4K keyframe can be several MiB, but nothing larger can be expressed anyway.
inline constexpr uint32_t kMaxTagPayloadSize = 0xFFFFFF;
inline constexpr size_t kFileHeaderSize = 9;
inline constexpr size_t kTagHeaderSize = 11;
inline constexpr size_t kPreviousTagSizeSize = 4;

struct FileHeader {
  uint8_t version = 1;
  bool has_audio = false;
  bool has_video = false;
};

struct Tag {
  uint8_t type = 0;         // a TagType value; unknown types are passed on
  bool filtered = false;    // the "Filter" bit (encrypted content); we never decrypt
  uint32_t timestamp = 0;   // milliseconds: 24 bits plus the extended byte as the top 8 bits
  uint32_t stream_id = 0;   // always 0 in files
  std::vector<uint8_t> payload;

  TagType tag_type() const { return static_cast<TagType>(type); }
};

// A tag inside bytes the caller holds (FlvReader::read_whole_tags): nothing copied.
struct TagView {
  uint8_t type = 0;
  bool filtered = false;
  uint32_t timestamp = 0;
  uint32_t stream_id = 0;
  std::span<const uint8_t> payload;
};

// Parses an FLV byte stream. The file header is optional: a stream that starts with a tag
// (RTMP-style, or a reader reset after a discontinuity) is accepted, since 'F' (0x46) is not a
// tag type byte the two can never be confused.
class FlvReader {
 public:
  // Consumes all of `data` (buffering partial tags). On error the reader stays failed until
  // reset(); the error says where.
  Result<void> feed(std::span<const uint8_t> data);

  // Without copying: when the reader is between tags (nothing partial or queued) and `data` is
  // exactly `max_tags` or fewer whole tags, each with its PreviousTagSize (a tag-per-buffer
  // stream, as rtmpserversrc's), their views go to `out` (cleared first) and the bytes count as
  // consumed. Otherwise returns false and consumes nothing: feed() them, which also reports
  // what is wrong with bad input.
  bool read_whole_tags(std::span<const uint8_t> data, std::vector<TagView>& out, size_t max_tags);

  // Tags completely received so far, oldest first.
  std::optional<Tag> next_tag();
  bool has_tag() const { return !tags_.empty(); }

  // The file header if one was seen.
  const std::optional<FileHeader>& file_header() const { return header_; }
  uint64_t bytes_consumed() const { return consumed_; }

  // Forget partial input (e.g. after a DISCONT); a new file header may follow.
  void reset();

 private:
  enum class State { start, header, header_trailer, tag_header, tag_payload, tag_trailer, failed };

  Result<void> step(std::span<const uint8_t>& in);

  State state_ = State::start;
  std::vector<uint8_t> pending_;  // bytes of the structure currently being collected
  size_t need_ = 0;
  Tag current_;
  std::optional<FileHeader> header_;
  std::deque<Tag> tags_;
  uint64_t consumed_ = 0;
  Error error_{Errc::malformed, {}};
};

Result<FileHeader> parse_file_header(std::span<const uint8_t> bytes);

// Appends the 9-byte file header followed by PreviousTagSize0 (= 0).
void write_file_header(std::vector<uint8_t>& out, const FileHeader& header);
// Appends one tag (11-byte header, payload) followed by its PreviousTagSize.
// Payloads above kMaxTagPayloadSize are refused.
Result<void> write_tag(std::vector<uint8_t>& out, uint8_t type, uint32_t timestamp,
                       std::span<const uint8_t> payload, uint32_t stream_id = 0);
// The same bytes into memory the caller sized: kTagHeaderSize + payload + kPreviousTagSizeSize
// (e.g. a GstBuffer, without an intermediate vector). Payload sizes as for write_tag.
Result<void> write_tag(std::span<uint8_t> out, uint8_t type, uint32_t timestamp,
                       std::span<const uint8_t> payload, uint32_t stream_id = 0);
// Turns `payload` into the whole tag around it (header before, PreviousTagSize after), in its
// own memory: no reallocation when its spare capacity holds the 15 bytes (rtmp::ChunkReader
// leaves that much). Payload sizes as for write_tag; on error `payload` is unchanged.
Result<void> frame_tag_in_place(std::vector<uint8_t>& payload, uint8_t type, uint32_t timestamp,
                                uint32_t stream_id = 0);
inline Result<void> write_tag(std::vector<uint8_t>& out, const Tag& tag) {
  return write_tag(out, tag.type, tag.timestamp, tag.payload, tag.stream_id);
}

}  // namespace live::flv
