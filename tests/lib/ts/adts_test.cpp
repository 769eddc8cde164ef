// lib/ts ADTS framing: header bits for a known configuration, the 13-bit length limit, and the
// AAC of the real capture (tests/data/captures/source.flv) wrapped in ADTS and read back by
// ffprobe: every frame found, with the capture's sample rate and channel count.
#include "ts/adts.h"

#include <gtest/gtest.h>

#include <fstream>

#include "../subprocess.h"
#include "../temp_dir.h"
#include "../test_data.h"
#include "flv/audio_config.h"
#include "flv/audio_tag.h"

namespace live::ts {
namespace {

TEST(Adts, HeaderForAacLc44100Stereo) {
  const std::vector<uint8_t> raw(100, 0x5a);
  auto frame = adts_frame({2, 4, 2}, raw);
  ASSERT_TRUE(frame.ok()) << frame.error().describe();
  // syncword, MPEG-4, no CRC; profile 1 (LC), index 4, channels 2; length 107; fullness 0x7ff.
  EXPECT_EQ(std::vector<uint8_t>(frame->begin(), frame->begin() + 7),
            (std::vector<uint8_t>{0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc}));
  EXPECT_TRUE(std::equal(raw.begin(), raw.end(), frame->begin() + 7));
  // HE-AAC signalled as AOT 5 cannot be said in ADTS: sent as LC (profile 1).
  EXPECT_EQ((*adts_frame({5, 6, 1}, raw))[2] >> 6, 1);
  // 6 channels: the channel configuration straddles bytes 2 and 3.
  auto six = adts_frame({2, 3, 6}, raw);
  EXPECT_EQ((*six)[2] & 1, 1);
  EXPECT_EQ((*six)[3] >> 6, 2);
}

TEST(Adts, LengthLimit) {
  auto largest = adts_frame({}, std::vector<uint8_t>(kMaxAdtsFrameBytes - kAdtsHeaderSize));
  ASSERT_TRUE(largest.ok());
  const auto& h = *largest;
  EXPECT_EQ(((h[3] & 3u) << 11) | (h[4] << 3) | (h[5] >> 5), kMaxAdtsFrameBytes);
  auto too_large = adts_frame({}, std::vector<uint8_t>(kMaxAdtsFrameBytes - kAdtsHeaderSize + 1));
  ASSERT_FALSE(too_large.ok());
  EXPECT_EQ(too_large.error().code, Errc::limit_exceeded);
}

TEST(Adts, CaptureAacReadsBackInFfprobe) {
  const auto tags = test_data::media_tags(test_data::read_flv_tags(test_data::read_capture("source.flv")));
  std::optional<flv::AudioSpecificConfig> config;
  std::vector<uint8_t> stream;
  size_t frames = 0;
  for (const auto& tag : tags) {
    if (tag.type != 8) continue;
    auto audio = flv::parse_audio_tag(tag.payload);
    ASSERT_TRUE(audio.ok()) << audio.error().describe();
    const auto& track = audio->tracks.at(0);
    if (track.packet_type == flv::AudioPacketType::sequence_start) {
      auto asc = flv::parse_audio_specific_config(track.data);
      ASSERT_TRUE(asc.ok()) << asc.error().describe();
      config = *asc;
      continue;
    }
    ASSERT_TRUE(config.has_value()) << "AAC frame before the sequence header";
    auto frame = adts_frame({config->object_type, config->sampling_frequency_index, config->channel_configuration},
                            track.data);
    ASSERT_TRUE(frame.ok()) << frame.error().describe();
    stream.insert(stream.end(), frame->begin(), frame->end());
    frames++;
  }
  ASSERT_GT(frames, 100u);
  test_util::TempDir dir("live-adts-test");
  const std::string path = (dir.path() / "capture.aac").string();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(stream.data()), std::streamsize(stream.size()));
  const auto probe = test_util::run_command({"ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
                                             "-show_entries", "stream=codec_name,sample_rate,channels,nb_read_packets",
                                             "-of", "csv=p=0", path});
  ASSERT_TRUE(probe.ok()) << probe.err;
  EXPECT_EQ(probe.out, "aac," + std::to_string(config->sample_rate) + "," + std::to_string(config->channels()) + "," +
                           std::to_string(frames) + "\n");
}

}  // namespace
}  // namespace live::ts
