// PlainRequest parsing: recognises the HTTP/1.1 requests that HttpWorkers may answer without
// libsoup: GET or HEAD of an origin-form path with no body, no Range, no Expect/Upgrade, keep-alive
// or "Connection: close". Anything else, or anything unusual in its spelling, is "not plain" and goes to
// libsoup untouched, so the fast path never interprets a request differently from libsoup.
// Sans-I/O: bytes in, a verdict out.
#pragma once

#include <cstddef>
#include <string_view>

namespace live::http {

// Request heads longer than this are never plain (libsoup takes them).
inline constexpr size_t kMaxPlainRequestHeadBytes = 8192;

struct PlainRequestHead {
  bool head = false;       // HEAD instead of GET
  std::string_view path;   // "/a/b.m4s": only [A-Za-z0-9-_.~/], no "//" nor "/." (as libsoup routes it)
  std::string_view query;  // raw, without '?'; no '%', '+' or '#'
  size_t length = 0;       // bytes of the request head, final CRLF CRLF included
  bool close = false;      // "Connection: close": close after the response (as libsoup, no header)
};

enum class PlainParse {
  plain,       // *out describes a complete plain request head
  incomplete,  // no end of head yet (and fewer than kMaxPlainRequestHeadBytes bytes)
  not_plain,   // libsoup must answer this one
};

// data: the bytes received so far on a connection, starting at a request.
PlainParse parse_plain_request(std::string_view data, PlainRequestHead* out);

}  // namespace live::http
