// SegmentAligner: where every rendition of an adaptive HLS presentation cuts its segments, so
// that segment k starts at the same presentation time in every variant. Sans-I/O: the timing
// of each frame goes in (track, PTS, DTS, keyframe, discontinuity, size), decisions come out.
// The caller keeps the frames' data of every track in a queue in the order it pushed them; a
// decision names how many of the oldest held frames of a track it is about.
//
// Rules (times are running times in ns):
// - Video track 0 is the reference. Boundary B[0] is its first keyframe; B[k] is its first
//   keyframe at or after B[k-1] + target_duration (less half a frame), or a keyframe flagged as
//   a discontinuity.
// - A video track starts at its first keyframe at or after some boundary B[j] (less the
//   tolerance: half a reference frame, at least min_tolerance); earlier frames are dropped. It
//   starts segment j there, so a variant that joins late stays aligned.
// - A segment of a video track ends at its first keyframe at or after the next boundary (less
//   the tolerance) or at a discontinuity. A keyframe past that boundary by more than the
//   tolerance is a misaligned cut; the next segment then takes the index of the last boundary
//   the keyframe passed, and (MPEG-TS) the segment's audio covers every boundary it spans.
//   While the next boundary is unknown, a keyframe that could still become it is waited for.
// - Audio frames belong to segment k when B[k] <= PTS < B[k+1]. With the audio muxed into the
//   variants (MPEG-TS), a video segment is complete only once its audio has arrived, or the
//   video is max_audio_lag past it (then counted in audio_lag_events). Otherwise the audio is a
//   rendition of its own, cut on the boundaries.
// - Key units are requested from every video track on the grid B[0] + n * target_duration
//   (restarted at a discontinuity) two target durations ahead of the newest frame, once the
//   track produced a frame. When a reference boundary falls off that grid the grid stops and
//   the other tracks are asked for a key unit at that exact boundary.
// - After flush(track) the track drops what it held and its segment in progress and restarts
//   at its next keyframe, which starts a new segment after a discontinuity.
// Limits (push fails, the stream cannot go on): frames held per video track; the segment in
// progress of a video track (frames held plus frames already given to the writer) in bytes; the
// media time between two keyframes of a video track (DTS steps, a timestamp gap counting as at
// most kMaxTimeStep). Audio held longer than twice that time or above those bytes is dropped,
// oldest first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include <atomic>

#include "common/result.h"

namespace live::hls {

// "No decode time": DTS running times can be negative, so -1 cannot mean none.
inline constexpr int64_t kNoTime = INT64_MIN;
// The most one frame-to-frame step counts toward the keyframe interval limit (a gap is no memory).
inline constexpr int64_t kMaxTimeStep = 1'000'000'000;

// Media held for segmenting by every aligner that shares it (one per process in the element):
// a bound on the whole, on top of each track's own. When the whole is full, an aligner that holds
// at least its fair share (limit / holders) gets the error: the biggest holder stops, streams
// with ordinary segments go on. Thread-safe (atomics only).
struct HeldMediaBudget {
  std::atomic<uint64_t> used{0};
  std::atomic<uint64_t> limit{UINT64_MAX};
  std::atomic<uint32_t> holders{0};
};

struct AlignerConfig {
  size_t video_tracks = 1;  // track 0 is the reference
  bool has_audio = false;   // the audio track's index is video_tracks
  bool audio_in_variants = true;  // MPEG-TS: audio muxed into every variant; else its own rendition
  int64_t target_duration = 2'000'000'000;
  int64_t min_tolerance = 5'000'000;
  int64_t max_audio_lag = 5'000'000'000;   // MPEG-TS segments stop waiting for audio this far behind
  int64_t max_start_hold = 3'000'000'000;  // longest a set_start_hold() track is held back
  size_t max_held_frames = 20000;          // per video track
  uint64_t max_segment_bytes = 128ull << 20;     // segment in progress, per track
  int64_t max_segment_duration = 30'000'000'000;  // media time between two keyframes
  HeldMediaBudget* budget = nullptr;              // shared bound (outlives the aligner); none if null
};

struct FrameTiming {
  int64_t pts = 0;
  int64_t dts = 0;
  int64_t duration = -1;  // -1: unknown
  bool keyframe = false;
  bool discont = false;
  uint64_t bytes = 0;
};

struct AlignerDecision {
  enum class Type {
    drop,              // the oldest `frames` held frames of `track` are of no use: discard them
    append,            // the oldest `frames` held frames of `track` belong to its segment in progress
    cut,               // the segment in progress of `track` (index `segment`) is complete
    release_audio,     // MPEG-TS: the oldest `frames` audio frames are needed by no variant any more
    request_key_unit,  // ask video `track` upstream for a key unit at `time` (`count`: request number)
  };
  Type type = Type::drop;
  size_t track = 0;
  size_t frames = 0;
  bool over_limit = false;  // drop/release_audio: because of a limit, not of the rules
  uint64_t segment = 0;
  // cut: where the next segment starts (its first frame's PTS and DTS); -1 / kNoTime when no
  // segment follows directly (end of stream, discontinuity): the segment ends with its last frame.
  int64_t end_pts = -1;
  int64_t end_dts = kNoTime;
  bool last = false;                // no segment follows on this track
  bool next_discontinuity = false;  // the next segment starts after a discontinuity
  // cut of a video track with audio in the variants: its audio is audio_from <= PTS < audio_until
  // (audio_until -1: every audio frame from audio_from on).
  int64_t audio_from = INT64_MIN;
  int64_t audio_until = -1;
  // request_key_unit
  int64_t time = 0;
  uint32_t count = 0;
};

struct AlignerTrackStats {
  uint64_t dropped = 0;     // frames dropped before the track's start
  uint64_t misaligned = 0;  // cuts more than the tolerance after their boundary
};

class SegmentAligner {
 public:
  explicit SegmentAligner(AlignerConfig config);
  ~SegmentAligner();
  SegmentAligner(const SegmentAligner&) = delete;
  SegmentAligner& operator=(const SegmentAligner&) = delete;

