// hls_rules: the request path and LL-HLS query parsing of HlsHttpServer (fuzzed by
// tests/fuzz/fuzz_http_request.cpp). normalize_path() decodes without GLib; here it is held to
// what the server did with g_uri_unescape_string(path, "/") before.
#include <glib.h>
#include <gtest/gtest.h>

#include <string>

#include "http/hls_rules.h"

namespace live::http {
namespace {

using hls_rules::normalize_path;
using hls_rules::parse_index;
using hls_rules::query_value;

TEST(HlsRules, ParseIndexTakesDecimalDigitsOnly) {
  int64_t v = -1;
  EXPECT_TRUE(parse_index("0", &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_index("007", &v));
  EXPECT_EQ(v, 7);
  EXPECT_TRUE(parse_index("9223372036854775807", &v));
  EXPECT_EQ(v, INT64_MAX);
  v = 42;
  // Found by the fuzz target's reference check: from_chars took "-0" as 0 (corpus
  // http_request/regress-msn-minus-zero).
  for (const char* bad : {"-0", "-1", "+1", "", " 1", "1 ", "1a", "0x10", "9223372036854775808"}) {
    EXPECT_FALSE(parse_index(bad, &v)) << bad;
  }
  EXPECT_EQ(v, 42);  // untouched on failure
  EXPECT_FALSE(parse_index(nullptr, &v));
}

TEST(HlsRules, QueryValueKeepsTheLastItem) {
  std::string value;
  EXPECT_TRUE(query_value("_HLS_msn=1&_HLS_part=2&_HLS_msn=3", "_HLS_msn", &value));
  EXPECT_EQ(value, "3");
  EXPECT_TRUE(query_value("_HLS_skip=YES", "_HLS_skip", &value));
  EXPECT_EQ(value, "YES");
  EXPECT_FALSE(query_value("_HLS_msn&x=1", "_HLS_msn", &value));
}

// What HlsHttpServer did before normalize_path() moved here: GLib's decoder, then the segment rules.
std::string glib_normalize(const std::string& request_path) {
  char* decoded = g_uri_unescape_string(request_path.c_str(), "/");
  if (decoded == nullptr) return {};
  std::string path(decoded);
  g_free(decoded);
  if (path.empty() || path[0] != '/' || path.find('\\') != std::string::npos) return {};
  std::string relative;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty()) continue;
    if (part[0] == '.') return {};
    if (hls_rules::extension_of(part) == "tmp") return {};
    if (!relative.empty()) relative += '/';
    relative += part;
  }
  return relative;
}

TEST(HlsRules, NormalizePathDecodesAsGlib) {
  const std::string cases[] = {
      "/a/b.ts", "/a//b.ts/", "/", "", "a.ts", "/%61.ts", "/%2e%2e/x", "/a%2fb", "/a%2Fb", "/a%00b", "/a%",
      "/a%4", "/a%4g", "/a%%41", "/a%41%42", "/x/%2E.tmp", "/x/A.TMP", "/x/a.tmp/b", "/a\\b", "/a%5cb",
      "/.hidden", "/a/./b", "/a/../b", "/seg%20one.ts", "/%e2%82%ac.m4s", "/%ff%fe", std::string("/a\0b", 4),
      "/live/a/index.m3u8", "/a%2", "/%41"};
  for (const std::string& c : cases) EXPECT_EQ(normalize_path(c), glib_normalize(c)) << c;
  EXPECT_EQ(normalize_path("/live//a/seg%31.ts"), "live/a/seg1.ts");
  EXPECT_EQ(normalize_path("/live/a/index.m3u8.tmp"), "");
}

}  // namespace
}  // namespace live::http
