// Skeleton: filled in next.
#include "http/http_uploader.h"

namespace live::http {

struct HttpUploader::Impl {
  HttpUploaderConfig config;
  FailureCallback on_failure;
};

HttpUploader::HttpUploader(HttpUploaderConfig config, FailureCallback on_failure)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->on_failure = std::move(on_failure);
}
HttpUploader::~HttpUploader() { stop(false); }
Result<void> HttpUploader::start() { return make_error(Errc::unsupported, "HttpUploader not implemented yet"); }
void HttpUploader::stop(bool, uint32_t) {}
bool HttpUploader::put_file(const std::string&, const std::string&, UploadKind) { return false; }
bool HttpUploader::put_bytes(const std::string&, std::vector<uint8_t>, UploadKind) { return false; }
bool HttpUploader::remove(const std::string&) { return false; }
bool HttpUploader::wait_idle(uint32_t) { return true; }
HttpUploaderStats HttpUploader::stats() const { return {}; }
const char* upload_kind_name(UploadKind kind) {
  switch (kind) {
    case UploadKind::segment: return "segment";
    case UploadKind::playlist: return "playlist";
    case UploadKind::remove: return "remove";
  }
  return "?";
}

}  // namespace live::http
