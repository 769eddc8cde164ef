#include "hls/multivariant_playlist.h"

#include "hls/playlist_format.h"

namespace live::hls {

std::string MultivariantPlaylist::render() const {
  std::string out = "#EXTM3U\n";
  out += "#EXT-X-VERSION:" + std::to_string(version_) + "\n";
  if (independent_segments_) out += "#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (const auto& a : audios_) {
    out += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=" + quoted(a.group_id) + ",NAME=" + quoted(a.name);
    if (!a.language.empty()) out += ",LANGUAGE=" + quoted(a.language);
    out += std::string(",DEFAULT=") + (a.is_default ? "YES" : "NO");
    // AUTOSELECT must be YES when DEFAULT is YES (RFC 8216 4.3.4.1).
    out += std::string(",AUTOSELECT=") + (a.autoselect || a.is_default ? "YES" : "NO");
    if (a.channels > 0) out += ",CHANNELS=" + quoted(std::to_string(a.channels));
    if (!a.uri.empty()) out += ",URI=" + quoted(a.uri);
    out += "\n";
  }
  for (const auto& v : variants_) {
    out += "#EXT-X-STREAM-INF:BANDWIDTH=" + std::to_string(v.bandwidth);
    if (v.average_bandwidth) out += ",AVERAGE-BANDWIDTH=" + std::to_string(*v.average_bandwidth);
    if (!v.codecs.empty()) out += ",CODECS=" + quoted(v.codecs);
    if (v.width > 0 && v.height > 0)
      out += ",RESOLUTION=" + std::to_string(v.width) + "x" + std::to_string(v.height);
    if (v.frame_rate) out += ",FRAME-RATE=" + format_decimal(*v.frame_rate, 3);
    if (!v.audio_group.empty()) out += ",AUDIO=" + quoted(v.audio_group);
    out += "\n" + v.uri + "\n";
  }
  return out;
}

}  // namespace live::hls
