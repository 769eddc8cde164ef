// HttpPort: see the header. Everything that touches libsoup runs on the server thread
// (server_thread_main and the tasks of its TaskQueue); other threads only post tasks. The
// routing tables and waiting stream requests belong to the server thread, so need no lock.
#include "http/http_port.h"
#include "http/http_workers.h"
#include "http/quit_loop.h"
#include "http/stream_requests.h"
#include "http/task_queue.h"

#include <gio/gunixsocketaddress.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <utility>

GST_DEBUG_CATEGORY(live_http_port_debug);
#define GST_CAT_DEFAULT live_http_port_debug

namespace live::http {

namespace {

using PortKey = std::pair<std::string, uint16_t>;

// The process-wide table of ports. Its mutex is taken by acquire() and by ~HttpPort (so a port
// is really closed before another user can bind it again); server threads never take it.
std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<PortKey, std::weak_ptr<HttpPort>>& registry() {
  static std::map<PortKey, std::weak_ptr<HttpPort>> table;
  return table;
}

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(live_http_port_debug, "livehttpport", 0, "shared HTTP server per port");
  });
}

std::string address_key(GSocketAddress* address) {
  if (address == nullptr || !G_IS_INET_SOCKET_ADDRESS(address)) return {};
  auto* inet = G_INET_SOCKET_ADDRESS(address);
  char* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  std::string key = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
  g_free(ip);
  return key;
}

// The site with the longest prefix matching path: whole segments only ("/live/a" serves
// "/live/a" and "/live/a/x", not "/live/ab").
HttpSite* find_site_in(const std::map<std::string, HttpSite*, std::less<>>& sites, std::string_view path,
                       std::string_view* rest) {
  std::string_view candidate = path;
  for (;;) {
    auto it = sites.find(candidate);
    if (it != sites.end()) {
      *rest = path.substr(candidate.size());
      return it->second;
    }
    if (candidate.empty()) return nullptr;
    const size_t slash = candidate.rfind('/');
    candidate = candidate.substr(0, slash == std::string_view::npos ? 0 : slash);
  }
}

// libsoup's own Server header for our server-header value ("gst-live-server " + its product).
std::string libsoup_server_header() {
  return "gst-live-server libsoup/" + std::to_string(soup_get_major_version()) + "." +
         std::to_string(soup_get_minor_version()) + "." + std::to_string(soup_get_micro_version());
}

}  // namespace

void add_cors_headers(SoupServerMessage* msg) {
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Access-Control-Allow-Origin", "*");
  soup_message_headers_replace(headers, "Access-Control-Expose-Headers", "Content-Length, Content-Range, Age, Date");
}

void respond_text(SoupServerMessage* msg, unsigned status, const std::string& text, bool cors) {
  if (cors) add_cors_headers(msg);
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", "no-cache");
  const std::string body = text + "\n";
  soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(), body.size());
  soup_server_message_set_status(msg, status, nullptr);
}

