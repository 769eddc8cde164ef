// OutputBuffer: the bytes a session has queued for its socket, written from the front. The
// session appends at the back; the caller writes what pending() shows and consume()s what went
// out. Written bytes are dropped in bulk, not per write (no O(n^2) erase on small writes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace live::rtmp {

class OutputBuffer {
 public:
  std::vector<uint8_t>& back() { return bytes_; }  // append here
  std::span<const uint8_t> pending() const { return std::span<const uint8_t>(bytes_).subspan(offset_); }
  size_t size() const { return bytes_.size() - offset_; }
  uint64_t consumed() const { return consumed_; }  // bytes written since the start

  void consume(size_t n) {
    n = std::min(n, size());
    offset_ += n;
    consumed_ += n;
    if (offset_ == bytes_.size()) {
      bytes_.clear();
      offset_ = 0;
    } else if (offset_ >= kCompactAfter && offset_ * 2 >= bytes_.size()) {
      bytes_.erase(bytes_.begin(), bytes_.begin() + long(offset_));
      offset_ = 0;
    }
  }

 private:
  static constexpr size_t kCompactAfter = 64 * 1024;
  std::vector<uint8_t> bytes_;
  size_t offset_ = 0;
  uint64_t consumed_ = 0;
};

}  // namespace live::rtmp