  // Bytes this aligner's tracks hold (frames waiting plus segments in progress).
  uint64_t held_bytes() const;

  size_t audio_track() const { return config_.video_tracks; }

  // Nominal frame interval of a video track (from its frame rate; 0 = unknown).
  void set_frame_interval(size_t track, int64_t interval);
  // Holds a video track back from starting (e.g. until its name is known), for at most
  // max_start_hold of media.
  void set_start_hold(size_t track, bool hold);

  // A frame of a track. Ok(true): the caller keeps it (its data) at the end of the track's
  // queue; Ok(false): the frame is of no use (dropped at once). An error names the limit passed.
  Result<bool> push(size_t track, const FrameTiming& frame);
  void end_of_stream(size_t track);
  // Forgets what the track holds; the caller discards its queue (and, for a video track or the
  // audio rendition, the frames of its segment in progress not yet written).
  void flush(size_t track);

  // Runs the rules on what was pushed; returns every decision since the last call, in order.
  std::vector<AlignerDecision> advance();

  // MPEG-TS: may media up to `limit` (-1: all) be muxed now, for a variant whose newest frame is
  // at `video_progress`? True when the audio reached it, ended, or lags more than max_audio_lag.
  bool audio_ready_until(int64_t limit, int64_t video_progress);

  bool ended(size_t track) const { return tracks_[track].eos; }
  bool all_ended() const;
  int64_t progress(size_t track) const { return tracks_[track].max_pts; }  // newest PTS, -1 before any
  size_t boundary_count() const { return boundaries_.size(); }
  int64_t boundary(size_t k) const { return boundaries_[k]; }
  uint64_t key_unit_requests() const { return requests_sent_; }
  bool reference_follows_requests() const { return ref_follows_requests_; }
  uint64_t audio_lag_events() const { return audio_lag_events_; }
  AlignerTrackStats track_stats(size_t track) const;

 private:
  struct Held {
    FrameTiming t;
    bool certain = false;  // reference keyframe: already known whether it is a boundary
  };
  struct Track {
    bool video = true;
    std::deque<Held> held;
    uint64_t held_bytes = 0;
    bool eos = false;
    bool started = false;
    bool finished = false;
    bool hold_start = false;
    bool restart = false;  // flushed: waits for a keyframe, which starts after a discontinuity
    uint64_t seg_index = 0;
    size_t seg_frames = 0;  // frames given to the segment in progress
    uint64_t seg_bytes = 0;
    int64_t seg_start = -1;
    bool cut_found = false;
    int64_t cut_end = -1;
    bool cut_discont = false;
    uint64_t cut_next_index = 0;
    int64_t max_pts = -1;
    int64_t since_keyframe = -1;  // media time since the last keyframe (-1: none yet)
    int64_t last_dts = kNoTime;
    int64_t frame_interval = 0;
    size_t grid_sent = 0;
    AlignerTrackStats stats;
  };

  Result<bool> push_video(size_t track, FrameTiming frame);
  Result<void> check_budget(uint64_t bytes) const;
  void report_to_budget();
  bool push_audio(FrameTiming frame);
  void note_reference_keyframe(Held& frame);
  void request_key_units(int64_t now);
  bool advance_video(size_t track);
  bool start_video(size_t track);
  bool advance_audio();
  void release_audio();
  void limit_audio();
  void give(size_t track, size_t frames);
  void emit_drop(size_t track, size_t frames, bool over_limit);
  int64_t half_frame() const;
  bool boundary_certain(int64_t pts) const;
  size_t boundary_index_at(int64_t pts, size_t from) const;

  AlignerConfig config_;
  std::vector<Track> tracks_;
  std::vector<int64_t> boundaries_;
  int64_t tolerance_;
  int64_t ref_progress_ = -1;
  int64_t next_request_ = -1;
  std::vector<int64_t> grid_;
  bool ref_follows_requests_ = true;
  uint64_t requests_sent_ = 0;
  uint64_t audio_lag_events_ = 0;
  std::vector<AlignerDecision> out_;
  uint64_t reported_bytes_ = 0;  // what budget->used counts for this aligner
};

}  // namespace live::hls
