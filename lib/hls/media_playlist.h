// MediaPlaylist: the live segment timeline of one rendition (one variant or one audio
// rendition) and its text form (RFC 8216 / RFC 8216bis, including Low-Latency HLS).
//
// Sans-I/O: the caller writes the media files, tells the playlist about them (add_part,
// add_segment), renders the text and writes/serves it, and deletes the files that
// take_removed_uris() hands back. No clock: times are durations in seconds and
// program-date-time values in milliseconds since the Unix epoch, given by the caller.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace live::hls {

// EXT-X-BYTERANGE / BYTERANGE="length@offset". The offset is always written, so a range never
// depends on the previous one (simpler for readers; the spec allows it).
struct ByteRange {
  uint64_t length = 0;
  uint64_t offset = 0;
  bool operator==(const ByteRange&) const = default;
};

// EXT-X-KEY. method "AES-128" with a key URI and optional explicit IV (without an IV the
// player uses the media sequence number). A segment without a key (std::nullopt in
// SegmentInfo) is clear; the playlist writes METHOD=NONE when going from encrypted to clear.
struct Key {
  std::string method = "AES-128";
  std::string uri;
  std::optional<std::array<uint8_t, 16>> iv;
  bool operator==(const Key&) const = default;
};

// EXT-X-MAP: the fMP4 initialization section that applies to the following segments.
struct MapInfo {
  std::string uri;
  std::optional<ByteRange> byterange;
  bool operator==(const MapInfo&) const = default;
};

// One complete media segment, given to add_segment() once its file is fully written.
struct SegmentInfo {
  double duration = 0;  // seconds (EXTINF)
  std::string uri;
  std::optional<ByteRange> byterange;
  std::optional<int64_t> program_date_time_ms;  // EXT-X-PROGRAM-DATE-TIME, ms since epoch
  bool discontinuity = false;                   // EXT-X-DISCONTINUITY before this segment
  std::optional<Key> key;                       // nullopt: not encrypted
};

// One LL-HLS partial segment of the segment in progress, given to add_part() once written.
struct PartInfo {
  double duration = 0;  // seconds
  std::string uri;
  bool independent = false;  // starts with an independent frame (INDEPENDENT=YES)
  std::optional<ByteRange> byterange;
};

// Tags of the segment in progress that must already stand before its parts (LL-HLS): a
// player may play the parts before the segment is complete. See MediaPlaylist::begin_segment.
struct SegmentStart {
  bool discontinuity = false;
  std::optional<int64_t> program_date_time_ms;
};

// EXT-X-PRELOAD-HINT TYPE=PART: the part the server will publish next.
// For a byte range hint, byterange_start is set and byterange_length may be open-ended.
struct PreloadHint {
  std::string uri;
  std::optional<uint64_t> byterange_start;
  std::optional<uint64_t> byterange_length;
  bool operator==(const PreloadHint&) const = default;
};

// EXT-X-RENDITION-REPORT for another rendition of the same presentation.
struct RenditionReport {
  std::string uri;  // relative to this playlist's URI
  uint64_t last_msn = 0;
  std::optional<uint32_t> last_part;  // absent when that rendition has no parts
  bool operator==(const RenditionReport&) const = default;
};

enum class PlaylistType { live, event, vod };  // live writes no EXT-X-PLAYLIST-TYPE

struct MediaPlaylistConfig {
  // EXT-X-TARGETDURATION lower bound in whole seconds. The written value is the larger of
  // this and every rounded EXTINF added before the first render(); after that it never
  // changes (RFC 8216 4.3.3.1 / 6.2.1), so choose it >= the longest segment you will cut.
  uint32_t target_duration = 2;
  // Sliding window: complete segments kept in the playlist (0 = keep all). More are kept when
  // removing one would leave less than three target durations listed (RFC 8216 6.2.2).
  // Ignored (keeps all) for event and vod playlists, which may not remove segments.
  uint32_t window_segments = 6;
  PlaylistType type = PlaylistType::live;
  bool independent_segments = true;  // EXT-X-INDEPENDENT-SEGMENTS (every segment starts at a keyframe)
  // Initial EXT-X-MAP (fMP4). Can be changed later with set_map().
  std::optional<MapInfo> map;

  // LL-HLS. part_target > 0 enables EXT-X-PART-INF, EXT-X-PART and EXT-X-SERVER-CONTROL.
  double part_target = 0;  // seconds (PART-TARGET); every part must be <= this
  bool can_block_reload = true;  // CAN-BLOCK-RELOAD=YES (LL-HLS requires it)
  // PART-HOLD-BACK; 0 = 3 * part_target. Values below 3 * part_target are raised to it.
  double part_hold_back = 0;
  // HOLD-BACK; 0 = 3 * target duration. Values below that are raised to it.
  double hold_back = 0;
  // Parts are listed for segments that end at most this many target durations before the
  // end of the playlist (spec: remove EXT-X-PART tags older than three target durations).
  uint32_t part_window_target_durations = 3;
};

class MediaPlaylist {
 public:
  explicit MediaPlaylist(MediaPlaylistConfig config);

