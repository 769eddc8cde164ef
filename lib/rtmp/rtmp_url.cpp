#include "rtmp/rtmp_url.h"

#include <algorithm>
#include <cctype>

namespace live::rtmp {

namespace {

bool host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool ipv6_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
         c == '%';  // '%' starts a zone id (fe80::1%eth0)
}

// Digits only, 1..65535.
bool parse_port(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + uint32_t(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = uint16_t(value);
  return true;
}

// Index of the '/' that ends the application inside `path` (the part after "host[:port]/"),
// or npos when there is no key.
size_t application_end(std::string_view path) {
  const size_t first_slash = path.find('/');
  if (first_slash == std::string_view::npos) return first_slash;
  const size_t query = path.find('?');
  // A query before any '/' is the app's (rtmp://h/live?vhost=x/key): no instance then.
  if (query != std::string_view::npos && query < first_slash) return first_slash;
  // Otherwise only the part before the key's query decides, so slashes inside it stay in the key.
  const std::string_view head = path.substr(0, query);
  const size_t second_slash = head.find('/', first_slash + 1);
  if (second_slash == std::string_view::npos) return first_slash;
  // "vod/mp4:dir/file": a ':' in the second segment makes it part of the play path (ffmpeg).
  const size_t colon = head.find(':', first_slash + 1);
  if (colon != std::string_view::npos && colon < second_slash) return first_slash;
  return second_slash;
}

std::string_view before_query(std::string_view s) { return s.substr(0, s.find('?')); }

}  // namespace

Result<RtmpUrl> parse_rtmp_url(std::string_view url) {
  if (std::any_of(url.begin(), url.end(), [](char c) { return uint8_t(c) <= 0x20 || c == 0x7f; })) {
    return make_error(Errc::malformed, "RTMP URL contains a space or control character");
  }
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return make_error(Errc::malformed, "not a URL (no scheme://)");
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](char c) { return char(std::tolower(uint8_t(c))); });
  RtmpUrl out;
  if (scheme == "rtmp") {
    out.tls = false;
    out.port = default_rtmp_port;
  } else if (scheme == "rtmps") {
    out.tls = true;
    out.port = default_rtmps_port;
  } else {
    return make_error(Errc::unsupported, "URL scheme '" + scheme + "' (only rtmp:// and rtmps://)");
  }

  const std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find('/');
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end + 1);

  if (authority.find('@') != std::string_view::npos) {
    return make_error(Errc::unsupported, "user:password@ in an RTMP URL");
  }
  std::string_view host, port_text;
  bool has_port = false;
  const bool ipv6 = !authority.empty() && authority.front() == '[';
  if (ipv6) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return make_error(Errc::malformed, "IPv6 address without ']'");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error(Errc::malformed, "characters after the IPv6 address");
      port_text = after.substr(1);
      has_port = true;
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), ipv6_char) || host.find(':') == std::string_view::npos) {
      return make_error(Errc::malformed, "not an IPv6 address in brackets");
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return make_error(Errc::malformed, "RTMP URL without a host");
    if (!std::all_of(host.begin(), host.end(), host_name_char)) {
      return make_error(Errc::malformed, "host '" + std::string(host) + "' has characters a host name cannot have");
    }
  }
  if (has_port && !parse_port(port_text, out.port)) {
    return make_error(Errc::malformed, "bad port '" + std::string(port_text) + "' (1..65535)");
  }
  out.host = std::string(host);

  const size_t app_end = application_end(path);
  if (app_end == std::string_view::npos) {
    return make_error(Errc::malformed, path.empty() ? "RTMP URL without application and stream key"
                                                    : "RTMP URL without a stream key (rtmp://host/app/key)");
  }
  const std::string_view app = path.substr(0, app_end);
  const std::string_view key = path.substr(app_end + 1);
  const std::string_view app_name = before_query(app);
  if (app_name.empty() || app_name.front() == '/' || app_name.back() == '/') {
    return make_error(Errc::malformed, "RTMP URL with an empty application name");
  }
  if (before_query(key).empty()) return make_error(Errc::malformed, "RTMP URL without a stream key (rtmp://host/app/key)");
  out.app = std::string(app);
  out.stream_name = std::string(key);

  out.tc_url = scheme + "://" + (ipv6 ? "[" + out.host + "]" : out.host);
  if (has_port) out.tc_url += ":" + std::to_string(out.port);
  out.tc_url += "/" + out.app;
  return out;
}

std::string redacted(const RtmpUrl& url) {
  std::string s = url.tls ? "rtmps://" : "rtmp://";
  s += url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  s += ":" + std::to_string(url.port) + "/";
  const size_t query = url.app.find('?');
  s += url.app.substr(0, query);
  if (query != std::string::npos) s += "?<query>";  // tokens ride on app queries too
  s += "/<key>";
  return s;
}

}  // namespace live::rtmp
