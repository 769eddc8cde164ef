#include "hls/playlist_format.h"

#include <gtest/gtest.h>

#include "hls/segment_cutter.h"

namespace live::hls {
namespace {

TEST(PlaylistFormat, Decimals) {
  EXPECT_EQ(format_decimal(2.0, 5), "2.00000");
  EXPECT_EQ(format_decimal(1.0 / 3.0, 5), "0.33333");
  EXPECT_EQ(format_decimal(2.0 / 3.0, 5), "0.66667");
  EXPECT_EQ(format_decimal(29.97002997, 3), "29.970");
  EXPECT_EQ(format_decimal(0.0000049, 5), "0.00000");
  EXPECT_EQ(format_decimal(0.000005, 5), "0.00001");
  EXPECT_EQ(format_decimal(12345.6, 0), "12346");
  EXPECT_EQ(format_decimal(-1.0, 3), "0.000");
  EXPECT_EQ(format_decimal(0.1, 3), "0.100");
  EXPECT_EQ(format_decimal(10.04, 5), "10.04000");
}

TEST(PlaylistFormat, DateTime) {
  EXPECT_EQ(format_date_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_date_time_ms(1'763'751'850'123), "2025-11-21T19:04:10.123Z");
  EXPECT_EQ(format_date_time_ms(951'782'400'000), "2000-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(format_date_time_ms(4'102'444'799'999), "2099-12-31T23:59:59.999Z");
  EXPECT_EQ(format_date_time_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(PlaylistFormat, RoundingAndQuoting) {
  EXPECT_EQ(round_seconds(2.49999), 2u);
  EXPECT_EQ(round_seconds(2.5), 3u);
  EXPECT_EQ(round_seconds(0), 0u);
  EXPECT_EQ(quoted("a\"b\nc"), "\"abc\"");
}

constexpr int64_t kMs = 1'000'000;

TEST(SegmentCutter, CutsAtFirstKeyframeAfterTarget) {
  SegmentCutter cutter({2000 * kMs, 0});
  // 25 fps, keyframe every 30 frames (1.2 s): segments must cut at 2.4 s, 4.8 s, ...
  std::vector<int64_t> cuts;
  for (int i = 0; i < 300; ++i) {
    const int64_t ts = i * 40 * kMs;
    const CutDecision d = cutter.push(ts, 40 * kMs, i % 30 == 0);
    EXPECT_NE(d, CutDecision::new_part);
    if (d == CutDecision::new_segment) cuts.push_back(ts);
  }
  std::vector<int64_t> expected;
  for (int64_t t = 2400; t < 12000; t += 2400) expected.push_back(t * kMs);
  EXPECT_EQ(cuts, expected);
  EXPECT_EQ(cutter.next_segment_boundary(), std::optional<int64_t>((9600 + 2000) * kMs));
}

TEST(SegmentCutter, PartsNeverExceedPartDuration) {
  // 30 fps video (33.333 ms frames), parts of at most 200 ms, keyframe every second.
  SegmentCutter cutter({2000 * kMs, 200 * kMs});
  const int64_t frame = 33'333'333;
  int64_t part_start = 0, segment_start = 0;
  int parts = 0, segments = 0;
  for (int i = 0; i < 300; ++i) {
    const int64_t ts = int64_t(i) * 1'000'000'000 / 30;  // as GStreamer computes frame times
    const CutDecision d = cutter.push(ts, frame, i % 30 == 0);
    if (d != CutDecision::none) {
      EXPECT_LE(ts - part_start, 200 * kMs);
      EXPECT_GE(ts - part_start, 150 * kMs);  // and are not needlessly short
      part_start = ts;
      ++parts;
    }
    if (d == CutDecision::new_segment) {
      EXPECT_EQ(i % 30, 0);
      EXPECT_GE(ts - segment_start, 2000 * kMs - frame);
      segment_start = ts;
      ++segments;
    }
  }
  EXPECT_EQ(segments, 4);  // at frames 60, 120, 180, 240 
  EXPECT_EQ(parts, 49);    // 6 frames (200 ms) a part, plus the segment boundaries
}

}  // namespace
}  // namespace live::hls
