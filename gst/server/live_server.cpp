// GstLiveServer (see live_server.h).
//
// Threads: "mount-needed" is emitted on a DecisionRunner thread (the handler may build and
// start a pipeline; the listener's I/O thread never waits for it); "http-request" on the HTTP
// port's server thread (the handler must answer at once); the application thread sets
// properties and emits "start"/"stop". Locks: settings_lock (properties, last error) is never
// held while calling into the listener or the HTTP port, or while emitting a signal.
#include "server/live_server.h"

#include <mutex>
#include <string>

#include "http/http_port.h"
#include "net/listener.h"
#include "net/mount.h"

GST_DEBUG_CATEGORY_STATIC(live_server_debug);
#define GST_CAT_DEFAULT live_server_debug

namespace {

constexpr const char* kDefaultAddress = "0.0.0.0";
constexpr guint kDefaultRtmpPort = 1935;
constexpr guint kDefaultHttpPort = 8080;

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_RTMP_PORT,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_MAX_CONNECTIONS,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_HTTP_ADDRESS,
  PROP_HTTP_PORT,
  PROP_LAST_ERROR,
  PROP_STATS,
};

enum { SIGNAL_MOUNT_NEEDED, SIGNAL_HTTP_REQUEST, SIGNAL_START, SIGNAL_STOP, N_SIGNALS };
guint signals[N_SIGNALS];

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

namespace live::gst {

class LiveServerImpl : public net::MountProvider, public http::HttpSite {
 public:
  explicit LiveServerImpl(GstLiveServer* object) : object_(object) {}
  ~LiveServerImpl() override { stop(); }

  struct Settings {
    std::string address = kDefaultAddress;
    guint rtmp_port = kDefaultRtmpPort;
    std::string tls_certificate;
    std::string tls_key;
    guint max_connections = net::kDefaultMaxConnections;
    guint max_connections_per_address = net::kDefaultMaxConnectionsPerAddress;
    std::string http_address = kDefaultAddress;
    guint http_port = kDefaultHttpPort;
  };

  std::mutex settings_lock;
  Settings settings;
  std::string last_error;

  bool start();
  void stop();
  GstStructure* stats();

  // net::MountProvider
  std::shared_ptr<void> keep_alive() override {
    g_object_ref(object_);
    return std::shared_ptr<void>(object_, [](void* p) { g_object_unref(p); });
  }
  bool provide_mount(const net::StreamRequest& request, bool publish) override;

  // http::HttpSite
  void handle_request(SoupServerMessage* msg, const std::string& path, GHashTable* query) override;
  void request_aborted(SoupServerMessage*) override {}
  void site_removed() override {}

 private:
  bool fail(const std::string& why) {
    GST_ERROR_OBJECT(object_, "%s", why.c_str());
    std::lock_guard lock(settings_lock);
    last_error = why;
    return false;
  }

