// SHA-256 (FIPS 180-4 examples) and HMAC-SHA256 (RFC 4231 test cases).
#include <gtest/gtest.h>

#include <string>

#include "common/hmac_sha256.h"
#include "common/sha256.h"

using namespace live;

namespace {

std::string hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(hex(Sha256::hash(bytes_of(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(Sha256::hash(bytes_of("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(Sha256::hash(bytes_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(hex(Sha256::hash(bytes_of(million))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += char('a' + i % 26);
  const auto expected = Sha256::hash(bytes_of(text));
  for (size_t piece = 1; piece < 130; ++piece) {
    Sha256 h;
    for (size_t pos = 0; pos < text.size(); pos += piece) {
      h.update(bytes_of(text).subspan(pos, std::min(piece, text.size() - pos)));
    }
    ASSERT_EQ(h.finish(), expected) << "piece " << piece;
  }
}

TEST(HmacSha256, Rfc4231) {
  const std::vector<uint8_t> key1(20, 0x0b);
  EXPECT_EQ(hex(hmac_sha256(key1, bytes_of("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(hmac_sha256(bytes_of("Jefe"), bytes_of("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Key longer than the block: hashed first.
  const std::vector<uint8_t> key6(131, 0xaa);
  EXPECT_EQ(hex(hmac_sha256(key6, bytes_of("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Message in two pieces equals the message in one.
  EXPECT_EQ(hmac_sha256(bytes_of("Jefe"), {bytes_of("what do ya "), bytes_of("want for nothing?")}),
            hmac_sha256(bytes_of("Jefe"), bytes_of("what do ya want for nothing?")));
}
