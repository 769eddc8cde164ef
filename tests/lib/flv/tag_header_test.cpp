// Audio/video tag headers: legacy tags of a real file, Enhanced RTMP headers built by hand
// from the E-RTMP v1/v2 spec, writer round trips, and bad input.
#include <gtest/gtest.h>

#include "flv/audio_tag.h"
#include "flv/fourcc.h"
#include "flv/video_tag.h"
#include <list>

#include "../test_data.h"

namespace live::flv {
namespace {

using B = std::vector<uint8_t>;
using test_data::read_flv_tags;
using test_data::read_file;

B cat(std::initializer_list<B> parts) {
  B out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
B fcc(const char* s) { return B(s, s + 4); }
B span_bytes(std::span<const uint8_t> s) { return B(s.begin(), s.end()); }
// Parsed tags point into their payload: keep hand-built payloads alive for the whole test run.
std::span<const uint8_t> keep(B bytes) {
  static std::list<B> kept;
  kept.push_back(std::move(bytes));
  return kept.back();
}

TEST(VideoTag, LegacyAvcTagsOfSourceFlv) {
  // ffprobe: 75 H.264 packets, 3 keyframes; first packet DTS 0 PTS 80, second DTS 40 PTS 200.
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  size_t frames = 0, keyframes = 0, sequence_headers = 0, sequence_ends = 0;
  std::vector<std::pair<uint32_t, int32_t>> first_frames;
  for (const auto& t : tags) {
    if (t.type != 9) continue;
    auto v = parse_video_tag(t.payload);
    ASSERT_TRUE(v.ok()) << v.error().describe();
    EXPECT_FALSE(v->enhanced);
    EXPECT_EQ(v->legacy_codec_id, 7);
    ASSERT_EQ(v->tracks.size(), 1u);
    const auto& p = v->tracks[0];
    EXPECT_EQ(p.fourcc, fourcc::avc1);
    if (p.packet_type == VideoPacketType::sequence_start) {
      ++sequence_headers;
      EXPECT_EQ(p.data.size(), 45u);  // ffprobe extradata_size
      EXPECT_EQ(p.data[0], 1);
      EXPECT_EQ(p.data[1], 0x64);
      continue;
    }
    if (p.packet_type == VideoPacketType::sequence_end) {  // ffmpeg ends the file with one
      ++sequence_ends;
      continue;
    }
    ASSERT_EQ(p.packet_type, VideoPacketType::coded_frames);
    ++frames;
    keyframes += v->keyframe();
    if (first_frames.size() < 2) first_frames.emplace_back(t.timestamp, p.composition_time);
    EXPECT_EQ(p.data.size() + 5, t.payload.size());
  }
  EXPECT_EQ(sequence_headers, 1u);
  EXPECT_EQ(sequence_ends, 1u);
  EXPECT_EQ(frames, 75u);
  EXPECT_EQ(keyframes, 3u);
  ASSERT_EQ(first_frames.size(), 2u);
  EXPECT_EQ(first_frames[0], std::make_pair(0u, 80));
  EXPECT_EQ(first_frames[1], std::make_pair(40u, 160));
}

TEST(AudioTag, LegacyAacTagsOfSourceFlv) {
  auto tags = read_flv_tags(read_file("captures/source.flv"));
  size_t frames = 0, headers = 0;
  for (const auto& t : tags) {
    if (t.type != 8) continue;
    auto a = parse_audio_tag(t.payload);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->format, SoundFormat::aac);
    ASSERT_EQ(a->tracks.size(), 1u);
    EXPECT_EQ(a->tracks[0].fourcc, fourcc::mp4a);
    if (a->tracks[0].packet_type == AudioPacketType::sequence_start) {
      ++headers;
      EXPECT_EQ(span_bytes(a->tracks[0].data), (B{0x12, 0x08, 0x56, 0xE5, 0x00}));  // ffprobe extradata
    } else {
      ++frames;
    }
  }
  EXPECT_EQ(headers, 1u);
  EXPECT_EQ(frames, 131u);
}

TEST(VideoTag, NegativeLegacyCompositionTime) {
  auto v = parse_video_tag(keep(B{0x27, 0x01, 0xFF, 0xFF, 0xF6, 0xAA}));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->keyframe());
  EXPECT_EQ(v->tracks[0].composition_time, -10);
  EXPECT_EQ(span_bytes(v->tracks[0].data), B{0xAA});
}

TEST(VideoTag, EnhancedHevcCodedFramesWithCompositionTime) {
  // IsExHeader 1, FrameType 1 (key), PacketType 1 (CodedFrames), 'hvc1', SI24 cts = 0x000050.
  auto v = parse_video_tag(keep(cat({B{0x80 | 0x10 | 1}, fcc("hvc1"), B{0x00, 0x00, 0x50}, B{1, 2, 3}})));
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_TRUE(v->enhanced);
  EXPECT_TRUE(v->keyframe());
  ASSERT_EQ(v->tracks.size(), 1u);
  EXPECT_EQ(v->tracks[0].fourcc, fourcc::hvc1);
  EXPECT_EQ(v->tracks[0].packet_type, VideoPacketType::coded_frames);
  EXPECT_EQ(v->tracks[0].composition_time, 80);
  EXPECT_EQ(span_bytes(v->tracks[0].data), (B{1, 2, 3}));
}

TEST(VideoTag, EnhancedCodedFramesXHasNoCompositionTime) {
  auto v = parse_video_tag(keep(cat({B{0x80 | 0x20 | 3}, fcc("hvc1"), B{9, 8, 7}})));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->keyframe());
  EXPECT_EQ(v->tracks[0].packet_type, VideoPacketType::coded_frames);
  EXPECT_EQ(v->tracks[0].composition_time, 0);
  EXPECT_EQ(span_bytes(v->tracks[0].data), (B{9, 8, 7}));
}

