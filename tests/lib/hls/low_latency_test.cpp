// LL-HLS: parts, preload hints, server control and rendition reports.
#include <gtest/gtest.h>

#include <set>

#include "hls/media_playlist.h"
#include "playlist_checks.h"

namespace live::hls {
namespace {

using test::check_update_rules;
using test::parse_checked;
using test::ParsedMediaPlaylist;

MediaPlaylistConfig ll_config() {
  MediaPlaylistConfig c;
  c.target_duration = 2;
  c.window_segments = 4;
  c.part_target = 0.5;
  c.map = MapInfo{"init.mp4", std::nullopt};
  return c;
}

std::string part_uri(int msn, int k) { return "seg" + std::to_string(msn) + "." + std::to_string(k) + ".m4s"; }

// Adds the 4 parts (0.5 s, keyframe every second) and completes segment `msn`.
void add_full_segment(MediaPlaylist& pl, int msn, std::optional<int64_t> pdt = std::nullopt) {
  for (int k = 0; k < 4; ++k)
    ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(msn, k), k % 2 == 0, std::nullopt}).ok());
  SegmentInfo s;
  s.duration = 2.0;
  s.uri = "seg" + std::to_string(msn) + ".m4s";
  s.program_date_time_ms = pdt;
  auto added = pl.add_segment(s);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, uint64_t(msn));
}

TEST(LowLatency, PartsPreloadHintServerControlRenditionReports) {
  MediaPlaylist video(ll_config());
  MediaPlaylist audio(ll_config());
  add_full_segment(video, 0, 1'763'751'850'000);
  add_full_segment(video, 1);
  ASSERT_TRUE(video.add_part(PartInfo{0.5, part_uri(2, 0), true, std::nullopt}).ok());
  ASSERT_TRUE(video.add_part(PartInfo{0.5, part_uri(2, 1), false, std::nullopt}).ok());
  video.set_preload_hint(PreloadHint{part_uri(2, 2), std::nullopt, std::nullopt});
  // The audio rendition is one part behind.
  add_full_segment(audio, 0);
  add_full_segment(audio, 1);
  ASSERT_TRUE(audio.add_part(PartInfo{0.5, "a" + part_uri(2, 0), true, std::nullopt}).ok());
  const RenditionReport report = audio.rendition_report("../audio/playlist.m3u8");
  EXPECT_EQ(report.last_msn, 2u);
  EXPECT_EQ(report.last_part, std::optional<uint32_t>(0));
  video.set_rendition_reports({report});

  const std::string text = video.render();
  EXPECT_EQ(text,
            "#EXTM3U\n"
            "#EXT-X-VERSION:6\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=6.000,PART-HOLD-BACK=1.500\n"
            "#EXT-X-PART-INF:PART-TARGET=0.50000\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MAP:URI=\"init.mp4\"\n"
            "#EXT-X-PROGRAM-DATE-TIME:2025-11-21T19:04:10.000Z\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg0.0.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg0.1.m4s\"\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg0.2.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg0.3.m4s\"\n"
            "#EXTINF:2.00000,\n"
            "seg0.m4s\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg1.0.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg1.1.m4s\"\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg1.2.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg1.3.m4s\"\n"
            "#EXTINF:2.00000,\n"
            "seg1.m4s\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg2.0.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg2.1.m4s\"\n"
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg2.2.m4s\"\n"
            "#EXT-X-RENDITION-REPORT:URI=\"../audio/playlist.m3u8\",LAST-MSN=2,LAST-PART=0\n");
  const ParsedMediaPlaylist p = parse_checked(text);
  ASSERT_EQ(p.segments.size(), 2u);
  EXPECT_EQ(p.segments[1].parts.size(), 4u);
  ASSERT_EQ(p.open_parts.size(), 2u);
  EXPECT_EQ(p.preload_hint->at("URI"), "seg2.2.m4s");
  ASSERT_EQ(p.rendition_reports.size(), 1u);
  const ParsedMediaPlaylist audio_parsed = parse_checked(audio.render());
  for (const auto& problem : test::check_rendition_report(p.rendition_reports[0], audio_parsed))
    ADD_FAILURE() << problem;
  // The audio playlist reports on the video one just as well, also after the segment completes.
  for (int k = 1; k < 4; ++k)
    ASSERT_TRUE(audio.add_part(PartInfo{0.5, "a" + part_uri(2, k), k % 2 == 0, std::nullopt}).ok());
  SegmentInfo a2;
  a2.duration = 2.0;
  a2.uri = "aseg2.m4s";
  ASSERT_TRUE(audio.add_segment(a2).ok());
  audio.set_rendition_reports({video.rendition_report("../video/playlist.m3u8")});
  const ParsedMediaPlaylist audio_now = parse_checked(audio.render());
  ASSERT_EQ(audio_now.rendition_reports.size(), 1u);
  for (const auto& problem : test::check_rendition_report(audio_now.rendition_reports[0], p)) ADD_FAILURE() << problem;
  test::AttributeList wrong;
  wrong.values = {{"URI", "x"}, {"LAST-MSN", "2"}, {"LAST-PART", "2"}};
  EXPECT_EQ(test::check_rendition_report(wrong, audio_now).size(), 1u);  // the checker can fail
  const RenditionReport done = audio.rendition_report("x");
  EXPECT_EQ(done.last_msn, 2u);
  EXPECT_EQ(done.last_part, std::optional<uint32_t>(3));
  for (const auto& problem : test::check_rendition_report(
           test::parse_media_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-RENDITION-REPORT:URI=\"x\",LAST-MSN=2,"
                                      "LAST-PART=3\n")
               .playlist->rendition_reports.at(0),
           audio_now))
    ADD_FAILURE() << problem;
  EXPECT_EQ(video.next_msn(), 2u);
  EXPECT_EQ(video.next_part_index(), 2u);

  // Publishing the hinted part consumes the hint; the next render has no stale hint.
  ASSERT_TRUE(video.add_part(PartInfo{0.5, part_uri(2, 2), true, std::nullopt}).ok());
  const ParsedMediaPlaylist p2 = parse_checked(video.render());
  EXPECT_FALSE(p2.preload_hint.has_value());
  for (const auto& problem : check_update_rules(p, p2)) ADD_FAILURE() << problem;
}

