// HlsHttpServer: the built-in HTTP server of hlsadaptivesink, a site on the process's shared
// HttpPort. Serves the files under one root directory (what the sink writes with atomic renames)
// under a URL prefix with HLS MIME types, CORS and cache headers, and implements LL-HLS blocking
// playlist reload (_HLS_msn / _HLS_part): such requests are held, without a thread each, until
// the sink reports with notify_playlist() that the playlist has the requested segment/part, or
// answered 503 after 3 x target duration. Several servers (sinks) share one port with different
// prefixes.
//
// Threading: the port runs its own GMainContext on its own thread, so it works whether or not
// the application runs a GMainLoop. Every public method is thread-safe and may be called from
// streaming threads; notify_playlist() only queues work for the server thread. The port's worker
// threads answer plain GETs of files from a bounded in-memory cache (FileCache) and hold
// blocking reloads for their connections (HttpSite::answer_plain); the rest is libsoup's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/hls_rules.h"  // kMaxBlockingAdvance*, hls_content_type(), hls_cache_control()
#include "http/http_port.h"

namespace live::http {

// Limits on what HTTP clients control (and kMaxBlockingAdvance* in hls_rules.h).
inline constexpr uint32_t kDefaultMaxHeldRequests = 1000;   // blocking reloads held at once
inline constexpr uint32_t kMaxExpectedFiles = 64;           // preload hints remembered

struct HlsHttpServerConfig {
  std::string root_dir;            // files served: only regular files under this directory
  // Serve what put_file() stored instead of root_dir (hlsadaptivesink in-memory=true); the
  // index file is still read from disk.
  bool in_memory = false;
  // URL path the files are served under: "" = "/", "/live/cam1" serves root_dir/master.m3u8 at
  // /live/cam1/master.m3u8. One server per prefix and port.
  std::string url_prefix;
  std::string index_file;          // served at prefix + "/" when non-empty (e.g. examples/web/player.html)
  uint32_t max_held_requests = kDefaultMaxHeldRequests;
  // Port settings: those of the port's first user apply (HttpPortConfig).
  uint32_t max_connections = kDefaultMaxConnections;
  uint32_t idle_timeout_s = kDefaultIdleTimeoutS;  // keep it above 3 x target duration
  // Held blocking reloads time out after 3 x target duration with 503 (LL-HLS spec). Update it
  // with set_target_duration_ms() when the sink knows its target duration.
  int64_t target_duration_ms = 6000;
  bool cors = true;                // Access-Control-Allow-Origin: * and OPTIONS preflight
};

struct HlsHttpServerStats {
  uint64_t requests = 0;           // every request seen
  uint64_t responses_2xx = 0;
  uint64_t responses_4xx = 0;
  uint64_t responses_5xx = 0;
  uint64_t bytes_sent = 0;         // response body bytes (full body; Range answers count the whole file)
  uint64_t blocking_requests = 0;  // requests that carried _HLS_msn
  uint64_t blocking_held = 0;      // currently held
  uint64_t blocking_timeouts = 0;  // answered 503 after 3 x target duration
  uint64_t blocking_refused = 0;   // over max_held_requests (503) or too far ahead (400)
  uint64_t connections = 0;        // open now on the port (shared with its other users)
  uint64_t connections_refused = 0;  // closed at accept: over max_connections (the port's)
};

class HlsHttpServer {
 public:
  explicit HlsHttpServer(HlsHttpServerConfig config);
  ~HlsHttpServer();  // stops the server
  HlsHttpServer(const HlsHttpServer&) = delete;
  HlsHttpServer& operator=(const HlsHttpServer&) = delete;

  // Serves root_dir under url_prefix on the shared HttpPort address:port ("0.0.0.0", "127.0.0.1",
  // "::"; port 0 = a private server on any free port), which it starts if it is the first user.
  // Returns the bound port. Error: cannot listen, or the prefix is already served on that port.
  Result<uint16_t> start(const std::string& address, uint16_t port);
  // Unregisters the site (held requests answered 503); the port's last user closes it. Idempotent.
  void stop();
  bool running() const;
  uint16_t port() const;  // bound port, 0 when not running

  // Called by the sink after it has (atomically) written the media playlist at relative_path
  // (relative to root_dir, e.g. "720p/index.m3u8"). last_msn is the media sequence number of
  // the newest segment that has anything in the playlist; last_part is the index of the newest
  // part of that segment listed in the playlist, or -1 if segment last_msn is complete and no
  // part of segment last_msn + 1 is listed yet. last_segment_parts (only with last_part == -1):
  // how many parts the complete segment last_msn has (-1 unknown/none), so a request for a part
  // index past its end waits for part 0 of the next segment, as the spec says. Held requests
  // that are now satisfied are answered with the new file. The rule (hls_rules::is_available,
  // RFC 8216bis 6.2.5.2), for a request (M, P), P = -1 without _HLS_part:
  //   ready when M < last_msn; or M == last_msn and
  //     last_part >= 0: P >= 0 and P <= last_part
  //     last_part == -1: P == -1, or last_segment_parts unknown, or P < last_segment_parts
  //   400 when M > last complete msn + 2, or (M == last_msn) P > last_part + Advance Part Limit
  //   otherwise held, 503 after 3 x target duration.
  void notify_playlist(const std::string& relative_path, int64_t last_msn, int64_t last_part,
                       int64_t last_segment_parts = -1);
  // The sink stopped (EOS) or removed a playlist: held requests for it are answered at once with
  // the current file, and later requests are no longer held.
  void forget_playlist(const std::string& relative_path);

  // in_memory: stores (or replaces) relative_path; served from now on. Error over the bounds of
  // MemoryFiles (memory_files.h).
  Result<void> put_file(const std::string& relative_path, std::shared_ptr<const std::string> bytes);
  // in_memory: relative_path is the stored files `parts` one after the other (an LL-HLS segment),
  // joined when first asked for.
  Result<void> put_joined_file(const std::string& relative_path, const std::vector<std::string>& parts);

  // The sink deleted relative_path: its cached (or, in_memory, stored) bytes are dropped now. (A deleted segment is never
  // asked for again, so the cache would otherwise keep it until newer files pushed it out: a
  // full 32 MiB of dead segments per stream in the soak run.)
  void forget_file(const std::string& relative_path);

  // LL-HLS EXT-X-PRELOAD-HINT: relative_path will be written soon. A GET for it before it exists
  // is held (not 404) until a later notify_playlist() finds the file, or 404 after 3 x target
  // duration. The newest kMaxExpectedFiles paths are remembered.
  void expect_file(const std::string& relative_path);

  void set_target_duration_ms(int64_t target_duration_ms);
  // PART-TARGET of LL-HLS playlists, for the Advance Part Limit (3 / PART-TARGET below 1 s).
  void set_part_target_ms(int64_t part_target_ms);

  HlsHttpServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace live::http
