// GoogleTest glue over the strict playlist parser, for every test that reads our playlists
// (tests/lib/hls and the hlsadaptivesink tests): parse, check the single-playlist rules, and
// fail the running test with the text on any problem.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "playlist_parser.h"

namespace live::hls::test {

// `where` (a file name, say) prefixes the failure messages when given.
inline ParsedMediaPlaylist parse_checked(const std::string& text, const std::string& where = {}) {
  const std::string prefix = where.empty() ? std::string() : where + ": ";
  auto parsed = parse_media_playlist(text);
  EXPECT_TRUE(parsed.ok()) << prefix << parsed.error << "\n" << text;
  if (!parsed.ok()) return {};
  for (const auto& problem : check_media_rules(*parsed.playlist)) ADD_FAILURE() << prefix << problem << "\n" << text;
  return *parsed.playlist;
}

inline ParsedMultivariantPlaylist parse_checked_multivariant(const std::string& text, const std::string& where = {}) {
  auto parsed = parse_multivariant_playlist(text);
  EXPECT_TRUE(parsed.ok()) << (where.empty() ? std::string() : where + ": ") << parsed.error << "\n" << text;
  return parsed.ok() ? *parsed.playlist : ParsedMultivariantPlaylist{};
}

}  // namespace live::hls::test
