// Test data shared by the lib/ and element tests: files under tests/data (LIVE_TEST_DATA is set
// by tests/meson.build) and FLV files split into tags by lib/flv's FlvReader.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "flv/flv_tag.h"

namespace live::test_data {

inline std::string path(const std::string& relative) {
  const char* dir = std::getenv("LIVE_TEST_DATA");
  if (!dir) {
    ADD_FAILURE() << "LIVE_TEST_DATA is not set (run through meson test)";
    return relative;
  }
  return std::string(dir) + "/" + relative;
}

// A file below tests/data, e.g. "flv/hevc.flv"; an unreadable file is a test failure.
inline std::vector<uint8_t> read_file(const std::string& relative) {
  std::ifstream in(path(relative), std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open tests/data/" << relative;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A recorded session or source file from tests/data/captures (see its README.md).
inline std::vector<uint8_t> read_capture(const std::string& name) { return read_file("captures/" + name); }

// Every tag of a whole FLV file; a parse error or a file that does not end after a tag is a
// test failure.
inline std::vector<flv::Tag> read_flv_tags(const std::vector<uint8_t>& file) {
  flv::FlvReader reader;
  auto fed = reader.feed(file);
  EXPECT_TRUE(fed.ok()) << (fed.ok() ? "" : fed.error().describe());
  std::vector<flv::Tag> tags;
  size_t framed = reader.file_header() ? flv::kFileHeaderSize + flv::kPreviousTagSizeSize : 0;
  while (auto tag = reader.next_tag()) {
    framed += flv::kTagHeaderSize + tag->payload.size() + flv::kPreviousTagSizeSize;
    tags.push_back(std::move(*tag));
  }
  EXPECT_EQ(framed, file.size()) << "FLV file does not end after its last whole tag";
  return tags;
}

// Audio (8) and video (9) tags only, in order.
inline std::vector<flv::Tag> media_tags(std::vector<flv::Tag> tags) {
  std::erase_if(tags, [](const flv::Tag& t) { return t.type != 8 && t.type != 9; });
  return tags;
}

}  // namespace live::test_data
