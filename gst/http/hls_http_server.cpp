// HlsHttpServer: see the header. Everything that touches libsoup runs on the server thread
// (server_thread_main); other threads only update PlaylistState under state_lock and wake the
// server context. Lock order: state_lock only (never held while calling into libsoup).
#include "http/hls_http_server.h"
#include "http/quit_loop.h"

#include <gst/gst.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include <atomic>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <future>
#include <algorithm>
#include <deque>
#include <list>
#include <memory>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(live_http_server_debug);
#define GST_CAT_DEFAULT live_http_server_debug

namespace live::http {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string extension_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(g_ascii_tolower(c));
  return ext;
}

// Strict non-negative decimal (the whole string), as _HLS_msn / _HLS_part must be.
bool parse_index(const char* text, int64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  const char* end = text + strlen(text);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || value < 0) return false;
  *out = value;
  return true;
}

std::string real_path(const std::string& path) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return {};
  std::string result(resolved);
  free(resolved);
  return result;
}

struct PlaylistState {
  int64_t last_msn = -1;
  int64_t last_part = -1;
  int64_t last_segment_parts = -1;  // parts of segment last_msn when it is complete; -1 unknown
};

// Same rule as live::hls::MediaPlaylist::reload_status (RFC 8216bis 6.2.5.2).
bool is_available(const PlaylistState& state, int64_t msn, int64_t part) {
  if (msn < state.last_msn) return true;
  if (msn > state.last_msn) return false;
  if (state.last_part >= 0) return part >= 0 && part <= state.last_part;
  // Segment msn is complete. A part index past its last part means part 0 of the next one.
  return part < 0 || state.last_segment_parts < 0 || part < state.last_segment_parts;
}

// 400 when more than two segments beyond the last complete one, or past the Advance Part Limit.
bool is_too_far_ahead(const PlaylistState& state, int64_t msn, int64_t part, int64_t part_target_ms) {
  const int64_t last_complete = state.last_part >= 0 ? state.last_msn - 1 : state.last_msn;
  if (msn > last_complete + kMaxBlockingAdvanceSegments) return true;
  if (part < 0 || msn != state.last_msn || state.last_part < 0) return false;
  // Advance Part Limit: 3 / PART-TARGET (in seconds) below one second, 3 otherwise.
  const double limit = part_target_ms > 0 && part_target_ms < 1000 ? 3000.0 / double(part_target_ms)
                                                                   : double(kMaxBlockingAdvanceParts);
  return double(part) > double(state.last_part) + limit;
}

}  // namespace

const char* hls_content_type(const std::string& path) {
  const std::string ext = extension_of(path);
  if (ext == "m3u8") return "application/vnd.apple.mpegurl";
  if (ext == "ts") return "video/mp2t";
  if (ext == "m4s") return "video/iso.segment";
  if (ext == "mp4") return "video/mp4";
  if (ext == "m4a") return "audio/mp4";
  if (ext == "aac") return "audio/aac";
  if (ext == "vtt") return "text/vtt";
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json") return "application/json";
  return "application/octet-stream";  // .key and anything else
}

const char* hls_cache_control(const std::string& path) {
  const std::string ext = extension_of(path);
  // Segment and part names are never reused for other content while a stream runs.
  if (ext == "ts" || ext == "m4s" || ext == "aac" || ext == "m4a") return "public, max-age=86400, immutable";
  // Init segments and keys keep their name when a stream restarts: cache briefly only.
  if (ext == "mp4" || ext == "key") return "max-age=10";
  return "no-cache";  // playlists, the player page
}

struct HlsHttpServer::Impl {
  struct HeldRequest {
    SoupServerMessage* msg = nullptr;  // a reference we own
    std::string relative_path;
    std::string file_path;
    int64_t msn = 0;
    int64_t part = -1;
    GSource* timeout = nullptr;
    GSource* watch = nullptr;  // client socket, to notice a client that gave up while held
    Impl* impl = nullptr;
    bool preload = false;      // a file announced by expect_file(), not yet written
  };

  static void drop_source(GSource** source) {
    if (*source != nullptr) {
      g_source_destroy(*source);
      g_source_unref(*source);
      *source = nullptr;
    }
  }

  HlsHttpServerConfig config;
  std::string root_real;  // realpath of root_dir, checked against every served file