  // A partial segment of the segment in progress (LL-HLS). Its media sequence number is
  // next_msn(); its part index is the number of parts already added to that segment.
  // A pending preload hint with the same URI (and byte range start) is consumed.
  // Errors: not LL-HLS, playlist ended, empty URI, non-positive duration.
  Result<void> add_part(const PartInfo& part);

  // Optional, LL-HLS: announces EXT-X-DISCONTINUITY / EXT-X-PROGRAM-DATE-TIME of the segment in
  // progress before its first part, so they are written ahead of its EXT-X-PART lines. The
  // later add_segment() keeps them (its own discontinuity flag is or-ed in, its own date wins).
  // Errors: parts of this segment were already added, playlist ended.
  Result<void> begin_segment(const SegmentStart& start);

  // Completes the segment in progress (whose parts, if any, were added with add_part) and
  // returns its media sequence number. Slides the window; files no longer referenced are
  // queued for take_removed_uris(). A segment whose rounded duration exceeds the already
  // published target duration is still added (a gap would be worse) and counted in
  // target_duration_overruns(). Errors: playlist ended, empty URI, non-positive duration, a key
  // on a segment that has parts (encryption with LL-HLS parts is not supported).
  // A segment with parts should have the sum of their durations as its duration.
  Result<uint64_t> add_segment(const SegmentInfo& segment);

  // EXT-X-MAP for segments (and parts) added from now on. The old init section stays
  // referenced by older segments until they slide out.
  void set_map(std::optional<MapInfo> map);

  // EXT-X-PRELOAD-HINT TYPE=PART (LL-HLS only); nullopt clears it.
  void set_preload_hint(std::optional<PreloadHint> hint);

  // EXT-X-RENDITION-REPORT lines (LL-HLS only), written in the given order.
  void set_rendition_reports(std::vector<RenditionReport> reports);

  // Adds EXT-X-ENDLIST. Parts of an unfinished segment and the preload hint are dropped
  // (their files are queued for removal). Further add_part/add_segment fail.
  void end();

  // The playlist text. The first call publishes the target duration (and part target).
  std::string render();

  // What another rendition's playlist should write about this one in EXT-X-RENDITION-REPORT.
  RenditionReport rendition_report(std::string uri) const;

  // URIs of files (segments, parts, init sections) no longer referenced by the playlist,
  // oldest first; the queue is emptied. Keep them on the server a little longer than one
  // playlist duration (clients may have just loaded the old playlist) before deleting.
  std::vector<std::string> take_removed_uris();

  uint64_t media_sequence() const;         // EXT-X-MEDIA-SEQUENCE (msn of first listed segment)
  uint64_t discontinuity_sequence() const;  // EXT-X-DISCONTINUITY-SEQUENCE
  uint64_t next_msn() const;                // msn the segment in progress will get
  uint32_t next_part_index() const;         // index the next add_part() will get
  uint32_t target_duration() const;         // current (or published) EXT-X-TARGETDURATION
  size_t segment_count() const;             // complete segments listed
  bool ended() const;
  uint64_t target_duration_overruns() const;  // segments longer than the published target
  uint64_t part_target_overruns() const;      // parts longer than PART-TARGET
  const MediaPlaylistConfig& config() const;

 private:
  // Each part's line and each segment's date and closing lines (EXTINF, BYTERANGE, URI) are
  // formatted once, when added: render() runs after every part and would otherwise format the
  // whole window again each time.
  struct Part {
    PartInfo info;
    std::string line;
  };
  struct Segment {
    uint64_t msn = 0;
    SegmentInfo info;
    std::optional<MapInfo> map;
    std::vector<Part> parts;
    std::string date_time_line;  // empty without a program date-time
    std::string closing_lines;
  };

  void trim();
  void release_uri(const std::string& uri);
  bool uri_in_use(const std::string& uri) const;
  int version() const;
  double part_hold_back() const;
  double hold_back() const;
  bool low_latency() const { return config_.part_target > 0; }

  MediaPlaylistConfig config_;
  std::vector<Segment> segments_;  // complete segments in the window, oldest first
  std::vector<Part> open_parts_;   // parts of the segment in progress
  std::optional<SegmentStart> open_start_;  // begin_segment() of the segment in progress
  std::optional<MapInfo> map_;     // map for the segment in progress
  std::optional<PreloadHint> preload_hint_;
  std::vector<RenditionReport> rendition_reports_;
  std::vector<std::string> removed_uris_;
  uint64_t media_sequence_ = 0;
  uint64_t discontinuity_sequence_ = 0;
  uint64_t next_msn_ = 0;
  size_t rendered_size_ = 0;  // of the last render(): the next one reserves about as much
  uint32_t target_duration_ = 0;
  double part_target_ = 0;
  int version_floor_ = 3;  // highest EXT-X-VERSION written by a full render
  bool published_ = false;
  bool ended_ = false;
  uint64_t target_duration_overruns_ = 0;
  uint64_t part_target_overruns_ = 0;
};

}  // namespace live::hls
