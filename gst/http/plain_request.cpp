// PlainRequest parsing: see the header.
#include "http/plain_request.h"

namespace live::http {

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~' || c == '/';
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Visible ASCII and spaces only: no control characters, no obs-text.
bool is_plain_text(std::string_view s) {
  for (char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f || static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_target(std::string_view target, PlainRequestHead* out) {
  const size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (path.empty() || path[0] != '/') return false;  // absolute-form, "*": libsoup's business
  for (char c : path)
    if (!is_path_char(c)) return false;
  // What libsoup's URI parser would rewrite (dot segments) or a site would read another way.
  if (path.find("//") != std::string_view::npos || path.find("/.") != std::string_view::npos) return false;
  for (char c : query)
    if (c == '%' || c == '+' || c == '#' || c <= 0x20 || c == 0x7f || static_cast<unsigned char>(c) >= 0x80)
      return false;
  out->path = path;
  out->query = query;
  return true;
}

// One header field of a plain request; false if it makes the request not plain.
bool accept_header(std::string_view name, std::string_view value, bool* has_host, bool* close) {
  if (equals_ignoring_case(name, "host")) {
    if (*has_host || value.empty()) return false;  // two Host fields: 400 is libsoup's to give
    *has_host = true;
    return true;
  }
  if (equals_ignoring_case(name, "connection")) {
    if (equals_ignoring_case(value, "close")) {
      *close = true;
      return true;
    }
    return equals_ignoring_case(value, "keep-alive");
  }
  if (equals_ignoring_case(name, "content-length")) return value == "0";
  for (std::string_view refused : {"transfer-encoding", "range", "if-range", "expect", "upgrade"})
    if (equals_ignoring_case(name, refused)) return false;
  return true;
}

}  // namespace

PlainParse parse_plain_request(std::string_view data, PlainRequestHead* out) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos)
    return data.size() >= kMaxPlainRequestHeadBytes ? PlainParse::not_plain : PlainParse::incomplete;
  if (end + 4 > kMaxPlainRequestHeadBytes) return PlainParse::not_plain;
  const std::string_view head = data.substr(0, end + 2);  // every line ends with CRLF
  PlainRequestHead result;
  result.length = end + 4;

  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  if (request_line.substr(0, 4) == "GET ") {
    request_line.remove_prefix(4);
  } else if (request_line.substr(0, 5) == "HEAD ") {
    request_line.remove_prefix(5);
    result.head = true;
  } else {
    return PlainParse::not_plain;
  }
  constexpr std::string_view kVersion = " HTTP/1.1";
  if (request_line.size() <= kVersion.size() || request_line.substr(request_line.size() - kVersion.size()) != kVersion)
    return PlainParse::not_plain;
  if (!parse_target(request_line.substr(0, request_line.size() - kVersion.size()), &result))
    return PlainParse::not_plain;

  bool has_host = false;
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    line_end = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, line_end - pos);
    pos = line_end + 2;
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return PlainParse::not_plain;  // also obs-fold
    const std::string_view name = line.substr(0, colon);
    for (char c : name)
      if (!is_token_char(c)) return PlainParse::not_plain;
    const std::string_view value = trim(line.substr(colon + 1));
    if (!is_plain_text(value) || !accept_header(name, value, &has_host, &result.close)) return PlainParse::not_plain;
  }
  if (!has_host) return PlainParse::not_plain;
  *out = result;
  return PlainParse::plain;
}

}  // namespace live::http
