// ChunkReader over real sessions: same messages however the bytes are split; commands and
// media match what the publishers sent; hostile input gives errors.
#include <gtest/gtest.h>

#include <random>

#include "common/byte_io.h"
#include "rtmp/amf0.h"
#include "rtmp/chunk_reader.h"
#include "rtmp/command.h"
#include "rtmp_test_helpers.h"

using namespace live;
using namespace live::rtmp;
using namespace live::rtmp::test;

namespace {

std::vector<Message> read_all(std::span<const uint8_t> bytes, ChunkReaderLimits limits = {}) {
  ChunkReader reader(limits);
  std::vector<Message> out;
  auto r = reader.feed(bytes, out);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  if (r) {
    EXPECT_EQ(r.value(), bytes.size());
  }
  return out;
}

void expect_same(const std::vector<Message>& got, const std::vector<Message>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(same_message(got[i], want[i])) << what << ": message " << i;
  }
}

std::vector<Message> read_in_pieces(std::span<const uint8_t> bytes, const std::vector<size_t>& cuts) {
  ChunkReader reader;
  std::vector<Message> out;
  size_t pos = 0;
  for (size_t cut : cuts) {
    auto r = reader.feed(bytes.subspan(pos, cut - pos), out);
    EXPECT_TRUE(r.ok());
    pos = cut;
  }
  auto r = reader.feed(bytes.subspan(pos), out);
  EXPECT_TRUE(r.ok());
  return out;
}

struct Capture {
  const char* file;
  size_t min_messages;
};

// Client-to-server sides after C0C1C2, and server-to-client sides of the play sessions after S0S1S2.
const Capture chunk_captures[] = {
    {"ffmpeg-publish.c2s.bin", 150},  {"librtmp-publish.c2s.bin", 150}, {"rtmp2sink-publish.c2s.bin", 150},
    {"ffmpeg-play.s2c.bin", 100},     {"rtmpdump-play.s2c.bin", 100},   {"ffmpeg-publish.s2c.bin", 5},
    {"ffmpeg-play.c2s.bin", 4},       {"rtmpdump-play.c2s.bin", 4},
};

}  // namespace

