// RenditionWriter: one output rendition of hlsadaptivesink (a variant, with the audio muxed in
// for MPEG-TS, or the fMP4 audio rendition): its media playlist, its MPEG-TS or fMP4 segments
// and LL-HLS parts, cut where the SegmentAligner says, and the deletion of files that left the
// playlist. Frames come in with append(); a cut completes the segment in progress.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hls/media_playlist.h"
#include "hls/segment_aligner.h"
#include "media_frame.h"
#include "mp4/fmp4_writer.h"
#include "presentation.h"
#include "ts/ts_segment_writer.h"

namespace live::hlssink {

class RenditionWriter {
 public:
  // carries_ts_audio: an MPEG-TS variant the presentation's audio is muxed into.
  RenditionWriter(Presentation& p, bool carries_ts_audio) : p_(p), ts_audio_(carries_ts_audio) {}

  // Names the rendition (its directory or file prefix) and makes its playlist.
  void setup(const std::string& name);
  bool named() const { return playlist_ != nullptr; }
  const std::string& name() const { return name_; }
  const std::string& playlist_path() const { return playlist_path_; }

  void append(Frame frame);
  // LL-HLS: writes the parts of the segment in progress that are complete (all when flush).
  // end_dts: decode time after the last frame when known (kNoTime); audio_end: MPEG-TS audio
  // limit at the end (-1 = all); video_progress: the variant's newest PTS (audio lag rule).
  Result<void> write_parts(bool flush, int64_t end_dts, int64_t audio_end, int64_t video_progress);
  // Completes the segment in progress as the aligner decided.
  Result<void> finish_segment(const hls::AlignerDecision& cut);
  // After a flush: frames not yet written are dropped; parts already published become a
  // segment; the next segment starts after a discontinuity.
  Result<void> abandon_segment();
  // EXT-X-ENDLIST.
  Result<void> end();
  Result<void> write_playlist(bool lists_new_media);
  hls::RenditionReport report() const;

  uint64_t segments() const { return segments_; }
  uint64_t peak_bps() const { return peak_bps_; }
  double seconds() const { return total_seconds_; }
  uint64_t average_bps() const { return total_seconds_ > 0 ? uint64_t(total_bytes_ * 8 / total_seconds_) : 0; }
  size_t frames_held() const { return seg_frames_.size(); }

 private:
  Result<void> ensure_mp4(const std::shared_ptr<const StreamConfig>& c);
  void ensure_ts(const StreamConfig& c);
  Result<std::vector<uint8_t>> mp4_fragment(const std::vector<Frame>& frames, int64_t end_dts, bool with_styp);
  std::vector<uint8_t> mux_ts(const std::vector<Frame>& video, const std::vector<Frame>& audio);
  std::vector<Frame> ts_audio_between(int64_t from, int64_t until) const;
  // write_parts() without the playlist write; true when a part was added.
  Result<bool> pack_parts(bool flush, int64_t end_dts, int64_t audio_end, int64_t video_progress);
  void set_preload_hint(const std::string& uri);
  void retire_files();
  std::string media_name(uint64_t msn, int part) const;

  Presentation& p_;
  const bool ts_audio_;
  std::string name_;
  std::string dir_;         // directory of its files relative to location: "720p/" ("" when flat)
  std::string uri_prefix_;  // prefix of its file names in playlists: "" ("720p_" when flat)
  std::string playlist_path_;  // relative to location
  std::unique_ptr<hls::MediaPlaylist> playlist_;
  std::optional<mp4::Fmp4Writer> mp4_;
  std::unique_ptr<ts::TsSegmentWriter> ts_;
  std::shared_ptr<const StreamConfig> mp4_config_;  // config the fMP4 init was made from
  uint32_t mp4_timescale_ = 90000;
  uint32_t init_generation_ = 0;
  // Segment in progress.
  int64_t seg_start_ = -1;
  std::vector<Frame> seg_frames_;  // not yet written (all of them in TS without parts)
  std::vector<uint8_t> seg_bytes_;  // parts already written (not kept when the store joins them)
  std::vector<std::string> seg_part_names_;  // their files, when the store joins them
  uint64_t seg_parts_size_ = 0;
  uint32_t parts_in_segment_ = 0;
  int64_t parts_end_ = -1;  // latest PTS + duration among frames already written as parts
  int64_t audio_cursor_ = INT64_MIN;  // MPEG-TS: audio with PTS below this is already written
  bool discont_next_ = false;
  // Bandwidth measurement.
  uint64_t peak_bps_ = 0;
  uint64_t total_bytes_ = 0;
  double total_seconds_ = 0;
  uint64_t segments_ = 0;
  std::deque<std::pair<std::string, bool>> retired_;  // relative paths; bool = whole segment
};

}  // namespace live::hlssink