  GstLiveServer* object_;
  // Owned by the application thread (start/stop); read by stats() under run_lock_.
  std::mutex run_lock_;
  std::shared_ptr<net::Listener> listener_;
  std::shared_ptr<http::HttpPort> http_port_;
};

bool LiveServerImpl::start() {
  Settings s;
  {
    std::lock_guard lock(settings_lock);
    s = settings;
    last_error.clear();
  }
  stop();
  std::shared_ptr<net::Listener> listener;
  std::shared_ptr<http::HttpPort> http_port;
  if (s.rtmp_port != 0) {
    net::ListenerConfig config;
    config.address = s.address;
    config.port = static_cast<uint16_t>(s.rtmp_port);
    config.tls_certificate = s.tls_certificate;
    config.tls_key = s.tls_key;
    config.max_connections = s.max_connections;
    config.max_connections_per_address = s.max_connections_per_address;
    auto acquired = net::Listener::acquire(config);
    if (!acquired)
      return fail("RTMP port " + s.address + ":" + std::to_string(s.rtmp_port) + ": " +
                  acquired.error().describe());
    listener = acquired.value();
    if (auto set = listener->set_mount_provider(this); !set) return fail(set.error().describe());
  }
  if (s.http_port != 0) {
    auto acquired = http::HttpPort::acquire(s.http_address, static_cast<uint16_t>(s.http_port), {});
    if (!acquired) {
      if (listener) (void)listener->set_mount_provider(nullptr);
      return fail("HTTP port " + s.http_address + ":" + std::to_string(s.http_port) + ": " +
                  acquired.error().describe());
    }
    http_port = acquired.value();
    if (auto added = http_port->add_site("", this); !added) {
      if (listener) (void)listener->set_mount_provider(nullptr);
      return fail("HTTP port " + std::to_string(s.http_port) + ": " + added.error().describe());
    }
  }
  GST_INFO_OBJECT(object_, "serving RTMP%s on %s:%u, HTTP on %s:%u", s.tls_certificate.empty() ? "" : "S",
                  s.address.c_str(), s.rtmp_port, s.http_address.c_str(), s.http_port);
  std::lock_guard lock(run_lock_);
  listener_ = std::move(listener);
  http_port_ = std::move(http_port);
  return true;
}

void LiveServerImpl::stop() {
  std::shared_ptr<net::Listener> listener;
  std::shared_ptr<http::HttpPort> http_port;
  {
    std::lock_guard lock(run_lock_);
    listener = std::move(listener_);
    http_port = std::move(http_port_);
  }
  if (listener) (void)listener->set_mount_provider(nullptr);
  if (http_port) http_port->remove_site(this);
  // Dropping the references closes the ports unless elements still use them.
}

GstStructure* LiveServerImpl::stats() {
  std::lock_guard lock(run_lock_);
  GstStructure* s = gst_structure_new("live-server-stats", "rtmp-connections", G_TYPE_UINT,
                                      listener_ ? listener_->connection_count() : 0u, nullptr);
  if (http_port_) {
    const http::HttpPortStats h = http_port_->stats();
    gst_structure_set(s, "http-connections", G_TYPE_UINT64, h.connections,
                      "http-connections-refused", G_TYPE_UINT64, h.connections_refused, nullptr);
  }
  return s;
}

bool LiveServerImpl::provide_mount(const net::StreamRequest& request, bool publish) {
  GstStructure* s = gst_structure_new(
      "live-server-request", "action", G_TYPE_STRING, publish ? "publish" : "play", "protocol",
      G_TYPE_STRING, "rtmp", "application", G_TYPE_STRING, request.application.c_str(),
      "stream-key", G_TYPE_STRING, request.stream_key.c_str(), "query", G_TYPE_STRING,
      request.query.c_str(), "client-address", G_TYPE_STRING, request.client_address.c_str(),
      "connection-id", G_TYPE_UINT64, static_cast<guint64>(request.connection_id), nullptr);
  gboolean provided = FALSE;
  g_signal_emit(object_, signals[SIGNAL_MOUNT_NEEDED], 0, s, &provided);
  gst_structure_free(s);
  GST_INFO_OBJECT(object_, "%s from %s for a stream of app '%s' no element serves: %s",
                  publish ? "publish" : "play", request.client_address.c_str(),
                  request.application.c_str(), provided ? "served now" : "refused");
  return provided;
}

void LiveServerImpl::handle_request(SoupServerMessage* msg, const std::string& path, GHashTable*) {
  const char* method = soup_server_message_get_method(msg);
  GUri* uri = soup_server_message_get_uri(msg);
  const char* query = g_uri_get_query(uri);
  GSocketAddress* remote = soup_server_message_get_remote_address(msg);
  std::string client;
  if (remote && G_IS_INET_SOCKET_ADDRESS(remote)) {
    gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
    client = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(remote)));
    g_free(ip);
  }
  const std::string full_path = path.empty() ? "/" : path;
  if (g_strcmp0(method, "OPTIONS") == 0) return http::respond_preflight(msg, true);
  GstStructure* request = gst_structure_new(
      "http-request", "method", G_TYPE_STRING, method, "path", G_TYPE_STRING, full_path.c_str(),
      "query", G_TYPE_STRING, query ? query : "", "client-address", G_TYPE_STRING, client.c_str(),
      nullptr);
  GstStructure* response = nullptr;
  g_signal_emit(object_, signals[SIGNAL_HTTP_REQUEST], 0, request, &response);
  gst_structure_free(request);
  http::add_cors_headers(msg);
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
  if (!response) {
    gchar* unescaped = g_uri_unescape_string(full_path.c_str(), nullptr);
    const std::string shown = html_escape(unescaped ? unescaped : full_path);
    g_free(unescaped);
    const std::string page =
        "<!doctype html><meta charset=utf-8><title>Not found</title>"
        "<h1>404 Not found</h1><p>Nothing is served at <code>" + shown +
        "</code>: no live stream or page by that name. The streams that are live now are "
        "listed on <a href=\"/\">the start page</a>.</p>\n";
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    soup_server_message_set_response(msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY,
                                     page.data(), page.size());
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
    return;
  }
  gint status = SOUP_STATUS_OK;
  gst_structure_get_int(response, "status", &status);
  const gchar* content_type = gst_structure_get_string(response, "content-type");
  const gchar* cache_control = gst_structure_get_string(response, "cache-control");
  soup_message_headers_replace(headers, "Cache-Control", cache_control ? cache_control : "no-cache");
  if (const gchar* location = gst_structure_get_string(response, "location"))
    soup_message_headers_replace(headers, "Location", location);
  const GValue* body = gst_structure_get_value(response, "body");
  if (body && G_VALUE_HOLDS(body, G_TYPE_BYTES)) {
    GBytes* bytes = static_cast<GBytes*>(g_value_get_boxed(body));
    soup_server_message_set_response(msg, content_type ? content_type : "application/octet-stream",
                                     SOUP_MEMORY_COPY, nullptr, 0);
    SoupMessageBody* out = soup_server_message_get_response_body(msg);
    soup_message_body_truncate(out);
    soup_message_body_append_bytes(out, bytes);
  } else {
    const gchar* text = body && G_VALUE_HOLDS_STRING(body) ? g_value_get_string(body) : "";
    soup_server_message_set_response(msg, content_type ? content_type : "text/plain; charset=utf-8",
                                     SOUP_MEMORY_COPY, text, strlen(text));
  }
  soup_server_message_set_status(msg, static_cast<guint>(status), nullptr);
  gst_structure_free(response);
}

}  // namespace live::gst

