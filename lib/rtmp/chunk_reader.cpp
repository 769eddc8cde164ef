#include "rtmp/chunk_reader.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/byte_io.h"

namespace live::rtmp {

namespace {

constexpr size_t message_header_size[4] = {11, 7, 3, 0};
constexpr uint32_t timestamp_escape = 0xffffff;

}  // namespace

ChunkReader::ChunkReader(ChunkReaderLimits limits) : limits_(limits) {
  limits_.max_chunk_size = std::min(limits_.max_chunk_size, max_protocol_chunk_size);
}

ChunkReader::StreamState* ChunkReader::find_stream(uint32_t csid) {
  return const_cast<StreamState*>(std::as_const(*this).find_stream(csid));
}

const ChunkReader::StreamState* ChunkReader::find_stream(uint32_t csid) const {
  if (csid < kDirectIds) {
    const uint32_t index = direct_index_[csid];
    return index == 0 ? nullptr : &streams_[index - 1].state;
  }
  for (const Stream& stream : streams_) {
    if (stream.csid == csid) return &stream.state;
  }
  return nullptr;
}

size_t ChunkReader::header_size_needed() const {
  if (header_len_ < 1) return 1;
  const uint8_t fmt = header_[0] >> 6;
  const uint8_t csid_field = header_[0] & 0x3f;
  const size_t basic = csid_field == 0 ? 2 : csid_field == 1 ? 3 : 1;
  const size_t fixed = basic + message_header_size[fmt];
  if (header_len_ < fixed) return fixed;
  if (fmt < 3) {
    return load_be24(header_ + basic) == timestamp_escape ? fixed + 4 : fixed;
  }
  // fmt 3 repeats the extended timestamp field when the stream's last header had one.
  const uint32_t csid = csid_field == 0 ? 64u + header_[1] : csid_field == 1 ? 64u + header_[1] + 256u * header_[2] : csid_field;
  const StreamState* stream = find_stream(csid);
  if (stream && stream->extended) return fixed + 4;
  return fixed;
}

bool ChunkReader::same_state(const ChunkReader& o) const {
  if (failed_ != o.failed_ || chunk_size_ != o.chunk_size_ || phase_ != o.phase_ || partial_bytes_ != o.partial_bytes_ ||
      streams_.size() != o.streams_.size()) {
    return false;
  }
  for (const Stream& stream : streams_) {  // the same streams, whatever order they came in
    const StreamState* other = o.find_stream(stream.csid);
    if (!other || !(*other == stream.state)) return false;
  }
  if (limits_.max_message_size != o.limits_.max_message_size || limits_.max_chunk_streams != o.limits_.max_chunk_streams ||
      limits_.max_chunk_size != o.limits_.max_chunk_size || limits_.max_partial_bytes != o.limits_.max_partial_bytes) {
    return false;
  }
  if (phase_ == Phase::payload) return current_csid_ == o.current_csid_ && chunk_left_ == o.chunk_left_;
  return header_len_ == o.header_len_ && std::equal(header_, header_ + header_len_, o.header_);
}

Result<size_t> ChunkReader::feed(std::span<const uint8_t> in, std::vector<Message>& out) {
  if (failed_) return make_error(Errc::closed, "chunk reader failed earlier");
  auto done = process(in, out);
  if (!done) {
    failed_ = true;
    return done.error();
  }
  return in.size();
}

Result<void> ChunkReader::process(std::span<const uint8_t> in, std::vector<Message>& out) {
  size_t pos = 0;
  while (pos < in.size()) {
    if (phase_ == Phase::header) {
      // Take header bytes one field at a time, never more than the header needs.
      size_t need = header_size_needed();
      while (header_len_ < need && pos < in.size()) {
        const size_t take = std::min(need - header_len_, in.size() - pos);
        std::copy_n(in.begin() + pos, take, header_ + header_len_);
        header_len_ += take;
        pos += take;
        need = header_size_needed();
      }
      if (header_len_ < need) break;
      size_t replay_from = header_len_;
      auto done = finish_header(out, replay_from);
      if (!done) return done;
      // Bytes peeked as a repeated extended timestamp that turned out to be payload: run
      // them through again (at most 4 bytes, so this recursion is shallow).
      const size_t replay_count = header_len_ - replay_from;
      uint8_t replay[4];
      std::copy_n(header_ + replay_from, replay_count, replay);
      header_len_ = 0;
      if (replay_count > 0) {
        auto replayed = process(std::span<const uint8_t>(replay, replay_count), out);
        if (!replayed) return replayed;
      }
      continue;
    }
    StreamState& current = *find_stream(current_csid_);
    const size_t take = std::min(chunk_left_, in.size() - pos);
    if (partial_bytes_ + take > limits_.max_partial_bytes) {
      return make_error(Errc::limit_exceeded, "unfinished messages hold more than " +
                                                  std::to_string(limits_.max_partial_bytes) + " bytes");
    }
    current.payload.insert(current.payload.end(), in.begin() + pos, in.begin() + pos + take);
    partial_bytes_ += take;
    pos += take;
    chunk_left_ -= take;
    if (chunk_left_ == 0) {
      phase_ = Phase::header;
      if (current.payload.size() == current.length) {
        auto completed = complete_message(current, current_csid_, out);
        if (!completed) return completed;
      }
    }
  }
  return {};
}

Result<void> ChunkReader::finish_header(std::vector<Message>& out, size_t& replay_from) {
  const uint8_t fmt = header_[0] >> 6;
  const uint8_t csid_field = header_[0] & 0x3f;
  size_t basic = 1;
  uint32_t csid = csid_field;
  if (csid_field == 0) {
    csid = 64u + header_[1];
    basic = 2;
  } else if (csid_field == 1) {
    csid = 64u + header_[1] + 256u * header_[2];
    basic = 3;
  }
  StreamState* found = find_stream(csid);
  if (!found) {
    if (fmt != 0) {
      return make_error(Errc::protocol_violation,
                        "chunk stream " + std::to_string(csid) + " starts with a fmt " + std::to_string(fmt) + " header");
    }
    if (streams_.size() >= limits_.max_chunk_streams) {
      return make_error(Errc::limit_exceeded, "more than " + std::to_string(limits_.max_chunk_streams) + " chunk streams");
    }
    streams_.push_back(Stream{csid, StreamState{}});
    if (csid < kDirectIds) direct_index_[csid] = uint32_t(streams_.size());
    found = &streams_.back().state;
  }
  StreamState& s = *found;
  const uint8_t* h = header_ + basic;
  const size_t fixed = basic + message_header_size[fmt];

  if (fmt < 3) {
    if (s.in_message) {
      return make_error(Errc::protocol_violation,
                        "new message header on chunk stream " + std::to_string(csid) + " before the last message ended");
    }
    uint32_t field = load_be24(h);
    s.extended = field == timestamp_escape;
    if (s.extended) {
      field = load_be32(header_ + fixed);
      s.extended_value = field;
    }
    if (fmt == 0) {
      s.timestamp = field;
      s.delta = field;  // a following fmt 3 repeats it, as ffmpeg and librtmp writers assume
    } else {
      s.timestamp += field;
      s.delta = field;
    }
    if (fmt <= 1) {
      s.length = load_be24(h + 3);
      s.type = h[6];
    }
    if (fmt == 0) s.stream_id = load_le32(h + 7);
    s.has_header = true;
  } else if (!s.in_message) {
    // fmt 3 starting a new message: same header, timestamp advances by the last delta.
    if (s.extended) {
      s.extended_value = load_be32(header_ + fixed);
      s.delta = s.extended_value;
    }
    s.timestamp += s.delta;
  } else if (s.extended) {
    // Continuation chunk: most peers repeat the extended timestamp here (spec, librtmp,
    // ffmpeg, FMS), some do not. Take the 4 bytes only when they repeat the value.
    if (load_be32(header_ + fixed) != s.extended_value) replay_from = fixed;
  }

  if (!s.in_message) {
    if (s.length > limits_.max_message_size) {
      return make_error(Errc::limit_exceeded, "message of " + std::to_string(s.length) + " bytes on chunk stream " +
                                                  std::to_string(csid) + " exceeds the limit");
    }
    s.in_message = true;
    s.payload.clear();
    // Grows with what really arrives past 1 MiB.
    s.payload.reserve(std::min<size_t>(s.length, 1024 * 1024) + kPayloadFramingRoom);
    if (s.length == 0) {
      phase_ = Phase::header;
      return complete_message(s, csid, out);
    }
  }
  current_csid_ = csid;
  chunk_left_ = std::min<size_t>(chunk_size_, s.length - s.payload.size());
  phase_ = Phase::payload;
  return {};
}

Result<void> ChunkReader::complete_message(StreamState& s, uint32_t csid, std::vector<Message>& out) {
  s.in_message = false;
  partial_bytes_ -= s.payload.size();
  Message m;
  m.chunk_stream_id = csid;
  m.timestamp = s.timestamp;
  m.type = s.type;
  m.stream_id = s.stream_id;
  m.payload = std::move(s.payload);
  s.payload = {};

  if (m.message_type() == MessageType::set_chunk_size) {
    if (m.payload.size() < 4) return make_error(Errc::malformed, "Set Chunk Size shorter than 4 bytes");
    const uint32_t size = load_be32(m.payload.data()) & 0x7fffffff;
    if (size == 0) return make_error(Errc::malformed, "Set Chunk Size of 0");
    if (size > limits_.max_chunk_size) {
      return make_error(Errc::limit_exceeded, "Set Chunk Size " + std::to_string(size) + " exceeds the limit");
    }
    chunk_size_ = size;
  } else if (m.message_type() == MessageType::abort) {
    if (m.payload.size() < 4) return make_error(Errc::malformed, "Abort message shorter than 4 bytes");
    StreamState* aborted = find_stream(load_be32(m.payload.data()));
    if (aborted && aborted != &s && aborted->in_message) {
      partial_bytes_ -= aborted->payload.size();
      aborted->in_message = false;
      aborted->payload.clear();
    }
  }
  out.push_back(std::move(m));
  return {};
}

}  // namespace live::rtmp