// Literal two-piece feeds ([0, cut) then [cut, end)) at every offset of the first 8 KB
// (commands, metadata, chunk size changes, the first key frame) and the last 2 KB of each
// session, and the whole of the small ones. Doing this at every offset of a 100 KB capture
// costs O(n^2) (~40 s for all captures); EverySplitPointAgainstCheckpoints covers every
// offset of every capture exactly, in linear time.
TEST(ChunkReader, TwoPieceSplitsOfRealSessions) {
  for (const auto& capture : chunk_captures) {
    SCOPED_TRACE(capture.file);
    const auto bytes = read_capture(capture.file);
    const auto chunks = after_handshake(bytes);
    ASSERT_FALSE(chunks.empty());
    const auto reference = read_all(chunks);
    ASSERT_GE(reference.size(), capture.min_messages);
    ChunkReader whole;
    std::vector<Message> ignored;
    ASSERT_TRUE(whole.feed(chunks, ignored).ok());
    for (size_t cut = 0; cut <= chunks.size(); ++cut) {
      if (cut >= 8192 && cut + 2048 <= chunks.size()) continue;
      ChunkReader reader;
      std::vector<Message> out;
      ASSERT_TRUE(reader.feed(chunks.first(cut), out).ok());
      ASSERT_TRUE(reader.feed(chunks.subspan(cut), out).ok());
      expect_same(out, reference, "cut at " + std::to_string(cut));
      ASSERT_TRUE(reader.same_state(whole)) << "cut at " << cut;
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// Every offset of every capture: the reference reader takes the bytes in windows of 4 KB
// and is checkpointed before each window; for each offset inside a window, a copy of the
// checkpoint takes the window as two pieces cut there and must produce the window's messages
// and end in the same state as the reference (so everything after is identical too).
TEST(ChunkReader, EverySplitPointAgainstCheckpoints) {
  constexpr size_t window = 4096;
  for (const auto& capture : chunk_captures) {
    SCOPED_TRACE(capture.file);
    const auto bytes = read_capture(capture.file);
    const auto chunks = after_handshake(bytes);
    ASSERT_FALSE(chunks.empty());
    const auto whole_messages = read_all(chunks);

    ChunkReader reference;
    std::vector<Message> reference_out;
    size_t splits = 0;
    for (size_t start = 0; start < chunks.size(); start += window) {
      const auto piece = chunks.subspan(start, std::min(window, chunks.size() - start));
      const ChunkReader checkpoint = reference;
      const size_t before = reference_out.size();
      ASSERT_TRUE(reference.feed(piece, reference_out).ok());
      const std::vector<Message> expected(reference_out.begin() + long(before), reference_out.end());
      for (size_t cut = 0; cut <= piece.size(); ++cut) {
        ChunkReader reader = checkpoint;
        std::vector<Message> out;
        ASSERT_TRUE(reader.feed(piece.first(cut), out).ok());
        ASSERT_TRUE(reader.feed(piece.subspan(cut), out).ok());
        expect_same(out, expected, "cut at " + std::to_string(start + cut));
        ASSERT_TRUE(reader.same_state(reference)) << "cut at " << start + cut;
        ++splits;
      }
    }
    // The windowed reference itself agrees with one whole feed.
    expect_same(reference_out, whole_messages, "4 KB windows");
    EXPECT_GE(splits, chunks.size());
  }
}

TEST(ChunkReader, SameStateSeesDifferences) {
  const auto bytes = read_capture("ffmpeg-publish.c2s.bin");
  ASSERT_GT(bytes.size(), handshake_bytes + 200);
  const auto chunks = after_handshake(bytes);
  ChunkReader a, b;
  std::vector<Message> out;
  EXPECT_TRUE(a.same_state(b));
  ASSERT_TRUE(a.feed(chunks.first(100), out).ok());
  ASSERT_TRUE(b.feed(chunks.first(99), out).ok());
  EXPECT_FALSE(a.same_state(b));
  ASSERT_TRUE(b.feed(chunks.subspan(99, 1), out).ok());
  EXPECT_TRUE(a.same_state(b));
  b.set_chunk_size(4096);
  EXPECT_FALSE(a.same_state(b));
}

TEST(ChunkReader, ByteByByteAndRandomPieces) {
  std::mt19937 rng(1234);
  for (const auto& capture : chunk_captures) {
    SCOPED_TRACE(capture.file);
    const auto bytes = read_capture(capture.file);
    const auto chunks = after_handshake(bytes);
    ASSERT_FALSE(chunks.empty());
    const auto reference = read_all(chunks);
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < chunks.size(); ++i) every_byte.push_back(i);
    expect_same(read_in_pieces(chunks, every_byte), reference, "byte by byte");
    for (int round = 0; round < 20; ++round) {
      std::vector<size_t> cuts;
      size_t pos = 0;
      for (;;) {
        pos += 1 + rng() % (round < 10 ? 16 : 700);
        if (pos >= chunks.size()) break;
        cuts.push_back(pos);
      }
      expect_same(read_in_pieces(chunks, cuts), reference, "random pieces round " + std::to_string(round));
    }
  }
}

// Each message's payload comes with room for framing after it (rtmpserversrc writes its FLV
// tag around it in place), and only that much.
TEST(ChunkReader, PayloadsLeaveRoomForFraming) {
  const auto messages = read_all(after_handshake(read_capture("ffmpeg-publish.c2s.bin")));
  size_t media = 0;
  for (const auto& m : messages) {
    if (m.payload.empty()) continue;
    EXPECT_GE(m.payload.capacity() - m.payload.size(), kPayloadFramingRoom);
    EXPECT_LE(m.payload.capacity() - m.payload.size(), kPayloadFramingRoom);
    if (m.message_type() == MessageType::video || m.message_type() == MessageType::audio) ++media;
  }
  EXPECT_GT(media, 10u);
}

TEST(ChunkReader, DecodesPublishCommands) {
  struct Expect {
    const char* file;
    const char* stream;
  };
  for (const auto& e : {Expect{"ffmpeg-publish.c2s.bin", "capff"}, Expect{"librtmp-publish.c2s.bin", "caplib"},
                        Expect{"rtmp2sink-publish.c2s.bin", "caprt2"}}) {
    SCOPED_TRACE(e.file);
    const auto bytes = read_capture(e.file);
    const auto messages = read_all(after_handshake(bytes));
    std::vector<Command> commands;
    for (const auto& m : messages) {
      if (m.message_type() != MessageType::command_amf0) continue;
      auto c = decode_command(m.payload);
      ASSERT_TRUE(c.ok()) << c.error().describe();
      commands.push_back(std::move(c.value()));
    }
    ASSERT_GE(commands.size(), 3u);
    EXPECT_EQ(commands[0].name, "connect");
    EXPECT_EQ(commands[0].transaction_id, 1);
    EXPECT_EQ(commands[0].command_object.string_property("app"), "live");
    EXPECT_NE(commands[0].command_object.string_property("tcUrl").find("/live"), std::string::npos);
    bool saw_create = false, saw_publish = false, saw_delete = false;
    for (const auto& c : commands) {
      if (c.name == "createStream") saw_create = true;
      if (c.name == "deleteStream") saw_delete = true;
      if (c.name == "publish") {
        saw_publish = true;
        ASSERT_GE(c.arguments.size(), 2u);
        EXPECT_EQ(c.arguments[0].string, e.stream);
        EXPECT_EQ(c.arguments[1].string, "live");
      }
    }
    EXPECT_TRUE(saw_create);
    EXPECT_TRUE(saw_publish);
    EXPECT_TRUE(saw_delete);
  }
}

// The audio and video messages ffmpeg sent are exactly the tags of the file it read.
TEST(ChunkReader, FfmpegMediaEqualsSourceFlv) {
  const auto bytes = read_capture("ffmpeg-publish.c2s.bin");
  const auto messages = read_all(after_handshake(bytes));
  std::vector<const Message*> media;
  for (const auto& m : messages) {
    if (m.message_type() == MessageType::audio || m.message_type() == MessageType::video) media.push_back(&m);
  }
  const auto tags = test_data::media_tags(read_flv_tags(read_capture("source.flv")));
  ASSERT_GT(tags.size(), 100u);
  ASSERT_EQ(media.size(), tags.size());
  size_t video = 0;
  for (size_t i = 0; i < tags.size(); ++i) {
    EXPECT_EQ(media[i]->type, tags[i].type) << "tag " << i;
    EXPECT_EQ(media[i]->timestamp, tags[i].timestamp) << "tag " << i;
    EXPECT_EQ(media[i]->payload, tags[i].payload) << "tag " << i;
    EXPECT_EQ(media[i]->stream_id, 1u);
    video += tags[i].type == 9 && tags[i].payload.size() > 1 && tags[i].payload[1] == 1;  // AVC NALU packets
  }
  EXPECT_EQ(video, 75u) << "3 s at 25 fps";
}

// librtmp (128-byte chunks) and rtmp2sink (its own chunking) sent the same flvmux output:
// their audio/video messages must come out identical, and the coded video frames must be
// the source file's.
TEST(ChunkReader, LibrtmpAndRtmp2sinkCarryTheSameStreams) {
  auto media_of = [](const char* file) {
    const auto bytes = read_capture(file);
    std::vector<Message> media;
    for (auto& m : read_all(after_handshake(bytes))) {
      if (m.message_type() == MessageType::audio || m.message_type() == MessageType::video) media.push_back(std::move(m));
    }
    return media;
  };
  const auto librtmp = media_of("librtmp-publish.c2s.bin");
  const auto rtmp2sink = media_of("rtmp2sink-publish.c2s.bin");
  ASSERT_EQ(librtmp.size(), rtmp2sink.size());
  for (size_t i = 0; i < librtmp.size(); ++i) {
    ASSERT_EQ(librtmp[i].type, rtmp2sink[i].type) << i;
    ASSERT_EQ(librtmp[i].timestamp, rtmp2sink[i].timestamp) << i;
    ASSERT_EQ(librtmp[i].payload, rtmp2sink[i].payload) << i;
  }
  auto frames = [](auto&& payloads) {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& p : payloads) {
      if (p.size() > 5 && p[0] >> 4 != 0 && (p[0] & 0x0f) == 7 && p[1] == 1) out.emplace_back(p.begin() + 5, p.end());
    }
    return out;
  };
  std::vector<std::vector<uint8_t>> source_payloads, session_payloads;
  for (auto& t : read_flv_tags(read_capture("source.flv"))) {
    if (t.type == 9) source_payloads.push_back(std::move(t.payload));
  }
  for (const auto& m : librtmp) {
    if (m.message_type() == MessageType::video) session_payloads.push_back(m.payload);
  }
  const auto source_frames = frames(source_payloads);
  ASSERT_EQ(source_frames.size(), 75u);
  EXPECT_EQ(frames(session_payloads), source_frames);
}

// The server side of the play sessions: nginx's chunk size change and the media it relayed.
TEST(ChunkReader, PlaySessionsCarryChunkSizeAndMedia) {
  for (const char* file : {"ffmpeg-play.s2c.bin", "rtmpdump-play.s2c.bin"}) {
    SCOPED_TRACE(file);
    const auto bytes = read_capture(file);
    ChunkReader reader;
    std::vector<Message> out;
    ASSERT_TRUE(reader.feed(after_handshake(bytes), out).ok());
    EXPECT_EQ(reader.chunk_size(), 4096u) << "nginx chunk_size 4096 applied";
    size_t audio = 0, video = 0;
    bool play_start = false;
    uint32_t last_video_ts = 0;
    for (const auto& m : out) {
      if (m.message_type() == MessageType::audio) ++audio;
      if (m.message_type() == MessageType::video) {
        ++video;
        EXPECT_GE(m.timestamp + 1000, last_video_ts) << "video timestamps do not jump back";
        last_video_ts = m.timestamp;
      }
      if (m.message_type() == MessageType::command_amf0) {
        auto c = decode_command(m.payload);
        ASSERT_TRUE(c.ok());
        if (c->name == "onStatus" && !c->arguments.empty() &&
            c->arguments[0].string_property("code") == "NetStream.Play.Start") {
          play_start = true;
        }
      }
    }
    EXPECT_TRUE(play_start);
    EXPECT_GT(audio, 20u);
    EXPECT_GT(video, 20u);
  }
}

// ---- hostile and edge input ----

namespace {

std::vector<uint8_t> fmt0_header(uint32_t csid, uint32_t ts, uint32_t length, uint8_t type, uint32_t msid) {
  std::vector<uint8_t> out;
  out.push_back(uint8_t(csid));
  ByteWriter w(out);
  w.be24(ts);
  w.be24(length);
  w.u8(type);
  w.le32(msid);
  return out;
}

}  // namespace

TEST(ChunkReader, RefusesMessageAboveLimit) {
  ChunkReader reader(ChunkReaderLimits{1000, 64, 1 << 20});
  std::vector<Message> out;
  auto r = reader.feed(fmt0_header(3, 0, 0xffffff, 20, 0), out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  // The reader stays failed.
  EXPECT_FALSE(reader.feed(std::vector<uint8_t>{1}, out).ok());
}

TEST(ChunkReader, RefusesTooManyChunkStreams) {
  ChunkReader reader(ChunkReaderLimits{1000, 4, 1 << 20});
  std::vector<Message> out;
  std::vector<uint8_t> bytes;
  for (uint32_t csid = 3; csid < 3 + 5; ++csid) {
    auto h = fmt0_header(csid, 0, 1, 8, 1);
    h.push_back(0xaf);
    bytes.insert(bytes.end(), h.begin(), h.end());
  }
  auto r = reader.feed(bytes, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_EQ(out.size(), 4u);
}

TEST(ChunkReader, RefusesTooManyUnfinishedBytes) {
  // Three chunk streams each start a 1000-byte message (128-byte chunks) and never finish it.
  std::vector<uint8_t> bytes;
  for (uint32_t csid = 4; csid < 7; ++csid) {
    auto h = fmt0_header(csid, 0, 1000, 9, 1);
    bytes.insert(bytes.end(), h.begin(), h.end());
    bytes.insert(bytes.end(), 128, 0x42);
  }
  ChunkReader roomy(ChunkReaderLimits{1000, 64, 1 << 20, 384});
  std::vector<Message> out;
  EXPECT_TRUE(roomy.feed(bytes, out).ok());
  ChunkReader tight(ChunkReaderLimits{1000, 64, 1 << 20, 383});
  auto r = tight.feed(bytes, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::limit_exceeded);
  EXPECT_TRUE(out.empty());
}

TEST(ChunkReader, SetChunkSizeZeroAndAboveLimit) {
  for (uint32_t size : {0u, 0x80000000u, (1u << 20) + 1}) {
    ChunkReader reader(ChunkReaderLimits{1000, 64, 1 << 20});
    std::vector<Message> out;
    auto bytes = fmt0_header(2, 0, 4, 1, 0);
    const uint8_t v[4] = {uint8_t(size >> 24), uint8_t(size >> 16), uint8_t(size >> 8), uint8_t(size)};
    bytes.insert(bytes.end(), v, v + 4);
    auto r = reader.feed(bytes, out);
    ASSERT_FALSE(r.ok()) << size;
    EXPECT_TRUE(r.error().code == Errc::malformed || r.error().code == Errc::limit_exceeded);
  }
}

TEST(ChunkReader, FirstHeaderMustBeFmt0) {
  ChunkReader reader;
  std::vector<Message> out;
  const std::vector<uint8_t> bytes{0x43, 0, 0, 0, 0, 0, 1, 8};  // fmt 1 on a new chunk stream
  auto r = reader.feed(bytes, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::protocol_violation);
}

TEST(ChunkReader, AbortDiscardsPartialMessage) {
  std::vector<uint8_t> bytes = fmt0_header(4, 10, 200, 9, 1);  // 200 bytes, chunk size 128
  bytes.insert(bytes.end(), 128, 0x11);
  auto abort = fmt0_header(2, 0, 4, 2, 0);
  abort.insert(abort.end(), {0, 0, 0, 4});
  bytes.insert(bytes.end(), abort.begin(), abort.end());
  auto next = fmt0_header(4, 20, 3, 9, 1);
  next.insert(next.end(), {1, 2, 3});
  bytes.insert(bytes.end(), next.begin(), next.end());
  const auto out = read_all(bytes);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].message_type(), MessageType::abort);
  EXPECT_EQ(out[1].timestamp, 20u);
  EXPECT_EQ(out[1].payload, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(ChunkReader, ThreeByteChunkStreamIdAndExtendedTimestamp) {
  // csid 65599 (3-byte basic header), timestamp 0x12345678 (extended), 300 bytes in 128-byte
  // chunks whose fmt 3 continuation headers repeat the extended timestamp.
  std::vector<uint8_t> bytes{0x01, 0xff, 0xff};
  ByteWriter w(bytes);
  w.be24(0xffffff);
  w.be24(300);
  w.u8(9);
  w.le32(1);
  w.be32(0x12345678);
  std::vector<uint8_t> payload(300);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 7);
  for (size_t pos = 0; pos < 300; pos += 128) {
    if (pos > 0) {
      bytes.insert(bytes.end(), {0xc1, 0xff, 0xff});
      w.be32(0x12345678);
    }
    bytes.insert(bytes.end(), payload.begin() + pos, payload.begin() + std::min<size_t>(300, pos + 128));
  }
  auto out = read_all(bytes, ChunkReaderLimits{1000, 64, 1 << 20});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].chunk_stream_id, 65599u);
  EXPECT_EQ(out[0].timestamp, 0x12345678u);
  EXPECT_EQ(out[0].payload, payload);

  // The same without the repeated field on continuation chunks (some peers omit it).
  std::vector<uint8_t> lean{0x01, 0xff, 0xff};
  ByteWriter lw(lean);
  lw.be24(0xffffff);
  lw.be24(300);
  lw.u8(9);
  lw.le32(1);
  lw.be32(0x12345678);
  for (size_t pos = 0; pos < 300; pos += 128) {
    if (pos > 0) lean.insert(lean.end(), {0xc1, 0xff, 0xff});
    lean.insert(lean.end(), payload.begin() + pos, payload.begin() + std::min<size_t>(300, pos + 128));
  }
  auto lean_out = read_all(lean);
  ASSERT_EQ(lean_out.size(), 1u);
  EXPECT_EQ(lean_out[0].payload, payload);
  EXPECT_EQ(lean_out[0].timestamp, 0x12345678u);
}
