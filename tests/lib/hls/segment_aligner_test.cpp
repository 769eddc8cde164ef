// SegmentAligner on synthetic timelines: a Timeline pushes frames, applies every decision to
// queues that mirror the caller's, and records the segments each track got.
#include "hls/segment_aligner.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <vector>

namespace live::hls {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kFrame = kSec / 30;

struct Segment {
  uint64_t index = 0;
  std::vector<int64_t> pts;  // frames in it
  int64_t end_pts = -1;
  bool last = false;
  bool next_discontinuity = false;
  int64_t audio_from = 0, audio_until = 0;
};

struct Timeline {
  explicit Timeline(AlignerConfig c) : aligner(c), held(c.video_tracks + (c.has_audio ? 1 : 0)),
                                       open(held.size()), segments(held.size()) {
    for (size_t v = 0; v < c.video_tracks; ++v) aligner.set_frame_interval(v, kFrame);
  }

  // Pushes one frame and applies the decisions; returns push's result.
  Result<bool> try_push(size_t track, int64_t pts, bool keyframe, bool discont = false, uint64_t bytes = 1000,
                    int64_t dts = kNoTime) {
    FrameTiming f;
    f.pts = pts;
    f.dts = dts == kNoTime ? pts : dts;
    f.duration = kFrame;
    f.keyframe = keyframe;
    f.discont = discont;
    f.bytes = bytes;
    auto r = aligner.push(track, f);
    if (r && *r) held[track].push_back(pts);
    apply();
    return r;
  }
  void push(size_t track, int64_t pts, bool keyframe, bool discont = false) {
    ASSERT_TRUE(try_push(track, pts, keyframe, discont).ok());
  }
  void eos(size_t track) {
    aligner.end_of_stream(track);
    apply();
  }
  void flush(size_t track) {
    aligner.flush(track);
    held[track].clear();
    open[track].clear();
    apply();
  }
  void apply() {
    for (const AlignerDecision& d : aligner.advance()) {
      auto& q = held[d.track];
      switch (d.type) {
        case AlignerDecision::Type::drop:
        case AlignerDecision::Type::release_audio:
          ASSERT_LE(d.frames, q.size());
          dropped[d.track] += d.frames;
          if (d.over_limit) over_limit[d.track] += d.frames;
          q.erase(q.begin(), q.begin() + long(d.frames));
          break;
        case AlignerDecision::Type::append:
          ASSERT_LE(d.frames, q.size());
          open_index[d.track] = d.segment;
          open[d.track].insert(open[d.track].end(), q.begin(), q.begin() + long(d.frames));
          q.erase(q.begin(), q.begin() + long(d.frames));
          break;
        case AlignerDecision::Type::cut: {
          Segment s;
          s.index = d.segment;
          s.pts = std::move(open[d.track]);
          open[d.track].clear();
          s.end_pts = d.end_pts;
          s.last = d.last;
          s.next_discontinuity = d.next_discontinuity;
          s.audio_from = d.audio_from;
          s.audio_until = d.audio_until;
          ASSERT_FALSE(s.pts.empty());
          segments[d.track].push_back(s);
          break;
        }
        case AlignerDecision::Type::request_key_unit: requests[d.track].push_back(d.time); break;
      }
    }
  }
  // Video frames [from, to) at 30 fps with a keyframe every `gop` frames (0: only the first).
  void video(size_t track, int from, int to, int gop, int64_t offset = 0) {
    for (int i = from; i < to; ++i) push(track, offset + i * kFrame, gop ? i % gop == 0 : i == from);
  }
  std::vector<int64_t> starts(size_t track) const {
    std::vector<int64_t> v;
    for (auto& s : segments[track]) v.push_back(s.pts.front());
    return v;
  }

