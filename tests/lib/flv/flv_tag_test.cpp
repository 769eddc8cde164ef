// FLV framing: reader over real files and every split, writer round trips, errors.
#include "flv/flv_tag.h"

#include <gtest/gtest.h>

#include "../test_data.h"

namespace live::flv {
namespace {

using test_data::read_flv_tags;
using test_data::read_file;

std::vector<uint8_t> rewrite(const FileHeader& header, const std::vector<Tag>& tags) {
  std::vector<uint8_t> out;
  write_file_header(out, header);
  for (const auto& t : tags) EXPECT_TRUE(write_tag(out, t).ok());
  return out;
}

bool same_tags(const std::vector<Tag>& a, const std::vector<Tag>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].type != b[i].type || a[i].timestamp != b[i].timestamp || a[i].payload != b[i].payload) return false;
  return true;
}

// ffprobe -show_packets on source.flv: 75 video packets, 131 audio packets, plus the
// onMetaData script tag, the two sequence headers and an AVC end of sequence.
TEST(FlvReader, ReadsSourceFlvAndRewritesItByteForByte) {
  auto file = read_file("captures/source.flv");
  FlvReader reader;
  ASSERT_TRUE(reader.feed(file).ok());
  ASSERT_TRUE(reader.file_header().has_value());
  EXPECT_TRUE(reader.file_header()->has_audio);
  EXPECT_TRUE(reader.file_header()->has_video);
  std::vector<Tag> tags;
  while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
  size_t video = 0, audio = 0, script = 0;
  for (const auto& t : tags) {
    video += t.type == 9;
    audio += t.type == 8;
    script += t.type == 18;
  }
  EXPECT_EQ(video, 75u + 2);  // + AVC sequence header and end of sequence
  EXPECT_EQ(audio, 131u + 1);  // + AAC sequence header
  EXPECT_EQ(script, 1u);
  EXPECT_EQ(reader.bytes_consumed(), file.size());
  // The writer produces exactly the bytes ffmpeg wrote (header flags, sizes, back pointers).
  EXPECT_EQ(rewrite(*reader.file_header(), tags), file);
}

TEST(FlvReader, SameTagsWhateverTheSplitOfARealFile) {
  auto file = read_file("captures/source.flv");
  auto whole = read_flv_tags(file);
  // Byte by byte.
  {
    FlvReader reader;
    std::vector<Tag> tags;
    for (uint8_t b : file) {
      ASSERT_TRUE(reader.feed(std::span<const uint8_t>(&b, 1)).ok());
      while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
    }
    EXPECT_TRUE(same_tags(tags, whole));
  }
  // Every two-piece split in the first 4 KiB (header, script tag, both sequence headers, the
  // first frames) and then every 97th offset.
  for (size_t cut = 0; cut <= file.size(); cut += (cut < 4096 ? 1 : 97)) {
    FlvReader reader;
    ASSERT_TRUE(reader.feed(std::span(file).first(cut)).ok());
    ASSERT_TRUE(reader.feed(std::span(file).subspan(cut)).ok());
    std::vector<Tag> tags;
    while (auto t = reader.next_tag()) tags.push_back(std::move(*t));
    ASSERT_TRUE(same_tags(tags, whole)) << "split at " << cut;
  }
}

TEST(FlvWriter, RoundTripEverySplit) {
  std::vector<Tag> tags;
  tags.push_back(Tag{18, false, 0, 0, {2, 0, 2, 'o', 'k'}});
  tags.push_back(Tag{9, false, 0x00FFFFFF, 0, {0x17, 0, 0, 0, 0, 1, 2, 3}});
  tags.push_back(Tag{8, false, 0x01000000, 0, {0xAF, 1, 0x21}});  // extended timestamp byte
  tags.push_back(Tag{9, false, 0xFFFFFFFF, 0, {}});                  // empty payload
  tags.push_back(Tag{8, false, 5, 0, std::vector<uint8_t>(300, 0x55)});
  auto bytes = rewrite(FileHeader{1, true, true}, tags);
  ASSERT_EQ(bytes.size(), 13 + 5 * 15 + 5 + 8 + 3 + 0 + 300);
  for (size_t a = 0; a <= bytes.size(); ++a) {
    for (size_t b = a; b <= bytes.size(); b += 7) {
      FlvReader reader;
      ASSERT_TRUE(reader.feed(std::span(bytes).first(a)).ok());
      ASSERT_TRUE(reader.feed(std::span(bytes).subspan(a, b - a)).ok());
      ASSERT_TRUE(reader.feed(std::span(bytes).subspan(b)).ok());
      std::vector<Tag> got;
      while (auto t = reader.next_tag()) got.push_back(std::move(*t));
      ASSERT_TRUE(same_tags(got, tags)) << "splits " << a << "," << b;
    }
  }
}

