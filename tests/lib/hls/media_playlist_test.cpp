#include "hls/media_playlist.h"

#include <gtest/gtest.h>

#include "playlist_checks.h"

namespace live::hls {
namespace {

using test::check_media_rules;
using test::check_update_rules;
using test::parse_checked;
using test::parse_media_playlist;
using test::ParsedMediaPlaylist;

void expect_update_ok(const ParsedMediaPlaylist& a, const ParsedMediaPlaylist& b) {
  for (const auto& problem : check_update_rules(a, b)) ADD_FAILURE() << problem;
}

SegmentInfo seg(double duration, std::string uri) {
  SegmentInfo s;
  s.duration = duration;
  s.uri = std::move(uri);
  return s;
}

TEST(MediaPlaylist, SimpleLiveSlidingWindow) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 3;
  MediaPlaylist pl(config);
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n");
  ParsedMediaPlaylist previous = parse_checked(pl.render());
  const double durations[] = {2.0, 1.96, 2.04, 2.0, 1.5};
  for (int i = 0; i < 5; ++i) {
    auto msn = pl.add_segment(seg(durations[i], "seg" + std::to_string(i) + ".ts"));
    ASSERT_TRUE(msn.ok());
    EXPECT_EQ(*msn, uint64_t(i));
    ParsedMediaPlaylist now = parse_checked(pl.render());
    expect_update_ok(previous, now);
    previous = now;
    if (i == 3) {
      EXPECT_EQ(pl.take_removed_uris(), std::vector<std::string>{"seg0.ts"});
    } else {
      // i == 4: removing seg1 would leave 2.04 + 2.0 + 1.5 = 5.54 s < 3 x 2 s, so it stays.
      EXPECT_TRUE(pl.take_removed_uris().empty());
    }
  }
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:1\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXTINF:1.96000,\n"
            "seg1.ts\n"
            "#EXTINF:2.04000,\n"
            "seg2.ts\n"
            "#EXTINF:2.00000,\n"
            "seg3.ts\n"
            "#EXTINF:1.50000,\n"
            "seg4.ts\n");
  EXPECT_EQ(pl.media_sequence(), 1u);
  EXPECT_EQ(pl.next_msn(), 5u);
  EXPECT_EQ(pl.segment_count(), 4u);
  // seg1 can go now (7.54 s stay), seg2 cannot (2.0 + 1.5 + 2.0 = 5.5 s would stay).
  ASSERT_TRUE(pl.add_segment(seg(2.0, "seg5.ts")).ok());
  EXPECT_EQ(pl.take_removed_uris(), std::vector<std::string>{"seg1.ts"});
  EXPECT_EQ(pl.segment_count(), 4u);
  EXPECT_TRUE(pl.take_removed_uris().empty());  // the queue was drained
}

TEST(MediaPlaylist, TargetDurationIsMaxRoundedBeforePublishingAndFrozenAfter) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 0;
  MediaPlaylist pl(config);
  ASSERT_TRUE(pl.add_segment(seg(2.49, "a.ts")).ok());  // rounds to 2
  EXPECT_EQ(pl.target_duration(), 2u);
  ASSERT_TRUE(pl.add_segment(seg(2.5, "b.ts")).ok());  // rounds (half up) to 3
  EXPECT_EQ(pl.target_duration(), 3u);
  const ParsedMediaPlaylist first = parse_checked(pl.render());
  EXPECT_EQ(first.target_duration, 3u);
  ASSERT_TRUE(pl.add_segment(seg(4.2, "c.ts")).ok());  // too long, but the value is published
  EXPECT_EQ(pl.target_duration(), 3u);
  EXPECT_EQ(pl.target_duration_overruns(), 1u);
  auto parsed = parse_media_playlist(pl.render());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.playlist->target_duration, 3u);
  EXPECT_EQ(parsed.playlist->segments.size(), 3u);  // the long segment is listed (a gap is worse)
  // ... and the rule checker notices the violation, so it is not silent.
  EXPECT_EQ(check_media_rules(*parsed.playlist).size(), 1u);
}

