// Skeleton: filled in next.
#include "http/hls_http_server.h"

namespace live::http {

struct HlsHttpServer::Impl {
  HlsHttpServerConfig config;
};

HlsHttpServer::HlsHttpServer(HlsHttpServerConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}
HlsHttpServer::~HlsHttpServer() { stop(); }
Result<uint16_t> HlsHttpServer::start(const std::string&, uint16_t) {
  return make_error(Errc::unsupported, "HlsHttpServer not implemented yet");
}
void HlsHttpServer::stop() {}
bool HlsHttpServer::running() const { return false; }
uint16_t HlsHttpServer::port() const { return 0; }
void HlsHttpServer::notify_playlist(const std::string&, int64_t, int64_t) {}
void HlsHttpServer::forget_playlist(const std::string&) {}
void HlsHttpServer::set_target_duration_ms(int64_t) {}
HlsHttpServerStats HlsHttpServer::stats() const { return {}; }
const char* hls_content_type(const std::string&) { return "application/octet-stream"; }
const char* hls_cache_control(const std::string&) { return "no-cache"; }

}  // namespace live::http
