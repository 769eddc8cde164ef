// classify_tag on legacy FLV and Enhanced RTMP tags; RelayMessage's shared wire encodings
// decoded back with the project's own ChunkReader and FlvReader.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "flv/flv_tag.h"
#include "flv/fourcc.h"
#include "relay_test_helpers.h"
#include "rtmp/chunk_reader.h"

using namespace live;
using namespace live::relay;
using namespace live::relay::test;
using flv::AudioPacketType;
using flv::FrameType;
using flv::MultitrackType;
using flv::VideoPacketType;

namespace {

FrameKind kind(uint8_t type, std::vector<uint8_t> payload) { return classify_tag(type, payload).kind; }

std::vector<uint8_t> ex_video(FrameType frame, VideoPacketType packet, uint32_t fourcc = flv::fourcc::hvc1) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> data{1, 2, 3};
  flv::write_ex_video(p, frame, packet, flv::VideoTrackWrite{0, fourcc, 0, data});
  return p;
}

std::vector<uint8_t> ex_video_multitrack(FrameType frame, VideoPacketType packet, std::vector<uint8_t> track_ids) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> data{1, 2, 3};
  std::vector<flv::VideoTrackWrite> tracks;
  for (uint8_t id : track_ids) tracks.push_back({id, flv::fourcc::av01, 0, data});
  flv::write_ex_video_multitrack(p, frame, track_ids.size() > 1 ? MultitrackType::many_tracks : MultitrackType::one_track,
                                 packet, tracks);
  return p;
}

// ModEx (TimestampOffsetNano, 3 bytes) in front of the real packet type.
std::vector<uint8_t> with_mod_ex(uint8_t first_byte_high, uint8_t real_packet_type, std::vector<uint8_t> rest) {
  std::vector<uint8_t> p{uint8_t(first_byte_high | 7), 2, 0x00, 0x01, 0x00, uint8_t(0x00 | real_packet_type)};
  p.insert(p.end(), rest.begin(), rest.end());
  return p;
}

std::vector<uint8_t> ex_audio(AudioPacketType packet) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> data{1, 2, 3};
  flv::write_ex_audio(p, packet, flv::AudioTrackWrite{0, flv::fourcc::opus, data});
  return p;
}

std::vector<uint8_t> ex_audio_multitrack(AudioPacketType packet, std::vector<uint8_t> track_ids) {
  std::vector<uint8_t> p;
  const std::vector<uint8_t> data{1, 2, 3};
  std::vector<flv::AudioTrackWrite> tracks;
  for (uint8_t id : track_ids) tracks.push_back({id, flv::fourcc::opus, data});
  flv::write_ex_audio_multitrack(p, track_ids.size() > 1 ? MultitrackType::many_tracks : MultitrackType::one_track,
                                 packet, tracks);
  return p;
}

}  // namespace

TEST(ClassifyTag, LegacyVideo) {
  EXPECT_EQ(kind(9, {0x17, 0x00, 0, 0, 0, 1}), FrameKind::video_config);
  EXPECT_EQ(kind(9, {0x17, 0x01, 0, 0, 0, 1}), FrameKind::video_key);
  EXPECT_EQ(kind(9, {0x27, 0x01, 0, 0, 0, 1}), FrameKind::video_delta);
  EXPECT_EQ(kind(9, {0x37, 0x01, 0, 0, 0}), FrameKind::video_delta);  // disposable inter
  EXPECT_EQ(kind(9, {0x47, 0x01, 0, 0, 0}), FrameKind::video_delta);  // generated keyframe
  EXPECT_EQ(kind(9, {0x17, 0x02, 0, 0, 0}), FrameKind::video_other);  // end of sequence
  EXPECT_EQ(kind(9, {0x57, 0x01}), FrameKind::video_other);           // info/command frame
  EXPECT_EQ(kind(9, {0x17}), FrameKind::video_other);                 // no AVCPacketType
  EXPECT_EQ(kind(9, {0x17, 0x05, 0, 0, 0}), FrameKind::video_other);  // no such AVCPacketType
  EXPECT_EQ(kind(9, {0x1C, 0x00, 0, 0, 0}), FrameKind::video_config);  // legacy HEVC (CodecID 12)
  EXPECT_EQ(kind(9, {0x1C, 0x01, 0, 0, 0}), FrameKind::video_key);
  EXPECT_EQ(kind(9, {0x2C, 0x01, 0, 0, 0}), FrameKind::video_delta);
  EXPECT_EQ(kind(9, {0x12, 0xAA}), FrameKind::video_key);    // Sorenson H.263: no packet type
  EXPECT_EQ(kind(9, {0x22, 0xAA}), FrameKind::video_delta);
  EXPECT_EQ(kind(9, {0x07, 0x01}), FrameKind::video_other);  // frame type 0
  EXPECT_EQ(kind(9, {}), FrameKind::video_other);
}

