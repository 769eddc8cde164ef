// Codec configuration records: real encoder output (source.flv from ffmpeg/x264/aac, and the
// libx265/libaom/libvpx/libopus records in tests/data/flv, hand-checked in its README) and
// hand-built records for the cases encoders here cannot make (HE-AAC, explicit frequency).
#include <gtest/gtest.h>

#include <bitset>

#include "flv/audio_config.h"
#include "flv/audio_tag.h"
#include "flv/av1_config.h"
#include "flv/vp9_config.h"
#include "flv/avc_config.h"
#include "flv/fourcc.h"
#include "flv/hevc_config.h"
#include "flv/video_tag.h"
#include "../test_data.h"

namespace live::flv {
namespace {

using B = std::vector<uint8_t>;
using test_data::read_flv_tags;
using test_data::read_file;

// The body of the first sequence start of the given tag type in source.flv.
B source_sequence_header(uint8_t type) {
  for (const auto& t : read_flv_tags(read_file("captures/source.flv"))) {
    if (t.type != type) continue;
    if (type == 9) {
      auto v = parse_video_tag(t.payload);
      if (v && v->tracks[0].packet_type == VideoPacketType::sequence_start)
        return B(v->tracks[0].data.begin(), v->tracks[0].data.end());
    } else {
      auto a = parse_audio_tag(t.payload);
      if (a && a->tracks[0].packet_type == AudioPacketType::sequence_start)
        return B(a->tracks[0].data.begin(), a->tracks[0].data.end());
    }
  }
  return {};
}

TEST(AvcConfig, SourceFlvHighProfile320x180) {
  // ffprobe: High profile, level 12, 320x180 (180 is not a multiple of 16: SPS cropping).
  auto c = parse_avc_config(source_sequence_header(9));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->profile, 100);
  EXPECT_EQ(c->level, 12);
  EXPECT_EQ(c->nal_length_size, 4);
  ASSERT_EQ(c->sps.size(), 1u);
  ASSERT_EQ(c->pps.size(), 1u);
  EXPECT_EQ(c->sps[0].size(), 26u);
  EXPECT_EQ(c->pps[0], (B{0x68, 0xEF, 0xBC, 0xB0}));
  EXPECT_EQ(c->width, 320u);
  EXPECT_EQ(c->height, 180u);
  EXPECT_EQ(c->codec_string(), "avc1.64000c");
  // ffprobe: r_frame_rate=25/1 (x264 writes VUI timing: time_scale 50, num_units_in_tick 1).
  EXPECT_EQ(c->fps_num, 25u);
  EXPECT_EQ(c->fps_den, 1u);
}

TEST(AvcConfig, BaselineSpsWithoutCroppingAndBadRecords) {
  // A hand-assembled Baseline SPS: profile 66, level 30, sps id 0, log2_max_frame_num-4 = 0,
  // poc type 2, 1 ref frame, no gaps, 40x30 MBs (640x480), frame_mbs_only, direct8x8, no crop.
  // ue(0)=1 ue(0)=1 ue(2)=011 ue(1)=010, gaps 0, ue(39)=00000101000 ue(29)=000011110,
  // frame_mbs_only 1, direct_8x8 1, cropping 0, vui 0, rbsp stop bit 1, padding.
  B sps = {0x67, 66, 0xC0, 30, 0b11011010, 0b00000010, 0b10000000, 0b11110110, 0b01000000};
  B rec = {1, 66, 0xC0, 30, 0xFF, 0xE1, 0, uint8_t(sps.size())};
  rec.insert(rec.end(), sps.begin(), sps.end());
  rec.insert(rec.end(), {1, 0, 2, 0x68, 0xCE});
  auto c = parse_avc_config(rec);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->width, 640u);
  EXPECT_EQ(c->height, 480u);
  EXPECT_EQ(c->codec_string(), "avc1.42c01e");
  EXPECT_EQ(c->fps_num, 0u);  // no VUI: frame rate unknown
  EXPECT_EQ(c->fps_den, 0u);
  EXPECT_EQ(parse_avc_config(B{1, 66, 0, 30}).error().code, Errc::truncated);
  EXPECT_EQ(parse_avc_config(B{2, 66, 0, 30, 0xFF, 0xE0, 0}).error().code, Errc::unsupported);
  rec[7] = 200;  // SPS length beyond the record
  EXPECT_EQ(parse_avc_config(rec).error().code, Errc::truncated);
}

