#include "relay/relay_message.h"

#include <cstdio>
#include <string_view>

#include "common/byte_io.h"
#include "flv/audio_tag.h"
#include "flv/ex_tracks.h"
#include "flv/flv_tag.h"
#include "flv/video_tag.h"
#include "rtmp/chunk_writer.h"

namespace live::relay {

namespace {

using flv::AudioPacketType;
using flv::VideoPacketType;

// The kind of a coded frame by its frame type (legacy and E-RTMP share the values).
FrameKind video_frame_kind(uint8_t frame_type) {
  switch (static_cast<flv::FrameType>(frame_type)) {
    case flv::FrameType::keyframe:
      return FrameKind::video_key;
    case flv::FrameType::inter:
    case flv::FrameType::disposable_inter:
    case flv::FrameType::generated_keyframe:  // a decoder's own output, not a place to start
      return FrameKind::video_delta;
    default:
      return FrameKind::video_other;
  }
}

// E-RTMP video packet type (after ModEx, inside a multitrack) -> kind.
FrameKind ex_video_kind(uint8_t frame_type, uint8_t packet_type) {
  switch (static_cast<VideoPacketType>(packet_type)) {
    case VideoPacketType::sequence_start:
    case VideoPacketType::mpeg2ts_sequence_start:
      return FrameKind::video_config;
    case VideoPacketType::coded_frames:
    case VideoPacketType::coded_frames_x:
      return video_frame_kind(frame_type);
    default:  // sequence end, metadata, anything unknown
      return FrameKind::video_other;
  }
}

FrameKind classify_video(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t b0 = 0;
  if (!r.read_u8(b0)) return FrameKind::video_other;
  if (b0 & 0x80) {  // ExVideoTagHeader
    const uint8_t frame_type = (b0 >> 4) & 0x07;
    if (frame_type == uint8_t(flv::FrameType::command)) return FrameKind::video_other;
    uint32_t nanos = 0;
    auto packet_type = flv::read_mod_ex(r, b0 & 0x0F, uint8_t(VideoPacketType::mod_ex), nanos, "video");
    if (!packet_type) return FrameKind::video_other;
    if (*packet_type == uint8_t(VideoPacketType::multitrack)) {
      uint8_t b1 = 0;
      if (!r.read_u8(b1)) return FrameKind::video_other;
      const uint8_t inner = b1 & 0x0F;
      if (inner == uint8_t(VideoPacketType::multitrack) || inner == uint8_t(VideoPacketType::mod_ex))
        return FrameKind::video_other;  // nested: malformed
      return ex_video_kind(frame_type, inner);
    }
    return ex_video_kind(frame_type, *packet_type);
  }
  const uint8_t frame_type = b0 >> 4;
  const FrameKind by_frame_type = video_frame_kind(frame_type);
  if (by_frame_type == FrameKind::video_other) return FrameKind::video_other;
  const auto codec = static_cast<flv::LegacyVideoCodec>(b0 & 0x0F);
  if (codec != flv::LegacyVideoCodec::avc && codec != flv::LegacyVideoCodec::hevc_ext) return by_frame_type;
  uint8_t avc_packet_type = 0;
  if (!r.read_u8(avc_packet_type)) return FrameKind::video_other;
  switch (avc_packet_type) {
    case 0: return FrameKind::video_config;
    case 1: return by_frame_type;
    default: return FrameKind::video_other;  // 2 end of sequence, or malformed
  }
}

FrameKind ex_audio_kind(uint8_t packet_type) {
  switch (static_cast<AudioPacketType>(packet_type)) {
    case AudioPacketType::sequence_start:
    case AudioPacketType::multichannel_config:
      return FrameKind::audio_config;
    default:
      return FrameKind::audio;
  }
}

FrameKind classify_audio(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t b0 = 0;
  if (!r.read_u8(b0)) return FrameKind::audio;
  const auto format = static_cast<flv::SoundFormat>(b0 >> 4);
  if (format == flv::SoundFormat::aac) {
    uint8_t aac_packet_type = 0;
    if (!r.read_u8(aac_packet_type)) return FrameKind::audio;
    return aac_packet_type == 0 ? FrameKind::audio_config : FrameKind::audio;
  }
  if (format != flv::SoundFormat::ex_header) return FrameKind::audio;
  uint32_t nanos = 0;
  auto packet_type = flv::read_mod_ex(r, b0 & 0x0F, uint8_t(AudioPacketType::mod_ex), nanos, "audio");
  if (!packet_type) return FrameKind::audio;
  if (*packet_type == uint8_t(AudioPacketType::multitrack)) {
    uint8_t b1 = 0;
    if (!r.read_u8(b1)) return FrameKind::audio;
    return ex_audio_kind(b1 & 0x0F);
  }
  return ex_audio_kind(*packet_type);
}

// Whether `r` continues with the AMF0 string `name` (marker 0x02, 16-bit length, bytes).
bool read_amf0_string_equal(ByteReader& r, std::string_view name) {
  uint8_t marker = 0;
  uint16_t length = 0;
  std::span<const uint8_t> bytes;
  if (!r.read_u8(marker) || marker != 0x02 || !r.read_be16(length) || length != name.size() ||
      !r.read_bytes(length, bytes))
    return false;
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) == name;
}

FrameKind classify_script(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  if (read_amf0_string_equal(r, "onMetaData")) return FrameKind::metadata;
  ByteReader again(payload);
  if (read_amf0_string_equal(again, "@setDataFrame") && read_amf0_string_equal(again, "onMetaData"))
    return FrameKind::metadata;
  return FrameKind::other_data;
}

uint32_t chunk_stream_for(uint8_t type) {
  switch (static_cast<flv::TagType>(type)) {
    case flv::TagType::audio: return kRelayAudioChunkStream;
    case flv::TagType::video: return kRelayVideoChunkStream;
    default: return kRelayDataChunkStream;
  }
}

}  // namespace

