// lib/ts: the MPEG-TS segment writer, parsed back packet by packet (continuity counters, PCR,
// random access indicator, PAT/PMT CRCs and stream types, PES timestamps and payload bytes).
#include "ts/ts_segment_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

using namespace live::ts;

TEST(TsSegmentWriter, PacketsTablesAndTimestampsParseBack) {
  TsSegmentWriter w(TsSegmentWriter::VideoCodec::h264, true);
  w.begin_segment();
  std::vector<uint8_t> au(5000);
  for (size_t i = 0; i < au.size(); ++i) au[i] = uint8_t(i * 7);
  const uint64_t pts = 900000 + 3003, dts = 900000;
  w.write_video(au, pts, dts, true);
  std::vector<uint8_t> aac(300, 0x11);
  w.write_audio(aac, 900000 + 1000);
  const auto ts = w.take();
  ASSERT_EQ(ts.size() % 188, 0u);
  std::map<int, int> last_cc;
  std::map<int, std::vector<uint8_t>> payloads;
  bool pcr_seen = false, rai_seen = false;
  for (size_t off = 0; off < ts.size(); off += 188) {
    const uint8_t* p = &ts[off];
    ASSERT_EQ(p[0], 0x47);
    const int pid = ((p[1] & 0x1f) << 8) | p[2];
    const int cc = p[3] & 0x0f;
    if (last_cc.count(pid)) {
      EXPECT_EQ(cc, (last_cc[pid] + 1) & 0x0f) << "pid " << pid;
    }
    last_cc[pid] = cc;
    size_t start = 4;
    if (p[3] & 0x20) {
      const int len = p[4];
      if (len > 0 && (p[5] & 0x10)) {
        pcr_seen = true;
        const uint64_t base = (uint64_t(p[6]) << 25) | (p[7] << 17) | (p[8] << 9) | (p[9] << 1) | (p[10] >> 7);
        EXPECT_EQ(base, dts);
      }
      if (len > 0 && (p[5] & 0x40) && pid == 0x100) rai_seen = true;
      start = 5 + len;
    }
    ASSERT_LE(start, 188u);
    payloads[pid].insert(payloads[pid].end(), p + start, p + 188);
  }
  EXPECT_TRUE(pcr_seen);
  EXPECT_TRUE(rai_seen);
  // PAT and PMT sections carry a valid CRC (CRC over section including CRC is 0).
  for (int pid : {0, 0x1000}) {
    const auto& pl = payloads[pid];
    ASSERT_GT(pl.size(), 8u);
    const size_t section_len = ((pl[2] & 0x0f) << 8) | pl[3];
    EXPECT_EQ(mpeg2_crc32(std::span<const uint8_t>(pl.data() + 1, 3 + section_len)), 0u) << pid;
  }
  // PMT lists H.264 (0x1b) on 0x100 and ADTS AAC (0x0f) on 0x101.
  const auto& pmt = payloads[0x1000];
  EXPECT_EQ(pmt[1 + 12], 0x1b);
  EXPECT_EQ(pmt[1 + 17], 0x0f);
  // Video PES: header with PTS and DTS, then the access unit byte for byte.
  const auto& v = payloads[0x100];
  ASSERT_GE(v.size(), 19 + au.size());
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], 1);
  EXPECT_EQ(v[3], 0xe0);
  EXPECT_EQ(v[7], 0xc0);
  auto read_ts = [](const uint8_t* b) {
    return (uint64_t((b[0] >> 1) & 7) << 30) | (uint64_t(b[1]) << 22) | (uint64_t(b[2] >> 1) << 15) |
           (uint64_t(b[3]) << 7) | (b[4] >> 1);
  };
  EXPECT_EQ(read_ts(&v[9]), pts);
  EXPECT_EQ(read_ts(&v[14]), dts);
  EXPECT_TRUE(std::equal(au.begin(), au.end(), v.begin() + 19));
  const auto& a = payloads[0x101];
  EXPECT_EQ(read_ts(&a[9]), 900000u + 1000);
  EXPECT_EQ(((a[4] << 8) | a[5]), int(3 + 5 + aac.size()));  // PES_packet_length
}