TEST(VideoTag, Av1AndVp9CodedFramesCarryNoCompositionTime) {
  for (const char* code : {"av01", "vp09"}) {
    auto v = parse_video_tag(keep(cat({B{0x80 | 0x10 | 1}, fcc(code), B{0x12, 0x00, 0x0A}})));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->tracks[0].fourcc, make_fourcc(code[0], code[1], code[2], code[3]));
    EXPECT_EQ(v->tracks[0].composition_time, 0);
    EXPECT_EQ(span_bytes(v->tracks[0].data), (B{0x12, 0x00, 0x0A})) << code;
  }
}

TEST(VideoTag, EnhancedSequenceStartEndAndMetadata) {
  auto start = parse_video_tag(keep(cat({B{0x80 | 0x10 | 0}, fcc("av01"), B{0x81, 0x04, 0x0C, 0x00}})));
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->tracks[0].packet_type, VideoPacketType::sequence_start);
  EXPECT_EQ(span_bytes(start->tracks[0].data), (B{0x81, 0x04, 0x0C, 0x00}));
  auto end = parse_video_tag(keep(cat({B{0x80 | 0x10 | 2}, fcc("vp09")})));
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->tracks[0].packet_type, VideoPacketType::sequence_end);
  EXPECT_TRUE(end->tracks[0].data.empty());
  // FrameType 5 with PacketType Metadata is not a command: FourCC and body follow.
  auto meta = parse_video_tag(keep(cat({B{0x80 | 0x50 | 4}, fcc("hvc1"), B{0x02, 0x00}})));
  ASSERT_TRUE(meta.ok());
  EXPECT_FALSE(meta->command.has_value());
  EXPECT_EQ(meta->tracks[0].packet_type, VideoPacketType::metadata);
  // Any other FrameType-5 tag is a command: one UI8, no FourCC.
  auto cmd = parse_video_tag(keep(B{0x80 | 0x50 | 1, 0x01}));
  ASSERT_TRUE(cmd.ok());
  ASSERT_TRUE(cmd->command.has_value());
  EXPECT_EQ(*cmd->command, 1);
  EXPECT_TRUE(cmd->tracks.empty());
}