using live::gst::LiveServerImpl;

G_DEFINE_TYPE(GstLiveServer, gst_live_server, GST_TYPE_OBJECT)

static void gst_live_server_init(GstLiveServer* self) {
  new (&self->impl) std::unique_ptr<LiveServerImpl>(std::make_unique<LiveServerImpl>(self));
}

static void gst_live_server_dispose(GObject* object) {
  GST_LIVE_SERVER(object)->impl->stop();
  G_OBJECT_CLASS(gst_live_server_parent_class)->dispose(object);
}

static void gst_live_server_finalize(GObject* object) {
  GST_LIVE_SERVER(object)->impl.~unique_ptr();
  G_OBJECT_CLASS(gst_live_server_parent_class)->finalize(object);
}

static void gst_live_server_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  LiveServerImpl& impl = *GST_LIVE_SERVER(object)->impl;
  std::lock_guard lock(impl.settings_lock);
  auto& s = impl.settings;
  auto text = [value] { const gchar* v = g_value_get_string(value); return std::string(v ? v : ""); };
  switch (id) {
    case PROP_ADDRESS: s.address = value ? text() : kDefaultAddress; break;
    case PROP_RTMP_PORT: s.rtmp_port = g_value_get_uint(value); break;
    case PROP_TLS_CERTIFICATE: s.tls_certificate = text(); break;
    case PROP_TLS_KEY: s.tls_key = text(); break;
    case PROP_MAX_CONNECTIONS: s.max_connections = g_value_get_uint(value); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: s.max_connections_per_address = g_value_get_uint(value); break;
    case PROP_HTTP_ADDRESS: s.http_address = text(); break;
    case PROP_HTTP_PORT: s.http_port = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_live_server_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  LiveServerImpl& impl = *GST_LIVE_SERVER(object)->impl;
  if (id == PROP_STATS) {
    g_value_take_boxed(value, impl.stats());
    return;
  }
  std::lock_guard lock(impl.settings_lock);
  const auto& s = impl.settings;
  switch (id) {
    case PROP_ADDRESS: g_value_set_string(value, s.address.c_str()); break;
    case PROP_RTMP_PORT: g_value_set_uint(value, s.rtmp_port); break;
    case PROP_TLS_CERTIFICATE: g_value_set_string(value, s.tls_certificate.c_str()); break;
    case PROP_TLS_KEY: g_value_set_string(value, s.tls_key.c_str()); break;
    case PROP_MAX_CONNECTIONS: g_value_set_uint(value, s.max_connections); break;
    case PROP_MAX_CONNECTIONS_PER_ADDRESS: g_value_set_uint(value, s.max_connections_per_address); break;
    case PROP_HTTP_ADDRESS: g_value_set_string(value, s.http_address.c_str()); break;
    case PROP_HTTP_PORT: g_value_set_uint(value, s.http_port); break;
    case PROP_LAST_ERROR: g_value_set_string(value, impl.last_error.c_str()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static gboolean gst_live_server_start(GstLiveServer* self) { return self->impl->start(); }
static void gst_live_server_stop(GstLiveServer* self) { self->impl->stop(); }

static gboolean accumulate_first_true(GSignalInvocationHint*, GValue* return_accu,
                                      const GValue* handler_return, gpointer) {
  const gboolean provided = g_value_get_boolean(handler_return);
  g_value_set_boolean(return_accu, provided);
  return !provided;  // the first handler that serves the stream ends the emission
}

static gboolean accumulate_first_response(GSignalInvocationHint*, GValue* return_accu,
                                          const GValue* handler_return, gpointer) {
  if (!g_value_get_boxed(handler_return)) return TRUE;  // not answered: ask the next handler
  g_value_copy(handler_return, return_accu);
  return FALSE;
}

static void gst_live_server_class_init(GstLiveServerClass* klass) {
  GST_DEBUG_CATEGORY_INIT(live_server_debug, "liveserver", 0, "process-wide live server object");
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->set_property = gst_live_server_set_property;
  gobject_class->get_property = gst_live_server_get_property;
  gobject_class->dispose = gst_live_server_dispose;
  gobject_class->finalize = gst_live_server_finalize;
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address", "Local address of the RTMP port", kDefaultAddress, rw));
  g_object_class_install_property(gobject_class, PROP_RTMP_PORT,
      g_param_spec_uint("rtmp-port", "RTMP port", "RTMP(S) port held open (0 = none)", 0, 65535,
                        kDefaultRtmpPort, rw));
  g_object_class_install_property(gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM certificate file: the RTMP port speaks RTMPS (elements on the port must name the same)",
                          nullptr, rw));
  g_object_class_install_property(gobject_class, PROP_TLS_KEY,
      g_param_spec_string("tls-key", "TLS key", "PEM private key file for RTMPS", nullptr, rw));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Max connections",
                        "Simultaneous RTMP connections on the port", 1, 65535,
                        live::net::kDefaultMaxConnections, rw));
  g_object_class_install_property(gobject_class, PROP_MAX_CONNECTIONS_PER_ADDRESS,
      g_param_spec_uint("max-connections-per-address", "Max connections per address",
                        "RTMP connections from one IP not yet accepted as publisher or player (0 = no limit)",
                        0, 65535, live::net::kDefaultMaxConnectionsPerAddress, rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_ADDRESS,
      g_param_spec_string("http-address", "HTTP address", "Local address of the HTTP port",
                          kDefaultAddress, rw));
  g_object_class_install_property(gobject_class, PROP_HTTP_PORT,
      g_param_spec_uint("http-port", "HTTP port", "HTTP port held open (0 = none)", 0, 65535,
                        kDefaultHttpPort, rw));
  g_object_class_install_property(gobject_class, PROP_LAST_ERROR,
      g_param_spec_string("last-error", "Last error", "Why the last \"start\" failed", nullptr, ro));
  g_object_class_install_property(gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "Connections on the ports", GST_TYPE_STRUCTURE, ro));

  // gboolean mount-needed(GstStructure* request): a publish or play names a stream no element
  // serves (fields action "publish"/"play", protocol, application, stream-key, query,
  // client-address, connection-id). Emitted on a decision thread: the handler may build and
  // start the pipeline that serves it, then return TRUE (which also authorizes the request).
  signals[SIGNAL_MOUNT_NEEDED] = g_signal_new(
      "mount-needed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, accumulate_first_true,
      nullptr, nullptr, G_TYPE_BOOLEAN, 1, GST_TYPE_STRUCTURE | G_SIGNAL_TYPE_STATIC_SCOPE);
  // GstStructure* http-request(GstStructure* request): a request no element serves (fields
  // method, path, query, client-address). Emitted on the HTTP server thread: answer at once.
  // Return NULL (404 page) or a structure with status (int), content-type, body (string or
  // GBytes), optional cache-control and location.
  signals[SIGNAL_HTTP_REQUEST] = g_signal_new(
      "http-request", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, accumulate_first_response,
      nullptr, nullptr, GST_TYPE_STRUCTURE, 1, GST_TYPE_STRUCTURE | G_SIGNAL_TYPE_STATIC_SCOPE);
  // Action signals: gboolean start() opens the ports (FALSE: see last-error); void stop().
  signals[SIGNAL_START] = g_signal_new_class_handler(
      "start", G_TYPE_FROM_CLASS(klass), static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_live_server_start), nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 0);
  signals[SIGNAL_STOP] = g_signal_new_class_handler(
      "stop", G_TYPE_FROM_CLASS(klass), static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_CALLBACK(gst_live_server_stop), nullptr, nullptr, nullptr, G_TYPE_NONE, 0);
}
