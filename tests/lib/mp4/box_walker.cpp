#include "box_walker.h"

#include <set>

namespace live::mp4::test {

namespace {

// Containers and how many payload bytes come before their child boxes.
size_t children_start(const std::string& type) {
  static const std::set<std::string> plain = {"moov", "trak", "mdia", "minf", "dinf", "stbl",
                                              "mvex", "moof", "traf", "edts"};
  if (plain.count(type)) return 0;
  if (type == "stsd" || type == "dref") return 8;  // version/flags + entry_count
  if (type == "avc1" || type == "hvc1" || type == "av01") return 78;  // VisualSampleEntry fields
  if (type == "mp4a" || type == "Opus") return 28;                    // AudioSampleEntry fields
  return SIZE_MAX;                                  // leaf
}

bool walk(std::span<const uint8_t> data, size_t base, std::vector<Box>& out, std::string& error, int depth) {
  if (depth > 16) {
    error = "nesting too deep";
    return false;
  }
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 8) {
      error = "trailing " + std::to_string(data.size() - pos) + " bytes at " + std::to_string(base + pos);
      return false;
    }
    Box b;
    b.offset = base + pos;
    uint64_t size = be32_at(data, pos);
    b.type = std::string(reinterpret_cast<const char*>(data.data() + pos + 4), 4);
    if (size == 1) {
      if (data.size() - pos < 16) {
        error = "truncated largesize";
        return false;
      }
      size = be64_at(data, pos + 8);
      b.header = 16;
    } else if (size == 0) {
      size = data.size() - pos;
    }
    if (size < b.header || size > data.size() - pos) {
      error = "box " + b.type + " at " + std::to_string(b.offset) + " has size " + std::to_string(size) +
              " but " + std::to_string(data.size() - pos) + " bytes remain";
      return false;
    }
    b.size = static_cast<size_t>(size);
    b.payload = data.subspan(pos + b.header, b.size - b.header);
    const size_t start = children_start(b.type);
    if (start != SIZE_MAX) {
      if (start > b.payload.size()) {
        error = "container " + b.type + " too small";
        return false;
      }
      if (!walk(b.payload.subspan(start), b.offset + b.header + start, b.children, error, depth + 1)) return false;
    }
    out.push_back(std::move(b));
    pos += static_cast<size_t>(size);
  }
  return true;
}

}  // namespace

uint16_t be16_at(std::span<const uint8_t> p, size_t off) { return uint16_t((p[off] << 8) | p[off + 1]); }
uint32_t be32_at(std::span<const uint8_t> p, size_t off) {
  return (uint32_t(p[off]) << 24) | (uint32_t(p[off + 1]) << 16) | (uint32_t(p[off + 2]) << 8) | p[off + 3];
}
uint64_t be64_at(std::span<const uint8_t> p, size_t off) {
  return (uint64_t(be32_at(p, off)) << 32) | be32_at(p, off + 4);
}

bool walk_boxes(std::span<const uint8_t> data, std::vector<Box>& out, std::string& error) {
  return walk(data, 0, out, error, 0);
}

const Box* Box::child(const std::string& t) const {
  for (const auto& c : children)
    if (c.type == t) return &c;
  return nullptr;
}

std::vector<const Box*> Box::all(const std::string& t) const {
  std::vector<const Box*> out;
  for (const auto& c : children)
    if (c.type == t) out.push_back(&c);
  return out;
}

const Box* Box::find(const std::string& path) const {
  const Box* b = this;
  size_t pos = 0;
  while (b && pos < path.size()) {
    const size_t slash = path.find('/', pos);
    b = b->child(path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    pos = slash == std::string::npos ? path.size() : slash + 1;
  }
  return b;
}

}  // namespace live::mp4::test
