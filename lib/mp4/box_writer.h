// BoxWriter: appends ISO BMFF boxes to a byte vector; box sizes are filled in when a box is
// closed, so nested boxes are written in one pass.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/byte_io.h"

namespace live::mp4 {

class BoxWriter {
 public:
  explicit BoxWriter(std::vector<uint8_t>& out) : out_(out), w_(out) {}

  // Starts a box of the four-character `type`; returns the handle for end().
  size_t begin(std::string_view type) {
    const size_t start = out_.size();
    w_.be32(0);
    w_.bytes(type.substr(0, 4));
    return start;
  }
  // Starts a full box (version + 24-bit flags).
  size_t begin_full(std::string_view type, uint8_t version, uint32_t flags) {
    const size_t start = begin(type);
    w_.u8(version);
    w_.be24(flags);
    return start;
  }
  void end(size_t start) { w_.patch_be32(start, static_cast<uint32_t>(out_.size() - start)); }

  ByteWriter& w() { return w_; }
  size_t size() const { return out_.size(); }
  void zeros(size_t n) { out_.insert(out_.end(), n, 0); }

 private:
  std::vector<uint8_t>& out_;
  ByteWriter w_;
};

}  // namespace live::mp4