TEST(VideoTag, ModExTimestampOffsetNano) {
  // PacketType ModEx; size-1 = 2 (3 bytes): 0x01E240 = 123456 ns; then ModExType 0 |
  // PacketType CodedFrames; 'avc1', cts 1, data.
  auto v = parse_video_tag(keep(cat({B{0x80 | 0x10 | 7, 2, 0x01, 0xE2, 0x40, 0x01}, fcc("avc1"), B{0, 0, 1, 0xEE}})));
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(v->timestamp_offset_nanos, 123456u);
  EXPECT_EQ(v->tracks[0].packet_type, VideoPacketType::coded_frames);
  EXPECT_EQ(v->tracks[0].composition_time, 1);
  EXPECT_EQ(span_bytes(v->tracks[0].data), B{0xEE});
}

TEST(VideoTag, MultitrackOneTrack) {
  // Multitrack: byte 2 = OneTrack(0) << 4 | CodedFrames; FourCC; track id 3; body (cts + data).
  auto v = parse_video_tag(keep(cat({B{0x80 | 0x10 | 6, 0x01}, fcc("hvc1"), B{3, 0xFF, 0xFF, 0xFF, 0x42}})));
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_TRUE(v->multitrack);
  EXPECT_EQ(v->multitrack_type, MultitrackType::one_track);
  ASSERT_EQ(v->tracks.size(), 1u);
  EXPECT_EQ(v->tracks[0].track_id, 3);
  EXPECT_EQ(v->tracks[0].composition_time, -1);
  EXPECT_EQ(span_bytes(v->tracks[0].data), B{0x42});
}

TEST(VideoTag, MultitrackManyTracksAndManyCodecs) {
  // ManyTracks, shared 'av01': track 0 (2 bytes), track 1 (1 byte).
  auto many = parse_video_tag(
      keep(cat({B{0x80 | 0x10 | 6, (1 << 4) | 1}, fcc("av01"), B{0, 0, 0, 2, 0xA0, 0xA1, 1, 0, 0, 1, 0xB0}})));
  ASSERT_TRUE(many.ok()) << many.error().describe();
  ASSERT_EQ(many->tracks.size(), 2u);
  EXPECT_EQ(many->tracks[1].track_id, 1);
  EXPECT_EQ(many->tracks[1].fourcc, fourcc::av01);
  EXPECT_EQ(span_bytes(many->tracks[0].data), (B{0xA0, 0xA1}));
  EXPECT_EQ(span_bytes(many->tracks[1].data), B{0xB0});
  // ManyTracksManyCodecs sequence start: 'hvc1' track 0, 'vp09' track 1.
  auto mixed = parse_video_tag(keep(cat({B{0x80 | 0x10 | 6, (2 << 4) | 0}, fcc("hvc1"), B{0, 0, 0, 1, 0xC0},
                                    fcc("vp09"), B{1, 0, 0, 2, 0xD0, 0xD1}})));
  ASSERT_TRUE(mixed.ok()) << mixed.error().describe();
  ASSERT_EQ(mixed->tracks.size(), 2u);
  EXPECT_EQ(mixed->tracks[0].fourcc, fourcc::hvc1);
  EXPECT_EQ(mixed->tracks[1].fourcc, fourcc::vp09);
  EXPECT_EQ(mixed->tracks[1].packet_type, VideoPacketType::sequence_start);
  EXPECT_EQ(span_bytes(mixed->tracks[1].data), (B{0xD0, 0xD1}));
}

TEST(VideoTag, BadInput) {
  EXPECT_EQ(parse_video_tag(keep(B{})).error().code, Errc::truncated);
  EXPECT_EQ(parse_video_tag(keep(B{0x90, 'h', 'v'})).error().code, Errc::truncated);
  EXPECT_EQ(parse_video_tag(keep(B{0x07, 0x00})).error().code, Errc::malformed);  // frame type 0
  EXPECT_EQ(parse_video_tag(keep(cat({B{0x90 | 6, 0x06}, fcc("hvc1")}))).error().code, Errc::malformed);  // nested
  // A track size larger than the tag.
  EXPECT_EQ(parse_video_tag(keep(cat({B{0x90 | 6, 0x11}, fcc("av01"), B{0, 0, 0, 9, 1}}))).error().code, Errc::truncated);
  // More tracks than kMaxTracksPerTag.
  B many = cat({B{0x90 | 6, 0x11}, fcc("av01")});
  for (int i = 0; i < int(kMaxTracksPerTag) + 1; ++i) many.insert(many.end(), {uint8_t(i), 0, 0, 0});
  EXPECT_EQ(parse_video_tag(many).error().code, Errc::limit_exceeded);
  // ModEx chain longer than kMaxModExEntries.
  B modex{0x90 | 7};
  for (size_t i = 0; i <= kMaxModExEntries; ++i) modex.insert(modex.end(), {0, 0, 0x07});
  EXPECT_EQ(parse_video_tag(modex).error().code, Errc::limit_exceeded);
}

