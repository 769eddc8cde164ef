// OutputStore: where hlsadaptivesink's files go. Every file is written to <name>.tmp and renamed
// into the output directory, then PUT to the upload location (when set); deletions are mirrored
// by DELETE; the built-in HTTP server (when set) serves the directory and is told about playlist
// updates (blocking reload), expected parts (preload hints) and ended playlists.
// In memory (in-memory=true) nothing is written to disk: each file goes to the HTTP server's
// store (http/memory_files.h) and to the uploader from memory.
//
// Not thread-safe: the element calls it with its state lock held. The server and uploader are
// stopped outside that lock (take_services), as the uploader's failure callback posts messages.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "http/hls_http_server.h"
#include "http/http_uploader.h"

namespace live::hlssink {

class OutputStore {
 public:
  struct Services {
    std::unique_ptr<http::HlsHttpServer> server;
    std::unique_ptr<http::HttpUploader> uploader;
    void stop();  // uploader first (it flushes what is queued), then the server
  };

  // A new output in `location` (created when missing), or in memory (location only names it).
  Result<void> open(const std::string& location, bool in_memory = false);
  // PUT every file under base_url; on_failure is called (on the uploader's thread) for a file
  // given up after the uploader's retries.
  Result<void> start_upload(const std::string& base_url, std::function<void(const http::UploadFailure&)> on_failure);
  // Serves the directory; returns the bound port.
  Result<uint16_t> start_http(http::HlsHttpServerConfig config, const std::string& address, uint16_t port,
                              int64_t part_target_ms);
  Services take_services();

  const std::string& location() const { return location_; }
  std::string path(const std::string& relative) const;
  uint16_t http_port() const { return server_ ? server_->port() : 0; }
  bool uploading() const { return uploader_ != nullptr; }
  http::HttpUploaderStats upload_stats() const;

  // A media file or key: written, then uploaded.
  Result<void> write_file(const std::string& relative, std::span<const uint8_t> bytes);
  // In memory without an upload target, an LL-HLS segment is kept as its parts (no copy):
  // the writer then need not build its bytes and calls write_joined() instead of write_file().
  bool segments_from_parts() const { return in_memory_ && server_ && !uploader_; }
  Result<void> write_joined(const std::string& relative, const std::vector<std::string>& parts, uint64_t size);
  // A playlist: written, then uploaded from memory (it is rewritten before an upload could read it).
  Result<void> write_playlist(const std::string& relative, std::string text);
  // The server holds blocking reloads until a playlist lists (last_msn, last_part).
  void notify_playlist(const std::string& relative, int64_t last_msn, int64_t last_part);
  void forget_playlist(const std::string& relative);
  void expect_file(const std::string& relative);
  // Deletes a file (and on the upload target).
  void remove(const std::string& relative);

  uint64_t bytes_written() const { return bytes_written_; }  // media files and keys
  uint64_t files_deleted() const { return files_deleted_; }

 private:
  Result<void> write_atomic(const std::string& relative, std::span<const uint8_t> bytes);
  Result<void> keep(const std::string& relative, std::span<const uint8_t> bytes);  // disk or memory

  std::string location_ = ".";
  bool in_memory_ = false;
  std::unique_ptr<http::HlsHttpServer> server_;
  std::unique_ptr<http::HttpUploader> uploader_;
  uint64_t bytes_written_ = 0;
  uint64_t files_deleted_ = 0;
  std::unordered_set<std::string> known_dirs_;  // folders made (or found) already: no stat per write
};

}  // namespace live::hlssink
