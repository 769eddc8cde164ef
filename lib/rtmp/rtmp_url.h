// RTMP push URLs: rtmp://host[:port]/app[/instance]/key[?query] and rtmps://…, split the way
// ffmpeg and librtmp (OBS) split them, into what a client needs for connect and publish.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace live::rtmp {

inline constexpr uint16_t default_rtmp_port = 1935;
inline constexpr uint16_t default_rtmps_port = 443;

struct RtmpUrl {
  bool tls = false;            // rtmps://
  std::string host;            // name or address; an IPv6 address without its brackets
  uint16_t port = default_rtmp_port;  // 1935 for rtmp://, 443 for rtmps:// unless given
  // Application for connect: the first path segment, plus the second as an instance
  // ("app/instance") when the path has three or more segments; it keeps a "?query" written
  // on it (rtmp://h/live?vhost=x/key).
  std::string app;
  // Stream name for publish: the rest of the path (the key), with its "?query". A secret.
  std::string stream_name;
  // tcUrl for connect: scheme://host[:port]/app, the port only when the URL wrote one.
  std::string tc_url;
};

// Accepts rtmp:// and rtmps:// (scheme case-insensitive). Errors (Errc::malformed, or
// Errc::unsupported for other schemes and user:password@): missing host, bad or zero port,
// unclosed IPv6 bracket, missing application or key, characters not allowed in a host.
// Like ffmpeg: rtmp://h/live/key -> app "live"; rtmp://h/live/inst/key -> app "live/inst";
// rtmp://h/a/b/c/d -> app "a/b", key "c/d"; a second segment with ':' (mp4:file) is part of
// the key, not an instance. A '?' before any '/' of the path belongs to the app; after one,
// to the key (so "live/key?sig=a/b" keeps "key?sig=a/b" whole).
Result<RtmpUrl> parse_rtmp_url(std::string_view url);

// The URL for logs, without secrets: "rtmp://host:port/app/<key>" (an app query becomes
// "?<query>"); IPv6 hosts in brackets; the port always shown.
std::string redacted(const RtmpUrl& url);

}  // namespace live::rtmp
