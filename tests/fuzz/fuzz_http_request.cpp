// Fuzz target: what the HTTP server parses of a client's bytes before touching a file
// (gst/http, without GLib or libsoup): the worker threads' request-head parser
// (parse_plain_request), the request path -> file path mapping shared with the libsoup path
// (hls_rules::normalize_path: percent-decoding, traversal, hidden and *.tmp names), and the
// LL-HLS query parameters (_HLS_msn, _HLS_part, _HLS_skip) with the blocking-reload rules.
//
// Input: 4 bytes of playlist state (last msn, last part, parts of the last segment, part
// target), then the bytes a client sent. Invariants (a broken one traps):
//   - a plain request head ends at "\r\n\r\n" within the size limit, its path and query are
//     views of the input with only the characters the fast path allows, and the same head
//     parses the same on its own; any shorter prefix is incomplete;
//   - a mapped path is relative, without empty, "." or hidden segments, backslashes, NULs or
//     "*.tmp" names, and maps to itself again;
//   - _HLS_msn/_HLS_part parse only as whole non-negative decimals of int64;
//   - a segment/part that is available is never "too far ahead", and availability holds for
//     every earlier segment.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/hls_rules.h"
#include "http/plain_request.h"

using namespace live::http;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool is_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~' || c == '/';
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_mapped(std::string_view request_path) {
  const std::string relative = hls_rules::normalize_path(request_path);
  if (relative.empty()) return;
  check(relative.front() != '/' && relative.back() != '/');
  check(relative.find("//") == std::string::npos && relative.find('\\') == std::string::npos);
  check(relative.find('\0') == std::string::npos);
  size_t pos = 0;
  while (pos <= relative.size()) {
    size_t next = relative.find('/', pos);
    if (next == std::string::npos) next = relative.size();
    const std::string segment = relative.substr(pos, next - pos);
    check(!segment.empty() && segment[0] != '.');
    check(hls_rules::extension_of(segment) != "tmp");
    pos = next + 1;
  }
  const std::string ext = hls_rules::extension_of(relative);
  check(ext.find('/') == std::string::npos);
  for (char c : ext) check(!(c >= 'A' && c <= 'Z'));
  check(hls_content_type(relative) != nullptr && hls_cache_control(relative) != nullptr);
  // Without '%' left in it, the mapped path is a fixed point.
  if (relative.find('%') == std::string::npos) check(hls_rules::normalize_path("/" + relative) == relative);
}

// Reference for parse_index: the whole text is decimal digits and the value fits in int64.
bool reference_index(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (v > (INT64_MAX - (c - '0')) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

void check_index(const std::string& text) {
  int64_t got = -2, want = -3;
  const bool ok = hls_rules::parse_index(text.c_str(), &got);
  // c_str() ends the text at an embedded NUL, as the server sees it.
  const bool want_ok = reference_index(std::string(text.c_str()), &want);
  check(ok == want_ok);
  if (ok) check(got == want);
}

void check_blocking(const hls_rules::PlaylistState& state, int64_t part_target_ms, std::string_view query) {
  std::string msn_text, part_text, skip_text;
  const bool has_msn = hls_rules::query_value(query, "_HLS_msn", &msn_text);
  const bool has_part = hls_rules::query_value(query, "_HLS_part", &part_text);
  (void)hls_rules::query_value(query, "_HLS_skip", &skip_text);
  if (has_msn) check(query.find("_HLS_msn=" + msn_text) != std::string_view::npos);
  if (has_msn) check_index(msn_text);
  if (has_part) check_index(part_text);
  int64_t msn = 0, part = -1;
  if (!has_msn || !hls_rules::parse_index(msn_text.c_str(), &msn)) return;
  if (has_part && !hls_rules::parse_index(part_text.c_str(), &part)) return;
  const bool available = hls_rules::is_available(state, msn, part);
  const bool too_far = hls_rules::is_too_far_ahead(state, msn, part, part_target_ms);
  check(!(available && too_far));
  if (available && msn > 0) check(hls_rules::is_available(state, msn - 1, -1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  hls_rules::PlaylistState state;
  state.last_msn = int64_t(data[0]) - 1;
  state.last_part = int64_t(data[1] % 16) - 1;
  state.last_segment_parts = int64_t(data[2] % 16) - 1;
  const int64_t part_target_ms = int64_t(data[3]) * 20;
  const std::string_view input(reinterpret_cast<const char*>(data + 4), size - 4);

  PlainRequestHead head;
  const PlainParse parsed = parse_plain_request(input, &head);
  const size_t end = input.find("\r\n\r\n");
  if (parsed == PlainParse::incomplete) check(end == std::string_view::npos && input.size() < kMaxPlainRequestHeadBytes);
  if (parsed == PlainParse::plain) {
    check(end != std::string_view::npos && head.length == end + 4 && head.length <= kMaxPlainRequestHeadBytes);
    check(inside(head.path, input) && inside(head.query, input));
    check(!head.path.empty() && head.path[0] == '/');
    for (char c : head.path) check(is_path_char(c));
    check(head.path.find("//") == std::string_view::npos && head.path.find("/.") == std::string_view::npos);
    for (char c : head.query) check(c != '%' && c != '+' && c != '#' && c > 0x20 && c != 0x7f);
    // The head alone parses the same; a prefix of it is incomplete.
    PlainRequestHead again;
    check(parse_plain_request(input.substr(0, head.length), &again) == PlainParse::plain);
    check(again.path == head.path && again.query == head.query && again.head == head.head &&
          again.close == head.close && again.length == head.length);
    const size_t cut = size_t(data[0]) * 31 % head.length;
    check(parse_plain_request(input.substr(0, cut), &again) == PlainParse::incomplete);
    check(parse_plain_request(input.substr(0, head.length - 1), &again) == PlainParse::incomplete);

    check_mapped(head.path);
    check_blocking(state, part_target_ms, head.query);
  }

  // The libsoup path maps any request target, percent-encoded: the target of the request
  // line whatever the rest, and the input as a whole.
  const size_t space = input.find(' ');
  if (space != std::string_view::npos) {
    std::string_view target = input.substr(space + 1);
    target = target.substr(0, target.find_first_of(" ?\r\n"));
    check_mapped(target);
    const size_t question = input.find('?', space);
    if (question != std::string_view::npos) {
      std::string_view query = input.substr(question + 1);
      check_blocking(state, part_target_ms, query.substr(0, query.find_first_of(" #\r\n")));
    }
  }
  check_mapped(input);
  return 0;
}
