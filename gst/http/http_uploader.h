// HttpUploader: publishes HLS output to an HTTP origin or CDN ingest by PUT and DELETE
// (e.g. nginx with dav_methods PUT DELETE). Runs on its own thread and GMainContext with a
// bounded queue; retries with exponential backoff; a failure is reported through the failure
// callback (the sink posts a warning message), never silently dropped.
//
// Ordering: segments and deletions run concurrently (up to max_in_flight), but a playlist is a
// barrier: it starts only after every item queued before it has finished (succeeded or failed
// for good, and reported), and items queued after it wait until it has finished. So a playlist
// is PUT after the segments it references, and deletions queued after a playlist (of segments
// it no longer lists) happen after it. A newer PUT of a playlist that is still waiting in the
// queue replaces the waiting one.
//
// All public methods are thread-safe. The failure callback runs on the uploader thread, except
// for refusals (queue full, unreadable file: inside put_*/remove) and for items left at stop()
// (inside stop()): so it must not take a lock the caller of those methods may hold.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::http {

inline constexpr uint32_t kDefaultUploadQueueLimit = 512;     // items waiting or in flight
inline constexpr uint64_t kDefaultUploadQueueBytes = 256ull << 20;  // bytes waiting or in flight
inline constexpr uint32_t kDefaultUploadAttempts = 5;
inline constexpr uint32_t kDefaultUploadInFlight = 4;
inline constexpr uint32_t kDefaultUploadTimeoutS = 20;        // per request
inline constexpr uint32_t kDefaultUploadBackoffMs = 250;      // doubles per retry, max 8 s
inline constexpr uint32_t kDefaultUploadRetryWindowMs = 60000;  // an origin down this long loses files

enum class UploadKind { segment, playlist, remove };

struct HttpUploaderConfig {
  std::string base_url;  // e.g. "http://origin.example/live/"; relative paths are appended
  uint32_t max_queue = kDefaultUploadQueueLimit;
  uint64_t max_queue_bytes = kDefaultUploadQueueBytes;
  uint32_t max_attempts = kDefaultUploadAttempts;
  uint32_t max_in_flight = kDefaultUploadInFlight;
  uint32_t timeout_s = kDefaultUploadTimeoutS;
  uint32_t initial_backoff_ms = kDefaultUploadBackoffMs;
  // A transient failure (no answer, 5xx, 408, 429) is retried beyond max_attempts for this long
  // after the item's first attempt: an origin that restarts or answers 500 for a while gets
  // every file once it is back. Other answers (403, 404...) give up after max_attempts.
  uint32_t retry_window_ms = kDefaultUploadRetryWindowMs;
};

struct UploadFailure {
  UploadKind kind;
  std::string relative_path;
  std::string url;
  uint32_t attempts = 0;     // attempts made (0 when refused before trying)
  unsigned http_status = 0;  // last HTTP status, 0 for a transport error or a refusal
  std::string reason;        // last error text ("queue full", "connection refused", "HTTP 403 ...")
};

struct HttpUploaderStats {
  uint64_t queued = 0;        // waiting + in flight now
  uint64_t in_flight = 0;
  uint64_t queued_bytes = 0;
  uint64_t puts_ok = 0;
  uint64_t deletes_ok = 0;
  uint64_t failures = 0;      // items given up (each reported through the callback)
  uint64_t retries = 0;       // attempts after the first
  uint64_t bytes_uploaded = 0;
  uint64_t coalesced = 0;     // waiting playlist PUTs replaced by a newer one
};

class HttpUploader {
 public:
  using FailureCallback = std::function<void(const UploadFailure&)>;

  HttpUploader(HttpUploaderConfig config, FailureCallback on_failure);
  ~HttpUploader();  // stop(false)
  HttpUploader(const HttpUploader&) = delete;
  HttpUploader& operator=(const HttpUploader&) = delete;

  Result<void> start();  // starts the thread; fails for a base_url that is not http(s)
  // flush = true: waits until the queue is empty (up to timeout_ms), then stops.
  // Anything still queued is reported as failed ("stopped").
  void stop(bool flush = false, uint32_t flush_timeout_ms = 10000);

  // Queue a PUT of the bytes of local_path (read now, so the caller may delete or replace the
  // file at once). Returns false (and reports a failure) when the queue is full or the file
  // cannot be read.
  bool put_file(const std::string& relative_path, const std::string& local_path, UploadKind kind);
  bool put_bytes(const std::string& relative_path, std::vector<uint8_t> bytes, UploadKind kind);
  bool remove(const std::string& relative_path);  // DELETE; 404 counts as success

  // Blocks until every item queued so far has finished, or timeout. True when drained.
  bool wait_idle(uint32_t timeout_ms);

  HttpUploaderStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

const char* upload_kind_name(UploadKind kind);

}  // namespace live::http
