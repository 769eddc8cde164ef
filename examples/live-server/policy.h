// Policy: who may publish and play, as nginx-rtmp's on_publish/on_play and MediaMTX's HTTP
// auth decide it: an allow-list of publish keys, and/or an HTTP callback asked for every publish
// and play (POST, form fields action, app, key, addr, query; a 2xx answer allows, anything else
// or no answer within 5 s refuses). Called on decision threads: it may block.
#pragma once

#include <string>

#include "config.h"

namespace live_server {

inline constexpr unsigned kAuthCallbackTimeoutS = 5;

class Policy {
 public:
  explicit Policy(const Config& config) : config_(config) {}
  // action: "publish" or "play". `why` says why not (for the log; holds no key).
  bool allow(const std::string& action, const std::string& app, const std::string& key,
             const std::string& query, const std::string& client_address, std::string& why) const;

 private:
  bool ask_callback(const std::string& action, const std::string& app, const std::string& key,
                    const std::string& query, const std::string& client_address, std::string& why) const;
  const Config& config_;
};

}  // namespace live_server