TEST(HevcConfig, X265Record) {
  auto c = parse_hevc_config(read_file("flv/hevc.hvcC.bin"));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->profile_idc, 1);
  EXPECT_EQ(c->level_idc, 30);
  EXPECT_FALSE(c->tier_flag);
  EXPECT_EQ(c->profile_compatibility_flags, 0x60000000u);
  EXPECT_EQ(c->chroma_format_idc, 1);
  EXPECT_EQ(c->bit_depth_luma, 8);
  EXPECT_EQ(c->nal_length_size, 4);
  ASSERT_EQ(c->arrays.size(), 4u);
  EXPECT_EQ(c->arrays[0].nal_unit_type, 32);  // VPS
  EXPECT_EQ(c->arrays[1].nal_unit_type, 33);  // SPS
  EXPECT_EQ(c->arrays[2].nal_unit_type, 34);  // PPS
  EXPECT_EQ(c->arrays[3].nal_unit_type, 39);  // prefix SEI (x265 settings)
  EXPECT_EQ(c->arrays[1].nalus.at(0).at(0) >> 1, 33);
  // 160x90 coded as 160x96 with a conformance window (ffprobe: 160x90).
  EXPECT_EQ(c->width, 160u);
  EXPECT_EQ(c->height, 90u);
  EXPECT_EQ(c->codec_string(), "hvc1.1.6.L30.90");
}

TEST(HevcConfig, CodecStringFields) {
  // Main, compat 0x60000000, high tier level 93 (3.1), constraint 0xB0: the RFC 6381 example.
  B rec(23, 0);
  rec[0] = 1;
  rec[1] = 0x20 | 1;
  rec[2] = 0x60;
  rec[6] = 0xB0;
  rec[12] = 93;
  rec[21] = 3;
  auto c = parse_hevc_config(rec);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->codec_string(), "hvc1.1.6.H93.B0");
  rec[1] = 1;  // main tier
  EXPECT_EQ(parse_hevc_config(rec)->codec_string(), "hvc1.1.6.L93.B0");
  // Main 10 (2), compat 0x20000000 -> reversed 0x4, no constraint bytes; profile space 1 -> 'A'.
  rec[1] = 0x40 | 2;
  rec[2] = 0x20;
  rec[6] = 0;
  rec[12] = 120;
  EXPECT_EQ(parse_hevc_config(rec)->codec_string(), "hvc1.A2.4.L120");
  rec[22] = 1;  // one array announced, none present
  EXPECT_EQ(parse_hevc_config(rec).error().code, Errc::truncated);
}

TEST(Av1Config, LibaomRecordAndCodecStrings) {
  auto c = parse_av1_config(read_file("flv/av1.av1C.bin"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->seq_profile, 0);
  EXPECT_EQ(c->seq_level_idx_0, 0);
  EXPECT_TRUE(c->chroma_subsampling_x);
  EXPECT_TRUE(c->chroma_subsampling_y);
  EXPECT_EQ(c->bit_depth(), 8);
  EXPECT_EQ(c->config_obus.size(), 12u);
  EXPECT_EQ(c->config_obus[0], 0x0A);  // OBU_SEQUENCE_HEADER with size field
  EXPECT_EQ(c->codec_string(), "av01.0.00M.08");
  EXPECT_EQ(parse_av1_config(B{0x81, 0x04, 0x0C, 0x00})->codec_string(), "av01.0.04M.08");
  EXPECT_EQ(parse_av1_config(B{0x81, 0x2D, 0xC0, 0x00})->codec_string(), "av01.1.13H.10");
  EXPECT_EQ(parse_av1_config(B{0x81, 0x48, 0x60, 0x00})->codec_string(), "av01.2.08M.12");
  EXPECT_EQ(parse_av1_config(B{0x01, 0, 0, 0}).error().code, Errc::unsupported);
  EXPECT_EQ(parse_av1_config(B{0x81}).error().code, Errc::truncated);
}

TEST(Vp9Config, LibvpxRecordWithAndWithoutFullBoxHeader) {
  B full = read_file("flv/vp9.vpcC.bin");
  for (B rec : {full, B(full.begin() + 4, full.end())}) {
    auto c = parse_vp9_config(rec);
    ASSERT_TRUE(c.ok()) << rec.size();
    EXPECT_EQ(c->profile, 0);
    EXPECT_EQ(c->level, 10);
    EXPECT_EQ(c->bit_depth, 8);
    EXPECT_EQ(c->chroma_subsampling, 1);
    EXPECT_EQ(c->codec_string(), "vp09.00.10.08");
  }
  EXPECT_EQ(parse_vp9_config(B{2, 41, 0xA2, 1, 1, 1, 0, 0})->codec_string(), "vp09.02.41.10");
  EXPECT_FALSE(parse_vp9_config(B{0, 10, 0x82}).ok());
  EXPECT_FALSE(parse_vp9_config(B{0, 10, 0x82, 1, 1, 1, 0, 5}).ok());  // init data size beyond the record
}

TEST(AudioSpecificConfig, SourceFlvAacLcWithSyncExtensionWithoutSbr) {
  // 12 08 56 E5 00: AAC-LC, 44100 Hz (index 4), mono, then sync extension 0x2B7, SBR type 5,
  // sbrPresentFlag 0 (ffmpeg's aac encoder writes it that way).
  auto c = parse_audio_specific_config(source_sequence_header(8));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->object_type, 2);
  EXPECT_EQ(c->sample_rate, 44100u);
  EXPECT_EQ(c->channels(), 1u);
  EXPECT_FALSE(c->sbr);
  EXPECT_EQ(c->output_sample_rate(), 44100u);
  EXPECT_EQ(c->codec_string(), "mp4a.40.2");
}