TEST(MediaPlaylist, DiscontinuitySequenceFollowsRemovedTags) {
  MediaPlaylistConfig config;
  config.target_duration = 4;
  config.window_segments = 3;
  config.independent_segments = false;
  MediaPlaylist pl(config);
  ParsedMediaPlaylist previous = parse_checked(pl.render());
  // Discontinuities before segments 1, 2 and 4.
  const bool disc[] = {false, true, true, false, true, false, false};
  for (int i = 0; i < 7; ++i) {
    SegmentInfo s = seg(4.0, "s" + std::to_string(i) + ".ts");
    s.discontinuity = disc[i];
    ASSERT_TRUE(pl.add_segment(s).ok());
    ParsedMediaPlaylist now = parse_checked(pl.render());
    expect_update_ok(previous, now);
    previous = now;
    if (i == 3) {
      // Window s1..s3: s0 (no tag) left.
      EXPECT_EQ(pl.render(),
                "#EXTM3U\n"
                "#EXT-X-VERSION:3\n"
                "#EXT-X-TARGETDURATION:4\n"
                "#EXT-X-MEDIA-SEQUENCE:1\n"
                "#EXT-X-DISCONTINUITY\n"
                "#EXTINF:4.00000,\n"
                "s1.ts\n"
                "#EXT-X-DISCONTINUITY\n"
                "#EXTINF:4.00000,\n"
                "s2.ts\n"
                "#EXTINF:4.00000,\n"
                "s3.ts\n");
    }
    if (i == 5) {
      // Window s3..s5: s1 and s2 took their tags with them.
      EXPECT_EQ(pl.render(),
                "#EXTM3U\n"
                "#EXT-X-VERSION:3\n"
                "#EXT-X-TARGETDURATION:4\n"
                "#EXT-X-MEDIA-SEQUENCE:3\n"
                "#EXT-X-DISCONTINUITY-SEQUENCE:2\n"
                "#EXTINF:4.00000,\n"
                "s3.ts\n"
                "#EXT-X-DISCONTINUITY\n"
                "#EXTINF:4.00000,\n"
                "s4.ts\n"
                "#EXTINF:4.00000,\n"
                "s5.ts\n");
    }
  }
  EXPECT_EQ(pl.media_sequence(), 4u);
  EXPECT_EQ(pl.discontinuity_sequence(), 2u);
  ASSERT_TRUE(pl.add_segment(seg(4.0, "s7.ts")).ok());  // s4 and its tag leave
  EXPECT_EQ(pl.discontinuity_sequence(), 3u);
}

TEST(MediaPlaylist, EventPlaylistKeepsEverythingAndEnds) {
  MediaPlaylistConfig config;
  config.target_duration = 6;
  config.window_segments = 2;  // ignored: an EVENT playlist may not remove segments
  config.type = PlaylistType::event;
  MediaPlaylist pl(config);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pl.add_segment(seg(6.0, std::to_string(i) + ".ts")).ok());
  EXPECT_TRUE(pl.take_removed_uris().empty());
  pl.end();
  EXPECT_TRUE(pl.ended());
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:6\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXTINF:6.00000,\n"
            "0.ts\n"
            "#EXTINF:6.00000,\n"
            "1.ts\n"
            "#EXTINF:6.00000,\n"
            "2.ts\n"
            "#EXT-X-ENDLIST\n");
  parse_checked(pl.render());
  EXPECT_FALSE(pl.add_segment(seg(6.0, "3.ts")).ok());
}

TEST(MediaPlaylist, LiveEndListAfterSlidingWindow) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 3;
  MediaPlaylist pl(config);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pl.add_segment(seg(2.0, "x" + std::to_string(i) + ".ts")).ok());
  pl.end();
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:1\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXTINF:2.00000,\n"
            "x1.ts\n"
            "#EXTINF:2.00000,\n"
            "x2.ts\n"
            "#EXTINF:2.00000,\n"
            "x3.ts\n"
            "#EXT-X-ENDLIST\n");
  parse_checked(pl.render());
}

TEST(MediaPlaylist, VersionFollowsFeaturesAndNeverGoesDown) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 3;
  MediaPlaylist pl(config);
  SegmentInfo ranged = seg(2.0, "all.ts");
  ranged.byterange = ByteRange{500, 0};
  ASSERT_TRUE(pl.add_segment(ranged).ok());
  EXPECT_EQ(parse_checked(pl.render()).version, 4);  // EXT-X-BYTERANGE
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pl.add_segment(seg(2.0, std::to_string(i) + ".ts")).ok());
  EXPECT_EQ(pl.take_removed_uris(), std::vector<std::string>{"all.ts"});
  EXPECT_EQ(parse_checked(pl.render()).version, 4);  // the ranged segment left; still 4
  MediaPlaylist plain(config);
  ASSERT_TRUE(plain.add_segment(seg(2.0, "a.ts")).ok());
  EXPECT_EQ(parse_checked(plain.render()).version, 3);
}

TEST(MediaPlaylist, WindowNeverShrinksBelowThreeTargetDurations) {
  MediaPlaylistConfig config;
  config.target_duration = 4;
  config.window_segments = 1;  // too small for 4 s segments of 1 s: keeps 12 s instead
  MediaPlaylist pl(config);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(pl.add_segment(seg(1.0, std::to_string(i) + ".ts")).ok());
  EXPECT_EQ(pl.segment_count(), 12u);
  EXPECT_EQ(pl.media_sequence(), 8u);
  EXPECT_EQ(pl.take_removed_uris().size(), 8u);
  parse_checked(pl.render());
}

