// RequestRoute: see the header. Held messages are paused libsoup messages; they belong to the
// server thread (the `held` set is touched there only), so a response from another thread is
// posted to it and applied only if the message is still held (not aborted, route not removed).
#include "http/request_route.h"

#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <set>

namespace live::http {

namespace {

struct RouteShared {
  std::weak_ptr<HttpPort> port;
  bool cors = true;
  RequestRouteConfig config;
  std::set<SoupServerMessage*> held;  // server thread only
};

void apply_response(SoupServerMessage* msg, const ApiResponse& response, const RouteShared& shared) {
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
  if (shared.cors) {
    soup_message_headers_replace(headers, "Access-Control-Allow-Origin", "*");
    soup_message_headers_replace(headers, "Access-Control-Expose-Headers", shared.config.exposed_headers.c_str());
  }
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  for (const auto& [name, value] : response.headers) soup_message_headers_replace(headers, name.c_str(), value.c_str());
  if (!response.body.empty() || !response.content_type.empty())
    soup_server_message_set_response(msg, response.content_type.empty() ? "text/plain; charset=utf-8"
                                                                        : response.content_type.c_str(),
                                     SOUP_MEMORY_COPY, response.body.data(), response.body.size());
  soup_server_message_set_status(msg, response.status, nullptr);
}

ApiResponse text_response(unsigned status, const std::string& text) {
  return ApiResponse{status, "text/plain; charset=utf-8", text + "\n", {}};
}

std::string remote_key(SoupServerMessage* msg) {
  GSocketAddress* address = soup_server_message_get_remote_address(msg);
  if (address == nullptr || !G_IS_INET_SOCKET_ADDRESS(address)) return {};
  auto* inet = G_INET_SOCKET_ADDRESS(address);
  char* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  std::string key = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
  g_free(ip);
  return key;
}

class PendingRequestImpl : public PendingRequest {
 public:
  PendingRequestImpl(std::shared_ptr<RouteShared> shared, SoupServerMessage* msg, ApiRequest request)
      : shared_(std::move(shared)), msg_(msg), request_(std::move(request)) {}
  ~PendingRequestImpl() override {
    if (!done_) respond(text_response(SOUP_STATUS_SERVICE_UNAVAILABLE, "the request was not answered"));
  }
  const ApiRequest& request() const override { return request_; }
  void respond(ApiResponse response) override {
    if (done_.exchange(true)) return;
    std::shared_ptr<HttpPort> port = shared_->port.lock();
    if (!port) return;
    port->post([shared = shared_, msg = msg_, response = std::move(response)] {
      if (shared->held.erase(msg) == 0) return;  // aborted by the client, or the route is gone
      apply_response(msg, response, *shared);
      soup_server_message_unpause(msg);
    });
  }

 private:
  std::shared_ptr<RouteShared> shared_;
  SoupServerMessage* msg_;
  ApiRequest request_;
  std::atomic<bool> done_{false};
};

}  // namespace

struct RequestRoute::Impl : HttpSite {
  std::shared_ptr<HttpPort> port;
  std::shared_ptr<RouteShared> shared = std::make_shared<RouteShared>();
  ApiRequestHandler handler;

  void handle_request(SoupServerMessage* msg, const std::string& path, GHashTable*) override {
    const char* method = soup_server_message_get_method(msg);
    if (method == SOUP_METHOD_OPTIONS) {
      SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
      soup_message_headers_replace(headers, "Allow", shared->config.allowed_methods.c_str());
      if (shared->cors) {
        soup_message_headers_replace(headers, "Access-Control-Allow-Origin", "*");
        soup_message_headers_replace(headers, "Access-Control-Allow-Methods", shared->config.allowed_methods.c_str());
        const char* asked = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                         "Access-Control-Request-Headers");
        soup_message_headers_replace(headers, "Access-Control-Allow-Headers",
                                     asked ? asked : "Content-Type, Authorization, If-Match");
        soup_message_headers_replace(headers, "Access-Control-Expose-Headers", shared->config.exposed_headers.c_str());
        soup_message_headers_replace(headers, "Access-Control-Max-Age", "86400");
      }
      soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
      return;
    }
    ApiRequest request;
    request.method = method;
    request.path = path;
    if (GUri* uri = soup_server_message_get_uri(msg); uri != nullptr && g_uri_get_query(uri) != nullptr)
      request.query = g_uri_get_query(uri);
    request.client_address = remote_key(msg);
    if (const char* type = soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), nullptr)) {
      request.content_type = type;
      std::transform(request.content_type.begin(), request.content_type.end(), request.content_type.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    GBytes* body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    gsize size = 0;
    const auto* data = static_cast<const char*>(g_bytes_get_data(body, &size));
    if (size > kMaxRequestBodyBytes) {  // chunked: no Content-Length for the early check
      g_bytes_unref(body);
      apply_response(msg, text_response(SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large"), *shared);
      return;
    }
    if (size > 0) request.body.assign(data, size);
    g_bytes_unref(body);
    soup_server_message_pause(msg);
    shared->held.insert(msg);
    handler(std::make_shared<PendingRequestImpl>(shared, msg, std::move(request)));
  }

  void request_aborted(SoupServerMessage* msg) override { shared->held.erase(msg); }

  void site_removed() override {
    std::set<SoupServerMessage*> held;
    held.swap(shared->held);
    for (SoupServerMessage* msg : held) {
      apply_response(msg, text_response(SOUP_STATUS_SERVICE_UNAVAILABLE, "the stream has ended"), *shared);
      soup_server_message_unpause(msg);
    }
  }
};

RequestRoute::RequestRoute(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RequestRoute::~RequestRoute() { impl_->port->remove_site(impl_.get()); }

Result<std::unique_ptr<RequestRoute>> RequestRoute::add(std::shared_ptr<HttpPort> port, const std::string& prefix,
                                                        RequestRouteConfig config, ApiRequestHandler handler) {
  if (!port || !handler) return make_error(Errc::malformed, "request route without a port or handler");
  auto impl = std::make_unique<Impl>();
  impl->port = port;
  impl->shared->port = port;
  impl->shared->cors = port->config().cors;
  impl->shared->config = std::move(config);
  impl->handler = std::move(handler);
  if (auto added = port->add_site(prefix, impl.get()); !added) return added.error();
  return std::unique_ptr<RequestRoute>(new RequestRoute(std::move(impl)));
}

}  // namespace live::http
