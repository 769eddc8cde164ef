// SHA-256 (FIPS 180-4). Used by the RTMP digest handshake; lib/ links no crypto library.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace live {

class Sha256 {
 public:
  static constexpr size_t digest_size = 32;
  static constexpr size_t block_size = 64;
  using Digest = std::array<uint8_t, digest_size>;

  Sha256();
  void update(std::span<const uint8_t> data);
  Digest finish();

  static Digest hash(std::span<const uint8_t> data);

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, block_size> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace live
