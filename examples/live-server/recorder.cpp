// Recorder (see recorder.h). Not written yet: construction says so once; nothing is recorded.
#include "recorder.h"

namespace live_server {

struct Recorder::Impl {
  std::string name;
};

Recorder::Recorder(GstElement*, std::string, std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
  g_printerr("live-server: stream %s: recording is not implemented yet\n", impl_->name.c_str());
}
Recorder::~Recorder() = default;
void Recorder::tracks_ready(GstElement*, GstElement*) {}
void Recorder::start_file() {}
void Recorder::stop_file() {}
std::string Recorder::current_file() const { return ""; }

}  // namespace live_server
