// FileCache: the bytes of recently served files, so HTTP worker threads answer GETs without
// opening, mapping or reading the file. An entry stays valid while the file at its path is the
// same file: same inode, size and modification time, checked with one stat() per request (the
// sink replaces files by atomic rename, which makes a new inode; a deleted file fails the stat).
// Bounded: kMaxCachedBytes of file bytes per cache (least recently used entries go first), and
// kMaxCachedBytesPerProcess for all caches together (over it a cache first drops its own
// entries, then serves the file without keeping it); files over kMaxCachedFileBytes are never
// cached. Bodies still being sent when their entry goes are freed after the send. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace live::http {

// Per HLS site: a few seconds of parts, segments and playlists of a handful of variants.
inline constexpr size_t kMaxCachedBytes = 32 * 1024 * 1024;
inline constexpr size_t kMaxCachedFileBytes = 4 * 1024 * 1024;
// A file modified less than this long ago is served but not kept: file timestamps are coarse
// (a few ms), so a newer version that reuses a freed inode with the same size could otherwise
// look like the cached one. A version kept is older than this, and any later one has a later
// timestamp.
inline constexpr int64_t kMinAgeToCacheNs = 20 * 1000 * 1000;
// All sites of the process (many streams): what the caches may hold together.
inline constexpr size_t kMaxCachedBytesPerProcess = 256 * 1024 * 1024;

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

// stat() of path (symlinks followed): false if missing or not a regular file.
bool regular_file_identity(const std::string& path, FileIdentity* out);

class FileCache {
 public:
  using Bytes = std::shared_ptr<const std::string>;
  explicit FileCache(size_t max_bytes = kMaxCachedBytes, size_t max_file_bytes = kMaxCachedFileBytes);
  ~FileCache();
  FileCache(const FileCache&) = delete;
  FileCache& operator=(const FileCache&) = delete;

  // The cached bytes of key if they are those of the file now identified by `now`, else null.
  Bytes find(const std::string& key, const FileIdentity& now);
  // Reads the regular file at path (already checked by the caller) and caches it under key
  // (not when the process-wide budget is spent). Null if it cannot be read or is over
  // max_file_bytes (then nothing is cached).
  Bytes load(const std::string& key, const std::string& path);
  void forget(const std::string& key);  // its file was deleted: the bytes go at once
  void clear();
  size_t bytes() const;  // cached now
  static size_t process_bytes();  // cached now by all caches

 private:
  struct Entry {
    std::string key;
    FileIdentity identity;
    Bytes bytes;
  };
  void evict_over(size_t limit);  // under lock_
  void drop_oldest();             // under lock_; lru_ not empty

  const size_t max_bytes_;
  const size_t max_file_bytes_;
  mutable std::mutex lock_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
  size_t bytes_ = 0;
};

}  // namespace live::http
