// PlainResponse builders: see the header.
#include "http/plain_response.h"

#include <glib.h>

#include "http/hls_http_server.h"

namespace live::http {

namespace {

constexpr const char* kCorsLines =
    "Access-Control-Allow-Origin: *\r\n"
    "Access-Control-Expose-Headers: Content-Length, Content-Range, Age, Date\r\n";

}  // namespace

PlainResponse plain_text_response(unsigned status, const std::string& text, bool cors) {
  PlainResponse response;
  response.status = status;
  if (cors) response.headers = kCorsLines;
  response.headers += "Cache-Control: no-cache\r\nContent-Type: text/plain; charset=utf-8\r\n";
  response.body = std::make_shared<const std::string>(text + "\n");
  return response;
}

PlainResponse plain_file_response(std::shared_ptr<const std::string> bytes, const std::string& name_for_type,
                                  const char* cache_control, bool cors) {
  PlainResponse response;
  std::string& headers = response.headers;
  if (cors) headers = kCorsLines;
  headers += "Content-Type: ";
  headers += hls_content_type(name_for_type);
  headers += "\r\nCache-Control: ";
  headers += cache_control;
  headers += "\r\nAccept-Ranges: bytes\r\n";
  response.body = std::move(bytes);
  return response;
}

std::shared_ptr<const std::string> read_file_bytes(const std::string& path) {
  gchar* contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return nullptr;
  auto bytes = std::make_shared<const std::string>(contents, length);
  g_free(contents);
  return bytes;
}

}  // namespace live::http
