// PlainResponse builders for the worker threads' answers, with the headers libsoup's path
// writes for the same answer (respond_text() of http_port.h, HlsHttpServer's respond_file()).
#pragma once

#include <memory>
#include <string>

#include "http/http_port.h"

namespace live::http {

// text/plain body text + "\n", Cache-Control no-cache, CORS when cors: as respond_text().
PlainResponse plain_text_response(unsigned status, const std::string& text, bool cors);
// 200 with an HLS file: content type by name_for_type, cache_control, Accept-Ranges, CORS.
PlainResponse plain_file_response(std::shared_ptr<const std::string> bytes, const std::string& name_for_type,
                                  const char* cache_control, bool cors);
// The whole file, or null.
std::shared_ptr<const std::string> read_file_bytes(const std::string& path);

}  // namespace live::http