TEST(VideoTag, WriterRoundTrips) {
  B data{1, 2, 3, 4};
  for (auto type : {VideoPacketType::sequence_start, VideoPacketType::coded_frames, VideoPacketType::sequence_end}) {
    for (uint32_t code : {fourcc::avc1, fourcc::hvc1, fourcc::av01, fourcc::vp09}) {
      B out;
      write_ex_video(out, FrameType::inter, type, VideoTrackWrite{0, code, -300, data});
      auto v = parse_video_tag(out);
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(v->tracks[0].fourcc, code);
      EXPECT_EQ(v->tracks[0].packet_type, type);
      bool has_cts = type == VideoPacketType::coded_frames && fourcc_has_composition_time(code);
      EXPECT_EQ(v->tracks[0].composition_time, has_cts ? -300 : 0);
      EXPECT_EQ(span_bytes(v->tracks[0].data), data);
    }
  }
  B legacy;
  write_legacy_avc_video(legacy, FrameType::keyframe, VideoPacketType::coded_frames, 1234, data);
  EXPECT_EQ(legacy, cat({B{0x17, 0x01, 0x00, 0x04, 0xD2}, data}));
  for (auto mt : {MultitrackType::one_track, MultitrackType::many_tracks, MultitrackType::many_tracks_many_codecs}) {
    static const B nine{9};
    std::vector<VideoTrackWrite> tracks = {{2, fourcc::hvc1, 40, data}, {7, fourcc::hvc1, -40, nine}};
    if (mt == MultitrackType::many_tracks_many_codecs) tracks[1].fourcc = fourcc::av01;
    if (mt == MultitrackType::one_track) tracks.resize(1);
    B out;
    write_ex_video_multitrack(out, FrameType::keyframe, mt, VideoPacketType::coded_frames, tracks);
    auto v = parse_video_tag(out);
    ASSERT_TRUE(v.ok()) << v.error().describe();
    EXPECT_EQ(v->multitrack_type, mt);
    ASSERT_EQ(v->tracks.size(), tracks.size());
    for (size_t i = 0; i < tracks.size(); ++i) {
      EXPECT_EQ(v->tracks[i].track_id, tracks[i].track_id);
      EXPECT_EQ(v->tracks[i].fourcc, tracks[i].fourcc);
      EXPECT_EQ(span_bytes(v->tracks[i].data), span_bytes(tracks[i].data));
      EXPECT_EQ(v->tracks[i].composition_time, tracks[i].fourcc == fourcc::hvc1 ? tracks[i].composition_time : 0);
    }
  }
}

