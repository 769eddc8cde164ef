#include "segment_keys.h"

#include <fstream>

#include "output_store.h"

namespace live::hlssink {

Result<void> SegmentKeys::start(const KeySettings& settings) {
  settings_ = settings;
  generated_ = true;
  index_ = UINT64_MAX;
  key_ = {};
  uri_.clear();
  if (settings_.enabled && !settings_.key_file.empty()) {
    std::ifstream f(settings_.key_file, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(key_.data()), 16))
      return make_error(Errc::refused, "Cannot read a 16-byte key from " + settings_.key_file);
    generated_ = false;
  }
  return {};
}

Result<std::optional<hls::Key>> SegmentKeys::for_segment(uint64_t msn, OutputStore& store) {
  if (!settings_.enabled) return std::optional<hls::Key>{};
  const uint64_t index = (generated_ && settings_.rotation) ? msn / settings_.rotation : 0;
  if (index != index_) {
    if (generated_) {
      auto k = random_aes_key();
      if (!k) return k.error();
      key_ = *k;
    }
    const std::string name = "key" + std::to_string(index) + ".key";
    // A key the application gave, served from its own key-uri, stays out of the public directory.
    if (generated_ || settings_.key_uri.empty())
      if (auto w = store.write_file(name, key_); !w) return w.error();
    index_ = index;
    if (!settings_.key_uri.empty()) {
      uri_ = settings_.key_uri;
      const auto at = uri_.find("%u");
      if (at != std::string::npos) uri_.replace(at, 2, std::to_string(index));
    } else {
      uri_ = name;  // made relative to each playlist below
    }
  }
  hls::Key key;
  key.uri = !settings_.key_uri.empty() ? uri_ : settings_.flat ? uri_ : "../" + uri_;
  key.iv = iv_from_sequence(msn);
  return std::optional<hls::Key>(key);
}

}  // namespace live::hlssink
