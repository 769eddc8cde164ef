// Big-endian (network order) and little-endian readers/writers over byte spans.
// Loads and stores go through memcpy-free shifts: no unaligned reinterpret_cast loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace live {

inline uint16_t load_be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t load_be24(const uint8_t* p) { return (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2]; }
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t load_be64(const uint8_t* p) { return (uint64_t(load_be32(p)) << 32) | load_be32(p + 4); }
inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

inline void store_be16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void store_be24(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 16); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v); }
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}
inline void store_be64(uint8_t* p, uint64_t v) { store_be32(p, uint32_t(v >> 32)); store_be32(p + 4, uint32_t(v)); }
inline void store_le32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24);
}

// Bounds-checked sequential reader. Every read returns false (and reads nothing) when fewer
// bytes remain than asked for, so parsers never walk past the end of untrusted input.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  bool read_u8(uint8_t& v);
  bool read_be16(uint16_t& v);
  bool read_be24(uint32_t& v);
  bool read_be32(uint32_t& v);
  bool read_be64(uint64_t& v);
  bool read_le32(uint32_t& v);
  bool read_bytes(size_t n, std::span<const uint8_t>& out);
  bool read_string(size_t n, std::string& out);
  bool skip(size_t n);
  bool peek_u8(uint8_t& v) const;

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Appends to a caller-owned vector.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}

  void u8(uint8_t v) { out_.push_back(v); }
  void be16(uint16_t v);
  void be24(uint32_t v);
  void be32(uint32_t v);
  void be64(uint64_t v);
  void le32(uint32_t v);
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void bytes(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
  size_t size() const { return out_.size(); }
  // Overwrites bytes already written (e.g. a length field filled in afterwards).
  void patch_be32(size_t offset, uint32_t v) { store_be32(out_.data() + offset, v); }
  void patch_be24(size_t offset, uint32_t v) { store_be24(out_.data() + offset, v); }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace live