TagInfo classify_tag(uint8_t type, std::span<const uint8_t> payload) {
  TagInfo info;
  switch (static_cast<flv::TagType>(type)) {
    case flv::TagType::video: info.kind = classify_video(payload); break;
    case flv::TagType::audio: info.kind = classify_audio(payload); break;
    case flv::TagType::script_data: info.kind = classify_script(payload); break;
    default: info.kind = FrameKind::other_data; break;
  }
  return info;
}

RelayMessage::RelayMessage(uint8_t type, uint32_t timestamp, std::vector<uint8_t> payload)
    : type_(type),
      timestamp_(timestamp),
      owned_payload_(std::move(payload)),
      payload_(owned_payload_),
      info_(classify_tag(type_, payload_)) {}

RelayMessage::RelayMessage(uint8_t type, uint32_t timestamp, std::span<const uint8_t> payload,
                           std::shared_ptr<const void> owner)
    : type_(type),
      timestamp_(timestamp),
      payload_owner_(std::move(owner)),
      payload_(payload),
      info_(classify_tag(type_, payload_)) {}

std::span<const uint8_t> RelayMessage::rtmp_chunks(uint32_t stream_id, uint32_t chunk_size) const {
  for (const Encoding& e : rtmp_)
    if (e.stream_id == stream_id && e.chunk_size == chunk_size) return e.bytes;
  Encoding& e = rtmp_.emplace_back(Encoding{stream_id, chunk_size, {}});
  rtmp::write_message_fmt0(chunk_stream_for(type_), timestamp_, type_, stream_id, payload_, chunk_size, e.bytes);
  return e.bytes;
}

std::span<const uint8_t> RelayMessage::http_flv_chunk() const {
  if (!http_.empty()) return http_;
  // Payloads above 16 MiB - 1 cannot be an FLV tag (nor an RTMP message): nothing to send.
  if (payload_.size() > flv::kMaxTagPayloadSize) return {};
  const size_t tag_size = flv::kTagHeaderSize + payload_.size() + flv::kPreviousTagSizeSize;
  char size_line[24];
  const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", tag_size);
  http_.reserve(size_t(n) + tag_size + 2);
  http_.insert(http_.end(), size_line, size_line + n);
  if (!flv::write_tag(http_, type_, timestamp_, payload_)) {
    http_.clear();
    return {};
  }
  http_.push_back('\r');
  http_.push_back('\n');
  return http_;
}

std::span<const uint8_t> RelayMessage::flv_tag() const {
  const auto chunk = http_flv_chunk();
  if (chunk.empty()) return {};
  const size_t tag_size = flv::kTagHeaderSize + payload_.size() + flv::kPreviousTagSizeSize;
  return chunk.subspan(chunk.size() - 2 - tag_size, tag_size);  // before the trailing CRLF
}

size_t RelayMessage::memory_bytes() const {
  size_t total = payload_.size() + http_.size();
  for (const Encoding& e : rtmp_) total += e.bytes.size();
  return total;
}

}  // namespace live::relay
