#include "mp4/fmp4_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "box_walker.h"
#include "fmp4_fixture.h"
#include "ogg_packets.h"

namespace live::mp4 {
namespace {

using test::be16_at;
using test::be32_at;
using test::be64_at;
using test::Box;

std::vector<Box> walk(const std::vector<uint8_t>& bytes) {
  std::vector<Box> boxes;
  std::string error;
  EXPECT_TRUE(test::walk_boxes(bytes, boxes, error)) << error;
  return boxes;
}

std::string fourcc(std::span<const uint8_t> p, size_t off) { return std::string(p.begin() + off, p.begin() + off + 4); }

bool contains(std::span<const uint8_t> haystack, std::span<const uint8_t> needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

TEST(Fmp4Writer, InitSegmentStructure) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.video_track, src.audio_track});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const std::vector<uint8_t> init = writer->init_segment();
  EXPECT_EQ(init, writer->init_segment());  // deterministic
  const auto boxes = walk(init);
  ASSERT_EQ(boxes.size(), 2u);
  EXPECT_EQ(boxes[0].type, "ftyp");
  EXPECT_EQ(fourcc(boxes[0].payload, 0), "iso6");
  std::vector<std::string> brands;
  for (size_t off = 8; off < boxes[0].payload.size(); off += 4) brands.push_back(fourcc(boxes[0].payload, off));
  EXPECT_EQ(brands, (std::vector<std::string>{"iso6", "cmfc", "isom", "mp41"}));

  const Box& moov = boxes[1];
  ASSERT_EQ(moov.type, "moov");
  EXPECT_EQ(boxes[0].size + moov.size, init.size());
  const Box* mvhd = moov.child("mvhd");
  ASSERT_TRUE(mvhd);
  EXPECT_EQ(be32_at(mvhd->payload, 12), 1000u);  // timescale
  EXPECT_EQ(be32_at(mvhd->payload, 96), 3u);     // next_track_ID

  const auto traks = moov.all("trak");
  ASSERT_EQ(traks.size(), 2u);
  // Video track.
  EXPECT_EQ(be32_at(traks[0]->child("tkhd")->payload, 12), 1u);
  EXPECT_EQ(be32_at(traks[0]->child("tkhd")->payload, 76), 320u << 16);
  EXPECT_EQ(be32_at(traks[0]->child("tkhd")->payload, 80), 180u << 16);
  EXPECT_EQ(be32_at(traks[0]->find("mdia/mdhd")->payload, 12), 90000u);
  EXPECT_EQ(fourcc(traks[0]->find("mdia/hdlr")->payload, 8), "vide");
  ASSERT_TRUE(traks[0]->find("mdia/minf/vmhd"));
  ASSERT_TRUE(traks[0]->find("mdia/minf/dinf/dref/url "));
  const Box* avc1 = traks[0]->find("mdia/minf/stbl/stsd/avc1");
  ASSERT_TRUE(avc1);
  EXPECT_EQ(be16_at(avc1->payload, 24), 320u);
  EXPECT_EQ(be16_at(avc1->payload, 26), 180u);
  const Box* avcc = avc1->child("avcC");
  ASSERT_TRUE(avcc);
  EXPECT_TRUE(std::equal(avcc->payload.begin(), avcc->payload.end(), src.flv.avc_config.begin(),
                         src.flv.avc_config.end()));
  for (const char* empty : {"stts", "stsc", "stsz", "stco"})
    ASSERT_TRUE(traks[0]->find(std::string("mdia/minf/stbl/") + empty)) << empty;
  // Audio track.
  EXPECT_EQ(be32_at(traks[1]->child("tkhd")->payload, 12), 2u);
  EXPECT_EQ(be32_at(traks[1]->find("mdia/mdhd")->payload, 12), 44100u);
  // language "eng" packed as 5-bit letters
  EXPECT_EQ(be16_at(traks[1]->find("mdia/mdhd")->payload, 20), ((5 << 10) | (14 << 5) | 7));
  EXPECT_EQ(fourcc(traks[1]->find("mdia/hdlr")->payload, 8), "soun");
  ASSERT_TRUE(traks[1]->find("mdia/minf/smhd"));
  const Box* mp4a = traks[1]->find("mdia/minf/stbl/stsd/mp4a");
  ASSERT_TRUE(mp4a);
  EXPECT_EQ(be16_at(mp4a->payload, 16), 1u);          // channels
  EXPECT_EQ(be16_at(mp4a->payload, 18), 16u);         // sample size
  EXPECT_EQ(be32_at(mp4a->payload, 24), 44100u << 16);  // sample rate 16.16
  const Box* esds = mp4a->child("esds");
  ASSERT_TRUE(esds);
  EXPECT_EQ(esds->payload[4], 0x03);  // ES_Descriptor
  EXPECT_TRUE(contains(esds->payload, src.flv.aac_config));
  const std::vector<uint8_t> dsi_header = {0x05, uint8_t(src.flv.aac_config.size())};
  EXPECT_TRUE(contains(esds->payload, dsi_header));
  // mvex/trex per track.
  const auto trex = moov.child("mvex")->all("trex");
  ASSERT_EQ(trex.size(), 2u);
  EXPECT_EQ(be32_at(trex[0]->payload, 4), 1u);
  EXPECT_EQ(be32_at(trex[1]->payload, 4), 2u);
  EXPECT_EQ(be32_at(trex[1]->payload, 8), 1u);  // default sample description index
}