  // Server thread objects (touched only on the server thread once started).
  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  SoupServer* server = nullptr;
  GSocketService* service = nullptr;
  // Open connections by remote "address:port" (libsoup gives no GSocket for connections handed
  // over as streams). Shared with each connection's weak-ref callback, which may outlive us.
  struct ConnectionTable {
    std::mutex lock;
    std::map<std::string, GSocket*> sockets;  // not owned: an entry goes with its connection
    std::atomic<uint32_t> count{0};
  };
  struct ConnectionEntry {
    std::shared_ptr<ConnectionTable> table;
    std::string key;
  };
  std::shared_ptr<ConnectionTable> connections = std::make_shared<ConnectionTable>();

  static std::string address_key(GSocketAddress* address) {
    if (address == nullptr || !G_IS_INET_SOCKET_ADDRESS(address)) return {};
    auto* inet = G_INET_SOCKET_ADDRESS(address);
    char* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
    std::string key = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
    g_free(ip);
    return key;
  }

  GSocket* socket_of(SoupServerMessage* msg) {
    const std::string key = address_key(soup_server_message_get_remote_address(msg));
    std::lock_guard<std::mutex> lock(connections->lock);
    auto it = connections->sockets.find(key);
    return it == connections->sockets.end() ? nullptr : it->second;
  }
  std::thread thread;
  std::thread::id server_thread_id;
  std::list<std::unique_ptr<HeldRequest>> held;

  std::atomic<bool> is_running{false};
  std::atomic<uint16_t> bound_port{0};
  std::atomic<int64_t> target_duration_ms{6000};
  std::atomic<int64_t> part_target_ms{0};

  mutable std::mutex state_lock;
  std::map<std::string, PlaylistState> playlists;  // under state_lock
  std::deque<std::string> expected_files;          // under state_lock; newest last
  GMainContext* wake_context = nullptr;            // under state_lock; set while running

  bool is_expected(const std::string& relative) {
    std::lock_guard<std::mutex> lock(state_lock);
    return std::find(expected_files.begin(), expected_files.end(), relative) != expected_files.end();
  }

  struct Counters {
    std::atomic<uint64_t> requests{0}, ok{0}, client_errors{0}, server_errors{0}, bytes{0},
        blocking{0}, timeouts{0}, refused{0}, held_now{0}, connections_refused{0};
  } counters;

  // ---- responses ----

  void add_common_headers(SoupServerMessage* msg) {
    SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
    if (config.cors) {
      soup_message_headers_replace(headers, "Access-Control-Allow-Origin", "*");
      soup_message_headers_replace(headers, "Access-Control-Expose-Headers",
                                   "Content-Length, Content-Range, Age, Date");
    }
  }

  void set_status(SoupServerMessage* msg, unsigned status) {
    soup_server_message_set_status(msg, status, nullptr);
    if (status >= 500) counters.server_errors++;
    else if (status >= 400) counters.client_errors++;
    else if (status >= 200 && status < 300) counters.ok++;
  }