  SegmentAligner aligner;
  std::vector<std::deque<int64_t>> held;  // the caller's queues of held frames (their PTS)
  std::vector<std::vector<int64_t>> open;  // frames of each track's segment in progress
  std::map<size_t, uint64_t> open_index;
  std::vector<std::vector<Segment>> segments;
  std::map<size_t, size_t> dropped, over_limit;
  std::map<size_t, std::vector<int64_t>> requests;
};

AlignerConfig config(size_t videos, bool audio = false, bool audio_in_variants = true) {
  AlignerConfig c;
  c.video_tracks = videos;
  c.has_audio = audio;
  c.audio_in_variants = audio_in_variants;
  return c;
}

TEST(SegmentAligner, VariantsCutAtTheReferenceBoundaries) {
  Timeline tl(config(2));
  // Keyframe every second in both; target 2 s: boundaries at 0, 2, 4 s.
  for (int i = 0; i < 180; ++i) {
    tl.push(0, i * kFrame, i % 30 == 0);
    tl.push(1, i * kFrame, i % 30 == 0);
  }
  tl.eos(0);
  tl.eos(1);
  const std::vector<int64_t> expected = {0, 60 * kFrame, 120 * kFrame};
  EXPECT_EQ(tl.starts(0), expected);
  EXPECT_EQ(tl.starts(1), expected);
  ASSERT_EQ(tl.segments[1].size(), 3u);
  EXPECT_EQ(tl.segments[1][0].pts.size(), 60u);
  EXPECT_EQ(tl.segments[1][0].end_pts, 60 * kFrame);
  EXPECT_FALSE(tl.segments[1][0].last);
  EXPECT_EQ(tl.segments[1][2].end_pts, -1);  // EOS: ends with its last frame
  EXPECT_TRUE(tl.segments[1][2].last);
  EXPECT_EQ(tl.aligner.boundary_count(), 3u);
  EXPECT_EQ(tl.aligner.track_stats(1).misaligned, 0u);
  EXPECT_TRUE(tl.held[0].empty());
  EXPECT_TRUE(tl.held[1].empty());
}

TEST(SegmentAligner, AVariantAheadOfTheReferenceWaitsForTheBoundary) {
  Timeline tl(config(2));
  tl.video(1, 0, 90, 30);  // the variant runs 3 s ahead
  tl.video(0, 0, 10, 30);
  EXPECT_TRUE(tl.segments[1].empty());  // boundary B[1] unknown: nothing can be cut
  tl.video(0, 10, 61, 30);             // the reference reaches 2 s: B[1]
  ASSERT_EQ(tl.segments[1].size(), 1u);
  EXPECT_EQ(tl.segments[1][0].pts.size(), 60u);
  EXPECT_EQ(tl.segments[1][0].end_pts, 60 * kFrame);
}

TEST(SegmentAligner, MissingKeyframeInAVariantKeepsItsAudioAndIndexAligned) {
  Timeline tl(config(2, true));
  for (int i = 0; i < 300; ++i) {
    tl.push(0, i * kFrame, i % 60 == 0);
    // The variant has no keyframe at 4 s (frame 120).
    tl.push(1, i * kFrame, i % 60 == 0 && i != 120);
    tl.push(2, i * kFrame, true);  // audio
  }
  tl.eos(0);
  tl.eos(1);
  tl.eos(2);
  EXPECT_EQ(tl.starts(0), (std::vector<int64_t>{0, 60 * kFrame, 120 * kFrame, 180 * kFrame, 240 * kFrame}));
  EXPECT_EQ(tl.starts(1), (std::vector<int64_t>{0, 60 * kFrame, 180 * kFrame, 240 * kFrame}));
  const auto& s = tl.segments[1];
  // Segment 1 of the variant spans two boundaries; its audio covers both.
  EXPECT_EQ(s[1].index, 1u);
  EXPECT_EQ(s[1].audio_from, 60 * kFrame);
  EXPECT_EQ(s[1].audio_until, 180 * kFrame);
  // The next one is segment 3 again, with the reference's audio range.
  EXPECT_EQ(s[2].index, 3u);
  EXPECT_EQ(s[2].audio_from, tl.segments[0][3].audio_from);
  EXPECT_EQ(s[2].audio_until, tl.segments[0][3].audio_until);
  EXPECT_EQ(tl.aligner.track_stats(1).misaligned, 1u);
}

TEST(SegmentAligner, LateVariantStartsAtTheBoundaryItJoins) {
  Timeline tl(config(2));
  tl.video(0, 0, 200, 60);
  // The variant's first frames come 5 s in; its first keyframe is at 6 s (B[3]).
  for (int i = 150; i < 200; ++i) tl.push(1, i * kFrame, i == 180);
  tl.video(0, 200, 300, 60);
  for (int i = 200; i < 300; ++i) tl.push(1, i * kFrame, i % 60 == 0);
  tl.eos(0);
  tl.eos(1);
  ASSERT_FALSE(tl.segments[1].empty());
  EXPECT_EQ(tl.segments[1][0].index, 3u);
  EXPECT_EQ(tl.segments[1][0].pts.front(), 180 * kFrame);
  EXPECT_EQ(tl.segments[1][1].index, 4u);
  EXPECT_EQ(tl.segments[1][1].pts.front(), tl.segments[0][4].pts.front());
  EXPECT_EQ(tl.aligner.track_stats(1).dropped, 30u);  // the frames before its keyframe
  EXPECT_EQ(tl.aligner.track_stats(1).misaligned, 0u);
}

TEST(SegmentAligner, ReferenceWithoutKeyframeHoldsNothing) {
  Timeline tl(config(1));
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(tl.try_push(0, i * kFrame, false).ok());
  EXPECT_TRUE(tl.held[0].empty());
  EXPECT_EQ(tl.aligner.track_stats(0).dropped, 3000u);
  EXPECT_EQ(tl.aligner.boundary_count(), 0u);
}

TEST(SegmentAligner, NoKeyframeForTooLongIsAnError) {
  AlignerConfig c = config(1);
  c.max_segment_duration = 10 * kSec;
  Timeline tl(c);
  ASSERT_TRUE(tl.try_push(0, 0, true).ok());
  int i = 1;
  Result<bool> r = true;
  for (; i < 1000 && r.ok(); ++i) r = tl.try_push(0, i * kFrame, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_EQ(i - 1, 301);  // the first frame more than 10 s after the keyframe
}

TEST(SegmentAligner, SegmentInProgressAboveTheByteLimitIsAnError) {
  AlignerConfig c = config(1);
  c.max_segment_bytes = 1'000'000;
  Timeline tl(c);
  int i = 0;
  Result<bool> r = true;
  for (; i < 1000 && r.ok(); ++i) r = tl.try_push(0, i * kFrame, i == 0, false, 10'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(i - 1, 100);  // 100 frames of 10 kB fit
  // Frames the writer already has still count: the cap is on the segment, not on what is held.
  EXPECT_EQ(tl.open[0].size(), 100u);
}

TEST(SegmentAligner, TooManyFramesAheadOfTheReferenceIsAnError) {
  AlignerConfig c = config(2);
  c.max_held_frames = 100;
  Timeline tl(c);
  tl.push(0, 0, true);
  Result<bool> r = true;
  int i = 0;
  for (; i < 200 && r.ok(); ++i) r = tl.try_push(1, i * kFrame, i % 30 == 0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(i - 1, 130);  // 30..129 wait for the reference's boundary
}

TEST(SegmentAligner, TimestampGapWithDiscontinuityStartsANewSegment) {
  Timeline tl(config(2));
  tl.video(0, 0, 45, 30);
  tl.video(1, 0, 45, 30);
  // 10 s gap; the keyframes after it are flagged DISCONT.
  const int64_t gap = 10 * kSec;
  tl.push(0, gap + 45 * kFrame, true, true);
  tl.push(1, gap + 45 * kFrame, true, true);
  for (int i = 46; i < 120; ++i) {
    tl.push(0, gap + i * kFrame, (i - 45) % 30 == 0);
    tl.push(1, gap + i * kFrame, (i - 45) % 30 == 0);
  }
  tl.eos(0);
  tl.eos(1);
  for (size_t v = 0; v < 2; ++v) {
    ASSERT_GE(tl.segments[v].size(), 2u) << v;
    EXPECT_EQ(tl.segments[v][0].pts.size(), 45u);
    EXPECT_EQ(tl.segments[v][0].end_pts, -1);  // ends with its last frame, not at the next start
    EXPECT_TRUE(tl.segments[v][0].next_discontinuity);
    EXPECT_EQ(tl.segments[v][1].pts.front(), gap + 45 * kFrame);
  }
  EXPECT_EQ(tl.starts(0), tl.starts(1));
}

TEST(SegmentAligner, TimestampGapWithoutDiscontinuityIsNoError) {
  AlignerConfig c = config(1);
  c.max_segment_duration = 10 * kSec;
  Timeline tl(c);
  tl.video(0, 0, 45, 30);
  // 40 s later, no flag, mid-GOP: longer than the keyframe limit in PTS, but a gap holds nothing.
  for (int i = 45; i < 120; ++i) ASSERT_TRUE(tl.try_push(0, 40 * kSec + i * kFrame, i % 30 == 0).ok());
  tl.eos(0);
  ASSERT_EQ(tl.segments[0].size(), 2u);
  EXPECT_EQ(tl.segments[0][0].pts.size(), 60u);
  EXPECT_EQ(tl.segments[0][0].end_pts, 40 * kSec + 60 * kFrame);
  EXPECT_FALSE(tl.segments[0][0].next_discontinuity);
}

TEST(SegmentAligner, EndOfStreamOfAVariantWaitsForTheReference) {
  Timeline tl(config(2));
  tl.video(1, 0, 50, 30);
  tl.eos(1);
  tl.video(0, 0, 40, 30);
  EXPECT_TRUE(tl.segments[1].empty());  // a reference keyframe could still cut it
  tl.eos(0);
  ASSERT_EQ(tl.segments[1].size(), 1u);
  EXPECT_EQ(tl.segments[1][0].pts.size(), 50u);
  EXPECT_TRUE(tl.segments[1][0].last);
  EXPECT_TRUE(tl.aligner.all_ended());
}

TEST(SegmentAligner, EndOfStreamWithNothingHeldCutsNothing) {
  Timeline tl(config(1));
  tl.video(0, 0, 60, 60);
  tl.push(0, 60 * kFrame, true);
  tl.eos(0);
  ASSERT_EQ(tl.segments[0].size(), 2u);
  EXPECT_EQ(tl.segments[0][1].pts.size(), 1u);
  tl.eos(0);
  EXPECT_EQ(tl.segments[0].size(), 2u);
}

TEST(SegmentAligner, TsSegmentWaitsForItsAudioUpToTheLagLimit) {
  Timeline tl(config(1, true));
  tl.video(0, 0, 61, 30);
  for (int i = 0; i < 50; ++i) tl.push(1, i * kFrame, true);  // audio up to 1.63 s
  EXPECT_TRUE(tl.segments[0].empty());
  for (int i = 50; i < 61; ++i) tl.push(1, i * kFrame, true);
  ASSERT_EQ(tl.segments[0].size(), 1u);
  EXPECT_EQ(tl.segments[0][0].audio_from, INT64_MIN);
  EXPECT_EQ(tl.segments[0][0].audio_until, 60 * kFrame);
  // Audio stalls: segment 1 waits until the video is 5 s past its end.
  tl.video(0, 61, 121 + 150, 60);
  EXPECT_EQ(tl.segments[0].size(), 1u);
  tl.video(0, 271, 272, 60);
  EXPECT_EQ(tl.segments[0].size(), 2u);
  EXPECT_GE(tl.aligner.audio_lag_events(), 1u);
  // Audio every variant is past was released.
  EXPECT_LT(tl.held[1].size(), 61u);
}

TEST(SegmentAligner, AudioRenditionIsCutOnTheBoundaries) {
  Timeline tl(config(1, true, false));
  for (int i = 0; i < 150; ++i) {
    tl.push(1, i * kFrame - 10 * kMs, true);  // audio starts just before the video
    tl.push(0, i * kFrame, i % 60 == 0);
  }
  tl.eos(0);
  tl.eos(1);
  const auto& a = tl.segments[1];
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(tl.dropped[1], 1u);  // before B[0]
  EXPECT_EQ(a[0].pts.front(), kFrame - 10 * kMs);
  EXPECT_EQ(a[0].end_pts, 61 * kFrame - 10 * kMs);
  EXPECT_EQ(a[1].pts.size(), 60u);
  EXPECT_TRUE(a[2].last);
}

TEST(SegmentAligner, AudioWithoutVideoIsBounded) {
  AlignerConfig c = config(1, true);
  c.max_segment_duration = 5 * kSec;
  Timeline tl(c);
  for (int i = 0; i < 30 * 60; ++i) tl.push(1, i * kFrame, true);
  EXPECT_LE(tl.held[1].size(), size_t(10 * 30 + 1));
  EXPECT_GT(tl.over_limit[1], 0u);
}

TEST(SegmentAligner, KeyUnitsRequestedOnTheGridAheadOfTheNewestFrame) {
  Timeline tl(config(2));
  tl.push(0, 0, true);
  tl.push(1, 0, true);
  // B[0] = 0: requests for 2 s and 4 s (two target durations ahead), to both tracks.
  EXPECT_EQ(tl.requests[0], (std::vector<int64_t>{2 * kSec, 4 * kSec}));
  EXPECT_EQ(tl.requests[1], (std::vector<int64_t>{2 * kSec, 4 * kSec}));
  tl.video(0, 1, 62, 60);
  EXPECT_EQ(tl.requests[0], (std::vector<int64_t>{2 * kSec, 4 * kSec, 6 * kSec}));
  EXPECT_TRUE(tl.aligner.reference_follows_requests());
}

TEST(SegmentAligner, ReferenceOffTheGridIsFollowed) {
  Timeline tl(config(2));
  tl.push(0, 0, true);
  tl.push(1, 0, true);
  tl.requests.clear();
  // The reference's next keyframe is at 2.5 s, off the requested 2 s.
  for (int i = 1; i <= 75; ++i) tl.push(0, i * kFrame, i == 75);
  EXPECT_FALSE(tl.aligner.reference_follows_requests());
  ASSERT_FALSE(tl.requests[1].empty());
  EXPECT_EQ(tl.requests[1].back(), 75 * kFrame);
}

TEST(SegmentAligner, FlushDropsHeldFramesAndRestartsAtAKeyframe) {
  Timeline tl(config(1));
  tl.video(0, 0, 100, 60);  // segment 1 in progress (frames 60..99)
  ASSERT_EQ(tl.segments[0].size(), 1u);
  EXPECT_FALSE(tl.open[0].empty());
  tl.flush(0);
  // Delta frames after the flush are of no use; the next keyframe restarts after a discontinuity.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(*tl.try_push(0, i * kFrame, false));
  tl.video(0, 5, 125, 60);
  tl.eos(0);
  ASSERT_EQ(tl.segments[0].size(), 3u);
  EXPECT_EQ(tl.segments[0][1].pts.front(), 60 * kFrame);  // frames before the flush: abandoned
  EXPECT_EQ(tl.segments[0][1].pts.size(), 60u);           // 60..119 after the flush
  EXPECT_EQ(tl.segments[0][2].pts.front(), 120 * kFrame);
  EXPECT_EQ(tl.aligner.boundary_count(), 4u);  // 0, 2 s, the restart at 2 s, 4 s
}

TEST(SegmentAligner, StartHoldIsBounded) {
  AlignerConfig c = config(2);
  Timeline tl(c);
  tl.aligner.set_start_hold(1, true);
  tl.video(0, 0, 120, 30);
  tl.video(1, 0, 80, 30);
  EXPECT_TRUE(tl.open[1].empty() && tl.segments[1].empty());  // held back
  tl.video(1, 80, 95, 30);                                   // 3 s of media held: starts anyway
  EXPECT_FALSE(tl.segments[1].empty());
  tl.aligner.set_start_hold(1, false);
}

// Two streams share a process budget of 20 MB: one publisher sends a keyframe then only
// 1 MB delta frames (it cannot be cut), the other ordinary 100 kB frames with a keyframe every
// second. The first fails once the whole is full; the second never does; what they hold never
// passes the budget by more than a frame and the ordinary stream's share; when both are gone
// the budget is empty.
TEST(SegmentAligner, ProcessBudgetStopsTheBiggestHolderOnly) {
  HeldMediaBudget budget;
  budget.limit = 20'000'000;
  {
    AlignerConfig c = config(1);
    c.budget = &budget;
    c.max_segment_bytes = 1ull << 40;  // only the shared bound applies here
    c.max_segment_duration = 3600 * kSec;
    Timeline hostile(c), ordinary(c);
    EXPECT_EQ(budget.holders.load(), 2u);
    std::string error;
    int hostile_frames = 0;
    for (int i = 0; i < 300; ++i) {
      if (error.empty()) {
        auto r = hostile.try_push(0, i * kFrame, i == 0, false, 1'000'000);
        if (r.ok()) ++hostile_frames;
        else error = r.error().context;
      }
      ASSERT_TRUE(ordinary.try_push(0, i * kFrame, i % 30 == 0, false, 100'000).ok()) << "frame " << i;
      // The failed stream keeps what it held until its element stops; the ordinary one goes
      // on within its share: the whole stays under limit + one frame + that share.
      EXPECT_LE(budget.used.load() - ordinary.aligner.held_bytes(), budget.limit.load() + 1'000'000);
      EXPECT_LE(ordinary.aligner.held_bytes(), budget.limit.load() / 2);
    }
    EXPECT_NE(error.find("all HLS sinks of the process"), std::string::npos) << error;
    EXPECT_GE(hostile_frames, 15);  // it got most of the budget before it failed
    EXPECT_LE(hostile_frames, 20);
    EXPECT_EQ(budget.used.load(), hostile.aligner.held_bytes() + ordinary.aligner.held_bytes());
  }
  EXPECT_EQ(budget.used.load(), 0u);
  EXPECT_EQ(budget.holders.load(), 0u);
}

}  // namespace
}  // namespace live::hls
