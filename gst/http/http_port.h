// HttpPort: the one HTTP server (libsoup 3) of the process on an (address, port), shared by every
// element that names that port, as live::net::Listener shares an RTMP port. It owns the
// listening socket with its own accept loop (backlog, connection limit, idle timeout), the
// server thread and the routing: exact stream routes (HTTP-FLV of flvrelaysink) win over sites
// (HlsHttpServer: everything under a URL prefix, the longest matching prefix wins).
// Worker threads (HttpWorkers) answer plain GETs of files a site holds in memory
// (HttpSite::answer_plain) on every core; everything else is libsoup's, on the server thread.
//
// Threading: the server runs its own GMainContext on its own thread. Every public method is
// thread-safe. add_*/remove_* run their work on the server thread and wait for it (inline when
// called there), so route handlers, adopt callbacks and sites must never wait for a lock that
// the caller of add_*/remove_* may hold. Never drop the last reference to a port on its server
// thread. Lock order: registry mutex -> (nothing); a site's own lock -> the task queue's lock.
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace live::http {

// Limits on what HTTP clients control (the first user's config of a port applies).
inline constexpr uint64_t kMaxRequestBodyBytes = 64 * 1024;  // we serve GET/HEAD/OPTIONS only
inline constexpr int kListenBacklog = 1024;                 // pending TCP connections
// Open connections. When full, the oldest connection that has not sent a request yet is closed
// to make room; if every one has, the new connection is closed at once.
inline constexpr uint32_t kDefaultMaxConnections = 4096;
inline constexpr uint32_t kDefaultIdleTimeoutS = 60;         // no progress on a connection: closed
inline constexpr uint32_t kStreamDecisionTimeoutS = 5;       // stream request without decision: 503
inline constexpr uint32_t kDefaultWorkerThreads = 2;         // HttpWorkers: plain GETs next to libsoup
// A connection that has not sent a complete request head yet may be an attacker holding a slot
// (4096 such connections made every client of the port wait for 60 s, tests/hostile): each is
// closed if its first request head is not complete within the timeout, and at most this many
// per client IP wait at once (high: a burst of real clients from one proxy is waiting too
// until a worker has read their requests).
inline constexpr uint32_t kDefaultMaxWaitingPerAddress = 512;
inline constexpr uint32_t kFirstRequestTimeoutS = 10;

struct HttpPortConfig {
  uint32_t max_connections = kDefaultMaxConnections;
  uint32_t idle_timeout_s = kDefaultIdleTimeoutS;  // also the GSocket timeout of adopted streams
  uint32_t max_waiting_per_address = kDefaultMaxWaitingPerAddress;  // 0 = no limit
  bool cors = true;  // Access-Control-Allow-Origin: * and OPTIONS preflight
  uint32_t stream_decision_timeout_ms = kStreamDecisionTimeoutS * 1000;
  // Threads answering plain GET/HEAD requests for files sites hold in memory (answer_plain);
  // 0: libsoup's server thread answers every request.
  uint32_t worker_threads = kDefaultWorkerThreads;
};

struct HttpPortStats {
  uint64_t connections = 0;          // open now, adopted streams included
  uint64_t connections_refused = 0;  // closed at accept: over max_connections or max_waiting_per_address
  uint64_t connections_evicted = 0;  // closed to make room: the oldest without a request, port full
  uint64_t stream_requests = 0;      // GET/HEAD for a stream route
  uint64_t streams_adopted = 0;      // connections handed to an adopt callback
  uint64_t streams_refused = 0;      // refuse()
  uint64_t streams_unanswered = 0;   // 503: no decision in time, or the last reference dropped
  uint64_t worker_answers = 0;       // requests answered by the worker threads (not libsoup)
  uint64_t worker_hand_overs = 0;    // connections the workers handed to libsoup
};

struct StreamRequestInfo {
  std::string path;            // e.g. "/live/show.flv" (no query)
  std::string query;           // raw query string without '?', may be empty
  std::string client_address;  // "ip:port"
  std::string origin;          // Origin request header, empty if none
  bool head = false;           // HEAD instead of GET
  bool http_1_0 = false;       // an HTTP/1.0 request: no chunked transfer coding in the answer
};

// A request for a registered stream path that waits for a decision. Thread-safe; exactly one
// of refuse()/accept() takes effect (later calls are ignored); if neither is called within
// the port's stream_decision_timeout_ms (default kStreamDecisionTimeoutS) the server answers
// 503. Destroying the last reference without a decision also answers 503.
class PendingStream {
 public:
  virtual ~PendingStream() = default;
  virtual const StreamRequestInfo& info() const = 0;
  virtual void refuse(unsigned status, const std::string& reason) = 0;  // e.g. 403, 404; text/plain body
  // Takes the connection away from libsoup: no response is written by the server; `adopt` is
  // called once, on the HTTP server thread, with the connection's GIOStream (a reference the
  // callee owns) and its socket fd (non-blocking; owned by the stream: closing or dropping the
  // stream closes it). The callee writes the whole HTTP response itself (status line, headers,
  // body). If the client went away meanwhile, or the 503 of the timeout was sent, adopt is
  // called with nullptr/-1. If the port stops first, adopt is destroyed without a call.
  virtual void accept(std::function<void(GIOStream* stream, int fd)> adopt) = 0;
};
using StreamRouteHandler = std::function<void(std::shared_ptr<PendingStream> request)>;

// An answer to a PlainRequest. The worker writes the status line, Server and Date, then
// `headers`, then Content-Length (of body; HEAD: the length only), as libsoup would.
struct PlainResponse {
  unsigned status = 200;
  std::string headers;  // "Name: value\r\n" lines
  std::shared_ptr<const std::string> body;
};

// The answer to a plain request that a site holds (an LL-HLS blocking reload): the worker keeps
// the connection parked, reading nothing more from it, until send().
class PlainReply {
 public:
  virtual ~PlainReply() = default;
  // Once, from any thread; later calls are ignored.
  virtual void send(PlainResponse response) = 0;
  // The client closed the connection (or the port stopped): nobody will read the answer.
  virtual bool client_gone() const = 0;
  // Calls `gone` once when the client leaves before send(), from the worker thread (at once if
  // it has left already). Never after send() has begun.
  virtual void on_client_gone(std::function<void()> gone) = 0;
};

// A plain request (GET or HEAD, HTTP/1.1, no body, no Range: plain_request.h) that a worker
// thread offers to a site before libsoup sees it.
struct PlainRequest {
  std::string_view path;   // after the prefix, as handle_request's (only [A-Za-z0-9-_.~/] here)
  std::string_view query;  // raw, without '?' (no '%' or '+' here)
  bool head = false;
  // To answer later: answer_plain() calls it (once), returns true and leaves *response alone;
  // the site then calls send() on the reply exactly once.
  std::function<std::shared_ptr<PlainReply>()> hold;
};

// Everything under one URL prefix of a port (HlsHttpServer). Called on the server thread only,
// except answer_plain().
class HttpSite {
 public:
  virtual ~HttpSite() = default;
  // Called on the port's worker threads, concurrently with each other and with the server
  // thread, never after remove_site() returned: true to answer the request exactly as
  // handle_request would, with *response at once or through request.hold() later. False hands
  // the request, and the rest of its connection, to libsoup (handle_request). Must not block.
  virtual bool answer_plain(const PlainRequest& /*request*/, PlainResponse* /*response*/) { return false; }
  // path: the request path after the prefix, still percent-encoded: "/..." or "" when the
  // request named the prefix itself ("/live/a" for prefix "/live/a").
  virtual void handle_request(SoupServerMessage* msg, const std::string& path, GHashTable* query) = 0;
  // libsoup gave up on msg (request-aborted): forget it if the site holds it.
  virtual void request_aborted(SoupServerMessage* msg) = 0;
  // From remove_site(): answer and release every message the site holds.
  virtual void site_removed() = 0;
};

class HttpPort {
 public:
  // The shared server on address:port, started (bind, listen, thread) by its first user.
  // Port 0 gives a private server on an ephemeral port (not shared). The limits of the first
  // user apply; later users with other values get a warning in the log.
  static Result<std::shared_ptr<HttpPort>> acquire(const std::string& address, uint16_t port,
                                                   const HttpPortConfig& config);
  ~HttpPort();  // the last user leaving: pending requests answered 503, socket and thread closed
  HttpPort(const HttpPort&) = delete;
  HttpPort& operator=(const HttpPort&) = delete;

  uint16_t port() const;  // the bound port
  const HttpPortConfig& config() const;  // the first user's
  HttpPortStats stats() const;

  // Stream routes: exact request path (no query), e.g. "/live/show.flv"; they win over sites.
  // The handler runs on the server thread and must not block. Error if the path is taken.
  Result<void> add_stream_route(const std::string& path, StreamRouteHandler handler);
  // After it returns the handler is never called again (requests already handed out keep
  // their PendingStream).
  void remove_stream_route(const std::string& path);

  // Sites: prefix "" or "/" serves everything; "/live/a" serves "/live/a" and "/live/a/...".
  // Error if the prefix is malformed or another site serves it ("already served").
  Result<void> add_site(const std::string& prefix, HttpSite* site);
  // Unregisters the site and calls site->site_removed() on the server thread; returns after.
  void remove_site(HttpSite* site);

  // For sites. context(): attach the site's sources here (server thread).
  GMainContext* context() const;
  bool on_server_thread() const;
  // The client's socket of msg (to watch a paused message for EOF), or nullptr. Server thread.
  GSocket* socket_of(SoupServerMessage* msg) const;
  // Runs work on the server thread, after everything posted before it (FIFO); dropped when the
  // port stops. Never runs inline.
  void post(std::function<void()> work);

  // "", or "/a/b" without a trailing slash; error for "..", empty segments, '%', '?', '#'.
  static Result<std::string> normalize_prefix(const std::string& prefix);

  struct Impl;

 private:
  explicit HttpPort(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Response helpers shared by the sites (server thread).
void add_cors_headers(SoupServerMessage* msg);
void respond_text(SoupServerMessage* msg, unsigned status, const std::string& text, bool cors);
// OPTIONS: 204 with Allow: GET, HEAD, OPTIONS and, with cors, the preflight answer.
void respond_preflight(SoupServerMessage* msg, bool cors);

}  // namespace live::http
