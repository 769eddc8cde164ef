// Web: answers the HTTP requests that no element serves, for GstLiveServer's "http-request":
// "/" (the start page: live streams and a player), "/hls.min.js", "/api/streams" (JSON) and
// "/metrics" (Prometheus text). Runs on the HTTP server thread: answers at once.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <string>
#include <vector>

#include "config.h"
#include "stream_pipeline.h"

namespace live_server {

class Web {
 public:
  using Snapshots = std::function<std::vector<StreamSnapshot>()>;
  Web(const Config& config, Snapshots snapshots, GstObject* server);
  ~Web();
  // false + why when a page file cannot be read.
  bool load(std::string& why);
  // A response structure for GstLiveServer, or nullptr (404).
  GstStructure* handle(const GstStructure* request) const;

  std::string streams_json(const std::vector<StreamSnapshot>& streams) const;
  std::string metrics_text(const std::vector<StreamSnapshot>& streams) const;

 private:
  const Config& config_;
  Snapshots snapshots_;
  GstObject* server_;  // GstLiveServer (its stats)
  GBytes* index_page_ = nullptr;
  GBytes* hls_js_ = nullptr;
};

}  // namespace live_server