TEST(FlvReader, AcceptsTagsWithoutFileHeaderAndAfterReset) {
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(write_tag(bytes, 9, 40, std::vector<uint8_t>{0x27, 1, 0, 0, 0, 9}).ok());
  FlvReader reader;
  ASSERT_TRUE(reader.feed(std::span(bytes).first(5)).ok());
  reader.reset();  // a DISCONT mid-tag: the partial tag is forgotten
  std::vector<uint8_t> file;
  write_file_header(file, FileHeader{1, false, true});
  file.insert(file.end(), bytes.begin(), bytes.end());
  ASSERT_TRUE(reader.feed(file).ok());
  auto t = reader.next_tag();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->timestamp, 40u);
  EXPECT_EQ(t->payload.size(), 6u);
  EXPECT_FALSE(reader.next_tag().has_value());
  EXPECT_FALSE(reader.file_header()->has_audio);
}

TEST(FlvWriter, TagIntoCallerMemoryHasTheKnownBytes) {
  const std::vector<uint8_t> payload = {0x27, 1, 0, 0, 0, 9};
  // Type 9, size 6, timestamp 0x12345678 (lower 24 bits, then the extension), stream id 0,
  // payload, PreviousTagSize 17.
  const std::vector<uint8_t> want = {9, 0, 0, 6, 0x34, 0x56, 0x78, 0x12, 0, 0, 0,
                                     0x27, 1, 0, 0, 0, 9, 0, 0, 0, 17};
  std::vector<uint8_t> memory(want.size(), 0xEE);
  ASSERT_TRUE(write_tag(std::span<uint8_t>(memory), 9, 0x12345678, payload).ok());
  EXPECT_EQ(memory, want);
  std::vector<uint8_t> appended = {0xAA};
  ASSERT_TRUE(write_tag(appended, 9, 0x12345678, payload).ok());
  EXPECT_EQ(std::vector<uint8_t>(appended.begin() + 1, appended.end()), want);

  std::vector<uint8_t> short_memory(want.size() - 1);
  auto r = write_tag(std::span<uint8_t>(short_memory), 9, 0, payload);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::malformed);
}

// rtmpserversrc frames each RTMP message's payload into an FLV tag in the payload's own memory.
TEST(FlvWriter, TagFramedInPlaceHasTheKnownBytesWithoutMoving) {
  const std::vector<uint8_t> want = {9, 0, 0, 6, 0x34, 0x56, 0x78, 0x12, 0, 0, 0,
                                     0x27, 1, 0, 0, 0, 9, 0, 0, 0, 17};
  std::vector<uint8_t> payload;
  payload.reserve(6 + 16);  // as rtmp::ChunkReader leaves it
  payload.assign({0x27, 1, 0, 0, 0, 9});
  const uint8_t* memory = payload.data();
  ASSERT_TRUE(frame_tag_in_place(payload, 9, 0x12345678).ok());
  EXPECT_EQ(payload, want);
  EXPECT_EQ(payload.data(), memory);  // no reallocation

  std::vector<uint8_t> empty;
  ASSERT_TRUE(frame_tag_in_place(empty, 18, 0).ok());
  EXPECT_EQ(empty, (std::vector<uint8_t>{18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11}));

  std::vector<uint8_t> too_big(kMaxTagPayloadSize + 1, 0x55);
  auto r = frame_tag_in_place(too_big, 9, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(too_big.size(), kMaxTagPayloadSize + 1);  // unchanged
}

TEST(FlvReader, RejectsGarbage) {
  {
    FlvReader reader;
    std::vector<uint8_t> bad = {'F', 'L', 'X', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0};
    auto r = reader.feed(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::malformed);
    EXPECT_FALSE(reader.feed(std::vector<uint8_t>{9}).ok());  // stays failed
  }
  {
    FlvReader reader;
    std::vector<uint8_t> bad = {7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};  // tag type 7
    EXPECT_FALSE(reader.feed(bad).ok());
  }
  {
    auto h = parse_file_header(std::vector<uint8_t>{'F', 'L', 'V', 1, 5, 0, 0, 0, 10});
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().code, Errc::unsupported);
  }
  {
    std::vector<uint8_t> out;
    std::vector<uint8_t> huge(kMaxTagPayloadSize + 1);
    auto r = write_tag(out, 9, 0, huge);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::limit_exceeded);
    EXPECT_TRUE(out.empty());
  }
}

