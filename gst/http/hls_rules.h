// The request rules of HlsHttpServer shared by its libsoup path and its worker-thread path
// (HttpSite::answer_plain): path and query parsing, and when a blocking playlist reload is
// ready or refused (RFC 8216bis 6.2.5.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace live::http::hls_rules {

bool ends_with(const std::string& s, const char* suffix);
std::string extension_of(const std::string& path);  // lower case, without the dot; "" if none
// Strict non-negative decimal (the whole string), as _HLS_msn / _HLS_part must be.
bool parse_index(const char* text, int64_t* out);
// The value of the last name=value item of a raw query (as soup_form_decode keeps it).
bool query_value(std::string_view query, std::string_view name, std::string* out);
std::string real_path(const std::string& path);  // realpath(), "" on error

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

}  // namespace live::http::hls_rules
