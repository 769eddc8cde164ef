// MSB-first bit reader over a byte span, with Exp-Golomb codes. Reads past the end set a sticky
// failure flag and return 0, so parsers check ok() once at the end of a block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace live::flv {

class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> data) : data_(data) {}

  uint32_t bits(unsigned n) {  // n <= 32
    uint32_t v = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (pos_ >= data_.size() * 8) {
        failed_ = true;
        return 0;
      }
      v = (v << 1) | ((data_[pos_ / 8] >> (7 - pos_ % 8)) & 1);
      ++pos_;
    }
    return v;
  }
  bool flag() { return bits(1) != 0; }
  void skip(size_t n) {
    if (n > remaining()) failed_ = true;
    pos_ = failed_ ? data_.size() * 8 : pos_ + n;
  }
  // ue(v); more than 31 leading zeros cannot be a valid value for anything we read.
  uint32_t ue() {
    unsigned zeros = 0;
    while (!failed_ && bits(1) == 0) {
      if (++zeros > 31) {
        failed_ = true;
        return 0;
      }
    }
    if (zeros == 0) return 0;
    return uint32_t((uint64_t(1) << zeros) - 1 + bits(zeros));
  }
  int32_t se() {
    uint32_t k = ue();
    return (k & 1) ? int32_t((k + 1) / 2) : -int32_t(k / 2);
  }
  size_t remaining() const { return data_.size() * 8 - pos_; }
  bool ok() const { return !failed_; }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Removes H.264/H.265 emulation prevention bytes (00 00 03 -> 00 00).
inline std::vector<uint8_t> unescape_rbsp(std::span<const uint8_t> nal) {
  std::vector<uint8_t> out;
  out.reserve(nal.size());
  unsigned zeros = 0;
  for (uint8_t b : nal) {
    if (zeros >= 2 && b == 3) {
      zeros = 0;
      continue;
    }
    zeros = b == 0 ? zeros + 1 : 0;
    out.push_back(b);
  }
  return out;
}

}  // namespace live::flv