TEST(LowLatency, PartsAreDroppedThreeTargetDurationsFromTheEndAndTheirFilesReleased) {
  MediaPlaylistConfig c = ll_config();
  c.window_segments = 6;
  MediaPlaylist pl(c);
  for (int n = 0; n < 4; ++n) add_full_segment(pl, n);
  // 8 s listed: seg0 ends 6 s before the end (kept: not more than 3 x 2 s), nothing removed.
  EXPECT_TRUE(pl.take_removed_uris().empty());
  ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(4, 0), true, std::nullopt}).ok());
  // Now seg0 ends 6.5 s before the end: its EXT-X-PART lines (and part files) go.
  EXPECT_EQ(pl.take_removed_uris(),
            (std::vector<std::string>{part_uri(0, 0), part_uri(0, 1), part_uri(0, 2), part_uri(0, 3)}));
  const ParsedMediaPlaylist p = parse_checked(pl.render());
  ASSERT_EQ(p.segments.size(), 4u);
  EXPECT_TRUE(p.segments[0].parts.empty());
  EXPECT_EQ(p.segments[1].parts.size(), 4u);
  EXPECT_EQ(p.segments[0].uri, "seg0.m4s");  // the segment itself stays
}

TEST(LowLatency, ByteRangePartsAndHint) {
  MediaPlaylistConfig c = ll_config();
  c.map.reset();
  c.part_target = 1.0;
  c.target_duration = 2;
  MediaPlaylist pl(c);
  ASSERT_TRUE(pl.add_part(PartInfo{1.0, "s0.ts", true, ByteRange{18800, 0}}).ok());
  pl.set_preload_hint(PreloadHint{"s0.ts", 18800, std::nullopt});
  EXPECT_EQ(pl.render(),
            "#EXTM3U\n"
            "#EXT-X-VERSION:4\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=6.000,PART-HOLD-BACK=3.000\n"
            "#EXT-X-PART-INF:PART-TARGET=1.00000\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-PART:DURATION=1.00000,URI=\"s0.ts\",INDEPENDENT=YES,BYTERANGE=\"18800@0\"\n"
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s0.ts\",BYTERANGE-START=18800\n");
  const ParsedMediaPlaylist before = parse_checked(pl.render());
  ASSERT_TRUE(pl.add_part(PartInfo{1.0, "s0.ts", false, ByteRange{9400, 18800}}).ok());
  SegmentInfo s;
  s.duration = 2.0;
  s.uri = "s0.ts";
  ASSERT_TRUE(pl.add_segment(s).ok());
  const ParsedMediaPlaylist after = parse_checked(pl.render());
  EXPECT_FALSE(after.preload_hint.has_value());  // consumed by the matching part
  for (const auto& problem : check_update_rules(before, after)) ADD_FAILURE() << problem;
  EXPECT_TRUE(pl.take_removed_uris().empty());  // the file is still the segment
}

