#include <gtest/gtest.h>

#include "common/byte_io.h"
#include "common/result.h"

using namespace live;

TEST(ByteIo, BigEndianRoundTrip) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u8(0x01);
  w.be16(0x0203);
  w.be24(0x040506);
  w.be32(0x0708090a);
  w.be64(0x0b0c0d0e0f101112ull);
  w.le32(0x16151413);
  const std::vector<uint8_t> expected{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                      15, 16, 17, 18, 0x13, 0x14, 0x15, 0x16};
  ASSERT_EQ(out, expected);

  ByteReader r(out);
  uint8_t a; uint16_t b; uint32_t c, d, f; uint64_t e;
  ASSERT_TRUE(r.read_u8(a) && r.read_be16(b) && r.read_be24(c) && r.read_be32(d) && r.read_be64(e) && r.read_le32(f));
  EXPECT_EQ(a, 1); EXPECT_EQ(b, 0x0203); EXPECT_EQ(c, 0x040506u); EXPECT_EQ(d, 0x0708090au);
  EXPECT_EQ(e, 0x0b0c0d0e0f101112ull); EXPECT_EQ(f, 0x16151413u);
  EXPECT_TRUE(r.empty());
}

TEST(ByteIo, ReaderNeverReadsPastEnd) {
  const std::vector<uint8_t> three{1, 2, 3};
  ByteReader r(three);
  uint32_t v = 0xdeadbeef;
  EXPECT_FALSE(r.read_be32(v));
  EXPECT_EQ(v, 0xdeadbeefu);
  EXPECT_EQ(r.position(), 0u);
  std::span<const uint8_t> s;
  EXPECT_FALSE(r.read_bytes(4, s));
  EXPECT_TRUE(r.read_be24(v));
  EXPECT_EQ(v, 0x010203u);
  uint8_t b;
  EXPECT_FALSE(r.read_u8(b));
}

TEST(Result, CarriesValueOrError) {
  Result<int> good(5);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad(make_error(Errc::limit_exceeded, "chunk size 99"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().describe(), "limit exceeded: chunk size 99");
  Result<void> v;
  EXPECT_TRUE(v.ok());
}