TEST(ClassifyTag, EnhancedVideo) {
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::sequence_start)), FrameKind::video_config);
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::mpeg2ts_sequence_start)), FrameKind::video_config);
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::coded_frames)), FrameKind::video_key);
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::coded_frames_x)), FrameKind::video_key);
  EXPECT_EQ(kind(9, ex_video(FrameType::inter, VideoPacketType::coded_frames)), FrameKind::video_delta);
  EXPECT_EQ(kind(9, ex_video(FrameType::disposable_inter, VideoPacketType::coded_frames_x)), FrameKind::video_delta);
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::sequence_end)), FrameKind::video_other);
  EXPECT_EQ(kind(9, ex_video(FrameType::keyframe, VideoPacketType::metadata)), FrameKind::video_other);
  EXPECT_EQ(kind(9, {0xD1, 0x01}), FrameKind::video_other);  // command frame (type 5)
  EXPECT_EQ(kind(9, {0x91}), FrameKind::video_key);          // truncated after the header byte: still a key
  // Multitrack: the packet type is the low nibble of the second byte.
  EXPECT_EQ(kind(9, ex_video_multitrack(FrameType::keyframe, VideoPacketType::sequence_start, {0, 1})),
            FrameKind::video_config);
  EXPECT_EQ(kind(9, ex_video_multitrack(FrameType::keyframe, VideoPacketType::coded_frames, {1})),
            FrameKind::video_key);
  EXPECT_EQ(kind(9, ex_video_multitrack(FrameType::inter, VideoPacketType::coded_frames, {0, 1})),
            FrameKind::video_delta);
  EXPECT_EQ(kind(9, {0x96}), FrameKind::video_other);  // multitrack byte missing
  // ModEx in front of the real packet type.
  const std::vector<uint8_t> fourcc{'a', 'v', '0', '1', 9, 9};
  EXPECT_EQ(kind(9, with_mod_ex(0x90, 0, fourcc)), FrameKind::video_config);
  EXPECT_EQ(kind(9, with_mod_ex(0x90, 1, fourcc)), FrameKind::video_key);
  EXPECT_EQ(kind(9, with_mod_ex(0xA0, 3, fourcc)), FrameKind::video_delta);
  EXPECT_EQ(kind(9, with_mod_ex(0x90, 6, {0x00, 'a', 'v', '0', '1', 0})), FrameKind::video_config);
  EXPECT_EQ(kind(9, {0x97, 5, 0}), FrameKind::video_other);  // ModEx data cut short
}

TEST(ClassifyTag, Audio) {
  EXPECT_EQ(kind(8, {0xAF, 0x00, 0x12, 0x10}), FrameKind::audio_config);
  EXPECT_EQ(kind(8, {0xAF, 0x01, 0x21}), FrameKind::audio);
  EXPECT_EQ(kind(8, {0xAF}), FrameKind::audio);
  EXPECT_EQ(kind(8, {0x2F, 0xFF, 0xFB}), FrameKind::audio);  // MP3
  EXPECT_EQ(kind(8, {}), FrameKind::audio);
  EXPECT_EQ(kind(8, ex_audio(AudioPacketType::sequence_start)), FrameKind::audio_config);
  EXPECT_EQ(kind(8, ex_audio(AudioPacketType::multichannel_config)), FrameKind::audio_config);
  EXPECT_EQ(kind(8, ex_audio(AudioPacketType::coded_frames)), FrameKind::audio);
  EXPECT_EQ(kind(8, ex_audio(AudioPacketType::sequence_end)), FrameKind::audio);
  EXPECT_EQ(kind(8, ex_audio_multitrack(AudioPacketType::sequence_start, {0, 1})), FrameKind::audio_config);
  EXPECT_EQ(kind(8, ex_audio_multitrack(AudioPacketType::coded_frames, {0, 1})), FrameKind::audio);
  EXPECT_EQ(kind(8, with_mod_ex(0x90, 0, {'O', 'p', 'u', 's', 1})), FrameKind::audio_config);
  EXPECT_EQ(kind(8, with_mod_ex(0x90, 1, {'O', 'p', 'u', 's', 1})), FrameKind::audio);
}