  void respond_error(SoupServerMessage* msg, unsigned status, const char* text) {
    add_common_headers(msg);
    SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    std::string body = std::string(text) + "\n";
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, body.data(), body.size());
    set_status(msg, status);
  }

  // Answers with the file's current bytes. False (and a 404) when it vanished meanwhile.
  bool respond_file(SoupServerMessage* msg, const std::string& file_path, const std::string& name_for_type,
                    const char* cache_control) {
    GError* error = nullptr;
    GMappedFile* mapped = g_mapped_file_new(file_path.c_str(), FALSE, &error);
    if (mapped == nullptr) {
      GST_DEBUG("cannot map %s: %s", file_path.c_str(), error->message);
      g_error_free(error);
      respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
      return false;
    }
    GBytes* bytes = g_mapped_file_get_bytes(mapped);  // keeps the mapping alive; fine after unlink/rename
    g_mapped_file_unref(mapped);
    add_common_headers(msg);
    SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
    soup_message_headers_set_content_type(headers, hls_content_type(name_for_type), nullptr);
    soup_message_headers_replace(headers, "Cache-Control", cache_control);
    soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
    counters.bytes += g_bytes_get_size(bytes);
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
    g_bytes_unref(bytes);
    set_status(msg, SOUP_STATUS_OK);
    return true;
  }

  // Request path -> normalized path relative to root ("a/b.ts"), or "" when refused
  // (traversal, hidden names, encoded '/' or NUL, backslashes).
  static std::string normalize(const char* request_path) {
    // Refuse an encoded '/' or NUL rather than reinterpreting it.
    char* decoded = g_uri_unescape_string(request_path, "/");
    if (decoded == nullptr) return {};
    std::string path(decoded);
    g_free(decoded);
    if (path.empty() || path[0] != '/' || path.find('\\') != std::string::npos) return {};
    std::string relative;
    size_t pos = 1;
    while (pos <= path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      std::string part = path.substr(pos, next - pos);
      pos = next + 1;
      if (part.empty()) continue;
      if (part[0] == '.') return {};  // "..", ".", and the sink's hidden temp files
      if (!relative.empty()) relative += '/';
      relative += part;
    }
    return relative;
  }

  // The regular file under root for a normalized relative path, or "" (missing, a directory,
  // or a symlink that leads out of root).
  std::string file_for(const std::string& relative) const {
    if (relative.empty()) return {};
    std::string full = real_path(config.root_dir + "/" + relative);
    if (full.empty() || full.compare(0, root_real.size() + 1, root_real + "/") != 0) return {};
    struct stat st;
    if (stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    return full;
  }

  // ---- blocking playlist reload ----

  static gboolean on_held_timeout(gpointer data) {
    auto* request = static_cast<HeldRequest*>(data);
    Impl* impl = request->impl;
    GST_DEBUG("blocking request %s msn %" G_GINT64_FORMAT " part %" G_GINT64_FORMAT " timed out",
              request->relative_path.c_str(), request->msn, request->part);
    impl->counters.timeouts++;
    if (request->preload)
      impl->respond_error(request->msg, SOUP_STATUS_NOT_FOUND, "preload-hinted file not written in 3 x target duration");
    else
      impl->respond_error(request->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "playlist not updated in 3 x target duration");
    impl->release(request);
    return G_SOURCE_REMOVE;
  }

  // The socket of a held request became readable: EOF or error means the client is gone.
  // Anything else (a pipelined request) is left for libsoup; we stop watching.
  static gboolean on_held_socket_event(GSocket* socket, GIOCondition, gpointer data) {
    auto* request = static_cast<HeldRequest*>(data);
    Impl* impl = request->impl;
    char byte;
    const ssize_t n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
      g_source_unref(request->watch);
      request->watch = nullptr;
      return G_SOURCE_REMOVE;
    }
    GST_DEBUG("client of held request for %s went away", request->relative_path.c_str());
    impl->respond_error(request->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "client gone");
    impl->release(request);  // destroys this source too
    return G_SOURCE_REMOVE;
  }

  // Unpauses and forgets a held request whose response is set.
  void release(HeldRequest* request) {
    drop_source(&request->timeout);
    drop_source(&request->watch);
    SoupServerMessage* msg = request->msg;
    counters.held_now--;
    for (auto it = held.begin(); it != held.end(); ++it) {
      if (it->get() == request) {
        held.erase(it);
        break;
      }
    }
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  }

  // Runs on the server thread after notify_playlist / forget_playlist.
  void answer_ready(const std::string& relative_path) {
    // g_main_context_invoke runs us in the caller's thread once the server thread is gone.
    if (std::this_thread::get_id() != server_thread_id) return;
    PlaylistState state;
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      auto it = playlists.find(relative_path);
      if (it != playlists.end()) {
        state = it->second;
        known = true;
      }
    }
    std::vector<HeldRequest*> ready;
    std::vector<std::pair<HeldRequest*, std::string>> written;  // preload-hinted files now there
    for (auto& request : held) {
      if (request->preload) {
        // The sink writes a part before the playlist that lists it, so check at each update.
        std::string file = file_for(request->relative_path);
        if (!file.empty()) written.emplace_back(request.get(), std::move(file));
        continue;
      }
      if (request->relative_path != relative_path) continue;
      if (!known || is_available(state, request->msn, request->part)) ready.push_back(request.get());
    }
    for (HeldRequest* request : ready) {
      respond_file(request->msg, request->file_path, request->relative_path, "max-age=1");
      release(request);
    }
    for (auto& [request, file] : written) {
      respond_file(request->msg, file, request->relative_path, hls_cache_control(request->relative_path));
      release(request);
    }
  }

  void on_request_aborted(SoupServerMessage* msg) {
    for (auto& request : held) {
      if (request->msg == msg) {
        GST_DEBUG("held request for %s aborted by the client", request->relative_path.c_str());
        drop_source(&request->timeout);
        drop_source(&request->watch);
        counters.held_now--;
        held.remove_if([msg](const std::unique_ptr<HeldRequest>& r) { return r->msg == msg; });
        g_object_unref(msg);
        return;
      }
    }
  }

  // Returns true when the request was answered or held here.
  bool handle_blocking(SoupServerMessage* msg, GHashTable* query, const std::string& relative,
                       const std::string& file_path) {
    const char* msn_text = query ? static_cast<const char*>(g_hash_table_lookup(query, "_HLS_msn")) : nullptr;
    const char* part_text = query ? static_cast<const char*>(g_hash_table_lookup(query, "_HLS_part")) : nullptr;
    if (msn_text == nullptr && part_text == nullptr) return false;
    counters.blocking++;
    int64_t msn = 0;
    int64_t part = -1;
    if (msn_text == nullptr || !parse_index(msn_text, &msn) || (part_text != nullptr && !parse_index(part_text, &part))) {
      respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad _HLS_msn/_HLS_part");
      return true;
    }
    PlaylistState state;
    {
      std::lock_guard<std::mutex> lock(state_lock);
      auto it = playlists.find(relative);
      if (it == playlists.end()) return false;  // not a live LL-HLS playlist: serve as is
      state = it->second;
    }
    if (is_available(state, msn, part)) {
      respond_file(msg, file_path, relative, "max-age=1");
      return true;
    }
    if (is_too_far_ahead(state, msn, part, part_target_ms.load())) {
      counters.refused++;
      respond_error(msg, SOUP_STATUS_BAD_REQUEST, "_HLS_msn/_HLS_part too far ahead of the playlist");
      return true;
    }
    hold(msg, relative, file_path, msn, part);  // held, or answered 503 over the limit
    return true;
  }

  // From any thread: re-check the held requests for relative_path on the server thread.
  struct WakeData {
    Impl* impl;
    std::string relative_path;
  };
  void wake(const std::string& relative_path) {
    GMainContext* target = nullptr;
    {
      std::lock_guard<std::mutex> lock(state_lock);  // stop() clears wake_context under it
      if (wake_context == nullptr) return;
      target = g_main_context_ref(wake_context);
    }
    g_main_context_invoke_full(
        target, G_PRIORITY_HIGH,
        [](gpointer data) -> gboolean {
          auto* w = static_cast<WakeData*>(data);
          w->impl->answer_ready(w->relative_path);
          return G_SOURCE_REMOVE;
        },
        new WakeData{this, relative_path}, [](gpointer data) { delete static_cast<WakeData*>(data); });
    g_main_context_unref(target);
  }


  // Pauses msg until answer_ready() finds it satisfied, or the timeout. file_path empty: a
  // preload-hinted file that does not exist yet. Returns false (after a 503) over the limit.
  bool hold(SoupServerMessage* msg, const std::string& relative, const std::string& file_path, int64_t msn,
            int64_t part) {
    if (held.size() >= config.max_held_requests) {
      counters.refused++;
      respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many blocking requests");
      return false;
    }
    auto request = std::make_unique<HeldRequest>();
    request->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
    request->relative_path = relative;
    request->file_path = file_path;
    request->msn = msn;
    request->part = part;
    request->preload = file_path.empty();
    request->impl = this;
    const int64_t timeout_ms = std::max<int64_t>(3 * target_duration_ms.load(), 100);
    request->timeout = g_timeout_source_new(static_cast<guint>(std::min<int64_t>(timeout_ms, INT_MAX)));
    g_source_set_callback(request->timeout, on_held_timeout, request.get(), nullptr);
    g_source_attach(request->timeout, context);
    // libsoup does not read a paused connection, so watch it ourselves: EOF means the client left.
    GSocket* socket = socket_of(msg);
    if (socket != nullptr) {
      request->watch = g_socket_create_source(socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
      g_source_set_callback(request->watch, G_SOURCE_FUNC(on_held_socket_event), request.get(), nullptr);
      g_source_attach(request->watch, context);
    }
    soup_server_message_pause(msg);
    counters.held_now++;
    held.push_back(std::move(request));
    return true;
  }

  // ---- request entry ----

  static void on_early_request(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    // Refuse big request bodies before libsoup reads them.
    goffset length = soup_message_headers_get_content_length(soup_server_message_get_request_headers(msg));
    if (length > static_cast<goffset>(kMaxRequestBodyBytes))
      impl->respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body too large");
  }

  static void on_request(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    impl->handle(msg, path, query);
  }

  void handle(SoupServerMessage* msg, const char* path, GHashTable* query) {
    counters.requests++;
    if (soup_server_message_get_status(msg) != 0) return;  // answered by the early handler
    const char* method = soup_server_message_get_method(msg);
    GST_LOG("%s %s", method, path);
    if (method == SOUP_METHOD_OPTIONS) {
      add_common_headers(msg);
      SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
      soup_message_headers_replace(headers, "Allow", "GET, HEAD, OPTIONS");
      if (config.cors) {
        soup_message_headers_replace(headers, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
        const char* asked = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                         "Access-Control-Request-Headers");
        soup_message_headers_replace(headers, "Access-Control-Allow-Headers", asked ? asked : "Range");
        soup_message_headers_replace(headers, "Access-Control-Max-Age", "86400");
      }
      set_status(msg, SOUP_STATUS_NO_CONTENT);
      return;
    }
    if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD, OPTIONS");
      respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
      return;
    }
    if (strcmp(path, "/") == 0) {
      if (config.index_file.empty()) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
      }
      respond_file(msg, config.index_file, config.index_file, "no-cache");
      return;
    }
    const std::string relative = normalize(path);
    const std::string file_path = file_for(relative);
    if (file_path.empty()) {
      if (!relative.empty() && method == SOUP_METHOD_GET && is_expected(relative)) {
        hold(msg, relative, {}, -1, -1);  // a preload hint: answered when the sink has written it
        return;
      }
      respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
      return;
    }
    if (ends_with(relative, ".m3u8") && method == SOUP_METHOD_GET && handle_blocking(msg, query, relative, file_path))
      return;
    respond_file(msg, file_path, relative, hls_cache_control(relative));
  }

  static void on_aborted(SoupServer*, SoupServerMessage* msg, gpointer data) {
    static_cast<Impl*>(data)->on_request_aborted(msg);
  }

  // ---- thread ----

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

  static void on_connection_gone(gpointer data, GObject*) {
    std::unique_ptr<ConnectionEntry> entry(static_cast<ConnectionEntry*>(data));
    std::lock_guard<std::mutex> lock(entry->table->lock);
    entry->table->sockets.erase(entry->key);
    entry->table->count--;
  }

  static gboolean on_incoming(GSocketService*, GSocketConnection* connection, GObject*, gpointer data) {
    auto* impl = static_cast<Impl*>(data);
    if (impl->connections->count >= impl->config.max_connections) {
      impl->counters.connections_refused++;
      g_io_stream_close(G_IO_STREAM(connection), nullptr, nullptr);
      return TRUE;
    }
    // No progress for this long on a connection (idle keep-alive, slow or stalled client): closed.
    GSocket* socket = g_socket_connection_get_socket(connection);
    g_socket_set_timeout(socket, impl->config.idle_timeout_s);
    GSocketAddress* local = g_socket_connection_get_local_address(connection, nullptr);
    GSocketAddress* remote = g_socket_connection_get_remote_address(connection, nullptr);
    auto entry = std::make_unique<ConnectionEntry>(ConnectionEntry{impl->connections, address_key(remote)});
    {
      std::lock_guard<std::mutex> lock(impl->connections->lock);
      impl->connections->sockets[entry->key] = socket;
      impl->connections->count++;
    }
    g_object_weak_ref(G_OBJECT(connection), on_connection_gone, entry.release());
    GError* error = nullptr;
    if (!soup_server_accept_iostream(impl->server, G_IO_STREAM(connection), local, remote, &error)) {
      GST_DEBUG("libsoup refused a connection: %s", error->message);
      g_error_free(error);
    }
    if (local) g_object_unref(local);
    if (remote) g_object_unref(remote);
    return TRUE;
  }

  void server_thread_main(std::string address, uint16_t port, std::promise<Result<uint16_t>> started) {
    server_thread_id = std::this_thread::get_id();
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
      const uint16_t bound = bound_port;
      started.set_value(bound);
      GST_INFO("serving %s on %s:%u", config.root_dir.c_str(), address.c_str(), bound);
      g_main_loop_run(loop);
      // Stopping: answer what is held, then close.
      while (!held.empty()) {
        HeldRequest* request = held.front().get();
        respond_error(request->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "server stopping");
        release(request);
      }
      // Let libsoup write the last responses before the listener goes.
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
};

