// ChunkWriter -> ChunkReader round trips and the header compression the writer chooses.
#include <gtest/gtest.h>

#include <random>

#include "rtmp/chunk_reader.h"
#include "rtmp/chunk_writer.h"
#include "rtmp_test_helpers.h"

using namespace live;
using namespace live::rtmp;
using namespace live::rtmp::test;

namespace {

std::vector<Message> random_messages(std::mt19937& rng, size_t count, bool extended) {
  std::vector<Message> out;
  uint32_t ts[8] = {};
  for (size_t i = 0; i < count; ++i) {
    Message m;
    const uint32_t pick = rng() % 8;
    m.chunk_stream_id = pick < 6 ? 3 + pick : (pick == 6 ? 64 + rng() % 256 : 320 + rng() % 65000);
    m.type = uint8_t(std::array<uint8_t, 4>{8, 9, 18, 20}[rng() % 4]);
    m.stream_id = rng() % 4 == 0 ? 0 : 1;
    // Mostly steady deltas (fmt 3), sometimes jumps, backwards steps and extended values.
    uint32_t& t = ts[pick];
    const uint32_t r = rng() % 10;
    if (r < 5) t += 40;
    else if (r < 7) t += rng() % 1000;
    else if (r < 8) t = t > 500 ? t - 500 : 0;
    else if (extended) t = 0xfffff0 + rng() % 0x100000 * (rng() % 2 ? 1 : 300);
    m.timestamp = t;
    const size_t len = rng() % 5 == 0 ? rng() % 20000 : rng() % 300;
    m.payload.resize(len);
    for (auto& b : m.payload) b = uint8_t(rng());
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

TEST(ChunkWriter, RoundTripsRandomMessagesAtManyChunkSizes) {
  std::mt19937 rng(99);
  for (uint32_t chunk_size : {1u, 2u, 3u, 4u, 5u, 60u, 128u, 129u, 1000u, 4096u, 65536u, 1u << 24, 0x7fffffffu}) {
    for (bool extended : {false, true}) {
      SCOPED_TRACE("chunk size " + std::to_string(chunk_size) + (extended ? " extended" : ""));
      const auto messages = random_messages(rng, chunk_size < 8 ? 40 : 300, extended);
      ChunkWriter writer;
      std::vector<uint8_t> bytes;
      writer.set_chunk_size(chunk_size, bytes);  // announced in-band, applied by the reader
      for (const auto& m : messages) writer.write(m, bytes);
      ChunkReader reader(ChunkReaderLimits{1 << 20, 70000, 0x7fffffff});
      std::vector<Message> out;
      auto r = reader.feed(bytes, out);
      ASSERT_TRUE(r.ok()) << r.error().describe();
      ASSERT_EQ(out.size(), messages.size() + 1);
      EXPECT_EQ(out[0].message_type(), MessageType::set_chunk_size);
      EXPECT_EQ(reader.chunk_size(), chunk_size);
      for (size_t i = 0; i < messages.size(); ++i) {
        ASSERT_TRUE(same_message(out[i + 1], messages[i])) << "message " << i << " ts " << messages[i].timestamp;
      }
      // And in small random pieces.
      ChunkReader pieces(ChunkReaderLimits{1 << 20, 70000, 0x7fffffff});
      std::vector<Message> out2;
      for (size_t pos = 0; pos < bytes.size();) {
        const size_t n = std::min<size_t>(1 + rng() % 9, bytes.size() - pos);
        ASSERT_TRUE(pieces.feed(std::span(bytes).subspan(pos, n), out2).ok());
        pos += n;
      }
      ASSERT_EQ(out2.size(), out.size());
      for (size_t i = 0; i < out.size(); ++i) ASSERT_TRUE(same_message(out2[i], out[i]));
    }
  }
}

TEST(ChunkWriter, CompressesHeaders) {
  ChunkWriter writer(128);
  std::vector<uint8_t> bytes;
  const std::vector<uint8_t> payload(10, 0x55);
  writer.write(6, 1000, 8, 1, payload, bytes);  // fmt 0: 1 + 11
  EXPECT_EQ(bytes.size(), 12u + 10);
  EXPECT_EQ(bytes[0], 0x06);
  bytes.clear();
  writer.write(6, 1023, 8, 1, payload, bytes);  // fmt 2: same length/type, new delta
  EXPECT_EQ(bytes.size(), 4u + 10);
  EXPECT_EQ(bytes[0], 0x86);
  bytes.clear();
  writer.write(6, 1046, 8, 1, payload, bytes);  // fmt 3: same delta
  EXPECT_EQ(bytes.size(), 1u + 10);
  EXPECT_EQ(bytes[0], 0xc6);
  bytes.clear();
  writer.write(6, 1069, 8, 1, std::span(payload).first(5), bytes);  // fmt 1: new length
  EXPECT_EQ(bytes.size(), 8u + 5);
  EXPECT_EQ(bytes[0], 0x46);
  bytes.clear();
  writer.write(6, 1000, 8, 1, payload, bytes);  // backwards: fmt 0
  EXPECT_EQ(bytes[0], 0x06);
  bytes.clear();
  writer.write(6, 1000, 8, 2, payload, bytes);  // other message stream: fmt 0
  EXPECT_EQ(bytes[0], 0x06);
}

TEST(ChunkWriter, ExtendedTimestampOnEveryChunk) {
  ChunkWriter writer(4);
  std::vector<uint8_t> bytes;
  const std::vector<uint8_t> payload{1, 2, 3, 4, 5, 6};
  writer.write(3, 0x01000000, 9, 1, payload, bytes);
  const std::vector<uint8_t> expected{0x03, 0xff, 0xff, 0xff, 0, 0, 6, 9, 1, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3, 4,
                                      0xc3, 0x01, 0, 0, 0, 5, 6};
  EXPECT_EQ(bytes, expected);
}

TEST(WriteMessageFmt0, DecodesBackAtEveryChunkSizeAndBasicHeaderLength) {
  std::mt19937 rng(7);
  for (uint32_t chunk_size : {1u, 128u, 129u, 4096u, 65536u}) {
    for (uint32_t csid : {2u, 6u, 63u, 64u, 319u, 320u, 65599u}) {
      SCOPED_TRACE("chunk size " + std::to_string(chunk_size) + " csid " + std::to_string(csid));
      // Several messages on one chunk stream, each standalone: timestamps jump backwards and
      // into the extended range, lengths and types change, all without header compression.
      std::vector<Message> messages;
      const uint32_t timestamps[] = {1000, 40, 0xfffffe, 0xffffff, 0x01000000, 5, 0xffffffff};
      const size_t sizes[] = {0, 1, chunk_size, size_t(chunk_size) + 1, 20000};
      for (size_t i = 0; i < std::size(timestamps); ++i) {
        Message m;
        m.chunk_stream_id = csid;
        m.timestamp = timestamps[i];
        m.type = uint8_t(i % 2 ? 9 : 8);
        m.stream_id = uint32_t(i % 3);
        m.payload.resize(chunk_size == 1 && sizes[i % 5] > 300 ? 300 : sizes[i % 5]);
        for (auto& b : m.payload) b = uint8_t(rng());
        messages.push_back(std::move(m));
      }
      std::vector<uint8_t> bytes;
      for (const auto& m : messages)
        write_message_fmt0(m.chunk_stream_id, m.timestamp, m.type, m.stream_id, m.payload, chunk_size, bytes);
      for (size_t piece : {bytes.size(), size_t(1), size_t(7)}) {
        ChunkReader reader;
        reader.set_chunk_size(chunk_size);  // agreed elsewhere (Set Chunk Size is the session's job)
        std::vector<Message> out;
        for (size_t pos = 0; pos < bytes.size(); pos += piece) {
          auto r = reader.feed(std::span(bytes).subspan(pos, std::min(piece, bytes.size() - pos)), out);
          ASSERT_TRUE(r.ok()) << r.error().describe();
        }
        ASSERT_EQ(out.size(), messages.size());
        for (size_t i = 0; i < messages.size(); ++i)
          EXPECT_TRUE(same_message(out[i], messages[i])) << "message " << i << " ts " << messages[i].timestamp;
      }
    }
  }
}

TEST(WriteMessageFmt0, HeaderBytes) {
  // Extended timestamp: in the fmt 0 header and repeated after every fmt 3 basic header.
  std::vector<uint8_t> bytes;
  const std::vector<uint8_t> payload{1, 2, 3, 4, 5, 6};
  write_message_fmt0(3, 0x01000000, 9, 1, payload, 4, bytes);
  const std::vector<uint8_t> extended{0x03, 0xff, 0xff, 0xff, 0, 0, 6, 9, 1, 0, 0, 0, 0x01, 0, 0, 0, 1, 2, 3, 4,
                                      0xc3, 0x01, 0, 0, 0, 5, 6};
  EXPECT_EQ(bytes, extended);

  // A plain timestamp, a two-byte basic header (csid 64..319), no continuation at size 6.
  bytes.clear();
  write_message_fmt0(300, 0x123456, 8, 0x01020304, payload, 6, bytes);
  const std::vector<uint8_t> two_byte{0x00, 300 - 64, 0x12, 0x34, 0x56, 0, 0, 6, 8, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(bytes, two_byte);

  // Three-byte basic header (csid >= 320): fmt bits + 1, then (csid - 64) little-endian.
  bytes.clear();
  write_message_fmt0(1000, 0, 8, 0, std::span(payload).first(2), 1, bytes);
  const std::vector<uint8_t> three_byte{0x01, (1000 - 64) & 0xff, (1000 - 64) >> 8, 0, 0, 0, 0, 0, 2, 8, 0, 0, 0, 0,
                                        1, 0xc1, (1000 - 64) & 0xff, (1000 - 64) >> 8, 2};
  EXPECT_EQ(bytes, three_byte);

  // The same bytes as a fresh ChunkWriter's first message on a chunk stream (always fmt 0).
  for (uint32_t ts : {0u, 1234u, 0xffffffu, 0xfffffffeu}) {
    std::vector<uint8_t> ours, writer_bytes;
    std::vector<uint8_t> big(1000, 0x42);
    write_message_fmt0(7, ts, 9, 1, big, 128, ours);
    ChunkWriter writer(128);
    writer.write(7, ts, 9, 1, big, writer_bytes);
    EXPECT_EQ(ours, writer_bytes) << "timestamp " << ts;
  }
}

// Found by the session_script fuzz target (timeout; corpus session_script/regress-output-append-
// quadratic): appending to a session's output queue reserved exactly the bytes needed, so every
// message reallocated and copied the whole queue. Appends must grow the buffer geometrically.
TEST(ChunkWriter, AppendsGrowTheBufferGeometrically) {
  ChunkWriter writer(128);
  std::vector<uint8_t> out;
  const uint8_t ack[4] = {0, 0, 0, 1};
  const std::vector<uint8_t> frame(300, 0x27);
  size_t reallocations = 0;
  for (int i = 0; i < 20000; ++i) {
    const size_t capacity = out.capacity();
    writer.write(2, uint32_t(i), 3, 0, ack, out);
    const uint8_t* data = out.data();
    write_message_fmt0(6, uint32_t(i), 9, 1, frame, 128, out);
    if (out.capacity() != capacity || out.data() != data) ++reallocations;
  }
  EXPECT_GT(out.size(), 20000u * 300u);
  EXPECT_LT(reallocations, 64u);  // about log2(6.5 MB): was one per message
  std::vector<Message> messages;
  ChunkReader reader;
  ASSERT_TRUE(reader.feed(out, messages).ok());
  EXPECT_EQ(messages.size(), 40000u);
}
