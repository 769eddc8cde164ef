// SegmentKeys: AES-128 keys of hlsadaptivesink's MPEG-TS segments: one given key (key file) or
// generated keys rotated every N segments, written into the output (unless the application
// serves its own key from its key URI), and the EXT-X-KEY of each segment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "aes_cbc.h"
#include "common/result.h"
#include "hls/media_playlist.h"

namespace live::hlssink {

class OutputStore;

struct KeySettings {
  bool enabled = false;
  std::string key_uri;   // "%u" = key index; empty: the key file in the output
  std::string key_file;  // empty: generate keys
  unsigned rotation = 0;  // segments per generated key (0 = one key)
  bool flat = false;      // playlists sit next to the keys (else one directory below)
};

class SegmentKeys {
 public:
  // Reads the key file when one is set.
  Result<void> start(const KeySettings& settings);
  bool enabled() const { return settings_.enabled; }
  const AesKey& key() const { return key_; }
  // The key of segment `msn` (nullopt: clear), writing a new key file when it changes.
  Result<std::optional<hls::Key>> for_segment(uint64_t msn, OutputStore& store);

 private:
  KeySettings settings_;
  bool generated_ = true;
  uint64_t index_ = UINT64_MAX;
  AesKey key_{};
  std::string uri_;
};

}  // namespace live::hlssink
