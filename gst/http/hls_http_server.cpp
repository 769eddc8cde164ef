// HlsHttpServer: see the header. Everything that touches libsoup runs on the port's server
// thread (the HttpSite callbacks and tasks posted to the port); other threads only update
// PlaylistState under state_lock and post a wake-up. Lock order: state_lock -> the port's task
// queue (post); state_lock is never held while calling into libsoup.
#include "http/hls_http_server.h"
#include "http/file_cache.h"
#include "http/memory_files.h"
#include "http/hls_rules.h"
#include "http/plain_response.h"

#include <gst/gst.h>
#include <libsoup/soup.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include <atomic>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <algorithm>
#include <deque>
#include <list>
#include <memory>
#include <map>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(live_http_server_debug);
#define GST_CAT_DEFAULT live_http_server_debug

namespace live::http {

using namespace hls_rules;

struct HlsHttpServer::Impl : HttpSite {
  struct HeldRequest {
    SoupServerMessage* msg = nullptr;  // a reference we own; null for a worker's request
    std::shared_ptr<PlainReply> reply;  // a request held for a worker thread (answer_plain)
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
  std::string prefix;     // normalized url_prefix: "" or "/live/a"

  // Set by start() before the site is added, cleared by stop() after it is removed.
  std::shared_ptr<HttpPort> port;  // under state_lock
  GMainContext* context = nullptr;  // the port's: held requests' sources
  bool cors = true;                 // the port's setting

  // Server thread only.
  std::list<std::unique_ptr<HeldRequest>> held;

  // Files answered by the port's worker threads (answer_plain), by relative path.
  FileCache cache;
  // config.in_memory: every file served (but the index page), put there by the sink.
  MemoryFiles memory;

  // For callbacks from worker threads that may come while stop() runs: impl is cleared, under
  // the link's lock, before the site is removed.
  struct Link {
    std::mutex lock;
    Impl* impl = nullptr;
  };
  std::shared_ptr<Link> gone_link = std::make_shared<Link>();

  std::atomic<bool> is_running{false};
  std::atomic<uint16_t> bound_port{0};
  std::atomic<int64_t> target_duration_ms{6000};
  std::atomic<int64_t> part_target_ms{0};

  mutable std::mutex state_lock;
  std::map<std::string, PlaylistState> playlists;  // under state_lock
  std::deque<std::string> expected_files;          // under state_lock; newest last
  HttpPort* wake_port = nullptr;                   // under state_lock; set while the site is registered

  bool is_expected(const std::string& relative) {
    std::lock_guard<std::mutex> lock(state_lock);
    return std::find(expected_files.begin(), expected_files.end(), relative) != expected_files.end();
  }

  struct Counters {
    std::atomic<uint64_t> requests{0}, ok{0}, client_errors{0}, server_errors{0}, bytes{0},
        blocking{0}, timeouts{0}, refused{0}, held_now{0};
  } counters;

  // ---- responses ----

  void add_common_headers(SoupServerMessage* msg) {
    if (cors) add_cors_headers(msg);
  }

  void count_status(unsigned status) {
    if (status >= 500) counters.server_errors++;
    else if (status >= 400) counters.client_errors++;
    else if (status >= 200 && status < 300) counters.ok++;
  }

  void set_status(SoupServerMessage* msg, unsigned status) {
    soup_server_message_set_status(msg, status, nullptr);
    count_status(status);
  }

  void respond_error(SoupServerMessage* msg, unsigned status, const char* text) {
    respond_text(msg, status, text, cors);
    count_status(status);
  }

  // Answers with the current bytes of a served file (file_path from file_for()).
  bool respond_stored(SoupServerMessage* msg, const std::string& relative, const std::string& file_path,
                      const char* cache_control) {
    if (!config.in_memory) return respond_file(msg, file_path, relative, cache_control);
    MemoryFiles::Bytes stored = memory.get(relative);
    if (!stored) {
      respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
      return false;
    }
    // The GBytes keeps the stored version alive while libsoup sends it, even if it is replaced.
    auto* holder = new MemoryFiles::Bytes(std::move(stored));
    GBytes* bytes = g_bytes_new_with_free_func((*holder)->data(), (*holder)->size(),
                                               [](gpointer h) { delete static_cast<MemoryFiles::Bytes*>(h); }, holder);
    respond_bytes(msg, bytes, relative, cache_control);
    return true;
  }

  // Answers with the file's current bytes on disk. False (and a 404) when it vanished meanwhile.
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
    respond_bytes(msg, bytes, name_for_type, cache_control);
    return true;
  }