// Checks one traf against the samples that went in; returns the trun data offset.
uint32_t check_traf(const Box& traf, uint32_t track_id, std::span<const Sample> samples) {
  const Box* tfhd = traf.child("tfhd");
  const Box* tfdt = traf.child("tfdt");
  const Box* trun = traf.child("trun");
  EXPECT_TRUE(tfhd && tfdt && trun);
  if (!tfhd || !tfdt || !trun) return 0;
  EXPECT_EQ(be32_at(tfhd->payload, 0) & 0xffffff, 0x020000u);  // default-base-is-moof only
  EXPECT_EQ(be32_at(tfhd->payload, 4), track_id);
  EXPECT_EQ(tfdt->payload[0], 1);  // 64-bit baseMediaDecodeTime
  EXPECT_EQ(be64_at(tfdt->payload, 4), uint64_t(samples[0].dts));
  bool has_cto = false;
  for (const auto& s : samples) has_cto = has_cto || s.pts != s.dts;
  const uint32_t flags = be32_at(trun->payload, 0) & 0xffffff;
  EXPECT_EQ(trun->payload[0], has_cto ? 1 : 0);
  EXPECT_EQ(flags, has_cto ? 0xf01u : 0x701u);
  EXPECT_EQ(be32_at(trun->payload, 4), samples.size());
  const size_t entry = has_cto ? 16 : 12;
  EXPECT_EQ(trun->payload.size(), 12 + entry * samples.size());
  int64_t decode_time = samples[0].dts;
  for (size_t i = 0; i < samples.size() && 12 + entry * (i + 1) <= trun->payload.size(); ++i) {
    const size_t off = 12 + entry * i;
    EXPECT_EQ(be32_at(trun->payload, off), samples[i].duration) << i;
    EXPECT_EQ(be32_at(trun->payload, off + 4), samples[i].data.size()) << i;
    EXPECT_EQ(be32_at(trun->payload, off + 8), samples[i].keyframe ? 0x02000000u : 0x01010000u) << i;
    if (has_cto) {
      EXPECT_EQ(int32_t(be32_at(trun->payload, off + 12)), samples[i].pts - samples[i].dts) << i;
    }
    // Decode times implied by tfdt + durations equal the input's.
    EXPECT_EQ(decode_time, samples[i].dts) << i;
    decode_time += be32_at(trun->payload, off);
  }
  return be32_at(trun->payload, 8);
}