// A tag-per-buffer stream read in place gives the same tags as feed(); anything else (partial
// tags, more tags than allowed, the file header, garbage, a partial tag pending) is left to
// feed() untouched.
TEST(FlvReader, WholeTagsInPlaceGiveTheSameTagsAsFeed) {
  auto file = read_file("captures/source.flv");
  const auto expected = read_flv_tags(file);
  FlvReader reader;
  std::vector<TagView> views;
  EXPECT_FALSE(reader.read_whole_tags(std::span(file).first(13), views, 1));  // file header: feed()
  ASSERT_TRUE(reader.feed(std::span(file).first(13)).ok());
  std::vector<Tag> got;
  for (const auto& t : expected) {
    std::vector<uint8_t> one;
    ASSERT_TRUE(write_tag(one, t).ok());
    ASSERT_TRUE(reader.read_whole_tags(one, views, 1));
    ASSERT_EQ(views.size(), 1u);
    EXPECT_GE(views[0].payload.data(), one.data());  // inside the caller's bytes
    EXPECT_LE(views[0].payload.data() + views[0].payload.size(), one.data() + one.size());
    got.push_back(Tag{views[0].type, views[0].filtered, views[0].timestamp, views[0].stream_id,
                      std::vector<uint8_t>(views[0].payload.begin(), views[0].payload.end())});
  }
  EXPECT_TRUE(same_tags(got, expected));
  EXPECT_EQ(reader.bytes_consumed(), file.size());

  std::vector<uint8_t> two;
  ASSERT_TRUE(write_tag(two, expected[1]).ok());
  ASSERT_TRUE(write_tag(two, expected[2]).ok());
  EXPECT_FALSE(reader.read_whole_tags(two, views, 1));  // more than max_tags
  EXPECT_TRUE(views.empty());
  EXPECT_TRUE(reader.read_whole_tags(two, views, 2));
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[1].timestamp, expected[2].timestamp);

  // Half a tag: refused, then feed() takes it, and while it is partial nothing is read in place.
  const uint64_t before = reader.bytes_consumed();
  EXPECT_FALSE(reader.read_whole_tags(std::span(two).first(20), views, 2));
  EXPECT_EQ(reader.bytes_consumed(), before);
  ASSERT_TRUE(reader.feed(std::span(two).first(20)).ok());
  std::vector<uint8_t> three;
  ASSERT_TRUE(write_tag(three, expected[3]).ok());
  EXPECT_FALSE(reader.read_whole_tags(three, views, 1));
  ASSERT_TRUE(reader.feed(std::span(two).subspan(20)).ok());
  EXPECT_FALSE(reader.read_whole_tags(three, views, 1));  // tags queued by feed() come first
  while (reader.next_tag()) {
  }
  EXPECT_TRUE(reader.read_whole_tags(three, views, 1));

  // Garbage is feed()'s to report.
  std::vector<uint8_t> bad = {7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12};
  EXPECT_FALSE(reader.read_whole_tags(bad, views, 1));
  EXPECT_FALSE(reader.feed(bad).ok());
}

}  // namespace
}  // namespace live::flv