  // Takes `bytes`.
  void respond_bytes(SoupServerMessage* msg, GBytes* bytes, const std::string& name_for_type, const char* cache_control) {
    add_common_headers(msg);
    SoupMessageHeaders* headers = soup_server_message_get_response_headers(msg);
    soup_message_headers_set_content_type(headers, hls_content_type(name_for_type), nullptr);
    soup_message_headers_replace(headers, "Cache-Control", cache_control);
    soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
    counters.bytes += g_bytes_get_size(bytes);
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
    g_bytes_unref(bytes);
    set_status(msg, SOUP_STATUS_OK);
  }

  // The regular file under root for a normalized relative path, or "" (missing, a directory,
  // or a symlink that leads out of root). in_memory: relative itself when it is stored.
  std::string file_for(const std::string& relative) const {
    if (relative.empty()) return {};
    if (config.in_memory) return memory.contains(relative) ? relative : std::string();
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
      impl->answer_held_error(request, SOUP_STATUS_NOT_FOUND, "preload-hinted file not written in 3 x target duration");
    else
      impl->answer_held_error(request, SOUP_STATUS_SERVICE_UNAVAILABLE, "playlist not updated in 3 x target duration");
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
    if (msg == nullptr) return;  // a worker's: its answer went with send()
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  }

  // The answer of a held request, on libsoup's path or a worker's.
  void answer_held_error(HeldRequest* request, unsigned status, const char* text) {
    if (request->msg != nullptr) {
      respond_error(request->msg, status, text);
    } else {
      count_status(status);
      request->reply->send(plain_text_response(status, text, cors));
    }
  }
  void answer_held_file(HeldRequest* request, const std::string& file_path, const char* cache_control) {
    if (request->msg != nullptr) {
      respond_stored(request->msg, request->relative_path, file_path, cache_control);
      return;
    }
    FileCache::Bytes bytes = current_bytes(request->relative_path, file_path);
    if (!bytes) {
      answer_held_error(request, SOUP_STATUS_NOT_FOUND, "not found");
      return;
    }
    count_file(bytes->size());
    request->reply->send(plain_file_response(std::move(bytes), request->relative_path, cache_control, cors));
  }

  // The bytes of the file now at file_path (resolved, under the root): cached, or read.
  FileCache::Bytes current_bytes(const std::string& relative, const std::string& file_path) {
    if (config.in_memory) return memory.get(relative);
    FileIdentity now;
    if (!regular_file_identity(file_path, &now)) return nullptr;
    if (FileCache::Bytes bytes = cache.find(relative, now)) return bytes;
    if (FileCache::Bytes bytes = cache.load(relative, file_path)) return bytes;
    return read_file_bytes(file_path);  // over kMaxCachedFileBytes
  }

  void count_file(size_t size) {
    counters.ok++;
    counters.bytes += size;
  }