TEST(AudioSpecificConfig, HandBuiltSignalling) {
  // Explicit SBR: AOT 5, 24000 Hz (6), stereo, ext 48000 Hz (3), AOT 2, GA 000.
  // 00101 0110 0010 0011 00010 000 -> 2B 11 88 00
  auto he = parse_audio_specific_config(B{0x2B, 0x11, 0x88, 0x00});
  ASSERT_TRUE(he.ok());
  EXPECT_TRUE(he->sbr);
  EXPECT_FALSE(he->ps);
  EXPECT_EQ(he->object_type, 2);
  EXPECT_EQ(he->sample_rate, 24000u);
  EXPECT_EQ(he->output_sample_rate(), 48000u);
  EXPECT_EQ(he->channels(), 2u);
  EXPECT_EQ(he->codec_string(), "mp4a.40.5");
  // Explicit PS: AOT 29, 24000 Hz, mono, ext 48000 Hz, AOT 2 -> EB 09 88 00: stereo output.
  auto ps = parse_audio_specific_config(B{0xEB, 0x09, 0x88, 0x00});
  ASSERT_TRUE(ps.ok());
  EXPECT_TRUE(ps->ps);
  EXPECT_EQ(ps->channels(), 2u);
  EXPECT_EQ(ps->codec_string(), "mp4a.40.29");
  // Backward-compatible SBR: AOT 2, 24000 Hz, stereo, GA 000, sync 0x2B7, AOT 5, present 1,
  // ext 48000 Hz (3): 13 10 56 E5 98.
  auto bc = parse_audio_specific_config(B{0x13, 0x10, 0x56, 0xE5, 0x98});
  ASSERT_TRUE(bc.ok());
  EXPECT_TRUE(bc->sbr);
  EXPECT_EQ(bc->output_sample_rate(), 48000u);
  EXPECT_EQ(bc->codec_string(), "mp4a.40.2");
  // Explicit frequency (index 15, 24-bit 44100), AOT 2, mono: 17 80 56 22 08.
  auto ex = parse_audio_specific_config(B{0x17, 0x80, 0x56, 0x22, 0x08});
  ASSERT_TRUE(ex.ok());
  EXPECT_EQ(ex->sampling_frequency_index, 15);
  EXPECT_EQ(ex->sample_rate, 44100u);
  EXPECT_EQ(ex->channels(), 1u);
  // 7.1: channel configuration 7 -> 8 channels (AOT 2, 48000 Hz (3), ch 7): 11 B8.
  EXPECT_EQ(parse_audio_specific_config(B{0x11, 0xB8})->channels(), 8u);
  // Frequency index 13 is reserved; one byte is not a config.
  EXPECT_EQ(parse_audio_specific_config(B{0x16, 0x88}).error().code, Errc::malformed);
  EXPECT_EQ(parse_audio_specific_config(B{0x12}).error().code, Errc::truncated);
}

TEST(OpusHead, LibopusHeaderAndMappingFamily1) {
  auto h = parse_opus_head(read_file("flv/opus.OpusHead.bin"));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->channels, 2);
  EXPECT_EQ(h->pre_skip, 312);
  EXPECT_EQ(h->input_sample_rate, 48000u);
  EXPECT_EQ(h->mapping_family, 0);
  EXPECT_EQ(h->stream_count, 1);
  EXPECT_EQ(h->coupled_count, 1);
  // 5.1 with family 1: 4 streams, 2 coupled, Vorbis order mapping.
  B six = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 6, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 1, 4, 2, 0, 4, 1, 2, 3, 5};
  auto s = parse_opus_head(six);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->mapping_family, 1);
  EXPECT_EQ(s->stream_count, 4);
  EXPECT_EQ(s->coupled_count, 2);
  EXPECT_EQ(s->channel_mapping, (B{0, 4, 1, 2, 3, 5}));
  six.resize(24);
  EXPECT_EQ(parse_opus_head(six).error().code, Errc::truncated);
  six[0] = 'X';
  EXPECT_EQ(parse_opus_head(six).error().code, Errc::malformed);
}

