#include "hls/segment_aligner.h"

#include <algorithm>
#include <string>

namespace live::hls {

SegmentAligner::SegmentAligner(AlignerConfig config)
    : config_(config), tracks_(config.video_tracks + (config.has_audio ? 1 : 0)), tolerance_(config.min_tolerance) {
  if (config_.has_audio) tracks_.back().video = false;
  if (config_.budget) config_.budget->holders.fetch_add(1);
}

SegmentAligner::~SegmentAligner() {
  if (!config_.budget) return;
  config_.budget->used.fetch_sub(reported_bytes_);
  config_.budget->holders.fetch_sub(1);
}

uint64_t SegmentAligner::held_bytes() const {
  uint64_t bytes = 0;
  for (const Track& t : tracks_) bytes += t.held_bytes + t.seg_bytes;
  return bytes;
}

Result<void> SegmentAligner::check_budget(uint64_t bytes) const {
  HeldMediaBudget* b = config_.budget;
  if (!b) return {};
  const uint64_t limit = b->limit.load();
  if (b->used.load() + bytes <= limit) return {};
  const uint64_t own = held_bytes();
  const uint64_t share = limit / std::max<uint32_t>(1, b->holders.load());
  if (own + bytes <= share) return {};  // an ordinary stream: the big holder gets the error
  return make_error(Errc::limit_exceeded,
                    "media held for segmenting by all HLS sinks of the process above " + std::to_string(limit) +
                        " bytes; this one holds " + std::to_string(own) + " (fair share " + std::to_string(share) + ")");
}

// Counted as a difference: the element's frames move between held, segment and written in many
// places, the total is what matters.
void SegmentAligner::report_to_budget() {
  if (!config_.budget) return;
  const uint64_t now = held_bytes();
  if (now >= reported_bytes_) {
    config_.budget->used.fetch_add(now - reported_bytes_);
  } else {
    config_.budget->used.fetch_sub(reported_bytes_ - now);
  }
  reported_bytes_ = now;
}

void SegmentAligner::set_frame_interval(size_t track, int64_t interval) { tracks_[track].frame_interval = interval; }

void SegmentAligner::set_start_hold(size_t track, bool hold) { tracks_[track].hold_start = hold; }

int64_t SegmentAligner::half_frame() const {
  const int64_t interval = tracks_[0].frame_interval;
  return interval > 0 ? interval / 2 : tolerance_;
}

Result<bool> SegmentAligner::push(size_t track, const FrameTiming& frame) {
  if (tracks_[track].video) {
    if (auto over = check_budget(frame.bytes); !over) return over.error();
    auto kept = push_video(track, frame);
    report_to_budget();
    return kept;
  }
  const bool kept = push_audio(frame);  // audio over its limits is dropped, never an error
  report_to_budget();
  return kept;
}

Result<bool> SegmentAligner::push_video(size_t index, FrameTiming f) {
  Track& t = tracks_[index];
  const bool is_ref = index == 0;
  if (t.held.size() >= config_.max_held_frames)
    return make_error(Errc::limit_exceeded,
                      "more than " + std::to_string(config_.max_held_frames) + " frames ahead of the reference");
  if (f.discont && !t.started && t.held.empty()) f.discont = false;  // nothing to be discontinuous with
  if (t.restart) {
    if (!f.keyframe) {
      t.stats.dropped++;
      return false;
    }
    t.restart = false;
    f.discont = !boundaries_.empty();
  }
  if (is_ref && !f.keyframe && (boundaries_.empty() || (!t.started && t.held.empty()))) {
    t.stats.dropped++;  // before the reference's first keyframe: of no use, hold nothing
    t.max_pts = std::max(t.max_pts, f.pts);
    ref_progress_ = std::max(ref_progress_, f.pts);
    return false;
  }
  // Limits on the segment in progress: a keyframe can always end it.
  const int64_t step = t.last_dts == kNoTime ? 0 : std::clamp<int64_t>(f.dts - t.last_dts, 0, kMaxTimeStep);
  t.last_dts = f.dts;
  if (f.keyframe) {
    t.since_keyframe = 0;
  } else if (t.since_keyframe >= 0) {
    t.since_keyframe += step;
    if (t.since_keyframe > config_.max_segment_duration)
      return make_error(Errc::limit_exceeded, "no keyframe for " + std::to_string(t.since_keyframe / 1000000) +
                                                  " ms of media (limit " +
                                                  std::to_string(config_.max_segment_duration / 1000000) + " ms)");
  }
  if (t.held_bytes + t.seg_bytes + f.bytes > config_.max_segment_bytes)
    return make_error(Errc::limit_exceeded, "segment in progress above " + std::to_string(config_.max_segment_bytes) +
                                                " bytes (no keyframe cut)");
  Held h{f, false};
  if (is_ref) {
    if (f.keyframe) note_reference_keyframe(h);
    ref_progress_ = std::max(ref_progress_, f.pts);
  }
  t.max_pts = std::max(t.max_pts, f.pts);
  t.held_bytes += f.bytes;
  t.held.push_back(h);
  request_key_units(t.max_pts);
  return true;
}

void SegmentAligner::note_reference_keyframe(Held& h) {
  const FrameTiming& f = h.t;
  const int64_t half = half_frame();
  if (boundaries_.empty()) {
    boundaries_.push_back(f.pts);
    tolerance_ = std::max(config_.min_tolerance, half);
  } else if (f.discont || f.pts >= boundaries_.back() + config_.target_duration - half) {
    boundaries_.push_back(f.pts);
    // Only the newest requests matter (older boundaries are long decided).
    const auto from = grid_.size() > 8 ? grid_.end() - 8 : grid_.begin();
    const bool on_grid = std::any_of(from, grid_.end(), [&](int64_t g) { return std::llabs(g - f.pts) <= half; });
    if (f.discont) {
      next_request_ = f.pts + config_.target_duration;  // the grid restarts here
    } else if (!on_grid) {
      // The reference does not follow the requests (passthrough): from now on its keyframes
      // decide, and the others are asked for a key unit right there.
      ref_follows_requests_ = false;
      for (size_t v = 1; v < config_.video_tracks; ++v) {
        AlignerDecision d;
        d.type = AlignerDecision::Type::request_key_unit;
        d.track = v;
        d.time = f.pts;
        out_.push_back(d);
      }
    }
  }
  h.certain = true;
}

// Requests for the grid boundaries up to two target durations ahead. A track gets its requests
// only once it produced a frame: GstVideoEncoder (1.22) evaluates requests that arrive before
// its first frame against a not yet adjusted segment, fires them all at once and never again.
void SegmentAligner::request_key_units(int64_t now) {
  if (boundaries_.empty() || !ref_follows_requests_) return;
  const int64_t target = config_.target_duration;
  if (next_request_ < 0) next_request_ = boundaries_[0] + target;
  while (next_request_ <= now + 2 * target) {
    grid_.push_back(next_request_);
    next_request_ += target;
  }
  for (size_t v = 0; v < config_.video_tracks; ++v) {
    Track& t = tracks_[v];
    if (t.max_pts < 0) continue;
    for (; t.grid_sent < grid_.size(); ++t.grid_sent) {
      AlignerDecision d;
      d.type = AlignerDecision::Type::request_key_unit;
      d.track = v;
      d.time = grid_[t.grid_sent];
      d.count = uint32_t(t.grid_sent);
      out_.push_back(d);
      requests_sent_++;
    }
  }
}

bool SegmentAligner::push_audio(FrameTiming f) {
  Track& a = tracks_.back();
  f.keyframe = true;
  a.max_pts = std::max(a.max_pts, f.pts);
  a.held_bytes += f.bytes;
  a.held.push_back(Held{f, false});
  limit_audio();
  return true;
}

// Audio held far longer than any segment can last is of no use: drop it, oldest first.
void SegmentAligner::limit_audio() {
  Track& a = tracks_.back();
  size_t n = 0;
  const int64_t max_span = 2 * config_.max_segment_duration;
  uint64_t bytes = a.held_bytes;
  while (n < a.held.size() &&
         (a.max_pts - a.held[n].t.pts > max_span || bytes > config_.max_segment_bytes)) {
    bytes -= a.held[n].t.bytes;
    ++n;
  }
  if (n == 0) return;
  a.held.erase(a.held.begin(), a.held.begin() + long(n));
  a.held_bytes = bytes;
  AlignerDecision d;
  d.type = config_.audio_in_variants ? AlignerDecision::Type::release_audio : AlignerDecision::Type::drop;
  d.track = audio_track();
  d.frames = n;
  d.over_limit = true;
  out_.push_back(d);
}

void SegmentAligner::end_of_stream(size_t track) { tracks_[track].eos = true; }

void SegmentAligner::flush(size_t track) {
  Track& t = tracks_[track];
  t.held.clear();
  t.held_bytes = 0;
  t.seg_frames = 0;
  t.seg_bytes = 0;
  t.seg_start = -1;
  t.cut_found = false;
  t.eos = false;
  t.finished = false;
  t.since_keyframe = -1;
  t.last_dts = kNoTime;
  if (!t.video) {
    t.max_pts = -1;
    report_to_budget();
    return;
  }
  t.restart = t.started;
  t.started = false;
  if (track == 0) ref_progress_ = -1;
  report_to_budget();
}

bool SegmentAligner::all_ended() const {
  if (config_.video_tracks == 0) return false;
  for (const Track& t : tracks_)
    if (!t.eos) return false;
  return true;
}

AlignerTrackStats SegmentAligner::track_stats(size_t track) const { return tracks_[track].stats; }

std::vector<AlignerDecision> SegmentAligner::advance() {
  bool progress = true;
  while (progress) {
    progress = false;
    for (size_t v = 0; v < config_.video_tracks; ++v) progress |= advance_video(v);
    progress |= advance_audio();
  }
  release_audio();
  report_to_budget();
  std::vector<AlignerDecision> out = std::move(out_);
  out_.clear();
  return out;
}

bool SegmentAligner::boundary_certain(int64_t pts) const {
  return tracks_[0].eos || pts + tolerance_ <= ref_progress_;
}

// The last boundary at or after `from` that `pts` reached (boundaries after a discontinuity
// may go back in time: the search stops there).
size_t SegmentAligner::boundary_index_at(int64_t pts, size_t from) const {
  size_t n = from;
  while (n + 1 < boundaries_.size() && boundaries_[n + 1] > boundaries_[n] && boundaries_[n + 1] - tolerance_ <= pts) ++n;
  return n;
}

void SegmentAligner::emit_drop(size_t track, size_t frames, bool over_limit) {
  if (frames == 0) return;
  Track& t = tracks_[track];
  for (size_t i = 0; i < frames; ++i) t.held_bytes -= t.held[i].t.bytes;
  t.held.erase(t.held.begin(), t.held.begin() + long(frames));
  if (t.video) t.stats.dropped += frames;
  AlignerDecision d;
  d.type = AlignerDecision::Type::drop;
  d.track = track;
  d.frames = frames;
  d.over_limit = over_limit;
  out_.push_back(d);
}

void SegmentAligner::give(size_t track, size_t frames) {
  if (frames == 0) return;
  Track& t = tracks_[track];
  for (size_t i = 0; i < frames; ++i) {
    const FrameTiming& f = t.held.front().t;
    if (t.seg_frames == 0) t.seg_start = f.pts;
    t.seg_frames++;
    t.seg_bytes += f.bytes;
    t.held_bytes -= f.bytes;
    t.held.pop_front();
  }
  AlignerDecision d;
  d.type = AlignerDecision::Type::append;
  d.track = track;
  d.frames = frames;
  d.segment = t.seg_index;
  out_.push_back(d);
}

// Drops frames up to the keyframe the track starts at; returns true when it made progress.
bool SegmentAligner::start_video(size_t index) {
  Track& t = tracks_[index];
  const bool is_ref = index == 0;
  size_t drop = 0;
  size_t start_index = 0;
  bool found = false;
  for (; drop < t.held.size(); ++drop) {
    const FrameTiming& f = t.held[drop].t;
    if (!f.keyframe) continue;
    size_t j = boundaries_.size();
    while (j > 0 && boundaries_[j - 1] - tolerance_ > f.pts) --j;
    if (j == 0) continue;  // before the first boundary
    start_index = j - 1;
    // A keyframe well after the newest boundary may belong to one not known yet.
    if (!is_ref && start_index + 1 == boundaries_.size() && f.pts > boundaries_[start_index] + tolerance_ &&
        !boundary_certain(f.pts)) {
      emit_drop(index, drop, false);
      return drop > 0;
    }
    found = true;
    break;
  }
  emit_drop(index, drop, false);
  if (!found) return drop > 0;
  // Held back (e.g. names wait for the other tracks' caps), but not for ever.
  if (t.hold_start && t.held.back().t.pts - t.held.front().t.pts < config_.max_start_hold) return drop > 0;
  t.started = true;
  t.seg_index = start_index;
  t.held.front().t.discont = false;
  return true;
}

// Moves what is known of segment k of one video track out of its held frames, and cuts it
// when complete. Returns true when it made progress.
bool SegmentAligner::advance_video(size_t index) {
  Track& t = tracks_[index];
  if (t.finished || boundaries_.empty()) return false;
  const bool is_ref = index == 0;
  bool progress = false;
  if (!t.started) {
    progress = start_video(index);
    if (!t.started) return progress;
  }
  const size_t k = t.seg_index;
  const bool next_known = boundaries_.size() > k + 1;
  if (!t.cut_found) {
    size_t i = 0;
    for (; i < t.held.size(); ++i) {
      const Held& h = t.held[i];
      // (The segment's own first keyframe is no cut, even when parts already took every frame.)
      if (!h.t.keyframe || (t.seg_frames == 0 && i == 0)) continue;
      if (h.t.discont) break;  // a discontinuity always starts a new segment
      if (next_known) {
        if (h.t.pts >= boundaries_[k + 1] - tolerance_) break;
      } else if (!(is_ref ? h.certain : h.t.pts + tolerance_ <= ref_progress_)) {
        break;  // could become the boundary: wait
      }
    }
    if (i > 0) progress = true;
    give(index, i);
    if (!t.held.empty()) {
      const FrameTiming& f = t.held.front().t;
      if (f.keyframe && (f.discont || (next_known && f.pts >= boundaries_[k + 1] - tolerance_))) {
        // Past the next boundary: which boundary it reached may not be known yet.
        const bool wait = !f.discont && !is_ref && f.pts > boundaries_[k + 1] + tolerance_ &&
                          boundaries_.size() <= k + 2 && !boundary_certain(f.pts);
        if (!wait) {
          t.cut_found = true;
          t.cut_end = f.pts;
          t.cut_discont = f.discont;
          t.cut_next_index = f.discont ? k + 1 : boundary_index_at(f.pts, k + 1);
          if (!f.discont && (t.cut_next_index != k + 1 || f.pts > boundaries_[t.cut_next_index] + tolerance_))
            t.stats.misaligned++;
        }
      }
    } else if (t.eos && (next_known || tracks_[0].eos)) {
      t.cut_found = true;
      t.cut_end = -1;
      t.cut_discont = false;
    }
  }
  if (!t.cut_found) return progress;
  // Video of segment k complete; with the audio in the variants it also needs its audio.
  const bool spans = !t.cut_discont && t.cut_end >= 0;
  const int64_t audio_until = spans ? boundaries_[t.cut_next_index] : next_known ? boundaries_[k + 1] : -1;
  if (config_.has_audio && config_.audio_in_variants && !audio_ready_until(audio_until, t.max_pts)) return progress;
  if (t.seg_frames == 0) {
    t.cut_found = false;
    if (t.cut_end < 0) t.finished = true;
    return progress;
  }
  // Across a discontinuity the segment ends with its last frame, not at the next start.
  const bool continues = spans && !t.held.empty();
  AlignerDecision d;
  d.type = AlignerDecision::Type::cut;
  d.track = index;
  d.segment = k;
  d.end_pts = continues ? t.cut_end : -1;
  d.end_dts = continues ? t.held.front().t.dts : kNoTime;
  d.last = t.cut_end < 0;
  d.audio_from = k == 0 ? INT64_MIN : boundaries_[k];
  d.audio_until = audio_until;
  if (!t.held.empty() && t.held.front().t.discont) {
    d.next_discontinuity = true;
    t.held.front().t.discont = false;
  }
  out_.push_back(d);
  t.seg_index = spans ? t.cut_next_index : k + 1;
  t.seg_frames = 0;
  t.seg_bytes = 0;
  t.seg_start = -1;
  if (t.cut_end < 0) t.finished = true;
  t.cut_found = false;
  return true;
}

// The audio rendition (audio not in the variants): segment k = audio with B[k] <= PTS < B[k+1].
bool SegmentAligner::advance_audio() {
  if (!config_.has_audio || config_.audio_in_variants || boundaries_.empty()) return false;
  const size_t index = audio_track();
  Track& a = tracks_[index];
  if (a.finished) return false;
  bool progress = false;
  if (!a.started) {
    size_t n = 0;
    while (n < a.held.size() && a.held[n].t.pts < boundaries_[0]) ++n;
    emit_drop(index, n, false);
    progress = n > 0;
    if (a.held.empty() && !a.eos) return progress;
    a.started = true;
  }
  const size_t k = a.seg_index;
  const bool next_known = boundaries_.size() > k + 1;
  const int64_t limit = next_known ? boundaries_[k + 1] : ref_progress_;
  size_t n = 0;
  while (n < a.held.size() && a.held[n].t.pts < limit) ++n;
  if (n > 0) progress = true;
  give(index, n);
  const bool complete = (next_known && (!a.held.empty() || a.eos)) || (a.eos && tracks_[0].eos && !next_known);
  if (!complete) return progress;
  if (!next_known) give(index, a.held.size());  // the end: everything left
  if (a.seg_frames == 0) {
    if (!next_known) a.finished = true;
    else a.seg_index++;  // no audio in this segment
    return true;
  }
  AlignerDecision d;
  d.type = AlignerDecision::Type::cut;
  d.track = index;
  d.segment = k;
  d.end_pts = a.held.empty() ? -1 : a.held.front().t.pts;
  d.end_dts = a.held.empty() ? kNoTime : a.held.front().t.dts;
  d.last = !next_known;
  out_.push_back(d);
  a.seg_frames = 0;
  a.seg_bytes = 0;
  a.seg_start = -1;
  a.seg_index++;
  if (!next_known) a.finished = true;
  return true;
}

// Audio in the variants: frames every variant has written can go.
void SegmentAligner::release_audio() {
  if (!config_.has_audio || !config_.audio_in_variants || config_.video_tracks == 0) return;
  size_t min_k = SIZE_MAX;
  for (size_t v = 0; v < config_.video_tracks; ++v)
    min_k = std::min<size_t>(min_k, tracks_[v].finished ? SIZE_MAX - 1 : tracks_[v].seg_index);
  if (min_k >= boundaries_.size()) return;
  const int64_t lo = boundaries_[min_k];
  Track& a = tracks_.back();
  size_t n = 0;
  while (n < a.held.size() && a.held[n].t.pts < lo) {
    a.held_bytes -= a.held[n].t.bytes;
    ++n;
  }
  if (n == 0) return;
  a.held.erase(a.held.begin(), a.held.begin() + long(n));
  AlignerDecision d;
  d.type = AlignerDecision::Type::release_audio;
  d.track = audio_track();
  d.frames = n;
  out_.push_back(d);
}

bool SegmentAligner::audio_ready_until(int64_t limit, int64_t video_progress) {
  if (!config_.has_audio) return true;
  const Track& a = tracks_.back();
  if (a.eos) return true;
  if (limit >= 0 && a.max_pts >= limit) return true;
  if (video_progress > std::max(limit, a.max_pts) + config_.max_audio_lag) {
    audio_lag_events_++;
    return true;
  }
  return false;
}

}  // namespace live::hls