  // Runs on the server thread after notify_playlist / forget_playlist.
  void answer_ready(const std::string& relative_path) {
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
      answer_held_file(request, request->file_path, "max-age=1");
      release(request);
    }
    for (auto& [request, file] : written) {
      answer_held_file(request, file, hls_cache_control(request->relative_path));
      release(request);
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
      respond_stored(msg, relative, file_path, "max-age=1");
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

  // From any thread: re-check the held requests for relative_path on the server thread. The
  // port runs posted work in order, so stop()'s remove_site() comes after every wake-up posted
  // before it, while this site still exists. Nothing is posted while no request is held (the
  // common case: players that do not block, or none at all), which spares the server thread a
  // wakeup per playlist update. A request that joins `held` runs answer_ready() right after:
  // wake() reads held_now after the sink's update, so either it posts or that sees the update.
  void wake(const std::string& relative_path) {
    if (counters.held_now.load() == 0) return;
    std::lock_guard<std::mutex> lock(state_lock);  // stop() clears wake_port under it
    if (wake_port == nullptr) return;
    wake_port->post([this, relative_path] { answer_ready(relative_path); });
  }

  // Pauses msg until answer_ready() finds it satisfied, or the timeout. file_path empty: a
  // preload-hinted file that does not exist yet. Returns false (after a 503) over the limit.
  bool hold(SoupServerMessage* msg, const std::string& relative, const std::string& file_path, int64_t msn,
            int64_t part) {
    if (held_is_full()) {
      counters.refused++;
      respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many blocking requests");
      return false;
    }
    auto request = new_held(relative, file_path, msn, part);
    arm_timeout(request.get());
    request->msg = SOUP_SERVER_MESSAGE(g_object_ref(msg));
    // libsoup does not read a paused connection, so watch it ourselves: EOF means the client left.
    GSocket* socket = port_on_server_thread()->socket_of(msg);
    if (socket != nullptr) {
      request->watch = g_socket_create_source(socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
      g_source_set_callback(request->watch, G_SOURCE_FUNC(on_held_socket_event), request.get(), nullptr);
      g_source_attach(request->watch, context);
    }
    soup_server_message_pause(msg);
    counters.held_now++;
    held.push_back(std::move(request));
    answer_ready(relative);  // see wake(): an update may have come since the check above
    return true;
  }

  // Over max_held_requests? Worker requests whose client left are forgotten first (the worker
  // watches their sockets; libsoup's are forgotten by their own watch).
  bool held_is_full() {
    if (held.size() < config.max_held_requests) return false;
    std::vector<HeldRequest*> gone;
    for (auto& request : held)
      if (request->reply && request->reply->client_gone()) gone.push_back(request.get());
    for (HeldRequest* request : gone) release(request);
    return held.size() >= config.max_held_requests;
  }

  // A held request; no timeout yet (arm_timeout).
  std::unique_ptr<HeldRequest> new_held(const std::string& relative, const std::string& file_path, int64_t msn,
                                        int64_t part) {
    auto request = std::make_unique<HeldRequest>();
    request->relative_path = relative;
    request->file_path = file_path;
    request->msn = msn;
    request->part = part;
    request->preload = file_path.empty();
    request->impl = this;
    return request;
  }

  // 404 or 503 after 3 x target duration, on the server thread's context.
  void arm_timeout(HeldRequest* request) {
    const int64_t timeout_ms = std::max<int64_t>(3 * target_duration_ms.load(), 100);
    request->timeout = g_timeout_source_new(static_cast<guint>(std::min<int64_t>(timeout_ms, INT_MAX)));
    g_source_set_callback(request->timeout, on_held_timeout, request, nullptr);
    g_source_attach(request->timeout, context);
  }

  // Server thread: a worker's request that answer_plain() found not ready. Checked again here:
  // a notify_playlist() may have come in between (its answer_ready() ran before this task).
  void hold_for_worker(std::shared_ptr<PlainReply> reply, const std::string& relative, const std::string& file_path,
                       int64_t msn, int64_t part) {
    auto request = new_held(relative, file_path, msn, part);
    request->reply = std::move(reply);
    if (request->preload) {
      const std::string file = file_for(relative);
      if (!file.empty()) return answer_held_file(request.get(), file, hls_cache_control(relative));
    } else {
      bool ready;
      {
        std::lock_guard<std::mutex> lock(state_lock);
        auto it = playlists.find(relative);
        ready = it == playlists.end() || is_available(it->second, msn, part);
      }
      if (ready) return answer_held_file(request.get(), file_path, "max-age=1");
    }
    if (held_is_full()) {
      counters.refused++;
      return answer_held_error(request.get(), SOUP_STATUS_SERVICE_UNAVAILABLE, "too many blocking requests");
    }
    arm_timeout(request.get());
    counters.held_now++;
    PlainReply* reply_ptr = request->reply.get();
    std::weak_ptr<PlainReply> weak = request->reply;
    held.push_back(std::move(request));
    // The worker saw the client leave: forget the request on this thread, if still held.
    reply_ptr->on_client_gone([link = gone_link, weak] {
      std::lock_guard<std::mutex> link_lock(link->lock);  // stop() waits for us
      if (link->impl == nullptr) return;
      std::lock_guard<std::mutex> lock(link->impl->state_lock);
      if (link->impl->wake_port == nullptr) return;
      Impl* impl = link->impl;
      link->impl->wake_port->post([impl, weak] { impl->forget_held_reply(weak); });
    });
    answer_ready(relative);  // see wake(): an update may have come since the check above
  }

  void forget_held_reply(const std::weak_ptr<PlainReply>& weak) {
    std::shared_ptr<PlainReply> reply = weak.lock();
    if (!reply) return;  // answered and released already
    for (auto& request : held) {
      if (request->reply == reply) {
        GST_DEBUG("client of held request for %s went away", request->relative_path.c_str());
        release(request.get());
        return;
      }
    }
  }

  // While the site is registered `port` does not change (start() sets it before add_site(),
  // stop() clears it after remove_site()), so the server thread may read it without the lock.
  HttpPort* port_on_server_thread() { return port.get(); }

  // ---- HttpSite (server thread) ----

  void handle_request(SoupServerMessage* msg, const std::string& path, GHashTable* query) override {
    counters.requests++;
    const char* method = soup_server_message_get_method(msg);
    GST_LOG("%s %s%s", method, prefix.c_str(), path.c_str());
    if (method == SOUP_METHOD_OPTIONS) {
      respond_preflight(msg, cors);
      count_status(SOUP_STATUS_NO_CONTENT);
      return;
    }
    if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
      // 405 only for what exists: e.g. a WHEP POST to /live/NAME/whep of a stream served
      // without WebRTC is told there is no such resource.
      const bool exists = path.empty() || path == "/" ? !config.index_file.empty()
                                                      : !file_for(normalize_path(path)).empty();
      if (!exists) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
      }
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD, OPTIONS");
      respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
      return;
    }
    if (path.empty() || path == "/") {
      if (config.index_file.empty()) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "not found");
        return;
      }
      if (path.empty()) {
        // "/live/a" -> "/live/a/", so relative links of the page resolve under the prefix.
        soup_server_message_set_redirect(msg, SOUP_STATUS_MOVED_PERMANENTLY, (prefix + "/").c_str());
        count_status(SOUP_STATUS_MOVED_PERMANENTLY);
        return;
      }
      respond_file(msg, config.index_file, config.index_file, "no-cache");
      return;
    }
    const std::string relative = normalize_path(path);
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
    respond_stored(msg, relative, file_path, hls_cache_control(relative));
  }

  // Worker threads: what handle_request would answer, without libsoup: GET/HEAD of an existing
  // file from memory, LL-HLS blocking reloads (held through request.hold()) and preload-hinted
  // files not written yet. The rest goes to handle_request: the index page, 404s, OPTIONS...
  bool answer_plain(const PlainRequest& request, PlainResponse* response) override {
    if (request.path.empty() || request.path == "/") return false;
    const std::string relative = normalize_path(request.path);
    if (relative.empty()) return false;
    FileIdentity now;
    FileCache::Bytes bytes = config.in_memory ? memory.get(relative) : nullptr;
    if (config.in_memory ? !bytes : !regular_file_identity(config.root_dir + "/" + relative, &now)) {
      if (request.head || !request.hold || !is_expected(relative)) return false;
      counters.requests++;
      post_hold(request.hold(), relative, {}, -1, -1);  // answered when the sink has written it
      return true;
    }
    if (!request.head && ends_with(relative, ".m3u8") && request.query.find("_HLS_") != std::string_view::npos)
      return answer_blocking(request, relative, response);
    if (!bytes) bytes = cache.find(relative, now);
    if (!bytes) {
      const std::string file = file_for(relative);  // under the root, symlinks resolved
      if (file.empty() || !(bytes = cache.load(relative, file))) return false;
    }
    GST_LOG("%s %s%s (worker)", request.head ? "HEAD" : "GET", prefix.c_str(), relative.c_str());
    counters.requests++;
    count_file(bytes->size());
    *response = plain_file_response(std::move(bytes), relative, hls_cache_control(relative), cors);
    return true;
  }

  // handle_blocking() for a worker's GET of an existing playlist.
  bool answer_blocking(const PlainRequest& request, const std::string& relative, PlainResponse* response) {
    const std::string file_path = file_for(relative);
    if (file_path.empty() || !request.hold) return false;
    counters.requests++;
    std::string msn_text, part_text;
    const bool has_msn = query_value(request.query, "_HLS_msn", &msn_text);
    const bool has_part = query_value(request.query, "_HLS_part", &part_text);
    const char* cache_control = "max-age=1";
    int64_t msn = 0;
    int64_t part = -1;
    if (has_msn || has_part) {
      counters.blocking++;
      if (!has_msn || !parse_index(msn_text.c_str(), &msn) || (has_part && !parse_index(part_text.c_str(), &part))) {
        *response = plain_error(SOUP_STATUS_BAD_REQUEST, "bad _HLS_msn/_HLS_part");
        return true;
      }
      bool known = false;
      PlaylistState state;
      {
        std::lock_guard<std::mutex> lock(state_lock);
        auto it = playlists.find(relative);
        if ((known = it != playlists.end())) state = it->second;
      }
      if (!known) {
        cache_control = hls_cache_control(relative);  // not a live LL-HLS playlist: as is
      } else if (!is_available(state, msn, part)) {
        if (is_too_far_ahead(state, msn, part, part_target_ms.load())) {
          counters.refused++;
          *response = plain_error(SOUP_STATUS_BAD_REQUEST, "_HLS_msn/_HLS_part too far ahead of the playlist");
          return true;
        }
        post_hold(request.hold(), relative, file_path, msn, part);
        return true;
      }
    } else {
      cache_control = hls_cache_control(relative);  // _HLS_skip alone: as is
    }
    FileCache::Bytes bytes = current_bytes(relative, file_path);
    if (!bytes) {
      *response = plain_error(SOUP_STATUS_NOT_FOUND, "not found");
      return true;
    }
    count_file(bytes->size());
    *response = plain_file_response(std::move(bytes), relative, cache_control, cors);
    return true;
  }

  PlainResponse plain_error(unsigned status, const char* text) {
    count_status(status);
    return plain_text_response(status, text, cors);
  }

  // Worker threads: hold_for_worker() on the server thread, or 503 when the site is stopping.
  // Posted under state_lock, so before stop()'s remove_site() (see wake()).
  void post_hold(std::shared_ptr<PlainReply> reply, std::string relative, std::string file_path, int64_t msn,
                 int64_t part) {
    std::lock_guard<std::mutex> lock(state_lock);
    if (wake_port == nullptr) {
      reply->send(plain_error(SOUP_STATUS_SERVICE_UNAVAILABLE, "server stopping"));
      return;
    }
    wake_port->post([this, reply = std::move(reply), relative = std::move(relative),
                     file_path = std::move(file_path), msn, part]() mutable {
      hold_for_worker(std::move(reply), relative, file_path, msn, part);
    });
  }

  void request_aborted(SoupServerMessage* msg) override {
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

  void site_removed() override {
    while (!held.empty()) {
      HeldRequest* request = held.front().get();
      answer_held_error(request, SOUP_STATUS_SERVICE_UNAVAILABLE, "server stopping");
      release(request);
    }
    cache.clear();
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
  if (!impl_->config.in_memory) {
    impl_->root_real = real_path(impl_->config.root_dir);
    if (impl_->root_real.empty()) return make_error(Errc::refused, "root directory does not exist: " + impl_->config.root_dir);
  }
  auto prefix = HttpPort::normalize_prefix(impl_->config.url_prefix);
  if (!prefix) return prefix.error();
  HttpPortConfig port_config;
  port_config.max_connections = impl_->config.max_connections;
  port_config.idle_timeout_s = impl_->config.idle_timeout_s;
  port_config.cors = impl_->config.cors;
  auto acquired = HttpPort::acquire(address, port, port_config);
  if (!acquired) return acquired.error();
  std::shared_ptr<HttpPort> shared = std::move(*acquired);
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->port = shared;
  }
  impl_->prefix = *prefix;
  impl_->context = shared->context();
  impl_->cors = shared->config().cors;
  if (auto added = shared->add_site(impl_->prefix, impl_.get()); !added) {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->port.reset();
    return added.error();
  }
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->wake_port = shared.get();
  }
  {
    std::lock_guard<std::mutex> lock(impl_->gone_link->lock);
    impl_->gone_link->impl = impl_.get();
  }
  impl_->bound_port = shared->port();
  impl_->is_running = true;
  GST_INFO("serving %s at %s/ on %s:%u", impl_->config.root_dir.c_str(), impl_->prefix.c_str(), address.c_str(),
           shared->port());
  return shared->port();
}

