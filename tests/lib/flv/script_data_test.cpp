// onMetaData (AMF0 script data): the tag ffmpeg wrote into source.flv, writer round trip,
// the RTMP @setDataFrame wrapper, and the limits.
#include "flv/script_data.h"

#include <gtest/gtest.h>

#include "flv/fourcc.h"
#include "../test_data.h"

namespace live::flv {
namespace {

using B = std::vector<uint8_t>;
using test_data::read_flv_tags;
using test_data::read_file;

using rtmp::AmfProperty;
using rtmp::AmfValue;

TEST(ScriptData, SourceFlvOnMetaData) {
  // ffprobe: encoder Lavf59.27.100, 320x180, 25 fps, H.264 (7) + AAC (10) mono 44.1 kHz.
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  ASSERT_FALSE(tags.empty());
  ASSERT_EQ(tags[0].type, 18);
  auto s = parse_script_tag(tags[0].payload);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_EQ(s->name, "onMetaData");
  auto m = read_stream_metadata(s->value);
  EXPECT_EQ(m.width, 320);
  EXPECT_EQ(m.height, 180);
  EXPECT_EQ(m.framerate, 25);
  EXPECT_EQ(m.videocodecid, 7);
  EXPECT_EQ(m.audiocodecid, 10);
  EXPECT_EQ(m.audiosamplerate, 44100);
  EXPECT_EQ(m.stereo, false);
  EXPECT_EQ(m.encoder, "Lavf59.27.100");
  EXPECT_FALSE(m.video_fourcc.has_value());
}

TEST(ScriptData, EnhancedFourccCodecIdsFromFixture) {
  auto tags = read_flv_tags(read_file("flv/hevc.flv"));
  auto s = parse_script_tag(tags.at(0).payload);
  ASSERT_TRUE(s.ok());
  auto m = read_stream_metadata(s->value);
  EXPECT_EQ(m.video_fourcc, fourcc::hvc1);
  EXPECT_FALSE(m.videocodecid.has_value());
}

TEST(ScriptData, WriterRoundTripAndSetDataFrame) {
  std::vector<AmfProperty> members = {{"width", AmfValue::make_number(1920)},
                                      {"videocodecid", AmfValue::make_string("av01")},
                                      {"encoder", AmfValue::make_string("obs")}};
  B out;
  write_script_tag(out, "onMetaData", members);
  auto s = parse_script_tag(out);
  ASSERT_TRUE(s.ok());
  auto m = read_stream_metadata(s->value);
  EXPECT_EQ(m.width, 1920);
  EXPECT_EQ(m.video_fourcc, fourcc::av01);
  EXPECT_EQ(m.encoder, "obs");
  // As an RTMP data message: "@setDataFrame", "onMetaData", object.
  B wrapped = {2, 0, 13};
  for (char c : std::string("@setDataFrame")) wrapped.push_back(uint8_t(c));
  wrapped.insert(wrapped.end(), out.begin(), out.end());
  auto w = parse_script_tag(wrapped);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->name, "onMetaData");
  EXPECT_EQ(read_stream_metadata(w->value).width, 1920);
}

TEST(ScriptData, Limits) {
  // Objects nested deeper than kMaxScriptDepth.
  B deep = {2, 0, 1, 'x'};
  for (size_t i = 0; i < kMaxScriptDepth + 2; ++i) deep.insert(deep.end(), {3, 0, 1, 'a'});
  deep.push_back(5);
  EXPECT_EQ(parse_script_tag(deep).error().code, Errc::limit_exceeded);
  // A strict array announcing more entries than allowed.
  B wide = {2, 0, 1, 'x', 10, 0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_EQ(parse_script_tag(wide).error().code, Errc::limit_exceeded);
  // Truncated string, AMF0 reference (unsupported).
  EXPECT_EQ(parse_script_tag(B{2, 0, 9, 'o'}).error().code, Errc::truncated);
  EXPECT_EQ(parse_script_tag(B{2, 0, 1, 'x', 7, 0, 1}).error().code, Errc::unsupported);
}

}  // namespace
}  // namespace live::flv
