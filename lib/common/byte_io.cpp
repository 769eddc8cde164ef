#include "common/byte_io.h"

#include "common/result.h"

namespace live {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::truncated: return "truncated";
    case Errc::malformed: return "malformed";
    case Errc::limit_exceeded: return "limit exceeded";
    case Errc::unsupported: return "unsupported";
    case Errc::protocol_violation: return "protocol violation";
    case Errc::refused: return "refused";
    case Errc::closed: return "closed";
  }
  return "unknown";
}

bool ByteReader::read_u8(uint8_t& v) {
  if (remaining() < 1) return false;
  v = data_[pos_++];
  return true;
}

bool ByteReader::read_be16(uint16_t& v) {
  if (remaining() < 2) return false;
  v = load_be16(data_.data() + pos_);
  pos_ += 2;
  return true;
}

bool ByteReader::read_be24(uint32_t& v) {
  if (remaining() < 3) return false;
  v = load_be24(data_.data() + pos_);
  pos_ += 3;
  return true;
}

bool ByteReader::read_be32(uint32_t& v) {
  if (remaining() < 4) return false;
  v = load_be32(data_.data() + pos_);
  pos_ += 4;
  return true;
}

bool ByteReader::read_be64(uint64_t& v) {
  if (remaining() < 8) return false;
  v = load_be64(data_.data() + pos_);
  pos_ += 8;
  return true;
}

bool ByteReader::read_le32(uint32_t& v) {
  if (remaining() < 4) return false;
  v = load_le32(data_.data() + pos_);
  pos_ += 4;
  return true;
}

bool ByteReader::read_bytes(size_t n, std::span<const uint8_t>& out) {
  if (remaining() < n) return false;
  out = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}

bool ByteReader::read_string(size_t n, std::string& out) {
  if (remaining() < n) return false;
  out.assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
  pos_ += n;
  return true;
}

bool ByteReader::skip(size_t n) {
  if (remaining() < n) return false;
  pos_ += n;
  return true;
}

bool ByteReader::peek_u8(uint8_t& v) const {
  if (remaining() < 1) return false;
  v = data_[pos_];
  return true;
}

void ByteWriter::be16(uint16_t v) {
  uint8_t b[2];
  store_be16(b, v);
  out_.insert(out_.end(), b, b + 2);
}

void ByteWriter::be24(uint32_t v) {
  uint8_t b[3];
  store_be24(b, v);
  out_.insert(out_.end(), b, b + 3);
}

void ByteWriter::be32(uint32_t v) {
  uint8_t b[4];
  store_be32(b, v);
  out_.insert(out_.end(), b, b + 4);
}

void ByteWriter::be64(uint64_t v) {
  uint8_t b[8];
  store_be64(b, v);
  out_.insert(out_.end(), b, b + 8);
}

void ByteWriter::le32(uint32_t v) {
  uint8_t b[4];
  store_le32(b, v);
  out_.insert(out_.end(), b, b + 4);
}

}  // namespace live