TEST(ClassifyTag, ScriptData) {
  auto on_meta = amf0_string("onMetaData");
  on_meta.push_back(0x05);  // null
  EXPECT_EQ(kind(18, on_meta), FrameKind::metadata);
  auto set_data_frame = amf0_string("@setDataFrame");
  set_data_frame.insert(set_data_frame.end(), on_meta.begin(), on_meta.end());
  EXPECT_EQ(kind(18, set_data_frame), FrameKind::metadata);
  EXPECT_EQ(kind(18, amf0_string("onCuePoint")), FrameKind::other_data);
  EXPECT_EQ(kind(18, amf0_string("onMetaDat")), FrameKind::other_data);
  EXPECT_EQ(kind(18, std::vector<uint8_t>(on_meta.begin(), on_meta.begin() + 8)), FrameKind::other_data);
  EXPECT_EQ(kind(18, {}), FrameKind::other_data);
  EXPECT_EQ(kind(20, on_meta), FrameKind::other_data);  // a command is not relayed data
  EXPECT_TRUE(classify_tag(18, on_meta).is_config());
  EXPECT_TRUE(classify_tag(9, std::vector<uint8_t>{0x17, 0x00}).is_config());
  EXPECT_TRUE(classify_tag(9, std::vector<uint8_t>{0x17, 0x00}).is_video());
  EXPECT_TRUE(classify_tag(8, std::vector<uint8_t>{0xAF, 0x00}).is_audio());
}

TEST(RelayMessage, RtmpChunksDecodeBack) {
  for (uint32_t chunk_size : {128u, 4096u, 65536u}) {
    for (size_t size : {size_t(0), size_t(1), size_t(chunk_size), size_t(chunk_size) + 1, size_t(200000)}) {
      SCOPED_TRACE("chunk size " + std::to_string(chunk_size) + " payload " + std::to_string(size));
      for (uint8_t type : {uint8_t(8), uint8_t(9), uint8_t(18)}) {
        const RelayMessage m(type, 123456, body(size, uint32_t(size)));
        const auto bytes = m.rtmp_chunks(1, chunk_size);
        rtmp::ChunkReader reader;
        reader.set_chunk_size(chunk_size);
        std::vector<rtmp::Message> out;
        auto r = reader.feed(bytes, out);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].type, type);
        EXPECT_EQ(out[0].timestamp, 123456u);
        EXPECT_EQ(out[0].stream_id, 1u);
        EXPECT_EQ(out[0].chunk_stream_id,
                  type == 8 ? kRelayAudioChunkStream : type == 9 ? kRelayVideoChunkStream : kRelayDataChunkStream);
        EXPECT_TRUE(std::equal(out[0].payload.begin(), out[0].payload.end(), m.payload().begin(), m.payload().end()));
        // Headers: 12 bytes, plus 1 per continuation chunk.
        const size_t continuations = size == 0 ? 0 : (size - 1) / chunk_size;
        EXPECT_EQ(bytes.size(), 12 + size + continuations);
      }
    }
  }
}

TEST(RelayMessage, ExtendedTimestamp) {
  const RelayMessage m(9, 0x12345678, body(1000, 1));
  const auto bytes = m.rtmp_chunks(3, 128);
  rtmp::ChunkReader reader;
  std::vector<rtmp::Message> out;
  ASSERT_TRUE(reader.feed(bytes, out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].timestamp, 0x12345678u);
  EXPECT_EQ(out[0].stream_id, 3u);
  EXPECT_EQ(out[0].payload.size(), 1000u);
  EXPECT_EQ(bytes.size(), 12 + 4 + 1000 + 7 * (1 + 4));  // 4 more bytes on every chunk
}