TEST(LowLatency, PartTargetIsFrozenOncePublished) {
  MediaPlaylist pl(ll_config());
  ASSERT_TRUE(pl.add_part(PartInfo{0.52, "p0.m4s", true, std::nullopt}).ok());  // raises it before publishing
  EXPECT_NE(pl.render().find("PART-TARGET=0.52000"), std::string::npos);
  ASSERT_TRUE(pl.add_part(PartInfo{0.6, "p1.m4s", false, std::nullopt}).ok());
  EXPECT_EQ(pl.part_target_overruns(), 1u);
  EXPECT_NE(pl.render().find("PART-TARGET=0.52000"), std::string::npos);
  // PART-HOLD-BACK follows the published part target.
  EXPECT_NE(pl.render().find("PART-HOLD-BACK=1.560"), std::string::npos);
}

TEST(LowLatency, RejectsPartsWhenNotLowLatencyAndBadInput) {
  MediaPlaylistConfig c;
  MediaPlaylist plain(c);
  EXPECT_FALSE(plain.add_part(PartInfo{0.5, "p.m4s", true, std::nullopt}).ok());
  MediaPlaylist pl(ll_config());
  EXPECT_FALSE(pl.add_part(PartInfo{0.5, "", true, std::nullopt}).ok());
  EXPECT_FALSE(pl.add_part(PartInfo{0.0, "p.m4s", true, std::nullopt}).ok());
  EXPECT_FALSE(pl.add_segment(SegmentInfo{}).ok());
}

TEST(LowLatency, EndDropsOpenPartsAndHint) {
  MediaPlaylist pl(ll_config());
  add_full_segment(pl, 0);
  ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(1, 0), true, std::nullopt}).ok());
  pl.set_preload_hint(PreloadHint{part_uri(1, 1), std::nullopt, std::nullopt});
  pl.end();
  EXPECT_EQ(pl.take_removed_uris(), (std::vector<std::string>{part_uri(1, 0), part_uri(1, 1)}));
  const ParsedMediaPlaylist p = parse_checked(pl.render());
  EXPECT_TRUE(p.endlist);
  EXPECT_TRUE(p.open_parts.empty());
  EXPECT_FALSE(p.preload_hint.has_value());
  EXPECT_FALSE(pl.add_part(PartInfo{0.5, part_uri(1, 1), false, std::nullopt}).ok());
}

TEST(LowLatency, BeginSegmentWritesTagsBeforeTheOpenParts) {
  MediaPlaylistConfig c = ll_config();
  MediaPlaylist pl(c);
  add_full_segment(pl, 0);
  pl.set_map(MapInfo{"init1.mp4", std::nullopt});
  ASSERT_TRUE(pl.begin_segment(SegmentStart{true, 1'763'751'852'000}).ok());
  ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(1, 0), true, std::nullopt}).ok());
  EXPECT_FALSE(pl.begin_segment(SegmentStart{}).ok());  // too late: a part is out
  const std::string open = pl.render();
  EXPECT_EQ(open.substr(open.find("seg0.m4s\n")),
            "seg0.m4s\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXT-X-MAP:URI=\"init1.mp4\"\n"
            "#EXT-X-PROGRAM-DATE-TIME:2025-11-21T19:04:12.000Z\n"
            "#EXT-X-PART:DURATION=0.50000,URI=\"seg1.0.m4s\",INDEPENDENT=YES\n");
  const ParsedMediaPlaylist before = parse_checked(open);
  EXPECT_TRUE(before.open_discontinuity);
  for (int k = 1; k < 4; ++k) ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(1, k), false, std::nullopt}).ok());
  SegmentInfo s;
  s.duration = 2.0;
  s.uri = "seg1.m4s";
  ASSERT_TRUE(pl.add_segment(s).ok());
  const ParsedMediaPlaylist after = parse_checked(pl.render());
  ASSERT_EQ(after.segments.size(), 2u);
  EXPECT_TRUE(after.segments[1].discontinuity);
  EXPECT_EQ(after.segments[1].program_date_time, std::optional<std::string>("2025-11-21T19:04:12.000Z"));
  EXPECT_EQ(after.segments[1].effective_map->at("URI"), "init1.mp4");
  for (const auto& problem : check_update_rules(before, after)) ADD_FAILURE() << problem;
}