TEST(AudioTag, LegacyHeaderFields) {
  // MP3 (2), 44 kHz (3), 16-bit, stereo = 0x2F.
  auto a = parse_audio_tag(keep(B{0x2F, 0xFF, 0xFB}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->format, SoundFormat::mp3);
  EXPECT_EQ(a->legacy_rate_hz(), 44100u);
  EXPECT_EQ(a->legacy_channels(), 2u);
  EXPECT_EQ(a->tracks[0].fourcc, fourcc::mp3);
  EXPECT_EQ(span_bytes(a->tracks[0].data), (B{0xFF, 0xFB}));
  // MP3 8 kHz (14), mono.
  auto a8 = parse_audio_tag(keep(B{0xE2, 0x00}));
  ASSERT_TRUE(a8.ok());
  EXPECT_EQ(a8->legacy_rate_hz(), 8000u);
  EXPECT_EQ(a8->legacy_channels(), 1u);
  // G.711 A-law (7).
  EXPECT_EQ(parse_audio_tag(keep(B{0x72, 0})).value().legacy_rate_hz(), 8000u);
  // AAC packet type 2 does not exist.
  EXPECT_EQ(parse_audio_tag(keep(B{0xAF, 0x02})).error().code, Errc::malformed);
}

TEST(AudioTag, EnhancedOpusAndFriends) {
  B head = read_file("flv/opus.OpusHead.bin");
  auto seq = parse_audio_tag(keep(cat({B{0x90 | 0}, fcc("Opus"), head})));
  ASSERT_TRUE(seq.ok());
  EXPECT_TRUE(seq->enhanced);
  EXPECT_EQ(seq->format, SoundFormat::ex_header);
  EXPECT_EQ(seq->tracks[0].fourcc, fourcc::opus);
  EXPECT_EQ(seq->tracks[0].packet_type, AudioPacketType::sequence_start);
  EXPECT_EQ(span_bytes(seq->tracks[0].data), head);
  for (const char* code : {".mp3", "ac-3", "ec-3", "fLaC", "mp4a"}) {
    auto a = parse_audio_tag(keep(cat({B{0x90 | 1}, fcc(code), B{0x0B, 0x77}})));
    ASSERT_TRUE(a.ok()) << code;
    EXPECT_EQ(a->tracks[0].fourcc, make_fourcc(code[0], code[1], code[2], code[3]));
    EXPECT_EQ(a->tracks[0].packet_type, AudioPacketType::coded_frames);
    EXPECT_EQ(span_bytes(a->tracks[0].data), (B{0x0B, 0x77}));
  }
  // MultichannelConfig, custom order: 3 channels mapped 0, 1, 3.
  auto mc = parse_audio_tag(keep(cat({B{0x90 | 4}, fcc("Opus"), B{2, 3, 0, 1, 3}})));
  ASSERT_TRUE(mc.ok());
  EXPECT_EQ(mc->tracks[0].packet_type, AudioPacketType::multichannel_config);
  auto cfg = parse_multichannel_config(mc->tracks[0].data);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->channel_count, 3);
  EXPECT_EQ(cfg->channel_mapping, (B{0, 1, 3}));
  auto native = parse_multichannel_config(B{1, 2, 0, 0, 0, 3});
  ASSERT_TRUE(native.ok());
  EXPECT_EQ(native->channel_flags, 3u);
}

TEST(AudioTag, EnhancedMultitrack) {
  // ManyTracksManyCodecs CodedFrames: 'mp4a' track 0 (2 bytes) + 'Opus' track 1 (1 byte).
  auto a = parse_audio_tag(
      keep(cat({B{0x90 | 5, (2 << 4) | 1}, fcc("mp4a"), B{0, 0, 0, 2, 0x21, 0x22}, fcc("Opus"), B{1, 0, 0, 1, 0xFC}})));
  ASSERT_TRUE(a.ok()) << a.error().describe();
  ASSERT_EQ(a->tracks.size(), 2u);
  EXPECT_EQ(a->tracks[0].fourcc, fourcc::mp4a);
  EXPECT_EQ(a->tracks[1].fourcc, fourcc::opus);
  EXPECT_EQ(a->tracks[1].track_id, 1);
  EXPECT_EQ(span_bytes(a->tracks[1].data), B{0xFC});
  // OneTrack: no size field.
  auto one = parse_audio_tag(keep(cat({B{0x90 | 5, (0 << 4) | 1}, fcc("Opus"), B{4, 0xF8, 0xF9}})));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->tracks[0].track_id, 4);
  EXPECT_EQ(span_bytes(one->tracks[0].data), (B{0xF8, 0xF9}));
  // Writer round trip for all three kinds.
  for (auto mt : {MultitrackType::one_track, MultitrackType::many_tracks, MultitrackType::many_tracks_many_codecs}) {
    static const B one_two{1, 2}, three{3};
    std::vector<AudioTrackWrite> tracks = {{0, fourcc::opus, one_two}, {5, fourcc::opus, three}};
    if (mt == MultitrackType::many_tracks_many_codecs) tracks[1].fourcc = fourcc::mp4a;
    if (mt == MultitrackType::one_track) tracks.resize(1);
    B out;
    write_ex_audio_multitrack(out, mt, AudioPacketType::coded_frames, tracks);
    auto r = parse_audio_tag(out);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->tracks.size(), tracks.size());
    for (size_t i = 0; i < tracks.size(); ++i) {
      EXPECT_EQ(r->tracks[i].track_id, tracks[i].track_id);
      EXPECT_EQ(r->tracks[i].fourcc, tracks[i].fourcc);
      EXPECT_EQ(span_bytes(r->tracks[i].data), span_bytes(tracks[i].data));
    }
  }
  B single;
  static const B seven{7};
  write_ex_audio(single, AudioPacketType::sequence_start, AudioTrackWrite{0, fourcc::opus, seven});
  EXPECT_EQ(single, cat({B{0x90}, fcc("Opus"), B{7}}));
  B aac;
  write_legacy_aac_audio(aac, AudioPacketType::coded_frames, B{0x21});
  EXPECT_EQ(aac, (B{0xAF, 0x01, 0x21}));
  // Bad: unknown packet type 3, truncated FourCC.
  EXPECT_EQ(parse_audio_tag(keep(cat({B{0x93}, fcc("Opus")}))).error().code, Errc::unsupported);
  EXPECT_EQ(parse_audio_tag(keep(B{0x91, 'O'})).error().code, Errc::truncated);
}