TEST(MediaPlaylist, EncryptionKeysProgramDateTimeAndByteRanges) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 3;
  MediaPlaylist pl(config);
  Key k1{"AES-128", "key1.bin", std::nullopt};
  Key k2{"AES-128", "https://keys.example/k2?x=1", std::array<uint8_t, 16>{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                                                           0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
                                                                           0x0d, 0x0e, 0xff}};
  SegmentInfo a = seg(2.0, "a.ts");
  a.key = k1;
  a.program_date_time_ms = 1'763'751'850'123;  // 2025-11-21T19:04:10.123Z
  SegmentInfo b = seg(2.0, "b.ts");
  b.key = k1;
  SegmentInfo c = seg(2.0, "c.ts");
  c.key = k2;
  SegmentInfo d = seg(2.0, "d.ts");  // clear again
  d.byterange = ByteRange{1000, 0};
  ASSERT_TRUE(pl.add_segment(a).ok());
  ASSERT_TRUE(pl.add_segment(b).ok());
  ASSERT_TRUE(pl.add_segment(c).ok());
  ParsedMediaPlaylist p1 = parse_checked(pl.render());
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-KEY:METHOD=AES-128,URI=\"key1.bin\"\n"
            "#EXT-X-PROGRAM-DATE-TIME:2025-11-21T19:04:10.123Z\n"
            "#EXTINF:2.00000,\n"
            "a.ts\n"
            "#EXTINF:2.00000,\n"
            "b.ts\n"
            "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k2?x=1\",IV=0x000102030405060708090A0B0C0D0EFF\n"
            "#EXTINF:2.00000,\n"
            "c.ts\n");
  ASSERT_TRUE(pl.add_segment(d).ok());
  ParsedMediaPlaylist p2 = parse_checked(pl.render());
  expect_update_ok(p1, p2);
  // a.ts left; b.ts is first and still encrypted with key 1, so the tag is repeated for it.
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:4\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:1\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-KEY:METHOD=AES-128,URI=\"key1.bin\"\n"
            "#EXTINF:2.00000,\n"
            "b.ts\n"
            "#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k2?x=1\",IV=0x000102030405060708090A0B0C0D0EFF\n"
            "#EXTINF:2.00000,\n"
            "c.ts\n"
            "#EXT-X-KEY:METHOD=NONE\n"
            "#EXTINF:2.00000,\n"
            "#EXT-X-BYTERANGE:1000@0\n"
            "d.ts\n");
  ASSERT_EQ(p2.segments.size(), 3u);
  EXPECT_EQ(p2.segments[0].effective_key->at("URI"), "key1.bin");
  EXPECT_EQ(p2.segments[1].effective_key->at("IV"), "0x000102030405060708090A0B0C0D0EFF");
  EXPECT_FALSE(p2.segments[2].effective_key.has_value());
  EXPECT_EQ(p2.segments[2].byterange->length, 1000u);
  EXPECT_EQ(pl.take_removed_uris(), std::vector<std::string>{"a.ts"});
}

TEST(MediaPlaylist, Fmp4MapChangesAndOldInitSectionIsReleased) {
  MediaPlaylistConfig config;
  config.target_duration = 2;
  config.window_segments = 3;
  config.map = MapInfo{"init0.mp4", std::nullopt};
  MediaPlaylist pl(config);
  ASSERT_TRUE(pl.add_segment(seg(2.0, "s0.m4s")).ok());
  pl.set_map(MapInfo{"init1.mp4", std::nullopt});
  SegmentInfo s1 = seg(2.0, "s1.m4s");
  s1.discontinuity = true;
  ASSERT_TRUE(pl.add_segment(s1).ok());
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:6\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MAP:URI=\"init0.mp4\"\n"
            "#EXTINF:2.00000,\n"
            "s0.m4s\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXT-X-MAP:URI=\"init1.mp4\"\n"
            "#EXTINF:2.00000,\n"
            "s1.m4s\n");
  const ParsedMediaPlaylist before = parse_checked(pl.render());
  EXPECT_TRUE(pl.take_removed_uris().empty());
  ASSERT_TRUE(pl.add_segment(seg(2.0, "s2.m4s")).ok());
  EXPECT_TRUE(pl.take_removed_uris().empty());
  ASSERT_TRUE(pl.add_segment(seg(2.0, "s3.m4s")).ok());
  EXPECT_EQ(pl.take_removed_uris(), (std::vector<std::string>{"s0.m4s", "init0.mp4"}));
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:6\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:1\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXT-X-MAP:URI=\"init1.mp4\"\n"
            "#EXTINF:2.00000,\n"
            "s1.m4s\n"
            "#EXTINF:2.00000,\n"
            "s2.m4s\n"
            "#EXTINF:2.00000,\n"
            "s3.m4s\n");
  expect_update_ok(before, parse_checked(pl.render()));
}

}  // namespace
}  // namespace live::hls