void respond_preflight(SoupServerMessage* msg, bool cors) {
  SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Allow", "GET, HEAD, OPTIONS");
  if (cors) {
    add_cors_headers(msg);
    soup_message_headers_replace(headers, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    const char* asked = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                     "Access-Control-Request-Headers");
    soup_message_headers_replace(headers, "Access-Control-Allow-Headers", asked ? asked : "Range");
    soup_message_headers_replace(headers, "Access-Control-Max-Age", "86400");
  }
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

struct HttpPort::Impl {
  std::string address;
  uint16_t requested_port = 0;  // the registry key with address (0: private, not registered)
  HttpPortConfig config;
  std::atomic<uint16_t> bound_port{0};
  std::shared_ptr<TaskQueue> queue = std::make_shared<TaskQueue>();

  // Server thread objects.
  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  std::thread thread;
  SoupServer* server = nullptr;
  GSocketService* service = nullptr;

  // Open connections by remote "address:port" (libsoup gives no GSocket for connections handed
  // over as streams). Shared with each connection's weak-ref callback, which may outlive us
  // (an adopted stream lives as long as its new owner keeps it).
  struct ConnectionTable {
    std::mutex lock;
    std::map<std::string, GSocket*> sockets;  // not owned: an entry goes with its connection
    std::atomic<uint32_t> count{0};
    // Connections without a complete request head yet: "address:port" -> (client IP, accept
    // order), the same by accept order (the oldest is evicted when the port is full), per IP.
    std::map<std::string, std::pair<std::string, uint64_t>> waiting;
    std::map<uint64_t, std::string> waiting_by_age;
    std::map<std::string, uint32_t> waiting_per_address;
    uint64_t accepted = 0;
    // Evicted (shut down) but not yet finalized by their owner: not counted against the limit.
    std::set<std::string> evicting;

    void request_seen(const std::string& key) {  // lock held
      auto it = waiting.find(key);
      if (it == waiting.end()) return;
      auto count_it = waiting_per_address.find(it->second.first);
      if (count_it != waiting_per_address.end() && --count_it->second == 0) waiting_per_address.erase(count_it);
      waiting_by_age.erase(it->second.second);
      waiting.erase(it);
    }

    // The port is full: the connection that has waited longest without sending a request makes
    // room (its socket is shut down; its owner, a worker or libsoup, sees the end and drops it).
    // Real clients send their request at once, so holding idle connections cannot lock them out.
    // false: every connection has sent a request (or too many evictions are still closing).
    bool evict_oldest_waiting(uint32_t max_evicting) {  // lock held
      if (waiting_by_age.empty() || evicting.size() >= max_evicting) return false;
      const std::string key = waiting_by_age.begin()->second;
      request_seen(key);
      auto socket = sockets.find(key);
      if (socket == sockets.end()) return false;
      g_socket_shutdown(socket->second, TRUE, TRUE, nullptr);
      evicting.insert(key);
      return true;
    }
  };
  struct ConnectionEntry {
    std::shared_ptr<ConnectionTable> table;
    std::string key;
  };
  std::shared_ptr<ConnectionTable> connections = std::make_shared<ConnectionTable>();

  // Routing, server thread only.
  std::map<std::string, std::shared_ptr<StreamRouteHandler>> stream_routes;
  std::map<std::string, HttpSite*, std::less<>> sites;  // by normalized prefix

  // The workers' copy of the routing (written on the server thread next to the above). A site
  // leaves it under the exclusive lock, so no worker is in its answer_plain() afterwards.
  std::unique_ptr<HttpWorkers> workers;  // null with worker_threads 0
  std::shared_mutex plain_lock;
  std::set<std::string, std::less<>> plain_stream_paths;  // under plain_lock
  std::map<std::string, HttpSite*, std::less<>> plain_sites;  // under plain_lock

  std::unique_ptr<StreamRequests> stream_requests;  // made by start(); used on the server thread

  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> connections_evicted{0};

  bool on_server_thread() const { return context != nullptr && g_main_context_is_owner(context); }

  // Runs work on the server thread (FIFO after earlier posts) and waits; inline when there.
  void run_sync(const std::function<void()>& work) {
    if (on_server_thread()) {
      work();
      return;
    }
    // Shared: if the queue dropped the task (port stopping) the promise breaks and we return.
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    queue->post([&work, done] {
      work();
      done->set_value();
    });
    finished.wait();
  }

  GSocket* socket_of(SoupServerMessage* msg) const {
    const std::string key = address_key(soup_server_message_get_remote_address(msg));
    std::lock_guard<std::mutex> lock(connections->lock);
    auto it = connections->sockets.find(key);
    return it == connections->sockets.end() ? nullptr : it->second;
  }

  void handle_stream_request(SoupServerMessage* msg, const std::string& path, const StreamRouteHandler& handler) {
    const char* method = soup_server_message_get_method(msg);
    if (method == SOUP_METHOD_OPTIONS) {
      respond_preflight(msg, config.cors);
    } else if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD, OPTIONS");
      respond_text(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed", config.cors);
    } else {
      stream_requests->start(msg, path, address_key(soup_server_message_get_remote_address(msg)), handler);
    }
  }

  // ---- requests ----

  static void on_early_request(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    impl->request_seen(address_key(soup_server_message_get_remote_address(msg)));
    // libsoup before 3.3 (Debian 12 has 3.2.2) never frees a keep-alive connection that the
    // client closes while it is idle (fixed upstream by commit d20c660): each one would hold its
    // memory and a max_connections slot for the life of the process. So connections libsoup
    // answers close after their response; plain GETs (playlists, segments, LL-HLS blocking
    // reloads) are answered by the workers and stay keep-alive.
    if (soup_get_major_version() == 3 && soup_get_minor_version() < 3)
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
    // Refuse big request bodies before libsoup reads them.
    goffset length = soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));
    if (length > static_cast<goffset>(kMaxRequestBodyBytes))
      respond_text(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large", impl->config.cors);
  }

  static void on_request(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query, gpointer data) {
    static_cast<Impl*>(data)->route(msg, path ? path : "/", query);
  }

  // Worker threads: the site that would get this request from route(), if it answers it.
  bool answer_plain(const PlainRequestHead& head, const HttpWorkers::Hold& hold, PlainResponse* response) {
    std::shared_lock<std::shared_mutex> lock(plain_lock);
    if (plain_stream_paths.find(head.path) != plain_stream_paths.end()) return false;
    std::string_view rest;
    HttpSite* site = find_site_in(plain_sites, head.path, &rest);
    return site != nullptr && site->answer_plain(PlainRequest{rest, head.query, head.head, hold}, response);
  }

  // Worker threads: libsoup takes the connection (its next request unread) on the server thread.
  void hand_over(GSocketConnection* connection) {
    // Owned by the task: dropped unrun (port stopping) it still closes the connection.
    std::shared_ptr<GSocketConnection> owned(connection, g_object_unref);
    queue->post([this, owned] { give_to_libsoup(owned.get()); });
  }

  void give_to_libsoup(GSocketConnection* connection) {
    GSocketAddress* local = g_socket_connection_get_local_address(connection, nullptr);
    GSocketAddress* remote = g_socket_connection_get_remote_address(connection, nullptr);
    GError* error = nullptr;
    if (!soup_server_accept_iostream(server, G_IO_STREAM(connection), local, remote, &error)) {
      GST_DEBUG("libsoup refused a connection: %s", error->message);
      g_error_free(error);
    }
    if (local) g_object_unref(local);
    if (remote) g_object_unref(remote);
  }

  void route(SoupServerMessage* msg, const std::string& path, GHashTable* query) {
    if (soup_server_message_get_status(msg) != 0) return;  // answered by the early handler
    auto stream = stream_routes.find(path);
    if (stream != stream_routes.end()) {
      std::shared_ptr<StreamRouteHandler> handler = stream->second;  // it may remove its own route
      handle_stream_request(msg, path, *handler);
      return;
    }
    std::string_view rest;
    if (HttpSite* site = find_site_in(sites, path, &rest)) {
      site->handle_request(msg, std::string(rest), query);
      return;
    }
    if (soup_server_message_get_method(msg) == SOUP_METHOD_OPTIONS) {
      respond_preflight(msg, config.cors);
      return;
    }
    respond_text(msg, SOUP_STATUS_NOT_FOUND, "not found", config.cors);
  }

  static void on_aborted(SoupServer*, SoupServerMessage* msg, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    if (impl->stream_requests->aborted(msg)) return;
    for (auto& [prefix, site] : impl->sites) site->request_aborted(msg);
  }

  // ---- accept loop ----

  // Our own listening socket and accept loop: soup_server_listen() keeps GLib's backlog of 10
  // (a burst of viewers would wait for SYN retransmissions) and has no connection limit or
  // idle timeout. Accepted connections are handed to libsoup.
  bool listen_on(GSocketAddress* socket_address, GError** error) {
    GSocket* socket = g_socket_new(g_socket_address_get_family(socket_address), G_SOCKET_TYPE_STREAM,
                                   G_SOCKET_PROTOCOL_TCP, error);
    if (socket == nullptr) return false;
    g_socket_set_listen_backlog(socket, kListenBacklog);
    bool ok = g_socket_bind(socket, socket_address, TRUE, error) && g_socket_listen(socket, error);
    if (ok) {
      GSocketAddress* local = g_socket_get_local_address(socket, nullptr);
      if (local != nullptr) {
        bound_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
        g_object_unref(local);
      }
      service = g_socket_service_new();  // accepts on this thread's (pushed) context
      g_signal_connect(service, "incoming", G_CALLBACK(on_incoming), this);
      ok = g_socket_listener_add_socket(G_SOCKET_LISTENER(service), socket, nullptr, error);
      if (ok) g_socket_service_start(service);
      if (ok) ok = give_libsoup_a_listener(error);
    }
    g_object_unref(socket);
    return ok;
  }

  // libsoup keeps a connection open after a response only while the server has a listener of
  // its own (request_finished() in soup-server.c); connections handed over by our accept loop
  // would otherwise be closed after every response (no HTTP keep-alive). Give it an inert one:
  // an unnamed Unix socket nobody is told about.
  bool give_libsoup_a_listener(GError** error) {
    GSocket* inert = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
    if (inert == nullptr) return false;
    GSocketAddress* unnamed = g_unix_socket_address_new_with_type("", 0, G_UNIX_SOCKET_ADDRESS_ANONYMOUS);
    bool ok = g_socket_bind(inert, unnamed, FALSE, error) && g_socket_listen(inert, error) &&
              soup_server_listen_socket(server, inert, SoupServerListenOptions(0), error);
    g_object_unref(unnamed);
    g_object_unref(inert);
    return ok;
  }

  void request_seen(const std::string& key) {
    std::lock_guard<std::mutex> lock(connections->lock);
    connections->request_seen(key);
  }

  static void on_connection_gone(gpointer data, GObject*) {
    std::unique_ptr<ConnectionEntry> entry(static_cast<ConnectionEntry*>(data));
    std::lock_guard<std::mutex> lock(entry->table->lock);
    entry->table->request_seen(entry->key);
    entry->table->evicting.erase(entry->key);
    entry->table->sockets.erase(entry->key);
    entry->table->count--;
  }

  // Counts a connection from accept until its GSocketConnection is finalized: with libsoup, or
  // with the owner of an adopted stream (the stolen stream holds the connection).
  static gboolean on_incoming(GSocketService*, GSocketConnection* connection, GObject*, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    GSocketAddress* remote = g_socket_connection_get_remote_address(connection, nullptr);
    auto entry = std::make_unique<ConnectionEntry>(ConnectionEntry{impl->connections, address_key(remote)});
    if (remote) g_object_unref(remote);
    const std::string ip = entry->key.substr(0, entry->key.rfind(':'));
    {
      std::lock_guard<std::mutex> lock(impl->connections->lock);
      ConnectionTable& table = *impl->connections;
      if (table.count - table.evicting.size() >= impl->config.max_connections) {
        // At most a quarter of the limit again is still closing: the total stays bounded.
        if (!table.evict_oldest_waiting(std::max(1u, impl->config.max_connections / 4))) {
          impl->connections_refused++;
          g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
          return TRUE;
        }
        impl->connections_evicted++;
        GST_INFO("port full (%u connections): the oldest one without a request was closed", table.count.load());
      }
      uint32_t& waiting = impl->connections->waiting_per_address[ip];
      if (impl->config.max_waiting_per_address != 0 && waiting >= impl->config.max_waiting_per_address) {
        impl->connections_refused++;
        GST_INFO("refusing a connection from %s: %u connections without a request yet", ip.c_str(), waiting);
        g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
        return TRUE;
      }
      ++waiting;
      const uint64_t order = table.accepted++;
      table.waiting[entry->key] = {ip, order};
      table.waiting_by_age[order] = entry->key;
      impl->connections->sockets[entry->key] = g_socket_connection_get_socket(connection);
      impl->connections->count++;
    }
    // No progress for this long on a connection (idle keep-alive, slow or stalled client): closed.
    g_socket_set_timeout(g_socket_connection_get_socket(connection), impl->config.idle_timeout_s);
    g_object_weak_ref(G_OBJECT(connection), on_connection_gone, entry.release());
    if (impl->workers) impl->workers->add(connection);  // plain GETs there, the rest comes back
    else impl->give_to_libsoup(connection);
    return TRUE;
  }

  // ---- thread ----

  void server_thread_main(uint16_t port, std::promise<Result<void>> started) {
    g_main_context_push_thread_default(context);
    server = SOUP_SERVER(g_object_new(SOUP_TYPE_SERVER, "server-header", "gst-live-server ", nullptr));
    soup_server_add_early_handler(server, nullptr, on_early_request, this, nullptr);
    soup_server_add_handler(server, nullptr, on_request, this, nullptr);
    g_signal_connect(server, "request-aborted", G_CALLBACK(on_aborted), this);
    GError* error = nullptr;
    GSocketAddress* socket_address = g_inet_socket_address_new_from_string(address.c_str(), port);
    if (socket_address == nullptr) {
      started.set_value(make_error(Errc::malformed, "not an IP address: " + address));
    } else if (!listen_on(socket_address, &error)) {
      started.set_value(make_error(Errc::refused, std::string("cannot listen on ") + address + ":" +
                                                     std::to_string(port) + ": " + error->message));
      g_error_free(error);
    } else {
      queue->open(context);
      started.set_value(Result<void>());
      GST_INFO("HTTP server on %s:%u", address.c_str(), bound_port.load());
      g_main_loop_run(loop);
      // Stopping (the shutdown task answered what was pending): let libsoup write the last
      // responses before the listener goes.
      while (g_main_context_iteration(context, FALSE)) {
      }
      soup_server_disconnect(server);
    }
    if (service != nullptr) {
      g_socket_service_stop(service);
      g_socket_listener_close(G_SOCKET_LISTENER(service));
      g_object_unref(service);
      service = nullptr;
    }
    if (socket_address != nullptr) g_object_unref(socket_address);
    g_object_unref(server);
    server = nullptr;
    while (g_main_context_iteration(context, FALSE)) {
    }
    g_main_context_pop_thread_default(context);
  }

  Result<void> start(uint16_t port) {
    context = g_main_context_new();
    loop = g_main_loop_new(context, FALSE);
    stream_requests = std::make_unique<StreamRequests>(context, queue, config,
                                                       [this](SoupServerMessage* msg) { return socket_of(msg); });
    if (config.worker_threads > 0) {
      workers = std::make_unique<HttpWorkers>(
          config.worker_threads, config.idle_timeout_s, libsoup_server_header(),
          [this](const PlainRequestHead& head, const HttpWorkers::Hold& hold, PlainResponse* response) {
            return answer_plain(head, hold, response);
          },
          [this](GSocketConnection* connection) { hand_over(connection); },
          [this](GSocketConnection* connection) {
            GSocketAddress* remote = g_socket_connection_get_remote_address(connection, nullptr);
            request_seen(address_key(remote));
            if (remote) g_object_unref(remote);
          });
    }
    std::promise<Result<void>> started;
    auto result_future = started.get_future();
    thread = std::thread(&Impl::server_thread_main, this, port, std::move(started));
    Result<void> result = result_future.get();
    if (!result.ok()) {
      thread.join();
      workers.reset();
      // A port that never served is not shut down (no HttpPort owns it): its loop and context
      // go here (LeakSanitizer found the loop leaked on every "port in use").
      g_main_loop_unref(loop), loop = nullptr;
      g_main_context_unref(context), context = nullptr;
    }
    return result;
  }

  void shutdown() {
    workers.reset();  // their connections closed, hand-overs queued or dropped
    if (thread.joinable()) {
      run_sync([this] {
        stream_requests->refuse_all();
        for (auto& [prefix, site] : sites) {
          GST_WARNING("port %u stops with a site still registered at '%s'", bound_port.load(), prefix.c_str());
          site->site_removed();
        }
        sites.clear();
        stream_routes.clear();
        std::unique_lock<std::shared_mutex> plain(plain_lock);
        plain_sites.clear();
        plain_stream_paths.clear();
        // No task runs after this one: decisions of PendingStreams still out are dropped.
        queue->close();
      });
      quit_loop_from_inside(context, loop);
      thread.join();
    }
    queue->close();
    if (loop) g_main_loop_unref(loop), loop = nullptr;
    if (context) g_main_context_unref(context), context = nullptr;
  }
};