TEST(CodecStrings, AudioFourccs) {
  EXPECT_EQ(audio_codec_string(fourcc::opus), "opus");
  EXPECT_EQ(audio_codec_string(fourcc::mp3), "mp4a.40.34");
  EXPECT_EQ(audio_codec_string(fourcc::ac3), "ac-3");
  EXPECT_EQ(audio_codec_string(fourcc::eac3), "ec-3");
  EXPECT_EQ(audio_codec_string(fourcc::flac), "fLaC");
  EXPECT_EQ(audio_codec_string(fourcc::mp4a), "");
  EXPECT_EQ(fourcc_to_string(fourcc::mp3), ".mp3");
}

// The vectors hlsadaptivesink's own codec-string code was tested with (it now uses lib/flv).
TEST(CodecStrings, SinkVectors) {
  // avcC of an x264 High profile level 3.1 stream: version 1, 0x64 0x00 0x1f, SPS + PPS.
  const B avcc{0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f,
               0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0xb0};
  auto avc = parse_avc_config(avcc);
  ASSERT_TRUE(avc.ok()) << avc.error().describe();
  EXPECT_EQ(avc->codec_string(), "avc1.64001f");
  ASSERT_EQ(avc->sps.size(), 1u);
  ASSERT_EQ(avc->pps.size(), 1u);
  EXPECT_EQ(avc->sps[0], (B{0x67, 0x64, 0x00, 0x1f}));
  EXPECT_EQ(avc->pps[0], (B{0x68, 0xee, 0x3c, 0xb0}));
  EXPECT_EQ(avc->nal_length_size, 4);
  EXPECT_FALSE(parse_avc_config(B{0x01, 0x64}).ok());
  EXPECT_FALSE(parse_avc_config(B{0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x10}).ok());  // SPS past the end

  // hvcC header of a Main profile, Main tier, level 3.1 (93) stream, no arrays.
  const B hvcc{0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00,
               0x5d, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x00};
  auto hevc = parse_hevc_config(hvcc);
  ASSERT_TRUE(hevc.ok()) << hevc.error().describe();
  EXPECT_EQ(hevc->codec_string(), "hvc1.1.6.L93.90");

  auto lc = parse_audio_specific_config(B{0x12, 0x10});  // AAC-LC 44.1 kHz stereo
  ASSERT_TRUE(lc.ok());
  EXPECT_EQ(lc->codec_string(), "mp4a.40.2");
  auto lc48 = parse_audio_specific_config(B{0x11, 0x90});  // AAC-LC 48 kHz stereo
  ASSERT_TRUE(lc48.ok());
  EXPECT_EQ(lc48->sample_rate, 48000u);
  EXPECT_EQ(lc48->channel_configuration, 2);
  auto he = parse_audio_specific_config(B{0x2b, 0x92, 0x08, 0x00});  // HE-AAC (SBR)
  ASSERT_TRUE(he.ok()) << he.error().describe();
  EXPECT_EQ(he->codec_string(), "mp4a.40.5");
  EXPECT_FALSE(parse_audio_specific_config(B{0x17}).ok());  // truncated
}

// A High profile 640x480 SPS with a scaling matrix whose first list starts with `delta` (an
// se(v) code as bits) and goes on with zeros.
B high_sps_with_scaling_delta(const std::string& delta) {
  std::string bits = "1" "010" "1" "1" "0" "1" "1";  // id 0, 4:2:0, 8 bit, 8 bit, no bypass, matrix, list 0
  bits += delta + std::string(15, '1') + "0000000";    // 15 more deltas of 0, lists 1-7 absent
  bits += "1" "011" "010" "0" "00000101000" "000011110" "1" "1" "0" "0" "1";  // as the Baseline SPS above
  while (bits.size() % 8) bits += '0';
  B sps = {0x67, 100, 0, 31};
  for (size_t i = 0; i < bits.size(); i += 8) sps.push_back(uint8_t(std::stoi(bits.substr(i, 8), nullptr, 2)));
  return sps;
}

