// HlsHttpServer's request rules: see the header.
#include "http/hls_rules.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace live::http {

namespace hls_rules {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string extension_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot + 1);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // ASCII only, as g_ascii_tolower
  return ext;
}

// Strict non-negative decimal (the whole string), as _HLS_msn / _HLS_part must be.
bool parse_index(const char* text, int64_t* out) {
  // Digits only (RFC 8216 decimal-integer): from_chars alone would take "-0" as 0.
  if (text == nullptr || *text < '0' || *text > '9') return false;
  const char* end = text + strlen(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || value < 0) return false;
  *out = value;
  return true;
}

std::string real_path(const std::string& path) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return {};
  std::string result(resolved);
  free(resolved);
  return result;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding as g_uri_unescape_string(text, "/") does it (GLib's uri_decoder, strict):
// the text ends at its first NUL; a '%' not followed by two hex digits, or an escape that
// decodes to NUL or '/', refuses the whole text.
bool percent_decode(std::string_view text, std::string* out) {
  text = text.substr(0, text.find('\0'));
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return false;
    const char c = static_cast<char>(high * 16 + low);
    if (c == '\0' || c == '/') return false;
    out->push_back(c);
    i += 2;
  }
  return true;
}

}  // namespace

std::string normalize_path(std::string_view request_path) {
  // Refuse an encoded '/' or NUL rather than reinterpreting it.
  std::string path;
  if (!percent_decode(request_path, &path)) return {};
  if (path.empty() || path[0] != '/' || path.find('\\') != std::string::npos) return {};
  std::string relative;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty()) continue;
    if (part[0] == '.') return {};  // "..", ".", hidden names
    // The sink writes every file as "<name>.tmp" first, then renames it: never half a file.
    if (extension_of(part) == "tmp") return {};
    if (!relative.empty()) relative += '/';
    relative += part;
  }
  return relative;
}

// The value of the last name=value item of a raw query (as soup_form_decode keeps it).
bool query_value(std::string_view query, std::string_view name, std::string* out) {
  bool found = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      *out = std::string(item.substr(eq + 1));
      found = true;
    }
  }
  return found;
}

// RFC 8216bis 6.2.5.2.
bool is_available(const PlaylistState& state, int64_t msn, int64_t part) {
  if (msn < state.last_msn) return true;
  if (msn > state.last_msn) return false;
  if (state.last_part >= 0) return part >= 0 && part <= state.last_part;
  // Segment msn is complete. A part index past its last part means part 0 of the next one.
  return part < 0 || state.last_segment_parts < 0 || part < state.last_segment_parts;
}

// 400 when more than two segments beyond the last complete one, or past the Advance Part Limit.
bool is_too_far_ahead(const PlaylistState& state, int64_t msn, int64_t part, int64_t part_target_ms) {
  const int64_t last_complete = state.last_part >= 0 ? state.last_msn - 1 : state.last_msn;
  if (msn > last_complete + kMaxBlockingAdvanceSegments) return true;
  if (part < 0 || msn != state.last_msn || state.last_part < 0) return false;
  // Advance Part Limit: 3 / PART-TARGET (in seconds) below one second, 3 otherwise.
  const double limit = part_target_ms > 0 && part_target_ms < 1000 ? 3000.0 / double(part_target_ms)
                                                                   : double(kMaxBlockingAdvanceParts);
  return double(part) > double(state.last_part) + limit;
}


}  // namespace hls_rules

using hls_rules::extension_of;


const char* hls_content_type(const std::string& path) {
  const std::string ext = extension_of(path);
  if (ext == "m3u8") return "application/vnd.apple.mpegurl";
  if (ext == "ts") return "video/mp2t";
  if (ext == "m4s") return "video/iso.segment";
  if (ext == "mp4") return "video/mp4";
  if (ext == "m4a") return "audio/mp4";
  if (ext == "aac") return "audio/aac";
  if (ext == "vtt") return "text/vtt";
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json") return "application/json";
  return "application/octet-stream";  // .key and anything else
}

const char* hls_cache_control(const std::string& path) {
  const std::string ext = extension_of(path);
  // Segment and part names are never reused for other content while a stream runs.
  if (ext == "ts" || ext == "m4s" || ext == "aac" || ext == "m4a") return "public, max-age=86400, immutable";
  // Init segments and keys keep their name when a stream restarts: cache briefly only.
  if (ext == "mp4" || ext == "key") return "max-age=10";
  return "no-cache";  // playlists, the player page
}

}  // namespace live::http
