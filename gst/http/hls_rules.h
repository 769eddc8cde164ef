// The request rules of HlsHttpServer shared by its libsoup path and its worker-thread path
// (HttpSite::answer_plain): path and query parsing, and when a blocking playlist reload is
// ready or refused (RFC 8216bis 6.2.5.2). Sans-I/O except real_path() (no GLib: the fuzz
// target tests/fuzz/fuzz_http_request.cpp links this file alone).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace live::http {

// Limits on what HTTP clients control.
inline constexpr uint32_t kMaxBlockingAdvanceSegments = 2;   // _HLS_msn > last + 2 -> 400
inline constexpr uint32_t kMaxBlockingAdvanceParts = 3;      // Advance Part Limit, PART-TARGET >= 1 s

// Content type for a file name by extension ("application/octet-stream" when unknown).
const char* hls_content_type(const std::string& path);
// Cache-Control for a non-blocking response to path (playlists "no-cache", segments immutable).
const char* hls_cache_control(const std::string& path);

namespace hls_rules {

bool ends_with(const std::string& s, const char* suffix);
std::string extension_of(const std::string& path);  // lower case, without the dot; "" if none
// Strict non-negative decimal (the whole string), as _HLS_msn / _HLS_part must be.
bool parse_index(const char* text, int64_t* out);
// The value of the last name=value item of a raw query (as soup_form_decode keeps it).
bool query_value(std::string_view query, std::string_view name, std::string* out);
std::string real_path(const std::string& path);  // realpath(), "" on error
// Request path (percent-encoded, as libsoup's URI has it) -> path relative to the site root
// ("a/b.ts"), or "" when refused: an invalid or NUL or '/' percent-escape (as
// g_uri_unescape_string(path, "/") refuses them), not starting with '/', a backslash, a
// segment starting with '.' ("..", ".", hidden names), or a "*.tmp" segment (the sink's files
// being written). Empty segments are dropped.
std::string normalize_path(std::string_view request_path);

struct PlaylistState {
  int64_t last_msn = -1;
  int64_t last_part = -1;
  int64_t last_segment_parts = -1;  // parts of segment last_msn when it is complete; -1 unknown
};

// Whether segment msn (part `part`, -1 = the whole segment) is in the playlist now
// (RFC 8216bis 6.2.5.2: a blocking reload is answered once it is).
bool is_available(const PlaylistState& state, int64_t msn, int64_t part);
// 400 when more than two segments beyond the last complete one, or past the Advance Part Limit.
bool is_too_far_ahead(const PlaylistState& state, int64_t msn, int64_t part, int64_t part_target_ms);

}  // namespace hls_rules

}  // namespace live::http
