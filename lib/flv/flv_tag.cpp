#include "flv/flv_tag.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/byte_io.h"

namespace live::flv {

namespace {

// The 11-byte tag header into `view` (everything but the payload); returns the payload size.
// Shared by feed() and read_whole_tags() so both accept and refuse the same headers.
Result<uint32_t> parse_tag_header(const uint8_t* p, TagView& view) {
  const uint8_t type = p[0] & 0x1F;
  if (p[0] & 0xC0) return make_error(Errc::malformed, "flv tag reserved bits set");
  if (type != 8 && type != 9 && type != 18) return make_error(Errc::malformed, "flv tag type " + std::to_string(type));
  view.type = type;
  view.filtered = (p[0] & 0x20) != 0;
  view.timestamp = load_be24(p + 4) | (uint32_t(p[7]) << 24);
  view.stream_id = load_be24(p + 8);
  return load_be24(p + 1);
}

// The 11-byte header before a payload of payload_size bytes at tag + kTagHeaderSize, and the
// PreviousTagSize after it.
void store_tag_framing(uint8_t* tag, uint8_t type, uint32_t timestamp, size_t payload_size,
                       uint32_t stream_id) {
  tag[0] = type & 0x1F;
  store_be24(tag + 1, uint32_t(payload_size));
  store_be24(tag + 4, timestamp & 0xFFFFFF);
  tag[7] = uint8_t(timestamp >> 24);
  store_be24(tag + 8, stream_id & 0xFFFFFF);
  store_be32(tag + kTagHeaderSize + payload_size, uint32_t(kTagHeaderSize + payload_size));
}

}  // namespace

Result<FileHeader> parse_file_header(std::span<const uint8_t> b) {
  if (b.size() < kFileHeaderSize) return make_error(Errc::truncated, "flv file header");
  if (b[0] != 'F' || b[1] != 'L' || b[2] != 'V') return make_error(Errc::malformed, "flv signature");
  uint32_t data_offset = load_be32(b.data() + 5);
  if (data_offset != kFileHeaderSize)  // version 1 defines exactly 9; anything else is not FLV 1
    return make_error(Errc::unsupported, "flv header data offset " + std::to_string(data_offset));
  FileHeader h;
  h.version = b[3];
  h.has_audio = (b[4] & 0x04) != 0;
  h.has_video = (b[4] & 0x01) != 0;
  return h;
}

void write_file_header(std::vector<uint8_t>& out, const FileHeader& h) {
  ByteWriter w(out);
  w.bytes(std::string_view("FLV"));
  w.u8(h.version);
  w.u8(uint8_t((h.has_audio ? 0x04 : 0) | (h.has_video ? 0x01 : 0)));
  w.be32(kFileHeaderSize);
  w.be32(0);
}

Result<void> write_tag(std::span<uint8_t> out, uint8_t type, uint32_t timestamp,
                       std::span<const uint8_t> payload, uint32_t stream_id) {
  if (payload.size() > kMaxTagPayloadSize) return make_error(Errc::limit_exceeded, "flv tag payload size");
  if (out.size() != kTagHeaderSize + payload.size() + kPreviousTagSizeSize)
    return make_error(Errc::malformed, "flv tag output size does not match the payload");
  if (!payload.empty()) std::memcpy(out.data() + kTagHeaderSize, payload.data(), payload.size());
  store_tag_framing(out.data(), type, timestamp, payload.size(), stream_id);
  return {};
}

Result<void> frame_tag_in_place(std::vector<uint8_t>& payload, uint8_t type, uint32_t timestamp,
                                uint32_t stream_id) {
  const size_t size = payload.size();
  if (size > kMaxTagPayloadSize) return make_error(Errc::limit_exceeded, "flv tag payload size");
  payload.resize(kTagHeaderSize + size + kPreviousTagSizeSize);
  if (size > 0) std::memmove(payload.data() + kTagHeaderSize, payload.data(), size);
  store_tag_framing(payload.data(), type, timestamp, size, stream_id);
  return {};
}

Result<void> write_tag(std::vector<uint8_t>& out, uint8_t type, uint32_t timestamp,
                       std::span<const uint8_t> payload, uint32_t stream_id) {
  if (payload.size() > kMaxTagPayloadSize) return make_error(Errc::limit_exceeded, "flv tag payload size");
  const size_t at = out.size();
  out.resize(at + kTagHeaderSize + payload.size() + kPreviousTagSizeSize);
  return write_tag(std::span<uint8_t>(out).subspan(at), type, timestamp, payload, stream_id);
}

void FlvReader::reset() {
  state_ = State::start;
  pending_.clear();
  need_ = 0;
  current_ = Tag{};
}

std::optional<Tag> FlvReader::next_tag() {
  if (tags_.empty()) return std::nullopt;
  Tag t = std::move(tags_.front());
  tags_.pop_front();
  return t;
}

bool FlvReader::read_whole_tags(std::span<const uint8_t> data, std::vector<TagView>& out, size_t max_tags) {
  out.clear();
  const bool between_tags = (state_ == State::tag_header && pending_.empty()) ||
                            (state_ == State::start && !data.empty() && data[0] != 'F');
  if (!between_tags || !tags_.empty() || data.empty()) return false;
  size_t pos = 0;
  while (pos < data.size()) {
    if (out.size() == max_tags || data.size() - pos < kTagHeaderSize) break;
    TagView v;
    const auto size = parse_tag_header(data.data() + pos, v);
    if (!size) break;  // feed() says why
    if (data.size() - pos - kTagHeaderSize < size_t(*size) + kPreviousTagSizeSize) break;
    v.payload = data.subspan(pos + kTagHeaderSize, *size);
    out.push_back(v);
    pos += kTagHeaderSize + v.payload.size() + kPreviousTagSizeSize;
  }
  if (pos != data.size()) {
    out.clear();
    return false;
  }
  state_ = State::tag_header;
  need_ = kTagHeaderSize;
  consumed_ += data.size();
  return true;
}

Result<void> FlvReader::feed(std::span<const uint8_t> data) {
  if (state_ == State::failed) return error_;
  while (!data.empty()) {
    auto r = step(data);
    if (!r) {
      state_ = State::failed;
      error_ = r.error();
      return r;
    }
  }
  return {};
}

// Collects bytes into pending_ until need_ are there, then acts on the completed structure.
Result<void> FlvReader::step(std::span<const uint8_t>& in) {
  if (state_ == State::start) {
    uint8_t first = in[0];
    if (first == 'F') {
      state_ = State::header;
      need_ = kFileHeaderSize;
    } else {
      state_ = State::tag_header;
      need_ = kTagHeaderSize;
    }
    pending_.clear();
  }
  size_t take = std::min(need_ - pending_.size(), in.size());
  pending_.insert(pending_.end(), in.begin(), in.begin() + take);
  in = in.subspan(take);
  consumed_ += take;
  if (pending_.size() < need_) return {};

  switch (state_) {
    case State::header: {
      auto h = parse_file_header(pending_);
      if (!h) return h.error();
      header_ = *h;
      state_ = State::header_trailer;
      need_ = kPreviousTagSizeSize;
      break;
    }
    case State::header_trailer:
    case State::tag_trailer:
      // PreviousTagSize is informative only; writers disagree on it after corrupt tags, and
      // trusting the forward size fields is what every demuxer does.
      state_ = State::tag_header;
      need_ = kTagHeaderSize;
      break;
    case State::tag_header: {
      TagView h;
      const auto parsed = parse_tag_header(pending_.data(), h);
      if (!parsed) return parsed.error();
      const uint32_t size = *parsed;
      current_ = Tag{h.type, h.filtered, h.timestamp, h.stream_id, {}};
      state_ = State::tag_payload;
      need_ = size;
      pending_.clear();
      pending_.reserve(size);
      if (size == 0) {  // empty tag: no payload bytes to wait for
        tags_.push_back(std::move(current_));
        state_ = State::tag_trailer;
        need_ = kPreviousTagSizeSize;
      }
      return {};
    }
    case State::tag_payload:
      current_.payload = std::move(pending_);
      tags_.push_back(std::move(current_));
      state_ = State::tag_trailer;
      need_ = kPreviousTagSizeSize;
      break;
    default:
      break;
  }
  pending_.clear();
  return {};
}

}  // namespace live::flv
