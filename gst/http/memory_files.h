// MemoryFiles: an HLS output kept in memory instead of a folder (hlsadaptivesink in-memory=true):
// the sink puts each part, segment, key and playlist here by its relative path, replacing the
// previous version, and removes what left the playlist; the HTTP site serves from it. No file is
// created, renamed or deleted: with LL-HLS that is about 15 files per rendition and second.
// Bounded: kMaxMemoryOutputBytes per output and kMaxMemoryOutputBytesPerProcess for all outputs
// together; a put over either is refused (the sink fails with an error, the other streams go on).
// Bodies being sent when their file is replaced or removed live until the send ends.
// An LL-HLS segment is the concatenation of its parts: put_joined() keeps it as references to
// the parts' bytes and joins them only when the segment is first asked for (players at the live
// edge fetch parts, so most segments are never joined). Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace live::http {

// A 2.5 Mbit/s rendition with the sink's defaults (6 segments listed, 10 kept after) holds
// about 10 MB; these are far above that and below what a hostile publisher could ask for.
inline constexpr size_t kMaxMemoryOutputBytes = 512ull << 20;
inline constexpr size_t kMaxMemoryOutputBytesPerProcess = 2048ull << 20;

class MemoryFiles {
 public:
  using Bytes = std::shared_ptr<const std::string>;
  explicit MemoryFiles(size_t max_bytes = kMaxMemoryOutputBytes) : max_bytes_(max_bytes) {}
  ~MemoryFiles();
  MemoryFiles(const MemoryFiles&) = delete;
  MemoryFiles& operator=(const MemoryFiles&) = delete;

  // Stores (or replaces) relative. Error when it would pass either bound.
  Result<void> put(const std::string& relative, Bytes bytes);
  // Stores relative as the stored files `pieces`, one after the other (they may be removed
  // later: their bytes stay with it). Counted as its full size. Error when a piece is missing.
  Result<void> put_joined(const std::string& relative, const std::vector<std::string>& pieces);
  Bytes get(const std::string& relative) const;  // null when absent
  bool contains(const std::string& relative) const;  // without joining
  void erase(const std::string& relative);
  void clear();
  size_t bytes() const;
  static size_t process_bytes();

 private:
  struct File {
    Bytes bytes;                // null while a joined file has not been asked for
    std::vector<Bytes> pieces;  // a joined file until then
    size_t size = 0;
  };
  Result<void> store(const std::string& relative, File file);  // under lock_
  static Bytes join(File& file);  // under lock_; keeps the result in file

  const size_t max_bytes_;
  mutable std::mutex lock_;
  mutable std::unordered_map<std::string, File> files_;
  size_t bytes_ = 0;
};

}  // namespace live::http