TEST(Fmp4Writer, FragmentMatchesInputSamples) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.video_track});
  ASSERT_TRUE(writer.ok());
  const std::span<const Sample> gop(src.video.data(), 25);
  ASSERT_TRUE(gop[0].keyframe);
  ASSERT_FALSE(gop[1].keyframe);
  const TrackRun run{1, gop};
  auto frag = writer->write_fragment({&run, 1}, true);
  ASSERT_TRUE(frag.ok()) << frag.error().describe();
  const auto boxes = walk(*frag);
  ASSERT_EQ(boxes.size(), 3u);
  EXPECT_EQ(boxes[0].type, "styp");
  EXPECT_EQ(boxes[1].type, "moof");
  EXPECT_EQ(boxes[2].type, "mdat");
  const Box& moof = boxes[1];
  EXPECT_EQ(be32_at(moof.child("mfhd")->payload, 4), 1u);
  ASSERT_EQ(moof.all("traf").size(), 1u);
  const uint32_t data_offset = check_traf(*moof.child("traf"), 1, gop);
  EXPECT_EQ(data_offset, moof.size + 8);
  // The mdat holds exactly the samples, in order.
  std::vector<uint8_t> expected;
  for (const auto& s : gop) expected.insert(expected.end(), s.data.begin(), s.data.end());
  EXPECT_TRUE(std::equal(boxes[2].payload.begin(), boxes[2].payload.end(), expected.begin(), expected.end()));
  EXPECT_EQ(moof.offset + data_offset, boxes[2].offset + 8);
}

TEST(Fmp4Writer, MuxedFragmentDataOffsetsPointAtEachTracksSamples) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.video_track, src.audio_track});
  ASSERT_TRUE(writer.ok());
  const std::span<const Sample> video(src.video.data(), 25);
  const std::span<const Sample> audio(src.audio.data(), 43);
  const TrackRun runs[] = {{1, video}, {2, audio}};
  auto frag = writer->write_fragment(runs, false);
  ASSERT_TRUE(frag.ok()) << frag.error().describe();
  const auto boxes = walk(*frag);
  ASSERT_EQ(boxes.size(), 2u);
  const Box& moof = boxes[0];
  const auto trafs = moof.all("traf");
  ASSERT_EQ(trafs.size(), 2u);
  const uint32_t video_offset = check_traf(*trafs[0], 1, video);
  const uint32_t audio_offset = check_traf(*trafs[1], 2, audio);
  size_t video_bytes = 0;
  for (const auto& s : video) video_bytes += s.data.size();
  EXPECT_EQ(video_offset, moof.size + 8);
  EXPECT_EQ(audio_offset, moof.size + 8 + video_bytes);
  // Every audio sample sits where trun says.
  size_t pos = moof.offset + audio_offset;
  for (const auto& s : audio) {
    ASSERT_LE(pos + s.data.size(), frag->size());
    EXPECT_TRUE(std::equal(s.data.begin(), s.data.end(), frag->begin() + long(pos)));
    pos += s.data.size();
  }
  EXPECT_EQ(pos, frag->size());
}

