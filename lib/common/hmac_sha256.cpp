#include "common/hmac_sha256.h"

#include <array>

namespace live {

Sha256::Digest hmac_sha256(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> message) {
  std::array<uint8_t, Sha256::block_size> block_key{};
  if (key.size() > Sha256::block_size) {
    const auto hashed = Sha256::hash(key);
    std::copy(hashed.begin(), hashed.end(), block_key.begin());
  } else {
    std::copy(key.begin(), key.end(), block_key.begin());
  }
  std::array<uint8_t, Sha256::block_size> pad;
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = block_key[i] ^ 0x36;
  Sha256 inner;
  inner.update(pad);
  for (auto part : message) inner.update(part);
  const auto inner_digest = inner.finish();
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = block_key[i] ^ 0x5c;
  Sha256 outer;
  outer.update(pad);
  outer.update(inner_digest);
  return outer.finish();
}

}  // namespace live
