// RelayMessage: one FLV tag (= one RTMP audio, video or data message) on its way to many
// viewers. The producer (flvrelaysink's streaming thread) makes it once per tag; after that it
// is shared read-only, by reference, among every viewer, the GOP cache and push targets. Its
// wire encodings (RTMP chunks, HTTP-FLV chunk) are made once, on first use, and reused by every
// viewer that needs the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

namespace live::relay {

// What a tag is, for the GOP cache and the viewer queues' skip rules.
enum class FrameKind : uint8_t {
  video_key,     // a video frame that starts a GOP (legacy or Enhanced RTMP frame type 1)
  video_delta,   // any other coded video frame (inter, disposable inter, generated key)
  video_config,  // AVC/HEVC sequence header, E-RTMP SequenceStart / MPEG2TSSequenceStart,
                 // or a multitrack packet carrying one
  video_other,   // end of sequence, E-RTMP metadata / command frames: no picture
  audio,         // a coded audio frame
  audio_config,  // AAC sequence header, E-RTMP audio SequenceStart / MultichannelConfig
  metadata,      // script data starting with the AMF0 string "onMetaData"
  other_data,    // any other script data, or an unknown message type
};

struct TagInfo {
  FrameKind kind = FrameKind::other_data;
  bool is_video() const {
    return kind == FrameKind::video_key || kind == FrameKind::video_delta ||
           kind == FrameKind::video_config || kind == FrameKind::video_other;
  }
  bool is_audio() const { return kind == FrameKind::audio || kind == FrameKind::audio_config; }
  bool is_config() const {
    return kind == FrameKind::video_config || kind == FrameKind::audio_config ||
           kind == FrameKind::metadata;
  }
};

// Classifies one tag by its type (8 audio, 9 video, 18 script) and payload, legacy FLV and
// Enhanced RTMP alike. Never fails: what cannot be read is other_data / video_other / audio.
TagInfo classify_tag(uint8_t type, std::span<const uint8_t> payload);

// RTMP chunk streams relayed messages are written on. Each message's first chunk has a fmt 0
// header, so the bytes do not depend on what a viewer received before and can be shared. They
// are not the chunk streams ServerSession writes its own messages on (2, 3, 5), whose header
// compression must not be disturbed.
inline constexpr uint32_t kRelayAudioChunkStream = 6;
inline constexpr uint32_t kRelayVideoChunkStream = 7;
inline constexpr uint32_t kRelayDataChunkStream = 8;

class RelayMessage {
 public:
  RelayMessage(uint8_t type, uint32_t timestamp, std::vector<uint8_t> payload);
  // A payload that stays where it is, kept alive by `owner` (e.g. the buffer it arrived in):
  // one allocation and copy less per message.
  RelayMessage(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload, std::shared_ptr<const void> owner);
  RelayMessage(const RelayMessage&) = delete;  // payload() may point into the object itself
  RelayMessage& operator=(const RelayMessage&) = delete;

  uint8_t type() const { return type_; }
  uint32_t timestamp() const { return timestamp_; }  // milliseconds, as in the FLV tag
  std::span<const uint8_t> payload() const { return payload_; }
  const TagInfo& info() const { return info_; }

  // The message as RTMP chunks for a viewer's message stream id and chunk size: fmt 0 first
  // chunk on the chunk stream for its type (above), fmt 3 continuations, extended timestamp
  // on every chunk when timestamp >= 0xFFFFFF. Made on first use per (stream id, chunk size)
  // and kept with the message. Not thread-safe: one thread (the I/O thread) asks.
  std::span<const uint8_t> rtmp_chunks(uint32_t stream_id, uint32_t chunk_size) const;
  // The FLV tag (11-byte header, payload, PreviousTagSize) framed as one HTTP/1.1 chunk of
  // chunked transfer coding: "<size in hex>\r\n<tag>\r\n". Made on first use.
  std::span<const uint8_t> http_flv_chunk() const;
  // The FLV tag alone (header, payload, PreviousTagSize): the inside of http_flv_chunk(), for
  // an HTTP/1.0 response body, which has no chunked coding. Shares that encoding's memory.
  std::span<const uint8_t> flv_tag() const;

  // Payload plus every encoding made so far (for memory accounting).
  size_t memory_bytes() const;

 private:
  struct Encoding {
    uint32_t stream_id;
    uint32_t chunk_size;
    std::vector<uint8_t> bytes;
  };
  uint8_t type_;
  uint32_t timestamp_;
  std::vector<uint8_t> owned_payload_;         // the first constructor's
  std::shared_ptr<const void> payload_owner_;  // the second's
  std::span<const uint8_t> payload_;           // in one of the two
  TagInfo info_;
  mutable std::deque<Encoding> rtmp_;  // deque: spans handed out stay valid
  mutable std::vector<uint8_t> http_;
};

using RelayMessagePtr = std::shared_ptr<const RelayMessage>;

}  // namespace live::relay