HlsHttpServer::HlsHttpServer(HlsHttpServerConfig config) : impl_(std::make_unique<Impl>()) {
  static std::once_flag debug_once;
  std::call_once(debug_once, [] {
    GST_DEBUG_CATEGORY_INIT(live_http_server_debug, "livehttpserver", 0, "built-in HLS HTTP server");
  });
  impl_->target_duration_ms = config.target_duration_ms;
  impl_->config = std::move(config);
}

HlsHttpServer::~HlsHttpServer() { stop(); }

Result<uint16_t> HlsHttpServer::start(const std::string& address, uint16_t port) {
  if (impl_->is_running) return make_error(Errc::protocol_violation, "server already running");
  impl_->root_real = real_path(impl_->config.root_dir);
  if (impl_->root_real.empty()) return make_error(Errc::refused, "root directory does not exist: " + impl_->config.root_dir);
  impl_->context = g_main_context_new();
  impl_->loop = g_main_loop_new(impl_->context, FALSE);
  std::promise<Result<uint16_t>> started;
  auto result_future = started.get_future();
  impl_->thread = std::thread(&Impl::server_thread_main, impl_.get(), address, port, std::move(started));
  Result<uint16_t> result = result_future.get();
  if (!result.ok()) {
    impl_->thread.join();
    g_main_loop_unref(impl_->loop);
    g_main_context_unref(impl_->context);
    impl_->loop = nullptr;
    impl_->context = nullptr;
    return result;
  }
  impl_->is_running = true;
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->wake_context = impl_->context;
  }
  return result;
}