// Many generated fragments (fixed seed): 1-3 tracks, random sample counts, sizes, durations and
// composition offsets (negative ones too); every fragment parses back to exactly its input.
TEST(Fmp4Writer, GeneratedFragmentsParseBackToTheirInput) {
  std::mt19937 rng(20261121);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<uint8_t> avcc = {1, 0x64, 0, 0x1f, 0xff, 0xe0, 0};  // 4-byte NAL lengths, no SPS/PPS
  const std::vector<uint8_t> asc = {0x11, 0x90};
  for (int round = 0; round < 200; ++round) {
    const int track_count = uniform(1, 3);
    std::vector<TrackConfig> tracks;
    for (int t = 0; t < track_count; ++t) {
      if (t == 1)
        tracks.push_back(TrackConfig{uint32_t(10 + t), Codec::aac, 48000, asc, 0, 0, 48000, 2, "und"});
      else
        tracks.push_back(TrackConfig{uint32_t(10 + t), Codec::h264, 90000, avcc, 640, 360, 0, 0, "und"});
    }
    auto writer = Fmp4Writer::create(tracks);
    ASSERT_TRUE(writer.ok());
    std::vector<std::vector<std::vector<uint8_t>>> payloads(tracks.size());
    std::vector<std::vector<Sample>> samples(tracks.size());
    for (size_t t = 0; t < tracks.size(); ++t) {
      const int n = uniform(1, 40);
      int64_t dts = uniform(0, 1 << 30);
      for (int i = 0; i < n; ++i) {
        std::vector<uint8_t> data;
        if (tracks[t].codec == Codec::h264) {
          const int nal = uniform(1, 300);  // one length-prefixed NAL unit
          data = {0, 0, uint8_t(nal >> 8), uint8_t(nal)};
          for (int b = 0; b < nal; ++b) data.push_back(uint8_t(uniform(0, 255)));
        } else {
          data.resize(size_t(uniform(1, 400)), uint8_t(i));
        }
        payloads[t].push_back(std::move(data));
        const uint32_t duration = uint32_t(uniform(1, 4000));
        const int64_t cto = tracks[t].codec == Codec::h264 ? uniform(-3000, 9000) : 0;
        samples[t].push_back(Sample{dts, dts + cto, duration, i == 0 || uniform(0, 9) == 0, {}});
        dts += duration;
      }
      for (size_t i = 0; i < samples[t].size(); ++i) samples[t][i].data = payloads[t][i];
    }
    std::vector<TrackRun> runs;
    for (size_t t = 0; t < tracks.size(); ++t) runs.push_back({tracks[t].track_id, samples[t]});
    auto frag = writer->write_fragment(runs, round % 2 == 0);
    ASSERT_TRUE(frag.ok()) << frag.error().describe();
    const auto boxes = walk(*frag);
    ASSERT_EQ(boxes.size(), round % 2 == 0 ? 3u : 2u);
    const Box& moof = boxes[boxes.size() - 2];
    const Box& mdat = boxes.back();
    const auto trafs = moof.all("traf");
    ASSERT_EQ(trafs.size(), tracks.size());
    for (size_t t = 0; t < tracks.size(); ++t) {
      const uint32_t offset = check_traf(*trafs[t], tracks[t].track_id, samples[t]);
      size_t pos = moof.offset + offset;
      for (const auto& smp : samples[t]) {
        ASSERT_LE(pos + smp.data.size(), mdat.offset + mdat.size);
        ASSERT_GE(pos, mdat.offset + 8);
        EXPECT_TRUE(std::equal(smp.data.begin(), smp.data.end(), frag->begin() + long(pos)));
        pos += smp.data.size();
      }
    }
    if (HasFailure()) return;
  }
}

TEST(Fmp4Writer, SequenceNumbersIncreaseAndStypOnlyWhenAsked) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.audio_track});
  ASSERT_TRUE(writer.ok());
  for (uint32_t n = 1; n <= 3; ++n) {
    const TrackRun run{2, std::span<const Sample>(src.audio.data() + 10 * n, 10)};
    EXPECT_EQ(writer->next_sequence_number(), n);
    auto frag = writer->write_fragment({&run, 1}, n == 1);
    ASSERT_TRUE(frag.ok());
    const auto boxes = walk(*frag);
    ASSERT_EQ(boxes.size(), n == 1 ? 3u : 2u);
    const Box& moof = boxes[n == 1 ? 1 : 0];
    EXPECT_EQ(be32_at(moof.child("mfhd")->payload, 4), n);
    check_traf(*moof.child("traf"), 2, run.samples);
  }
}

TEST(Fmp4Writer, ZeroDurationIsDerivedFromTheNextDecodeTime) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.video_track});
  ASSERT_TRUE(writer.ok());
  std::vector<Sample> samples(src.video.begin(), src.video.begin() + 5);
  std::vector<Sample> expected = samples;
  for (auto& s : samples) s.duration = 0;
  expected[4].duration = expected[3].duration;  // the last repeats the one before
  const TrackRun run{1, samples};
  auto frag = writer->write_fragment({&run, 1}, false);
  ASSERT_TRUE(frag.ok());
  check_traf(*walk(*frag)[0].child("traf"), 1, expected);
}