void HlsHttpServer::stop() {
  if (!impl_->is_running.exchange(false)) return;
  {
    std::lock_guard<std::mutex> lock(impl_->gone_link->lock);
    impl_->gone_link->impl = nullptr;
  }
  std::shared_ptr<HttpPort> shared;
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->wake_port = nullptr;  // notify_playlist() from other threads no longer posts
    shared = impl_->port;
  }
  shared->remove_site(impl_.get());
  {
    std::lock_guard<std::mutex> lock(impl_->state_lock);
    impl_->port.reset();
  }
  impl_->bound_port = 0;
  shared.reset();  // the port's last user closes it
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

Result<void> HlsHttpServer::put_file(const std::string& relative_path, std::shared_ptr<const std::string> bytes) {
  return impl_->memory.put(relative_path, std::move(bytes));
}

Result<void> HlsHttpServer::put_joined_file(const std::string& relative_path, const std::vector<std::string>& parts) {
  return impl_->memory.put_joined(relative_path, parts);
}

void HlsHttpServer::forget_file(const std::string& relative_path) {
  impl_->cache.forget(relative_path);
  impl_->memory.erase(relative_path);
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
  std::lock_guard<std::mutex> lock(impl_->state_lock);
  if (impl_->port) {
    const HttpPortStats port_stats = impl_->port->stats();
    s.connections = port_stats.connections;
    s.connections_refused = port_stats.connections_refused;
  }
  return s;
}

}  // namespace live::http
