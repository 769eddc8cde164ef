// RequestRoute: every request under one URL prefix of a shared HttpPort, any method, with its
// body, handed to a handler that may answer later from any thread (an API such as WHEP:
// POST an SDP offer, DELETE a session). Built on HttpSite, so it routes like a site (longest
// prefix wins) and shares the port's limits: bodies declared over kMaxRequestBodyBytes get 413
// before they are read; a chunked body that grows over it gets 413 here.
//
// Threading: the handler runs on the port's server thread and must not block; respond() may be
// called from any thread, once (later calls are ignored). A request dropped unanswered (the last
// PendingRequest reference gone) is answered 503. Destroying the route answers what is still
// pending with 503 and returns after the server thread has let go of the handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "http/http_port.h"

namespace live::http {

struct ApiRequest {
  std::string method;          // "POST", "DELETE", "PATCH", ...
  std::string path;            // after the prefix, still percent-encoded: "" or "/..."
  std::string query;           // raw, without '?'
  std::string client_address;  // "ip:port"
  std::string content_type;    // media type without parameters, lower case; "" if none
  std::string body;
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type;  // "" with an empty body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Location", "/..."}
};

class PendingRequest {
 public:
  virtual ~PendingRequest() = default;
  virtual const ApiRequest& request() const = 0;
  virtual void respond(ApiResponse response) = 0;
};
using ApiRequestHandler = std::function<void(std::shared_ptr<PendingRequest> request)>;

struct RequestRouteConfig {
  // OPTIONS is answered by the route: 204, Allow and (with the port's cors) the preflight
  // headers for these methods.
  std::string allowed_methods = "OPTIONS";
  // Response headers a page on another origin may read (Access-Control-Expose-Headers).
  std::string exposed_headers = "Location";
};

class RequestRoute {
 public:
  static Result<std::unique_ptr<RequestRoute>> add(std::shared_ptr<HttpPort> port, const std::string& prefix,
                                                   RequestRouteConfig config, ApiRequestHandler handler);
  ~RequestRoute();
  RequestRoute(const RequestRoute&) = delete;
  RequestRoute& operator=(const RequestRoute&) = delete;

  struct Impl;

 private:
  explicit RequestRoute(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace live::http