TEST(LowLatency, UpdateRulesCatchADiscontinuityAnnouncedOnlyAtCompletion) {
  MediaPlaylist pl(ll_config());
  add_full_segment(pl, 0);
  ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(1, 0), true, std::nullopt}).ok());
  const ParsedMediaPlaylist before = parse_checked(pl.render());
  SegmentInfo s;
  s.duration = 0.5;
  s.uri = "seg1.m4s";
  s.discontinuity = true;  // players already saw part 1.0 without it
  ASSERT_TRUE(pl.add_segment(s).ok());
  const ParsedMediaPlaylist after = parse_checked(pl.render());
  EXPECT_EQ(check_update_rules(before, after).size(), 1u);
}

TEST(LowLatency, EncryptedSegmentsWithPartsAreRefused) {
  MediaPlaylist pl(ll_config());
  ASSERT_TRUE(pl.add_part(PartInfo{0.5, part_uri(0, 0), true, std::nullopt}).ok());
  SegmentInfo s;
  s.duration = 0.5;
  s.uri = "seg0.m4s";
  s.key = Key{"AES-128", "k.key", std::nullopt};
  EXPECT_FALSE(pl.add_segment(s).ok());
  EXPECT_EQ(pl.next_msn(), 0u);  // nothing changed
  s.key.reset();
  EXPECT_TRUE(pl.add_segment(s).ok());
}

// A long live run with discontinuities, a part duration that does not divide evenly, a sliding
// window and preload hints: every rendered playlist obeys the rules, every update is consistent
// with the one before, and the removed-file queue names exactly what left the playlist.
TEST(LowLatency, LongRunKeepsEveryRule) {
  MediaPlaylistConfig c;
  c.target_duration = 2;
  c.window_segments = 5;
  c.part_target = 1.0 / 3.0;
  c.map = MapInfo{"init.mp4", std::nullopt};
  MediaPlaylist pl(c);
  ParsedMediaPlaylist previous = parse_checked(pl.render());
  std::set<std::string> referenced;  // every URI the last playlist named
  std::set<std::string> removed;     // everything take_removed_uris() returned
  auto refs = [](const ParsedMediaPlaylist& p) {
    std::set<std::string> out;
    for (const auto& s : p.segments) {
      out.insert(s.uri);
      for (const auto& part : s.parts) out.insert(part.uri);
      if (s.effective_map) out.insert(s.effective_map->at("URI"));
    }
    for (const auto& part : p.open_parts) out.insert(part.uri);
    if (p.preload_hint) out.insert(p.preload_hint->at("URI"));
    return out;
  };
  int steps = 0;
  for (int n = 0; n < 60; ++n) {
    for (int k = 0; k < 6; ++k) {
      if (k == 0) {
        // Discontinuity and date stand before the first part, not only once the segment is done.
        ASSERT_TRUE(pl.begin_segment(SegmentStart{n % 7 == 3, 1'700'000'000'000 + int64_t(n) * 2000}).ok());
      }
      ASSERT_TRUE(pl.add_part(PartInfo{1.0 / 3.0, part_uri(n, k), k == 0, std::nullopt}).ok());
      pl.set_preload_hint(PreloadHint{k < 5 ? part_uri(n, k + 1) : part_uri(n + 1, 0), std::nullopt, std::nullopt});
      if (k == 5) {
        SegmentInfo s;
        s.duration = 2.0;
        s.uri = "seg" + std::to_string(n) + ".m4s";
        ASSERT_TRUE(pl.add_segment(s).ok());
      }
      const ParsedMediaPlaylist now = parse_checked(pl.render());
      for (const auto& problem : check_update_rules(previous, now)) ADD_FAILURE() << "step " << steps << ": " << problem;
      for (const auto& uri : pl.take_removed_uris()) {
        EXPECT_TRUE(removed.insert(uri).second) << uri << " removed twice";
        EXPECT_TRUE(referenced.count(uri)) << uri << " removed but was not listed";
      }
      const std::set<std::string> now_refs = refs(now);
      for (const auto& uri : referenced) {
        if (!now_refs.count(uri)) {
          EXPECT_TRUE(removed.count(uri)) << uri << " left the playlist but was not released";
        }
      }
      for (const auto& uri : now_refs) EXPECT_FALSE(removed.count(uri)) << uri << " released but still listed";
      referenced = now_refs;
      previous = now;
      ++steps;
      if (HasFailure()) return;
    }
  }
  EXPECT_EQ(pl.media_sequence(), 55u);
  EXPECT_EQ(pl.discontinuity_sequence(), 8u);  // tags of segments 3,10,...,52 have left
  EXPECT_EQ(previous.segments.size(), 5u);
  EXPECT_EQ(pl.part_target_overruns(), 0u);
  EXPECT_EQ(pl.target_duration_overruns(), 0u);
}

}  // namespace
}  // namespace live::hls
