#include "rtmp/chunk_writer.h"

#include <algorithm>

#include "common/byte_io.h"
#include "rtmp/chunk_reader.h"

namespace live::rtmp {

namespace {
constexpr uint32_t timestamp_escape = 0xffffff;

// Room for `extra` more bytes at the end of `out`, growing geometrically: a reserve() of just
// the size needed would reallocate and copy the whole buffer on every message appended to a
// session's output queue (quadratic in the queue, up to max_pending_output per message; found
// by the session_script fuzz target as a timeout).
void reserve_for_append(std::vector<uint8_t>& out, size_t extra) {
  const size_t needed = out.size() + extra;
  if (needed > out.capacity()) out.reserve(std::max(needed, out.capacity() * 2));
}

// csid is already clamped to 2..65599 by the callers.
void append_basic_header(uint8_t fmt, uint32_t csid, std::vector<uint8_t>& out) {
  if (csid <= 63) {
    out.push_back(uint8_t((fmt << 6) | csid));
  } else if (csid <= 319) {
    out.push_back(uint8_t(fmt << 6));
    out.push_back(uint8_t(csid - 64));
  } else {
    const uint32_t v = csid - 64;
    out.push_back(uint8_t((fmt << 6) | 1));
    out.push_back(uint8_t(v & 0xff));
    out.push_back(uint8_t(v >> 8));
  }
}

// The payload after a message header: chunk_size bytes a chunk, each further chunk behind a
// fmt 3 basic header, repeating the extended timestamp when the message has one.
void append_chunk_bodies(uint32_t csid, std::span<const uint8_t> payload, uint32_t chunk_size,
                         bool extended, uint32_t extended_field, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  const size_t length = payload.size();
  size_t pos = 0;
  for (;;) {
    const size_t take = std::min<size_t>(chunk_size, length - pos);
    w.bytes(payload.subspan(pos, take));
    pos += take;
    if (pos >= length) break;
    append_basic_header(3, csid, out);
    if (extended) w.be32(extended_field);
  }
}
}  // namespace

ChunkWriter::ChunkWriter(uint32_t chunk_size) : chunk_size_(std::clamp<uint32_t>(chunk_size, 1, max_protocol_chunk_size)) {}

void ChunkWriter::set_chunk_size_silently(uint32_t size) {
  chunk_size_ = std::clamp<uint32_t>(size, 1, max_protocol_chunk_size);
}

void ChunkWriter::set_chunk_size(uint32_t size, std::vector<uint8_t>& out) {
  const uint32_t clamped = std::clamp<uint32_t>(size, 1, max_protocol_chunk_size);
  uint8_t payload[4];
  store_be32(payload, clamped);
  write(control_chunk_stream, 0, uint8_t(MessageType::set_chunk_size), 0, payload, out);
  chunk_size_ = clamped;
}

void ChunkWriter::write(uint32_t csid, uint32_t timestamp, uint8_t type, uint32_t stream_id,
                        std::span<const uint8_t> payload, std::vector<uint8_t>& out) {
  csid = std::clamp(csid, min_chunk_stream_id, max_chunk_stream_id);
  const uint32_t length = uint32_t(std::min<size_t>(payload.size(), 0xffffff));
  payload = payload.first(length);

  auto [it, fresh] = streams_.try_emplace(csid);
  StreamState& s = it->second;
  uint8_t fmt;
  uint32_t delta = 0;
  if (fresh || s.stream_id != stream_id || timestamp < s.timestamp) {
    fmt = 0;
  } else {
    delta = timestamp - s.timestamp;
    if (s.length != length || s.type != type) fmt = 1;
    else if (s.delta_known && s.delta == delta) fmt = 3;
    else fmt = 2;
  }
  const uint32_t field = fmt == 0 ? timestamp : delta;
  const bool extended = field >= timestamp_escape;

  ByteWriter w(out);
  reserve_for_append(out, length + 18 + (length / chunk_size_) * (3 + 4));
  append_basic_header(fmt, csid, out);
  if (fmt <= 2) w.be24(extended ? timestamp_escape : field);
  if (fmt <= 1) {
    w.be24(length);
    w.u8(type);
  }
  if (fmt == 0) w.le32(stream_id);
  if (extended) w.be32(field);

  append_chunk_bodies(csid, payload, chunk_size_, extended, field, out);

  s.timestamp = timestamp;
  s.length = length;
  s.type = type;
  s.stream_id = stream_id;
  s.delta = delta;
  s.delta_known = fmt != 0;
}

void write_message_fmt0(uint32_t csid, uint32_t timestamp, uint8_t type, uint32_t stream_id,
                        std::span<const uint8_t> payload, uint32_t chunk_size, std::vector<uint8_t>& out) {
  csid = std::clamp(csid, min_chunk_stream_id, max_chunk_stream_id);
  chunk_size = std::clamp<uint32_t>(chunk_size, 1, max_protocol_chunk_size);
  payload = payload.first(std::min<size_t>(payload.size(), 0xffffff));
  const size_t length = payload.size();
  const bool extended = timestamp >= timestamp_escape;
  const size_t continuations = length == 0 ? 0 : (length - 1) / chunk_size;
  reserve_for_append(out, 3 + 11 + (extended ? 4 : 0) + length + continuations * (3 + (extended ? 4 : 0)));

  ByteWriter w(out);
  append_basic_header(0, csid, out);
  w.be24(extended ? timestamp_escape : timestamp);
  w.be24(uint32_t(length));
  w.u8(type);
  w.le32(stream_id);
  if (extended) w.be32(timestamp);
  append_chunk_bodies(csid, payload, chunk_size, extended, timestamp, out);
}

}  // namespace live::rtmp
