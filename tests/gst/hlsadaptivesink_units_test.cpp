// hlsadaptivesink's AES-128-CBC (libcrypto) against the NIST SP 800-38A vector. Its codec
// strings and TS writer are lib/flv and lib/ts, tested in tests/lib.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "hlsadaptivesink/aes_cbc.h"

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
