// The plain C++ pieces of hlsadaptivesink: RFC 6381 codec strings, the MPEG-TS segment writer
// (parsed back packet by packet) and AES-128-CBC against the NIST SP 800-38A vector.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "hlsadaptivesink/aes_cbc.h"
#include "hlsadaptivesink/codec_strings.h"
#include "hlsadaptivesink/ts_segment_writer.h"

using namespace live::hlssink;

namespace {
std::vector<uint8_t> hex(const char* s) {
  std::vector<uint8_t> out;
  for (; s[0] && s[1]; s += 2) out.push_back(uint8_t(std::stoi(std::string(s, 2), nullptr, 16)));
  return out;
}
}  // namespace

TEST(HlsSinkCodecStrings, AvcHevcAac) {
  // avcC of an x264 High profile level 3.1 stream: version 1, 0x64 0x00 0x1f, SPS + PPS.
  const auto avcc = hex("0164001fffe100046764001f01000468ee3cb0");
  auto s = avc_codec_string(avcc);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "avc1.64001F");
  auto ps = avcc_parameter_sets(avcc);
  ASSERT_TRUE(ps.ok());
  ASSERT_EQ(ps->nals.size(), 2u);
  EXPECT_EQ(ps->nals[0], hex("6764001f"));
  EXPECT_EQ(ps->nals[1], hex("68ee3cb0"));
  EXPECT_EQ(ps->nal_length_size, 4u);
  EXPECT_FALSE(avc_codec_string(hex("0164")).ok());
  EXPECT_FALSE(avcc_parameter_sets(hex("0164001fffe10010")).ok());  // SPS length beyond the end

  // hvcC header of a Main profile, Main tier, level 3.1 (93) stream, no arrays.
  const auto hvcc = hex("01" "01" "60000000" "900000000000" "5d" "f000" "fc" "fd" "f8" "f8" "0000" "0f" "00");
  auto h = hevc_codec_string(hvcc);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(*h, "hvc1.1.6.L93.90");

  auto a = aac_codec_string(hex("1210"));  // AAC-LC 44.1 kHz stereo
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "mp4a.40.2");
  auto cfg = parse_audio_specific_config(hex("1190"));  // AAC-LC 48 kHz stereo
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->sample_rate, 48000u);
  EXPECT_EQ(cfg->channel_config, 2u);
  EXPECT_EQ(*aac_codec_string(hex("2b920800")), "mp4a.40.5");  // HE-AAC (SBR)
  EXPECT_FALSE(aac_codec_string(hex("17")).ok());  // reserved sampling index 14 (truncated)
}

TEST(HlsSinkTsWriter, PacketsTablesAndTimestampsParseBack) {
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
    if (last_cc.count(pid)) EXPECT_EQ(cc, (last_cc[pid] + 1) & 0x0f) << "pid " << pid;
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

TEST(HlsSinkAes, NistVectorPaddingAndSequenceIv) {
  AesKey key;
  AesIv iv;
  const auto k = hex("2b7e151628aed2a6abf7158809cf4f3c");
  const auto i = hex("000102030405060708090a0b0c0d0e0f");
  std::copy(k.begin(), k.end(), key.begin());
  std::copy(i.begin(), i.end(), iv.begin());
  auto c = aes128_cbc_encrypt(hex("6bc1bee22e409f96e93d7e117393172a"), key, iv);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 32u);  // one block + a full block of PKCS#7 padding
  EXPECT_EQ(std::vector<uint8_t>(c->begin(), c->begin() + 16), hex("7649abac8119b246cee98e9b12e9197d"));
  auto odd = aes128_cbc_encrypt(std::vector<uint8_t>(188 * 3, 0x47), key, iv);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->size(), 576u);  // 564 rounded up to the next block
  const auto seq = iv_from_sequence(0x0102030405060708ull);
  EXPECT_EQ(std::vector<uint8_t>(seq.begin(), seq.end()), hex("00000000000000000102030405060708"));
}
