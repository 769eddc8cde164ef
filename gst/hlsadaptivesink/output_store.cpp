#include "output_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace live::hlssink {

void OutputStore::Services::stop() {
  if (uploader) uploader->stop(true);
  if (server) server->stop();
}

Result<void> OutputStore::open(const std::string& location, bool in_memory) {
  location_ = location;
  in_memory_ = in_memory;
  bytes_written_ = files_deleted_ = 0;
  known_dirs_.clear();
  if (in_memory) return {};
  std::error_code ec;
  fs::create_directories(location, ec);
  if (ec) return make_error(Errc::refused, "cannot create " + location + ": " + ec.message());
  return {};
}

Result<void> OutputStore::start_upload(const std::string& base_url,
                                       std::function<void(const http::UploadFailure&)> on_failure) {
  http::HttpUploaderConfig uc;
  uc.base_url = base_url;
  if (!uc.base_url.empty() && uc.base_url.back() != '/') uc.base_url += '/';
  uploader_ = std::make_unique<http::HttpUploader>(uc, std::move(on_failure));
  auto st = uploader_->start();
  if (!st) uploader_.reset();
  return st;
}

Result<uint16_t> OutputStore::start_http(http::HlsHttpServerConfig config, const std::string& address, uint16_t port,
                                         int64_t part_target_ms) {
  config.root_dir = location_;
  config.in_memory = in_memory_;
  server_ = std::make_unique<http::HlsHttpServer>(config);
  if (part_target_ms > 0) server_->set_part_target_ms(part_target_ms);
  auto bound = server_->start(address, port);
  if (!bound) server_.reset();
  return bound;
}

OutputStore::Services OutputStore::take_services() { return Services{std::move(server_), std::move(uploader_)}; }

// Relative names are the element's own (never absolute): plain joining, no path parsing per write.
std::string OutputStore::path(const std::string& relative) const {
  if (location_.empty()) return relative;
  return location_.back() == '/' ? location_ + relative : location_ + '/' + relative;
}

http::HttpUploaderStats OutputStore::upload_stats() const {
  return uploader_ ? uploader_->stats() : http::HttpUploaderStats{};
}

// Plain open/write/rename: LL-HLS rewrites a part file and two playlists per stream every third
// of a second, and an ofstream (its buffer, locale, a stat per folder) was a quarter of that cost.
Result<void> OutputStore::write_atomic(const std::string& relative, std::span<const uint8_t> bytes) {
  const std::string path = this->path(relative);
  const std::string tmp = path + ".tmp";
  auto failed = [&](const std::string& why) { return make_error(Errc::refused, "cannot write " + relative + ": " + why); };
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash);
  std::error_code dir_error;
  auto make_dir = [&] {
    fs::create_directories(dir, dir_error);
    if (!dir_error) known_dirs_.insert(dir);
    return !dir_error;
  };
  // Its folder's error, not the open's "No such file or directory" that follows it (read-only disk).
  if (!dir.empty() && !known_dirs_.contains(dir) && !make_dir())
    return failed("cannot create its folder: " + dir_error.message());
  auto open_tmp = [&] { return ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666); };
  int fd = open_tmp();
  if (fd < 0 && errno == ENOENT && !dir.empty()) {
    // The folder went away under us (cleaned by hand): make it again, once.
    known_dirs_.erase(dir);
    if (!make_dir()) return failed("cannot create its folder: " + dir_error.message());
    fd = open_tmp();
  }
  if (fd < 0) return failed(std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "short write";
      ::close(fd);
      ::unlink(tmp.c_str());
      return failed(why);
    }
    done += size_t(n);
  }
  if (::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return failed(why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return failed(why);
  }
  return {};
}

Result<void> OutputStore::keep(const std::string& relative, std::span<const uint8_t> bytes) {
  if (!in_memory_) return write_atomic(relative, bytes);
  if (!server_) return {};  // upload only
  auto kept = server_->put_file(relative, std::make_shared<const std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!kept) return make_error(kept.error().code, "cannot keep " + relative + ": " + kept.error().context);
  return {};
}

Result<void> OutputStore::write_file(const std::string& relative, std::span<const uint8_t> bytes) {
  if (auto r = keep(relative, bytes); !r) return r;
  bytes_written_ += bytes.size();
  if (uploader_) {
    if (in_memory_) uploader_->put_bytes(relative, std::vector<uint8_t>(bytes.begin(), bytes.end()), http::UploadKind::segment);
    else uploader_->put_file(relative, path(relative), http::UploadKind::segment);
  }
  return {};
}

Result<void> OutputStore::write_joined(const std::string& relative, const std::vector<std::string>& parts,
                                       uint64_t size) {
  auto kept = server_->put_joined_file(relative, parts);
  if (!kept) return make_error(kept.error().code, "cannot keep " + relative + ": " + kept.error().context);
  bytes_written_ += size;
  return {};
}

Result<void> OutputStore::write_playlist(const std::string& relative, std::string text) {
  std::vector<uint8_t> upload;
  if (uploader_) upload.assign(text.begin(), text.end());
  if (in_memory_ && server_) {
    // Kept as it is (no copy): a playlist is rendered for every part of every rendition.
    auto kept = server_->put_file(relative, std::make_shared<const std::string>(std::move(text)));
    if (!kept) return make_error(kept.error().code, "cannot keep " + relative + ": " + kept.error().context);
  } else {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    if (auto r = keep(relative, bytes); !r) return r;
  }
  if (uploader_) uploader_->put_bytes(relative, std::move(upload), http::UploadKind::playlist);
  return {};
}

void OutputStore::notify_playlist(const std::string& relative, int64_t last_msn, int64_t last_part) {
  if (server_) server_->notify_playlist(relative, last_msn, last_part);
}

void OutputStore::forget_playlist(const std::string& relative) {
  if (server_) server_->forget_playlist(relative);
}

void OutputStore::expect_file(const std::string& relative) {
  if (server_) server_->expect_file(relative);
}

void OutputStore::remove(const std::string& relative) {
  std::error_code ec;
  if (in_memory_) files_deleted_++;  // the server drops it below
  else if (fs::remove(path(relative), ec)) files_deleted_++;
  if (server_) server_->forget_file(relative);
  if (uploader_) uploader_->remove(relative);
}

}  // namespace live::hlssink
