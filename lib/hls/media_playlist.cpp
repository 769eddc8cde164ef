#include "hls/media_playlist.h"

#include <algorithm>
#include <cmath>

#include "hls/playlist_format.h"

namespace live::hls {

namespace {

// Durations are written with 5 decimals; comparisons against targets use the same precision
// so that what a reader sees obeys the rules.
constexpr int kDurationDecimals = 5;

int64_t ticks5(double seconds) { return static_cast<int64_t>(std::floor(seconds * 100000.0 + 0.5)); }

std::string byterange_text(const ByteRange& r) {
  return std::to_string(r.length) + "@" + std::to_string(r.offset);
}

std::string key_line(const std::optional<Key>& key) {
  if (!key) return "#EXT-X-KEY:METHOD=NONE\n";
  std::string out = "#EXT-X-KEY:METHOD=" + key->method;
  if (!key->uri.empty()) out += ",URI=" + quoted(key->uri);
  if (key->iv) {
    static const char* hex = "0123456789ABCDEF";
    out += ",IV=0x";
    for (uint8_t b : *key->iv) {
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out + "\n";
}

std::string map_line(const MapInfo& map) {
  std::string out = "#EXT-X-MAP:URI=" + quoted(map.uri);
  if (map.byterange) out += ",BYTERANGE=" + quoted(byterange_text(*map.byterange));
  return out + "\n";
}

std::string part_line(const PartInfo& part) {
  std::string out = "#EXT-X-PART:DURATION=" + format_decimal(part.duration, kDurationDecimals) +
                    ",URI=" + quoted(part.uri);
  if (part.independent) out += ",INDEPENDENT=YES";
  if (part.byterange) out += ",BYTERANGE=" + quoted(byterange_text(*part.byterange));
  return out + "\n";
}

}  // namespace

MediaPlaylist::MediaPlaylist(MediaPlaylistConfig config) : config_(std::move(config)) {
  target_duration_ = std::max<uint32_t>(1, config_.target_duration);
  part_target_ = std::max(0.0, config_.part_target);
  map_ = config_.map;
}

Result<void> MediaPlaylist::add_part(const PartInfo& part) {
  if (!low_latency()) return make_error(Errc::unsupported, "add_part on a playlist without parts");
  if (ended_) return make_error(Errc::closed, "playlist ended");
  if (part.uri.empty()) return make_error(Errc::malformed, "part without URI");
  if (!(part.duration > 0)) return make_error(Errc::malformed, "part duration must be positive");
  if (ticks5(part.duration) > ticks5(part_target_)) {
    if (published_)
      ++part_target_overruns_;
    else
      part_target_ = part.duration;
  }
  open_parts_.push_back(Part{part, part_line(part)});
  if (preload_hint_ && preload_hint_->uri == part.uri &&
      (!preload_hint_->byterange_start ||
       (part.byterange && part.byterange->offset == *preload_hint_->byterange_start)))
    preload_hint_.reset();
  trim();  // the growing tail pushes older parts out of the part window
  return {};
}

Result<void> MediaPlaylist::begin_segment(const SegmentStart& start) {
  if (ended_) return make_error(Errc::closed, "playlist ended");
  if (!open_parts_.empty())
    return make_error(Errc::protocol_violation, "begin_segment after parts of the segment were added");
  open_start_ = start;
  return {};
}

Result<uint64_t> MediaPlaylist::add_segment(const SegmentInfo& segment) {
  if (ended_) return make_error(Errc::closed, "playlist ended");
  if (segment.uri.empty()) return make_error(Errc::malformed, "segment without URI");
  if (!(segment.duration > 0)) return make_error(Errc::malformed, "segment duration must be positive");
  // Parts are listed (and played) before the segment is complete, unencrypted.
  if (segment.key && !open_parts_.empty())
    return make_error(Errc::unsupported, "encrypted segment with parts");
  const uint32_t rounded = round_seconds(segment.duration);
  if (rounded > target_duration_) {
    if (published_)
      ++target_duration_overruns_;
    else
      target_duration_ = rounded;
  }
  Segment s;
  s.msn = next_msn_++;
  s.info = segment;
  if (open_start_) {
    s.info.discontinuity = s.info.discontinuity || open_start_->discontinuity;
    if (!s.info.program_date_time_ms) s.info.program_date_time_ms = open_start_->program_date_time_ms;
    open_start_.reset();
  }
  s.map = map_;
  if (s.info.program_date_time_ms)
    s.date_time_line = "#EXT-X-PROGRAM-DATE-TIME:" + format_date_time_ms(*s.info.program_date_time_ms) + "\n";
  s.closing_lines = "#EXTINF:" + format_decimal(s.info.duration, kDurationDecimals) + ",\n";
  if (s.info.byterange) s.closing_lines += "#EXT-X-BYTERANGE:" + byterange_text(*s.info.byterange) + "\n";
  s.closing_lines += s.info.uri + "\n";
  s.parts = std::move(open_parts_);
  open_parts_.clear();
  segments_.push_back(std::move(s));
  trim();
  return segments_.back().msn;
}

void MediaPlaylist::set_map(std::optional<MapInfo> map) {
  std::optional<MapInfo> old = std::move(map_);
  map_ = std::move(map);
  if (old && !(map_ && *map_ == *old)) release_uri(old->uri);
}

void MediaPlaylist::set_preload_hint(std::optional<PreloadHint> hint) {
  if (!low_latency()) return;
  std::optional<PreloadHint> old = std::move(preload_hint_);
  preload_hint_ = std::move(hint);
  if (old && !(preload_hint_ && preload_hint_->uri == old->uri)) release_uri(old->uri);
}

void MediaPlaylist::set_rendition_reports(std::vector<RenditionReport> reports) {
  rendition_reports_ = std::move(reports);
}

void MediaPlaylist::end() {
  if (ended_) return;
  ended_ = true;
  open_start_.reset();
  std::vector<Part> dropped = std::move(open_parts_);
  open_parts_.clear();
  for (const auto& p : dropped) release_uri(p.info.uri);
  if (preload_hint_) {
    std::string uri = preload_hint_->uri;
    preload_hint_.reset();
    release_uri(uri);
  }
}

bool MediaPlaylist::uri_in_use(const std::string& uri) const {
  for (const auto& s : segments_) {
    if (s.info.uri == uri || (s.map && s.map->uri == uri)) return true;
    for (const auto& p : s.parts)
      if (p.info.uri == uri) return true;
  }
  for (const auto& p : open_parts_)
    if (p.info.uri == uri) return true;
  if (map_ && map_->uri == uri) return true;
  if (preload_hint_ && preload_hint_->uri == uri) return true;
  return false;
}

void MediaPlaylist::release_uri(const std::string& uri) {
  if (uri_in_use(uri)) return;
  if (std::find(removed_uris_.begin(), removed_uris_.end(), uri) != removed_uris_.end()) return;
  removed_uris_.push_back(uri);
}

void MediaPlaylist::trim() {
  // Sliding window of complete segments (live playlists only).
  if (config_.type == PlaylistType::live && config_.window_segments > 0) {
    int64_t listed = 0;  // 1e-5 s units, as written
    for (const auto& seg : segments_) listed += ticks5(seg.info.duration);
    while (segments_.size() > config_.window_segments) {
      // RFC 8216 6.2.2: never shrink a live playlist below three target durations.
      const int64_t after_removal = listed - ticks5(segments_.front().info.duration);
      if (after_removal < int64_t(3) * target_duration_ * 100000) break;
      listed = after_removal;
      Segment old = std::move(segments_.front());
      segments_.erase(segments_.begin());
      ++media_sequence_;
      // The next segment's discontinuity sequence number must not change: the tag that
      // leaves with this segment moves into EXT-X-DISCONTINUITY-SEQUENCE.
      if (old.info.discontinuity) ++discontinuity_sequence_;
      for (const auto& p : old.parts) release_uri(p.info.uri);
      release_uri(old.info.uri);
      if (old.map) release_uri(old.map->uri);
    }
  }
  // Parts: keep EXT-X-PART lines only for segments ending within
  // part_window_target_durations target durations of the end of the playlist.
  if (low_latency()) {
    const double limit = double(config_.part_window_target_durations) * target_duration_;
    double after = 0;  // seconds from the end of segment i to the end of the playlist
    for (const auto& p : open_parts_) after += p.info.duration;
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      if (after > limit && !it->parts.empty()) {
        std::vector<Part> dropped = std::move(it->parts);
        it->parts.clear();
        for (const auto& p : dropped) release_uri(p.info.uri);
      }
      after += it->info.duration;
    }
  }
}

double MediaPlaylist::part_hold_back() const {
  return std::max(config_.part_hold_back, 3.0 * part_target_);
}

double MediaPlaylist::hold_back() const { return std::max(config_.hold_back, 3.0 * target_duration_); }

int MediaPlaylist::version() const {
  int v = 3;  // decimal-floating-point EXTINF
  bool byterange = map_ && map_->byterange, map = map_.has_value();
  for (const auto& s : segments_) {
    if (s.info.byterange) byterange = true;
    if (s.map) {
      map = true;
      if (s.map->byterange) byterange = true;
    }
    for (const auto& p : s.parts)
      if (p.info.byterange) byterange = true;
  }
  for (const auto& p : open_parts_)
    if (p.info.byterange) byterange = true;
  if (byterange) v = std::max(v, 4);
  if (map) v = std::max(v, 6);  // EXT-X-MAP outside I-frame playlists
  return v;
}

std::string MediaPlaylist::render() {
  published_ = true;

  std::string out;
  out.reserve(rendered_size_ + 256);
  out += "#EXTM3U\n";
  // The version never goes down once written (features leaving the window do not lower it).
  version_floor_ = std::max(version_floor_, version());
  out += "#EXT-X-VERSION:" + std::to_string(version_floor_) + "\n";
  out += "#EXT-X-TARGETDURATION:" + std::to_string(target_duration_) + "\n";
  if (config_.type == PlaylistType::event) out += "#EXT-X-PLAYLIST-TYPE:EVENT\n";
  if (config_.type == PlaylistType::vod) out += "#EXT-X-PLAYLIST-TYPE:VOD\n";
  if (low_latency()) {
    out += "#EXT-X-SERVER-CONTROL:";
    std::string attrs;
    if (config_.can_block_reload) attrs += "CAN-BLOCK-RELOAD=YES";
    attrs += (attrs.empty() ? "" : ",") + std::string("HOLD-BACK=") + format_decimal(hold_back(), 3);
    attrs += ",PART-HOLD-BACK=" + format_decimal(part_hold_back(), 3);
    out += attrs + "\n";
    out += "#EXT-X-PART-INF:PART-TARGET=" + format_decimal(part_target_, kDurationDecimals) + "\n";
  }
  out += "#EXT-X-MEDIA-SEQUENCE:" + std::to_string(media_sequence_) + "\n";
  if (discontinuity_sequence_ > 0)
    out += "#EXT-X-DISCONTINUITY-SEQUENCE:" + std::to_string(discontinuity_sequence_) + "\n";
  if (config_.independent_segments) out += "#EXT-X-INDEPENDENT-SEGMENTS\n";

  // Key and map tags are written where they change relative to the previous listed segment
  // (and before the first listed one), so a window that slid keeps them in effect.
  std::optional<Key> key;
  std::optional<MapInfo> map;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    if (s.info.discontinuity) out += "#EXT-X-DISCONTINUITY\n";
    if (s.info.key != key) {
      if (s.info.key || i > 0) out += key_line(s.info.key);
      key = s.info.key;
    }
    if (s.map && s.map != map) out += map_line(*s.map);
    map = s.map;
    out += s.date_time_line;
    for (const auto& p : s.parts) out += p.line;
    out += s.closing_lines;
  }
  if (!open_parts_.empty()) {
    if (open_start_ && open_start_->discontinuity) out += "#EXT-X-DISCONTINUITY\n";
    if (key) out += key_line(std::nullopt);  // parts of the open segment are not encrypted
    if (map_ && map_ != map) out += map_line(*map_);
    if (open_start_ && open_start_->program_date_time_ms)
      out += "#EXT-X-PROGRAM-DATE-TIME:" + format_date_time_ms(*open_start_->program_date_time_ms) + "\n";
    for (const auto& p : open_parts_) out += p.line;
  }
  if (low_latency() && preload_hint_) {
    out += "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=" + quoted(preload_hint_->uri);
    if (preload_hint_->byterange_start) {
      out += ",BYTERANGE-START=" + std::to_string(*preload_hint_->byterange_start);
      if (preload_hint_->byterange_length)
        out += ",BYTERANGE-LENGTH=" + std::to_string(*preload_hint_->byterange_length);
    }
    out += "\n";
  }
  if (low_latency()) {
    for (const auto& r : rendition_reports_) {
      out += "#EXT-X-RENDITION-REPORT:URI=" + quoted(r.uri) + ",LAST-MSN=" + std::to_string(r.last_msn);
      if (r.last_part) out += ",LAST-PART=" + std::to_string(*r.last_part);
      out += "\n";
    }
  }
  if (ended_) out += "#EXT-X-ENDLIST\n";
  rendered_size_ = out.size();
  return out;
}

RenditionReport MediaPlaylist::rendition_report(std::string uri) const {
  RenditionReport r;
  r.uri = std::move(uri);
  if (!open_parts_.empty()) {
    r.last_msn = next_msn_;
    r.last_part = static_cast<uint32_t>(open_parts_.size() - 1);
  } else if (!segments_.empty()) {
    r.last_msn = segments_.back().msn;
    if (!segments_.back().parts.empty()) r.last_part = static_cast<uint32_t>(segments_.back().parts.size() - 1);
  }
  return r;
}

std::vector<std::string> MediaPlaylist::take_removed_uris() {
  std::vector<std::string> out = std::move(removed_uris_);
  removed_uris_.clear();
  return out;
}

uint64_t MediaPlaylist::media_sequence() const { return media_sequence_; }
uint64_t MediaPlaylist::discontinuity_sequence() const { return discontinuity_sequence_; }
uint64_t MediaPlaylist::next_msn() const { return next_msn_; }
uint32_t MediaPlaylist::next_part_index() const { return static_cast<uint32_t>(open_parts_.size()); }
uint32_t MediaPlaylist::target_duration() const { return target_duration_; }
size_t MediaPlaylist::segment_count() const { return segments_.size(); }
bool MediaPlaylist::ended() const { return ended_; }
uint64_t MediaPlaylist::target_duration_overruns() const { return target_duration_overruns_; }
uint64_t MediaPlaylist::part_target_overruns() const { return part_target_overruns_; }
const MediaPlaylistConfig& MediaPlaylist::config() const { return config_; }

}  // namespace live::hls
