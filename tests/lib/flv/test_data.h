// Reads files from tests/data (LIVE_TEST_DATA is set by tests/meson.build).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "flv/flv_tag.h"

namespace live::flv::testing {

inline std::vector<uint8_t> read_test_file(const std::string& relative) {
  const char* dir = std::getenv("LIVE_TEST_DATA");
  EXPECT_NE(dir, nullptr) << "LIVE_TEST_DATA not set";
  std::string path = std::string(dir ? dir : ".") + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<Tag> read_all_tags(const std::vector<uint8_t>& file) {
  FlvReader reader;
  auto r = reader.feed(file);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  std::vector<Tag> tags;
  while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
  return tags;
}

}  // namespace live::flv::testing
