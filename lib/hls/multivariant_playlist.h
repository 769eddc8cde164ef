// MultivariantPlaylist: the top-level playlist listing the variant streams (EXT-X-STREAM-INF)
// and the alternative audio renditions (EXT-X-MEDIA TYPE=AUDIO). Pure text generation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace live::hls {

// EXT-X-MEDIA TYPE=AUDIO.
struct AudioRendition {
  std::string group_id;  // GROUP-ID, referenced by VariantStream::audio_group
  std::string name;      // NAME
  std::string language;  // LANGUAGE (RFC 5646), empty: not written
  std::string uri;       // URI of its media playlist; empty: audio is muxed in the variants
  bool is_default = true;  // DEFAULT=YES/NO
  bool autoselect = true;  // AUTOSELECT=YES/NO
  uint32_t channels = 0;   // CHANNELS="2"; 0: not written
};

// EXT-X-STREAM-INF + URI line.
struct VariantStream {
  std::string uri;             // its media playlist
  uint64_t bandwidth = 0;      // BANDWIDTH: peak bits per second (including audio)
  std::optional<uint64_t> average_bandwidth;  // AVERAGE-BANDWIDTH
  std::string codecs;          // CODECS (RFC 6381, comma-separated), empty: not written
  uint32_t width = 0;          // RESOLUTION=WxH when both are non-zero
  uint32_t height = 0;
  std::optional<double> frame_rate;  // FRAME-RATE with three decimals
  std::string audio_group;     // AUDIO="group", empty: not written
};

class MultivariantPlaylist {
 public:
  void set_independent_segments(bool on) { independent_segments_ = on; }
  // EXT-X-VERSION written (at least the version the features used need; default 3).
  void set_version(int version) { version_ = version; }

  void add_variant(VariantStream variant) { variants_.push_back(std::move(variant)); }
  void add_audio(AudioRendition audio) { audios_.push_back(std::move(audio)); }
  void clear() { variants_.clear(); audios_.clear(); }

  const std::vector<VariantStream>& variants() const { return variants_; }
  const std::vector<AudioRendition>& audios() const { return audios_; }

  // Text: #EXTM3U, version, independent segments, EXT-X-MEDIA lines (in the order added),
  // then each EXT-X-STREAM-INF with its URI (in the order added).
  std::string render() const;

 private:
  std::vector<VariantStream> variants_;
  std::vector<AudioRendition> audios_;
  bool independent_segments_ = true;
  int version_ = 3;
};

}  // namespace live::hls