TEST(Fmp4Writer, RejectsBadTracks) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  EXPECT_FALSE(Fmp4Writer::create({}).ok());
  TrackConfig t = src.video_track;
  EXPECT_FALSE(Fmp4Writer::create({t, t}).ok());  // duplicate id
  t.track_id = 0;
  EXPECT_FALSE(Fmp4Writer::create({t}).ok());
  t = src.video_track;
  t.codec_config = {0x00, 0x64, 0, 0x1f, 0xff, 0xe1, 0};  // version 0
  EXPECT_FALSE(Fmp4Writer::create({t}).ok());
  t = src.video_track;
  t.width = 0;
  EXPECT_FALSE(Fmp4Writer::create({t}).ok());
  t = src.video_track;
  t.timescale = 0;
  EXPECT_FALSE(Fmp4Writer::create({t}).ok());
  t = src.video_track;
  t.language = "EN";
  EXPECT_FALSE(Fmp4Writer::create({t}).ok());
  TrackConfig a = src.audio_track;
  a.sample_rate = 96000;  // does not fit the 16.16 field
  EXPECT_FALSE(Fmp4Writer::create({a}).ok());
  a = src.audio_track;
  a.channels = 0;
  EXPECT_FALSE(Fmp4Writer::create({a}).ok());
  a = src.audio_track;
  a.codec_config = {0x12};
  EXPECT_FALSE(Fmp4Writer::create({a}).ok());
}

TEST(Fmp4Writer, RejectsBadSamplesWithoutUsingASequenceNumber) {
  test::SourceStreams src;
  ASSERT_TRUE(test::load_source(src));
  auto writer = Fmp4Writer::create({src.video_track});
  ASSERT_TRUE(writer.ok());
  auto try_write = [&](std::vector<Sample> samples, uint32_t track = 1) {
    const TrackRun run{track, samples};
    return writer->write_fragment({&run, 1}, false).ok();
  };
  std::vector<Sample> good(src.video.begin(), src.video.begin() + 3);
  EXPECT_FALSE(try_write(good, 7));  // unknown track
  EXPECT_FALSE(try_write({}));       // empty run
  auto bad = good;
  bad[0].dts = -1;
  EXPECT_FALSE(try_write(bad));
  bad = good;
  bad[2].dts = bad[1].dts - 1;
  EXPECT_FALSE(try_write(bad));
  bad = good;
  bad[1].pts = bad[1].dts + (int64_t(1) << 31);
  EXPECT_FALSE(try_write(bad));
  // Annex B (start codes) instead of length prefixes: 00 00 00 01 reads as a 1-byte NAL unit,
  // then 0x65888400 as a length far beyond the sample.
  const std::vector<uint8_t> annexb = {0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x10, 0x20};
  bad = good;
  bad[0].data = annexb;
  EXPECT_FALSE(try_write(bad));
  bad = good;
  bad[0].data = {};
  EXPECT_FALSE(try_write(bad));
  const TrackRun twice[] = {{1, good}, {1, good}};
  EXPECT_FALSE(writer->write_fragment(twice, false).ok());
  EXPECT_FALSE(writer->write_fragment({}, false).ok());
  EXPECT_EQ(writer->next_sequence_number(), 1u);
  EXPECT_TRUE(try_write(good));
  EXPECT_EQ(writer->next_sequence_number(), 2u);
}

