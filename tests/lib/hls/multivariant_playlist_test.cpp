#include "hls/multivariant_playlist.h"

#include <gtest/gtest.h>

#include "playlist_parser.h"

namespace live::hls {
namespace {

TEST(MultivariantPlaylist, VariantsWithAudioGroup) {
  MultivariantPlaylist m;
  m.set_version(6);
  m.add_audio(AudioRendition{"aac", "English", "en", "audio/playlist.m3u8", true, true, 2});
  m.add_audio(AudioRendition{"aac", "Commentary", "", "commentary/playlist.m3u8", false, false, 0});
  m.add_variant(VariantStream{"1080p/playlist.m3u8", 5'500'000, 5'000'000, "avc1.640028,mp4a.40.2", 1920, 1080,
                              30000.0 / 1001.0, "aac"});
  m.add_variant(VariantStream{"360p/playlist.m3u8", 900'000, std::nullopt, "avc1.42c01e,mp4a.40.2", 640, 360, 25.0,
                              "aac"});
  const std::string text = m.render();
  EXPECT_EQ(text,
            "#EXTM3U\n"
            "#EXT-X-VERSION:6\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,"
            "CHANNELS=\"2\",URI=\"audio/playlist.m3u8\"\n"
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"Commentary\",DEFAULT=NO,AUTOSELECT=NO,"
            "URI=\"commentary/playlist.m3u8\"\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=5500000,AVERAGE-BANDWIDTH=5000000,CODECS=\"avc1.640028,mp4a.40.2\","
            "RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO=\"aac\"\n"
            "1080p/playlist.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.42c01e,mp4a.40.2\",RESOLUTION=640x360,"
            "FRAME-RATE=25.000,AUDIO=\"aac\"\n"
            "360p/playlist.m3u8\n");
  auto parsed = test::parse_multivariant_playlist(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  const auto& p = *parsed.playlist;
  EXPECT_EQ(p.version, 6);
  EXPECT_TRUE(p.independent_segments);
  ASSERT_EQ(p.media.size(), 2u);
  ASSERT_EQ(p.variants.size(), 2u);
  EXPECT_EQ(p.variants[0].attributes.integer("BANDWIDTH"), 5'500'000u);
  EXPECT_EQ(p.variants[0].attributes.at("RESOLUTION"), "1920x1080");
  EXPECT_EQ(p.variants[1].uri, "360p/playlist.m3u8");
  // Peak bandwidth is never below the average.
  for (const auto& v : p.variants) {
    if (v.attributes.has("AVERAGE-BANDWIDTH")) {
      EXPECT_GE(v.attributes.integer("BANDWIDTH"), v.attributes.integer("AVERAGE-BANDWIDTH"));
    }
  }
}

TEST(MultivariantPlaylist, MinimalVideoOnly) {
  MultivariantPlaylist m;
  m.set_independent_segments(false);
  VariantStream v;
  v.uri = "v0.m3u8";
  v.bandwidth = 1234;
  m.add_variant(v);
  EXPECT_EQ(m.render(), "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1234\nv0.m3u8\n");
  EXPECT_TRUE(test::parse_multivariant_playlist(m.render()).ok());
}

TEST(MultivariantPlaylist, DefaultRenditionIsAlwaysAutoselect) {
  MultivariantPlaylist m;
  m.add_audio(AudioRendition{"a", "Main", "", "a.m3u8", true, false, 0});
  m.add_variant(VariantStream{"v.m3u8", 100, std::nullopt, "", 0, 0, std::nullopt, "a"});
  const std::string text = m.render();
  EXPECT_NE(text.find("DEFAULT=YES,AUTOSELECT=YES"), std::string::npos);
  EXPECT_TRUE(test::parse_multivariant_playlist(text).ok());
}

TEST(PlaylistParser, RejectsWhatTheSpecForbids) {
  using test::parse_media_playlist;
  const std::string head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n";
  EXPECT_TRUE(parse_media_playlist(head + "#EXTINF:2.000,\na.ts\n").ok());
  EXPECT_FALSE(parse_media_playlist("#EXT-X-TARGETDURATION:2\n").ok());                  // no #EXTM3U
  EXPECT_FALSE(parse_media_playlist("#EXTM3U\n#EXTINF:2.000,\na.ts\n").ok());           // no target
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-FOO:1\n").ok());                      // unknown tag
  EXPECT_FALSE(parse_media_playlist(head + "\n").ok());                                  // blank line
  EXPECT_FALSE(parse_media_playlist(head + "# comment\n").ok());                         // comment
  EXPECT_FALSE(parse_media_playlist(head + "#EXTINF:2.000,\n").ok());                   // no URI
  EXPECT_FALSE(parse_media_playlist(head + "#EXTINF:abc,\na.ts\n").ok());               // bad number
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-PART:DURATION=1.0,URI=p.ts\n").ok());  // unquoted URI
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-PART:DURATION=1.0,URI=\"p.ts\",FOO=1\n").ok());
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-PART:DURATION=1.0\n").ok());         // missing URI
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-PART:DURATION=1.0,DURATION=1.0,URI=\"p\"\n").ok());
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-PART:DURATION=1.0,URI=\"p\",\n").ok());  // trailing comma
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-KEY:METHOD=AES-128\n#EXTINF:2.0,\na\n").ok());  // no URI
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-KEY:METHOD=NONE,URI=\"k\"\n#EXTINF:2.0,\na\n").ok());
  EXPECT_FALSE(parse_media_playlist(head + "#EXTINF:2.0,\na\n#EXT-X-MEDIA-SEQUENCE:3\n").ok());  // too late
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-ENDLIST\n#EXT-X-ENDLIST\n").ok());            // twice
  EXPECT_FALSE(parse_media_playlist(head + "#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n").ok());     // wrong kind
  EXPECT_FALSE(parse_media_playlist(head + "#EXTINF:2.0,\na\n#EXT-X-DISCONTINUITY\n").ok());      // dangling
  EXPECT_FALSE(parse_media_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:2").ok());                   // no newline
  // The rule checker flags what parses but breaks the rules.
  auto p = parse_media_playlist(head + "#EXTINF:2.6,\na.ts\n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(test::check_media_rules(*p.playlist).size(), 2u);  // rounds to 3 > 2; one decimal only

  // LL-HLS part rules: <= PART-TARGET; >= 85 % of it unless independent or last of the segment.
  const std::string ll = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"
                         "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0\n"
                         "#EXT-X-PART-INF:PART-TARGET=1.0\n";
  auto parts_ok = parse_media_playlist(ll +
                                       "#EXT-X-PART:DURATION=1.0,URI=\"a\",INDEPENDENT=YES\n"
                                       "#EXT-X-PART:DURATION=0.9,URI=\"b\"\n"
                                       "#EXT-X-PART:DURATION=0.1,URI=\"c\"\n"
                                       "#EXTINF:2.000,\ns.mp4\n");
  ASSERT_TRUE(parts_ok.ok()) << parts_ok.error;
  EXPECT_TRUE(test::check_media_rules(*parts_ok.playlist).empty());
  auto parts_bad = parse_media_playlist(ll +
                                        "#EXT-X-PART:DURATION=1.1,URI=\"a\",INDEPENDENT=YES\n"
                                        "#EXT-X-PART:DURATION=0.5,URI=\"b\"\n"
                                        "#EXT-X-PART:DURATION=0.4,URI=\"c\"\n"
                                        "#EXTINF:2.000,\ns.mp4\n");
  ASSERT_TRUE(parts_bad.ok()) << parts_bad.error;
  EXPECT_EQ(test::check_media_rules(*parts_bad.playlist).size(), 2u);  // a too long, b too short

  using test::parse_multivariant_playlist;
  EXPECT_FALSE(parse_multivariant_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"x\"\nv\n").ok());
  EXPECT_FALSE(parse_multivariant_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n").ok());
  EXPECT_FALSE(parse_multivariant_playlist("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv\n").ok());
  EXPECT_FALSE(parse_multivariant_playlist(
                   "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"n\",DEFAULT=YES,AUTOSELECT=NO\n"
                   "#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"a\"\nv\n")
                   .ok());
}

}  // namespace
}  // namespace live::hls
