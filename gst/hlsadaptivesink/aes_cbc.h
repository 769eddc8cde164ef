// AES-128-CBC with PKCS#7 padding for HLS "METHOD=AES-128" (whole-segment encryption),
// over OpenSSL libcrypto.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace live::hlssink {

using AesKey = std::array<uint8_t, 16>;
using AesIv = std::array<uint8_t, 16>;

Result<std::vector<uint8_t>> aes128_cbc_encrypt(std::span<const uint8_t> plain, const AesKey& key,
                                                const AesIv& iv);
// Random key from the OpenSSL CSPRNG.
Result<AesKey> random_aes_key();
// The IV HLS implies when EXT-X-KEY has no IV: the media sequence number, big-endian, 128 bits.
AesIv iv_from_sequence(uint64_t media_sequence);

}  // namespace live::hlssink
