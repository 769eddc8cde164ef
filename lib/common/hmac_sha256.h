// HMAC-SHA256 (RFC 2104) over one or more byte ranges: the RTMP digest handshake signs a
// 1536-byte block with the 32 digest bytes cut out, so the message comes in two pieces.
#pragma once

#include <initializer_list>
#include <span>

#include "common/sha256.h"

namespace live {

Sha256::Digest hmac_sha256(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> message);

inline Sha256::Digest hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  return hmac_sha256(key, {message});
}

}  // namespace live