TEST(RelayMessage, EncodingsAreMadeOnceAndKept) {
  const RelayMessage m(9, 40, body(5000, 2));
  EXPECT_EQ(m.memory_bytes(), 5000u);
  const auto first = m.rtmp_chunks(1, 4096);
  EXPECT_EQ(m.rtmp_chunks(1, 4096).data(), first.data());
  EXPECT_EQ(m.memory_bytes(), 5000u + first.size());
  const auto other_size = m.rtmp_chunks(1, 128);
  const auto other_stream = m.rtmp_chunks(2, 4096);
  EXPECT_NE(other_size.data(), first.data());
  EXPECT_NE(other_stream.data(), first.data());
  EXPECT_NE(std::vector<uint8_t>(other_stream.begin(), other_stream.end()),
            std::vector<uint8_t>(first.begin(), first.end()));  // the stream id is in the header
  // Spans handed out stay valid while more encodings are made.
  const std::vector<uint8_t> copy(first.begin(), first.end());
  for (uint32_t cs = 200; cs < 300; ++cs) (void)m.rtmp_chunks(1, cs);
  EXPECT_EQ(m.rtmp_chunks(1, 4096).data(), first.data());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), copy.begin(), copy.end()));
  const auto http = m.http_flv_chunk();
  EXPECT_EQ(m.http_flv_chunk().data(), http.data());
}

// A payload held by an owner (flvrelaysink: the GstBuffer it arrived in) is used where it is,
// the owner lives as long as the message, and every encoding is what a copied payload gives.
TEST(RelayMessage, PayloadInItsOwnersMemory) {
  auto owner = std::make_shared<std::vector<uint8_t>>(body(9000, 4));
  owner->insert(owner->begin(), 11, 0xEE);  // as if behind an FLV tag header
  const std::span<const uint8_t> payload(owner->data() + 11, 9000);
  std::weak_ptr<std::vector<uint8_t>> watch = owner;
  auto held = std::make_shared<const RelayMessage>(9, 0x01000000, payload, owner);
  const RelayMessage copied(9, 0x01000000, body(9000, 4));
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(held->payload().data(), payload.data());
  EXPECT_EQ(held->memory_bytes(), 9000u);
  EXPECT_EQ(held->info().kind, copied.info().kind);
  for (uint32_t chunk_size : {128u, 4096u}) {
    const auto a = held->rtmp_chunks(1, chunk_size), b = copied.rtmp_chunks(1, chunk_size);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  }
  const auto a = held->http_flv_chunk(), b = copied.http_flv_chunk();
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  held.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(RelayMessage, HttpFlvChunkParsesBack) {
  for (size_t size : {size_t(0), size_t(1), size_t(200000)}) {
    SCOPED_TRACE("payload " + std::to_string(size));
    const RelayMessage m(9, 0x01020304, body(size, 3));
    const auto bytes = m.http_flv_chunk();
    const std::string text(bytes.begin(), bytes.end());
    const size_t line_end = text.find("\r\n");
    ASSERT_NE(line_end, std::string::npos);
    const size_t tag_size = 11 + size + 4;
    char expected_line[24];
    std::snprintf(expected_line, sizeof expected_line, "%zx", tag_size);
    EXPECT_EQ(text.substr(0, line_end), expected_line);  // lowercase hex, no leading zeros
    ASSERT_EQ(bytes.size(), line_end + 2 + tag_size + 2);
    EXPECT_EQ(text.substr(text.size() - 2), "\r\n");
    flv::FlvReader reader;
    ASSERT_TRUE(reader.feed(bytes.subspan(line_end + 2, tag_size)).ok());
    auto tag = reader.next_tag();
    ASSERT_TRUE(tag.has_value());
    EXPECT_EQ(tag->type, 9);
    EXPECT_EQ(tag->timestamp, 0x01020304u);
    EXPECT_TRUE(std::equal(tag->payload.begin(), tag->payload.end(), m.payload().begin(), m.payload().end()));
    EXPECT_FALSE(reader.has_tag());
    // The plain tag (HTTP/1.0 bodies) is the chunk's inside, the same bytes and memory.
    const auto plain = m.flv_tag();
    ASSERT_EQ(plain.size(), tag_size);
    EXPECT_EQ(plain.data(), bytes.data() + line_end + 2);
    std::vector<uint8_t> written;
    ASSERT_TRUE(flv::write_tag(written, 9, 0x01020304u, m.payload()).ok());
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), written.begin(), written.end()));
  }
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(RelayMessage(8, 0, body(200000, 1)).http_flv_chunk().data()), 7),
            "30d4f\r\n");  // 11 + 200000 + 4 = 0x30d4f
}