void HlsHttpServer::stop() {
  if (!impl_->is_running.exchange(false)) return;
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->wake_context = nullptr;  // notify_playlist() from other threads no longer wakes us
  }
  quit_loop_from_inside(impl_->context, impl_->loop);
  impl_->thread.join();
  g_main_loop_unref(impl_->loop);
  g_main_context_unref(impl_->context);
  impl_->loop = nullptr;
  impl_->context = nullptr;
  impl_->bound_port = 0;
}

bool HlsHttpServer::running() const { return impl_->is_running; }
uint16_t HlsHttpServer::port() const { return impl_->bound_port; }

void HlsHttpServer::notify_playlist(const std::string& relative_path, int64_t last_msn, int64_t last_part,
                                    int64_t last_segment_parts) {
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    PlaylistState& state = impl_->playlists[relative_path];
    state.last_msn = last_msn;
    state.last_part = last_part;
    state.last_segment_parts = last_part >= 0 ? -1 : last_segment_parts;
  }
  impl_->wake(relative_path);
}

void HlsHttpServer::forget_playlist(const std::string& relative_path) {
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->playlists.erase(relative_path);
  }
  impl_->wake(relative_path);
}

void HlsHttpServer::expect_file(const std::string& relative_path) {
  std::lock_guard<std::mutex> lock(impl_->state_lock);
  auto& expected = impl_->expected_files;
  if (std::find(expected.begin(), expected.end(), relative_path) != expected.end()) return;
  expected.push_back(relative_path);
  while (expected.size() > kMaxExpectedFiles) expected.pop_front();
}

void HlsHttpServer::set_target_duration_ms(int64_t target_duration_ms) {
  impl_->target_duration_ms = target_duration_ms;
}

void HlsHttpServer::set_part_target_ms(int64_t part_target_ms) { impl_->part_target_ms = part_target_ms; }

HlsHttpServerStats HlsHttpServer::stats() const {
  HlsHttpServerStats s;
  const auto& c = impl_->counters;
  s.requests = c.requests;
  s.responses_2xx = c.ok;
  s.responses_4xx = c.client_errors;
  s.responses_5xx = c.server_errors;
  s.bytes_sent = c.bytes;
  s.blocking_requests = c.blocking;
  s.blocking_timeouts = c.timeouts;
  s.blocking_refused = c.refused;
  s.blocking_held = c.held_now;
  s.connections = impl_->connections->count;
  s.connections_refused = c.connections_refused;
  return s;
}

}  // namespace live::http
