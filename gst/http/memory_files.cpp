// MemoryFiles: see the header.
#include "http/memory_files.h"

#include <atomic>

namespace live::http {

namespace {
std::atomic<size_t> g_process_bytes{0};

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
}  // namespace

MemoryFiles::~MemoryFiles() { clear(); }

size_t MemoryFiles::process_bytes() { return g_process_bytes; }

Result<void> MemoryFiles::put(const std::string& relative, Bytes bytes) {
  if (!bytes) return make_error(Errc::malformed, relative + ": no bytes");
  std::lock_guard<std::mutex> lock(lock_);
  const size_t size = bytes->size();
  return store(relative, File{std::move(bytes), {}, size});
}

Result<void> MemoryFiles::put_joined(const std::string& relative, const std::vector<std::string>& pieces) {
  std::lock_guard<std::mutex> lock(lock_);
  File file;
  for (const std::string& name : pieces) {
    auto it = files_.find(name);
    if (it == files_.end()) return make_error(Errc::protocol_violation, relative + ": part " + name + " is not kept");
    file.pieces.push_back(it->second.bytes ? it->second.bytes : join(it->second));
    file.size += file.pieces.back()->size();
  }
  return store(relative, std::move(file));
}

Result<void> MemoryFiles::store(const std::string& relative, File file) {
  auto it = files_.find(relative);
  const size_t old_size = it == files_.end() ? 0 : it->second.size;
  const size_t new_size = file.size;
  if (new_size > old_size) {
    const size_t grow = new_size - old_size;
    if (bytes_ + grow > max_bytes_)
      return make_error(Errc::limit_exceeded, "in-memory output over " + mib(max_bytes_) + " (keeping " + relative +
                                                  "): fewer segments kept (playlist-length, max-files) would fit");
    // Reserve first, so two outputs cannot pass the process bound together.
    size_t before = g_process_bytes.fetch_add(grow);
    if (before + grow > kMaxMemoryOutputBytesPerProcess) {
      g_process_bytes.fetch_sub(grow);
      return make_error(Errc::limit_exceeded, "in-memory outputs of the process over " +
                                                  mib(kMaxMemoryOutputBytesPerProcess) + " (keeping " + relative + ")");
    }
    bytes_ += grow;
  } else {
    g_process_bytes.fetch_sub(old_size - new_size);
    bytes_ -= old_size - new_size;
  }
  if (it == files_.end()) files_.emplace(relative, std::move(file));
  else it->second = std::move(file);
  return {};
}

// Joined under the lock: a segment is joined once, by its first reader, and its parts' bytes are
// then released; later readers get the joined copy.
MemoryFiles::Bytes MemoryFiles::join(File& file) {
  auto joined = std::make_shared<std::string>();
  joined->reserve(file.size);
  for (const Bytes& piece : file.pieces) joined->append(*piece);
  file.bytes = joined;
  file.pieces = {};
  return joined;
}

MemoryFiles::Bytes MemoryFiles::get(const std::string& relative) const {
  std::lock_guard<std::mutex> lock(lock_);
  auto it = files_.find(relative);
  if (it == files_.end()) return nullptr;
  return it->second.bytes ? it->second.bytes : join(it->second);
}

bool MemoryFiles::contains(const std::string& relative) const {
  std::lock_guard<std::mutex> lock(lock_);
  return files_.count(relative) > 0;
}

void MemoryFiles::erase(const std::string& relative) {
  std::lock_guard<std::mutex> lock(lock_);
  auto it = files_.find(relative);
  if (it == files_.end()) return;
  bytes_ -= it->second.size;
  g_process_bytes.fetch_sub(it->second.size);
  files_.erase(it);
}

void MemoryFiles::clear() {
  std::lock_guard<std::mutex> lock(lock_);
  g_process_bytes.fetch_sub(bytes_);
  bytes_ = 0;
  files_.clear();
}

size_t MemoryFiles::bytes() const {
  std::lock_guard<std::mutex> lock(lock_);
  return bytes_;
}

}  // namespace live::http