TEST(Fmp4Writer, OpusSampleEntryCarriesOpusHeadFieldsBigEndian) {
  std::vector<test::OggPacket> packets;
  std::string error;
  ASSERT_TRUE(test::read_ogg(test::test_data_dir() + "/mp4/opus.ogg", packets, error)) << error;
  const std::vector<uint8_t> head = packets.at(0).data;
  ASSERT_EQ(head.size(), 19u);
  const uint16_t pre_skip = uint16_t(head[10] | (head[11] << 8));
  EXPECT_GT(pre_skip, 0u);
  auto writer = Fmp4Writer::create({TrackConfig{5, Codec::opus, 48000, head, 0, 0, 48000, 2, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const std::vector<uint8_t> init = writer->init_segment();  // the boxes point into it
  const auto boxes = walk(init);
  ASSERT_EQ(boxes.size(), 2u);
  const Box* entry = boxes[1].find("trak/mdia/minf/stbl/stsd/Opus");
  ASSERT_TRUE(entry);
  EXPECT_EQ(be16_at(entry->payload, 16), 2u);
  EXPECT_EQ(be32_at(entry->payload, 24), 48000u << 16);
  const Box* dops = entry->child("dOps");
  ASSERT_TRUE(dops);
  ASSERT_EQ(dops->payload.size(), 11u);
  EXPECT_EQ(dops->payload[0], 0);  // version
  EXPECT_EQ(dops->payload[1], 2);  // output channels
  EXPECT_EQ(be16_at(dops->payload, 2), pre_skip);
  EXPECT_EQ(be32_at(dops->payload, 4), 48000u);
  EXPECT_EQ(be16_at(dops->payload, 8), 0u);  // gain
  EXPECT_EQ(dops->payload[10], 0);           // mapping family
  // A wrong header or channel count is refused.
  std::vector<uint8_t> bad = head;
  bad[0] = 'X';
  EXPECT_FALSE(Fmp4Writer::create({TrackConfig{5, Codec::opus, 48000, bad, 0, 0, 48000, 2, "und"}}).ok());
  EXPECT_FALSE(Fmp4Writer::create({TrackConfig{5, Codec::opus, 48000, head, 0, 0, 48000, 1, "und"}}).ok());
  bad = head;
  bad[18] = 1;  // mapping family 1 needs a mapping table
  EXPECT_FALSE(Fmp4Writer::create({TrackConfig{5, Codec::opus, 48000, bad, 0, 0, 48000, 2, "und"}}).ok());
}

TEST(Fmp4Writer, Av1SampleEntry) {
  test::FlvStreams flv;
  std::string error;
  ASSERT_TRUE(test::read_flv(test::test_data_dir() + "/flv/av1.flv", flv, error)) << error;
  auto writer = Fmp4Writer::create({TrackConfig{1, Codec::av1, 90000, flv.av1_config, 160, 90, 0, 0, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const std::vector<uint8_t> init = writer->init_segment();  // the boxes point into it
  const auto boxes = walk(init);
  const Box* av01 = boxes.at(1).find("trak/mdia/minf/stbl/stsd/av01");
  ASSERT_TRUE(av01);
  EXPECT_EQ(be16_at(av01->payload, 24), 160u);
  const Box* av1c = av01->child("av1C");
  ASSERT_TRUE(av1c);
  EXPECT_TRUE(std::equal(av1c->payload.begin(), av1c->payload.end(), flv.av1_config.begin(), flv.av1_config.end()));
  std::vector<uint8_t> bad = flv.av1_config;
  bad[0] = 0x01;  // marker bit missing
  EXPECT_FALSE(Fmp4Writer::create({TrackConfig{1, Codec::av1, 90000, bad, 160, 90, 0, 0, "und"}}).ok());
}

TEST(Fmp4Writer, Hevc) {
  // A minimal HEVCDecoderConfigurationRecord (version 1, no arrays, 4-byte lengths).
  std::vector<uint8_t> hvcc(23, 0);
  hvcc[0] = 1;
  hvcc[1] = 0x01;  // profile Main
  hvcc[12] = 93;   // level 3.1
  hvcc[21] = 0x03;
  auto writer = Fmp4Writer::create({TrackConfig{1, Codec::h265, 90000, hvcc, 1280, 720, 0, 0, "und"}});
  ASSERT_TRUE(writer.ok()) << writer.error().describe();
  const std::vector<uint8_t> init = writer->init_segment();  // the boxes point into it
  const auto boxes = walk(init);
  ASSERT_EQ(boxes.size(), 2u);
  const Box* hvc1 = boxes[1].find("trak/mdia/minf/stbl/stsd/hvc1");
  ASSERT_TRUE(hvc1);
  const Box* config = hvc1->child("hvcC");
  ASSERT_TRUE(config);
  EXPECT_TRUE(std::equal(config->payload.begin(), config->payload.end(), hvcc.begin(), hvcc.end()));
  const std::vector<uint8_t> nal = {0, 0, 0, 3, 0x26, 0x01, 0xaf};
  const Sample s{0, 0, 3000, true, nal};
  const TrackRun run{1, {&s, 1}};
  EXPECT_TRUE(writer->write_fragment({&run, 1}, true).ok());
}

}  // namespace
}  // namespace live::mp4