TEST(AudioTag, ModExAndMultitrackLimits) {
  // Audio's ModEx (7) and multitrack (5) packet types: TimestampOffsetNano 0x0003E8 = 1000 ns,
  // then ModExType 0 | CodedFrames, 'Opus', data.
  auto a = parse_audio_tag(keep(cat({B{0x90 | 7, 2, 0x00, 0x03, 0xE8, 0x01}, fcc("Opus"), B{0xFC}})));
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_EQ(a->timestamp_offset_nanos, 1000u);
  EXPECT_EQ(a->tracks[0].packet_type, AudioPacketType::coded_frames);
  EXPECT_EQ(span_bytes(a->tracks[0].data), B{0xFC});
  // A nanosecond offset above 999999 (0x0F4240 = 1000000).
  EXPECT_EQ(parse_audio_tag(keep(cat({B{0x90 | 7, 2, 0x0F, 0x42, 0x40, 0x01}, fcc("Opus")}))).error().code,
            Errc::malformed);
  // ModEx chain longer than kMaxModExEntries.
  B modex{0x90 | 7};
  for (size_t i = 0; i <= kMaxModExEntries; ++i) modex.insert(modex.end(), {0, 0, 0x07});
  EXPECT_EQ(parse_audio_tag(modex).error().code, Errc::limit_exceeded);
  // Multitrack inside multitrack, a multitrack type above 2.
  EXPECT_EQ(parse_audio_tag(keep(cat({B{0x90 | 5, 0x05}, fcc("Opus")}))).error().code, Errc::malformed);
  EXPECT_EQ(parse_audio_tag(keep(cat({B{0x90 | 5, 0x31}, fcc("Opus")}))).error().code, Errc::malformed);
  // More tracks than kMaxTracksPerTag (ManyTracks, empty bodies).
  B many = cat({B{0x90 | 5, 0x11}, fcc("Opus")});
  for (int i = 0; i < int(kMaxTracksPerTag) + 1; ++i) many.insert(many.end(), {uint8_t(i), 0, 0, 0});
  EXPECT_EQ(parse_audio_tag(many).error().code, Errc::limit_exceeded);
  many.resize(many.size() - 4);  // exactly kMaxTracksPerTag
  auto max = parse_audio_tag(keep(many));
  ASSERT_TRUE(max.ok()) << max.error().describe();
  EXPECT_EQ(max->tracks.size(), kMaxTracksPerTag);
  EXPECT_EQ(max->tracks.back().track_id, kMaxTracksPerTag - 1);
}

}  // namespace
}  // namespace live::flv
