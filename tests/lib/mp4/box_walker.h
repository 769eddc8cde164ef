// A small ISO BMFF box walker for tests: splits bytes into boxes, descends into the container
// boxes our writer produces, and fails (instead of guessing) when a size is inconsistent.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace live::mp4::test {

struct Box {
  std::string type;
  size_t offset = 0;  // of the box header, from the start of the walked buffer
  size_t size = 0;    // whole box
  size_t header = 8;  // bytes before the payload
  std::span<const uint8_t> payload;  // after the header (for full boxes: starting at version)
  std::vector<Box> children;

  const Box* child(const std::string& t) const;
  std::vector<const Box*> all(const std::string& t) const;
  // Follows a path of child types, e.g. find("moov/trak/mdia/mdhd").
  const Box* find(const std::string& path) const;
};

// Walks `data` as a sequence of boxes. On any inconsistency (size beyond the parent, smaller
// than the header, children not tiling a container exactly) returns false with a reason.
bool walk_boxes(std::span<const uint8_t> data, std::vector<Box>& out, std::string& error);

// Big-endian helpers over a payload.
uint32_t be32_at(std::span<const uint8_t> p, size_t off);
uint64_t be64_at(std::span<const uint8_t> p, size_t off);
uint16_t be16_at(std::span<const uint8_t> p, size_t off);

}  // namespace live::mp4::test