HttpPort::HttpPort(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpPort::~HttpPort() {
  if (impl_->on_server_thread()) {
    // Joining the thread from itself is impossible: leave the port running (a bug of the caller).
    GST_ERROR("the last reference to HTTP port %u was dropped on its own server thread", impl_->bound_port.load());
    (void)impl_.release();
    return;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find({impl_->address, impl_->requested_port});
  if (it != registry().end() && it->second.expired()) registry().erase(it);
  impl_->shutdown();
  GST_INFO("HTTP server on %s:%u stopped", impl_->address.c_str(), impl_->bound_port.load());
}

Result<std::shared_ptr<HttpPort>> HttpPort::acquire(const std::string& address, uint16_t port,
                                                    const HttpPortConfig& config) {
  init_debug();
  std::lock_guard<std::mutex> lock(registry_mutex());
  const PortKey key{address, port};
  auto it = registry().find(key);
  if (port != 0 && it != registry().end()) {
    if (auto existing = it->second.lock()) {
      const HttpPortConfig& have = existing->impl_->config;
      if (have.max_connections != config.max_connections || have.idle_timeout_s != config.idle_timeout_s ||
          have.cors != config.cors || have.stream_decision_timeout_ms != config.stream_decision_timeout_ms ||
          have.worker_threads != config.worker_threads) {
        GST_WARNING("HTTP port %s:%u is shared: the connection limit, idle timeout, CORS, stream decision "
                    "timeout and worker threads of its first user apply",
                    address.c_str(), port);
      }
      return existing;
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->address = address;
  impl->requested_port = port;
  impl->config = config;
  if (auto started = impl->start(port); !started) return started.error();
  std::shared_ptr<HttpPort> shared(new HttpPort(std::move(impl)));
  if (port != 0) registry()[key] = shared;  // port 0: a private ephemeral port
  return shared;
}

uint16_t HttpPort::port() const { return impl_->bound_port; }
const HttpPortConfig& HttpPort::config() const { return impl_->config; }

HttpPortStats HttpPort::stats() const {
  HttpPortStats s;
  s.connections = impl_->connections->count;
  s.connections_refused = impl_->connections_refused;
  s.connections_evicted = impl_->connections_evicted;
  const StreamRequests::Counters& c = impl_->stream_requests->counters();
  s.stream_requests = c.requests;
  s.streams_adopted = c.adopted;
  s.streams_refused = c.refused;
  s.streams_unanswered = c.unanswered;
  if (impl_->workers) {
    s.worker_answers = impl_->workers->answered();
    s.worker_hand_overs = impl_->workers->handed_over();
  }
  return s;
}

Result<void> HttpPort::add_stream_route(const std::string& path, StreamRouteHandler handler) {
  if (path.empty() || path[0] != '/' || path.find_first_of("?#") != std::string::npos)
    return make_error(Errc::malformed, "not a request path: '" + path + "'");
  if (!handler) return make_error(Errc::malformed, "no handler for stream route " + path);
  auto shared = std::make_shared<StreamRouteHandler>(std::move(handler));
  Result<void> result;
  impl_->run_sync([&] {
    if (!impl_->stream_routes.emplace(path, shared).second) {
      result = make_error(Errc::refused, path + " is already served on port " + std::to_string(port()));
      return;
    }
    std::unique_lock<std::shared_mutex> plain(impl_->plain_lock);
    impl_->plain_stream_paths.insert(path);
  });
  return result;
}

void HttpPort::remove_stream_route(const std::string& path) {
  impl_->run_sync([&] {
    impl_->stream_routes.erase(path);
    std::unique_lock<std::shared_mutex> plain(impl_->plain_lock);
    impl_->plain_stream_paths.erase(path);
  });
}

Result<std::string> HttpPort::normalize_prefix(const std::string& prefix) {
  const size_t first = prefix.find_first_not_of('/');
  if (first == std::string::npos) return std::string();  // "" or "/": the whole port
  const std::string inner = prefix.substr(first, prefix.find_last_not_of('/') - first + 1);
  std::string normalized;
  size_t pos = 0;
  while (pos <= inner.size()) {
    size_t next = inner.find('/', pos);
    if (next == std::string::npos) next = inner.size();
    const std::string segment = inner.substr(pos, next - pos);
    pos = next + 1;
    // Compared with the raw request path: nothing a client could spell another way.
    if (segment.empty() || segment[0] == '.' || segment.find_first_of("%?#\\") != std::string::npos)
      return make_error(Errc::malformed, "bad URL prefix '" + prefix + "'");
    normalized += "/" + segment;
  }
  return normalized;
}

Result<void> HttpPort::add_site(const std::string& prefix, HttpSite* site) {
  auto normalized = normalize_prefix(prefix);
  if (!normalized) return normalized.error();
  Result<void> result;
  impl_->run_sync([&] {
    if (!impl_->sites.emplace(*normalized, site).second) {
      result = make_error(Errc::refused, "'" + (normalized->empty() ? std::string("/") : *normalized) +
                                             "' is already served on port " + std::to_string(port()));
      return;
    }
    std::unique_lock<std::shared_mutex> plain(impl_->plain_lock);
    impl_->plain_sites.emplace(*normalized, site);
  });
  return result;
}

void HttpPort::remove_site(HttpSite* site) {
  impl_->run_sync([&] {
    for (auto it = impl_->sites.begin(); it != impl_->sites.end(); ++it) {
      if (it->second != site) continue;
      {
        std::unique_lock<std::shared_mutex> plain(impl_->plain_lock);  // waits for answer_plain() calls
        impl_->plain_sites.erase(it->first);
      }
      impl_->sites.erase(it);
      site->site_removed();
      return;
    }
  });
}

GMainContext* HttpPort::context() const { return impl_->context; }
bool HttpPort::on_server_thread() const { return impl_->on_server_thread(); }
GSocket* HttpPort::socket_of(SoupServerMessage* msg) const { return impl_->socket_of(msg); }
void HttpPort::post(std::function<void()> work) { impl_->queue->post(std::move(work)); }

}  // namespace live::http