// Found by the codec_config fuzz target (corpus codec_config/regress-avc-sps-scaling-delta):
// a delta_scale far outside -128..127 overflowed int in the scaling-list skip (UBSan report).
TEST(AvcSps, ScalingListDeltaOutOfRangeIsMalformed) {
  auto ok = parse_avc_sps(high_sps_with_scaling_delta("0000000" "1" "1111110"));  // se 127
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->width, 640u);
  EXPECT_EQ(ok->height, 480u);
  EXPECT_EQ(parse_avc_sps(high_sps_with_scaling_delta("00000000" "1" "00000000")).error().code,
            Errc::malformed);  // se 128
  EXPECT_EQ(parse_avc_sps(high_sps_with_scaling_delta("00000000" "1" "00000011")).error().code,
            Errc::malformed);  // se -129
  EXPECT_EQ(parse_avc_sps(high_sps_with_scaling_delta(std::string(31, '0') + "1" + std::string(30, '1') + "0"))
                .error().code,
            Errc::malformed);  // se 2^31-1
}

B bits_to_sps(std::string bits) {
  while (bits.size() % 8) bits += '0';
  B sps = {0x67, 66, 0xC0, 30};
  for (size_t i = 0; i < bits.size(); i += 8) sps.push_back(uint8_t(std::stoi(bits.substr(i, 8), nullptr, 2)));
  return sps;
}

TEST(AvcSps, FrameRateFromVuiTimingPastEveryEarlierVuiField) {
  // The Baseline 640x480 SPS above with a VUI: Extended_SAR 1:1, no overscan info, video signal
  // type with colour description, chroma location (ue 0, ue 1), then timing 1001 / 60000 (a
  // frame is two ticks: 30000/1001, NTSC 29.97).
  const std::string head = "1" "1" "011" "010" "0" "00000101000" "000011110" "1" "1" "0";
  std::string vui = "1" "1" "11111111" "0000000000000001" "0000000000000001" "0"
                    "1" "101" "0" "1" "000000010000000100000001" "1" "1" "010" "1";
  vui += std::bitset<32>(1001).to_string() + std::bitset<32>(60000).to_string() + "1";
  auto ntsc = parse_avc_sps(bits_to_sps(head + vui + "1"));
  ASSERT_TRUE(ntsc.ok()) << ntsc.error().describe();
  EXPECT_EQ(ntsc->width, 640u);
  EXPECT_EQ(ntsc->fps_num, 30000u);
  EXPECT_EQ(ntsc->fps_den, 1001u);

  // The VUI cut in the middle of time_scale: the size stands, the frame rate is unknown.
  auto cut = parse_avc_sps(bits_to_sps(head + vui.substr(0, vui.size() - 20)));
  ASSERT_TRUE(cut.ok()) << cut.error().describe();
  EXPECT_EQ(cut->height, 480u);
  EXPECT_EQ(cut->fps_num, 0u);
  // Timing that says 0 ticks, or more than 1000 frames per second: unknown, not a division by 0.
  const std::string no_sar = "1" "0" "0" "0" "0" "1";
  for (auto [tick, scale] : {std::pair{0u, 60000u}, std::pair{1u, 3000u}, std::pair{1u, 0u}}) {
    auto odd = parse_avc_sps(bits_to_sps(head + no_sar + std::bitset<32>(tick).to_string() +
                                         std::bitset<32>(scale).to_string() + "1" "1"));
    ASSERT_TRUE(odd.ok()) << odd.error().describe();
    EXPECT_EQ(odd->fps_num, 0u) << tick << "/" << scale;
    EXPECT_EQ(odd->fps_den, 0u);
  }
}

TEST(AvcSps, CodecStringFromTheSpsAlone) {
  // Byte-stream input has no avcC: the string comes from the SPS's profile, constraint flags
  // and level, as in the avcC built from it.
  auto c = parse_avc_config(source_sequence_header(9));
  ASSERT_TRUE(c.ok()) << c.error().describe();
  auto sps = parse_avc_sps(c->sps[0]);
  ASSERT_TRUE(sps.ok()) << sps.error().describe();
  EXPECT_EQ(sps->codec_string(), "avc1.64000c");
  EXPECT_EQ(sps->codec_string(), c->codec_string());
  // Constraint flags come through: the hand-assembled Baseline SPS above (constraint_set0/1).
  const B baseline = {0x67, 66, 0xC0, 30, 0b11011010, 0b00000010, 0b10000000, 0b11110110, 0b01000000};
  auto b = parse_avc_sps(baseline);
  ASSERT_TRUE(b.ok()) << b.error().describe();
  EXPECT_EQ(b->profile_compatibility, 0xC0);
  EXPECT_EQ(b->codec_string(), "avc1.42c01e");
}

}  // namespace
}  // namespace live::flv
