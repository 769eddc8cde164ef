// FileCache: see the header.
#include "http/file_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace live::http {

namespace {

FileIdentity identity_of(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

std::atomic<size_t> g_process_bytes{0};

}  // namespace

bool regular_file_identity(const std::string& path, FileIdentity* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *out = identity_of(st);
  return true;
}

FileCache::FileCache(size_t max_bytes, size_t max_file_bytes)
    : max_bytes_(max_bytes), max_file_bytes_(max_file_bytes) {}

FileCache::~FileCache() { clear(); }

size_t FileCache::process_bytes() { return g_process_bytes; }

FileCache::Bytes FileCache::find(const std::string& key, const FileIdentity& now) {
  std::lock_guard<std::mutex> lock(lock_);
  auto it = by_key_.find(key);
  if (it == by_key_.end() || !(it->second->identity == now)) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->bytes;
}

FileCache::Bytes FileCache::load(const std::string& key, const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || size_t(st.st_size) > max_file_bytes_) {
    close(fd);
    return nullptr;
  }
  auto content = std::make_shared<std::string>(size_t(st.st_size), '\0');
  size_t have = 0;
  while (have < content->size()) {
    const ssize_t n = read(fd, content->data() + have, content->size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += size_t(n);
  }
  close(fd);
  if (have != content->size()) return nullptr;  // shorter than its stat: not a file we serve as is
  Bytes bytes = std::move(content);
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t age_ns = (int64_t(now.tv_sec) * 1000000000 + now.tv_nsec) - identity_of(st).mtime_ns;
  if (age_ns < kMinAgeToCacheNs) return bytes;  // too fresh to be told apart reliably: not kept
  std::lock_guard<std::mutex> lock(lock_);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    bytes_ -= it->second->bytes->size();
    g_process_bytes -= it->second->bytes->size();
    lru_.erase(it->second);
    by_key_.erase(it);
  }
  const size_t size = bytes->size();
  evict_over(max_bytes_ - std::min(max_bytes_, size));
  // The process-wide budget: make room from our own entries, else serve without keeping.
  while (g_process_bytes + size > kMaxCachedBytesPerProcess && !lru_.empty()) drop_oldest();
  if (g_process_bytes + size > kMaxCachedBytesPerProcess) return bytes;
  lru_.push_front(Entry{key, identity_of(st), bytes});
  by_key_[key] = lru_.begin();
  bytes_ += size;
  g_process_bytes += size;
  return bytes;
}

void FileCache::evict_over(size_t limit) {
  while (bytes_ > limit && !lru_.empty()) drop_oldest();
}

void FileCache::drop_oldest() {
  bytes_ -= lru_.back().bytes->size();
  g_process_bytes -= lru_.back().bytes->size();
  by_key_.erase(lru_.back().key);
  lru_.pop_back();
}

void FileCache::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(lock_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  bytes_ -= it->second->bytes->size();
  g_process_bytes -= it->second->bytes->size();
  lru_.erase(it->second);
  by_key_.erase(it);
}

void FileCache::clear() {
  std::lock_guard<std::mutex> lock(lock_);
  while (!lru_.empty()) drop_oldest();
}

size_t FileCache::bytes() const {
  std::lock_guard<std::mutex> lock(lock_);
  return bytes_;
}

}  // namespace live::http
