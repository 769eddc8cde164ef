// hlsadaptivesink's AES-128-CBC (libcrypto) against the NIST SP 800-38A vector, its Annex B
// conversion for MPEG-TS, and its OutputStore's file writes. Its codec strings and TS writer are lib/flv and lib/ts, tested in
// tests/lib.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "hlsadaptivesink/aes_cbc.h"
#include "hlsadaptivesink/media_frame.h"
#include "hlsadaptivesink/output_store.h"
#include "../lib/temp_dir.h"

using namespace live::hlssink;

namespace {
std::vector<uint8_t> hex(const char* s) {
  std::vector<uint8_t> out;
  for (; s[0] && s[1]; s += 2) out.push_back(uint8_t(std::stoi(std::string(s, 2), nullptr, 16)));
  return out;
}
}  // namespace

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

namespace {

// NAL unit types in an Annex B access unit, in order (4- or 3-byte start codes).
std::vector<int> nal_types(const std::vector<uint8_t>& au) {
  std::vector<int> types;
  for (size_t i = 0; i + 3 < au.size(); ++i)
    if (au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1) types.push_back(au[i + 3] & 0x1f);
  return types;
}

Frame h264_frame(bool length_prefixed, std::vector<uint8_t> data, bool keyframe) {
  auto c = std::make_shared<StreamConfig>();
  c->kind = Kind::h264;
  c->length_prefixed = length_prefixed;
  c->parameter_sets = {{0x67, 0x42, 0xc0, 0x1e}, {0x68, 0xce, 0x3c, 0x80}};
  Frame f;
  f.keyframe = keyframe;
  f.data = std::move(data);
  f.config = c;
  return f;
}

}  // namespace

// Byte-stream H.264 that carries its own access unit delimiter gets exactly one (TS needs one
// first; two would be an empty access unit to some decoders).
TEST(HlsSinkAnnexB, ByteStreamWithItsOwnAudKeepsOne) {
  const std::vector<uint8_t> with_aud = {0, 0, 0, 1, 0x09, 0xf0,                // AUD
                                         0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e,    // SPS
                                         0, 0, 1, 0x68, 0xce, 0x3c, 0x80,       // PPS (3-byte start code)
                                         0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00};  // IDR slice
  const auto out = to_annexb(h264_frame(false, with_aud, true));
  EXPECT_EQ(nal_types(out), (std::vector<int>{9, 7, 8, 5}));
  EXPECT_EQ(std::vector<uint8_t>(out.end() - 4, out.end()), (std::vector<uint8_t>{0x65, 0x88, 0x84, 0x00}));
  // Without an AUD of its own: one is added, the rest is kept.
  const std::vector<uint8_t> without(with_aud.begin() + 6, with_aud.end());
  EXPECT_EQ(nal_types(to_annexb(h264_frame(false, without, true))), (std::vector<int>{9, 7, 8, 5}));
  const std::vector<uint8_t> delta = {0, 0, 0, 1, 0x09, 0x30, 0, 0, 0, 1, 0x41, 0x9a, 0x00};
  EXPECT_EQ(nal_types(to_annexb(h264_frame(false, delta, false))), (std::vector<int>{9, 1}));
}

// Length-prefixed input: its AUD is dropped too, parameter sets go before keyframes, and a
// zero-length NAL unit is skipped (not read past the end).
TEST(HlsSinkAnnexB, LengthPrefixedGetsOneAudAndParameterSets) {
  const std::vector<uint8_t> au = {0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 0, 0, 0, 0, 3, 0x65, 0x88, 0x84};
  EXPECT_EQ(nal_types(to_annexb(h264_frame(true, au, true))), (std::vector<int>{9, 7, 8, 5}));
  EXPECT_EQ(nal_types(to_annexb(h264_frame(true, au, false))), (std::vector<int>{9, 5}));
  const std::vector<uint8_t> empty_last = {0, 0, 0, 3, 0x41, 0x9a, 0x00, 0, 0, 0, 0};
  EXPECT_EQ(nal_types(to_annexb(h264_frame(true, empty_last, false))), (std::vector<int>{9, 1}));
}

// ---- OutputStore ----

namespace {
namespace fs = std::filesystem;
using live::test_util::TempDir;

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

TEST(HlsSinkOutputStore, WritesReplacesAndLeavesNoTemporaryFile) {
  TempDir dir;
  OutputStore store;
  ASSERT_TRUE(store.open((dir.path() / "out").string()).ok());
  const std::string fragment(100000, 'x');
  ASSERT_TRUE(store.write_file("v0/seg1.m4s", bytes_of(fragment)).ok());
  ASSERT_TRUE(store.write_playlist("v0/index.m3u8", "#EXTM3U\n").ok());
  ASSERT_TRUE(store.write_playlist("v0/index.m3u8", "#EXTM3U\n#EXT-X-VERSION:9\n").ok());
  EXPECT_EQ(read_all(dir.path() / "out/v0/seg1.m4s"), fragment);
  EXPECT_EQ(read_all(dir.path() / "out/v0/index.m3u8"), "#EXTM3U\n#EXT-X-VERSION:9\n");
  EXPECT_EQ(store.bytes_written(), fragment.size());  // media files only
  struct stat st {};
  ASSERT_EQ(stat((dir.path() / "out/v0/seg1.m4s").c_str(), &st), 0);
  const mode_t mask = umask(0);
  umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666u & ~mask);  // as any file the user makes (umask), as before
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

// The store remembers folders it made; one removed by hand while the element runs comes back.
TEST(HlsSinkOutputStore, FolderRemovedWhileWritingIsMadeAgain) {
  TempDir dir;
  OutputStore store;
  ASSERT_TRUE(store.open((dir.path() / "out").string()).ok());
  ASSERT_TRUE(store.write_file("a/b/part1.m4s", bytes_of("one")).ok());
  fs::remove_all(dir.path() / "out/a");
  auto again = store.write_file("a/b/part2.m4s", bytes_of("two"));
  ASSERT_TRUE(again.ok()) << again.error().describe();
  EXPECT_EQ(read_all(dir.path() / "out/a/b/part2.m4s"), "two");
}

TEST(HlsSinkOutputStore, UnwritableTargetIsAClearError) {
  TempDir dir;
  OutputStore store;
  ASSERT_TRUE(store.open((dir.path() / "out").string()).ok());
  // A file where the folder should be: the folder cannot be made.
  std::ofstream(dir.path() / "out/v0") << "not a folder";
  auto blocked = store.write_file("v0/seg1.m4s", bytes_of("x"));
  ASSERT_FALSE(blocked.ok());
  EXPECT_NE(blocked.error().describe().find("cannot write v0/seg1.m4s"), std::string::npos) << blocked.error().describe();
  EXPECT_NE(blocked.error().describe().find("folder"), std::string::npos) << blocked.error().describe();
  // A folder where the file should be: the rename fails, and no temporary file stays behind.
  fs::create_directories(dir.path() / "out/w0/seg1.m4s/inside");
  auto renamed = store.write_file("w0/seg1.m4s", bytes_of("x"));
  ASSERT_FALSE(renamed.ok());
  EXPECT_FALSE(fs::exists(dir.path() / "out/w0/seg1.m4s.tmp"));
}
