#include "rtmp/handshake.h"

#include <algorithm>
#include <string>

#include "common/byte_io.h"
#include "common/hmac_sha256.h"

namespace live::rtmp {

namespace {

// "Genuine Adobe Flash Player 001" + 32 fixed bytes.
constexpr uint8_t fixed_key_tail[32] = {
    0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
    0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
};

template <size_t N>
constexpr std::array<uint8_t, N + 32> make_key(const char (&text)[N + 1]) {
  std::array<uint8_t, N + 32> key{};
  for (size_t i = 0; i < N; ++i) key[i] = uint8_t(text[i]);
  for (size_t i = 0; i < 32; ++i) key[N + i] = fixed_key_tail[i];
  return key;
}

constexpr auto player_key = make_key<30>("Genuine Adobe Flash Player 001");
constexpr auto server_key = make_key<36>("Genuine Adobe Flash Media Server 001");

// Versions we announce in S1/C1 bytes 4..7 when using the digest handshake.
constexpr uint8_t server_version[4] = {4, 5, 0, 1};
constexpr uint8_t client_version[4] = {9, 0, 124, 2};

// Fills with a simple deterministic generator: the bytes only need to look random to peers.
void fill_random(std::span<uint8_t> out, uint64_t& state) {
  for (auto& b : out) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b = uint8_t(state >> 24);
  }
}

// Collects up to a block into `block`; returns bytes taken from `in`.
size_t collect(std::vector<uint8_t>& block, std::span<const uint8_t> in, size_t want) {
  const size_t take = std::min(want - block.size(), in.size());
  block.insert(block.end(), in.begin(), in.begin() + take);
  return take;
}

Error bad_version(uint8_t v) {
  if (v == 6 || v == 8 || v == 9) {
    return make_error(Errc::unsupported, "RTMPE (encrypted RTMP, version " + std::to_string(v) + ") is not supported");
  }
  return make_error(Errc::malformed, "RTMP version byte " + std::to_string(v) + ", expected 3");
}

}  // namespace

std::span<const uint8_t> flash_player_key_full() { return player_key; }
std::span<const uint8_t> flash_player_key_short() { return std::span(player_key).first(30); }
std::span<const uint8_t> media_server_key_full() { return server_key; }
std::span<const uint8_t> media_server_key_short() { return std::span(server_key).first(36); }

size_t digest_offset(HandshakeBlock block, DigestScheme scheme) {
  // Scheme 0: four bytes at 8 pick an offset within bytes 12..771; scheme 1: bytes at 772
  // pick one within 776..1535. 728 = 764 - 4 - 32.
  const size_t base = scheme == DigestScheme::scheme0 ? 8 : 772;
  const size_t sum = size_t(block[base]) + block[base + 1] + block[base + 2] + block[base + 3];
  return sum % 728 + base + 4;
}

std::array<uint8_t, handshake_digest_size> compute_block_digest(HandshakeBlock block, size_t offset,
                                                                std::span<const uint8_t> key) {
  return hmac_sha256(key, {block.first(offset), block.subspan(offset + handshake_digest_size)});
}

std::optional<DigestScheme> find_valid_digest(HandshakeBlock block, std::span<const uint8_t> key) {
  for (auto scheme : {DigestScheme::scheme0, DigestScheme::scheme1}) {
    const size_t offset = digest_offset(block, scheme);
    const auto digest = compute_block_digest(block, offset, key);
    if (std::equal(digest.begin(), digest.end(), block.begin() + offset)) return scheme;
  }
  return std::nullopt;
}

void sign_block(std::span<uint8_t, handshake_block_size> block, DigestScheme scheme, std::span<const uint8_t> key) {
  const size_t offset = digest_offset(block, scheme);
  const auto digest = compute_block_digest(block, offset, key);
  std::copy(digest.begin(), digest.end(), block.begin() + offset);
}

std::array<uint8_t, handshake_digest_size> compute_response_signature(HandshakeBlock block,
                                                                      std::span<const uint8_t> peer_digest,
                                                                      std::span<const uint8_t> full_key) {
  const auto derived = hmac_sha256(full_key, peer_digest);
  return hmac_sha256(derived, block.first(handshake_block_size - handshake_digest_size));
}

bool response_signature_valid(HandshakeBlock block, std::span<const uint8_t> peer_digest,
                              std::span<const uint8_t> full_key) {
  const auto sig = compute_response_signature(block, peer_digest, full_key);
  return std::equal(sig.begin(), sig.end(), block.end() - handshake_digest_size);
}

// ---- HandshakeResponder ----

HandshakeResponder::HandshakeResponder(uint64_t seed) : seed_(seed ? seed : 1) {}

Result<size_t> HandshakeResponder::feed(std::span<const uint8_t> in) {
  size_t used = 0;
  while (used < in.size() && state_ != State::done) {
    switch (state_) {
      case State::c0: {
        const uint8_t version = in[used++];
        if (version != rtmp_version) return bad_version(version);
        state_ = State::c1;
        break;
      }
      case State::c1:
        used += collect(block_, in.subspan(used), handshake_block_size);
        if (block_.size() == handshake_block_size) {
          std::copy(block_.begin(), block_.end(), c1_.begin());
          block_.clear();
          respond();
          state_ = State::c2;
        }
        break;
      case State::c2:
        used += collect(block_, in.subspan(used), handshake_block_size);
        if (block_.size() == handshake_block_size) {
          if (mode_ == HandshakeMode::digest) {
            c2_valid_ = response_signature_valid(HandshakeBlock(block_.data(), handshake_block_size), s1_digest_,
                                                 flash_player_key_full());
          } else {
            c2_valid_ = std::equal(block_.begin() + 8, block_.end(), s1_.begin() + 8);
          }
          block_.clear();
          block_.shrink_to_fit();
          state_ = State::done;
        }
        break;
      case State::done:
        break;
    }
  }
  return used;
}

void HandshakeResponder::respond() {
  // Mix the client's bytes into the generator so two sessions do not send the same S1.
  uint64_t state = seed_;
  for (size_t i = 0; i < handshake_block_size; i += 8) state = (state * 0x100000001b3ull) ^ load_be64(c1_.data() + i);
  if (state == 0) state = 1;

  // Clients announce the digest handshake with a non-zero version in C1 bytes 4..7.
  const bool client_versioned = load_be32(c1_.data() + 4) != 0;
  if (client_versioned) scheme_ = find_valid_digest(c1_, flash_player_key_short());
  mode_ = scheme_ ? HandshakeMode::digest : HandshakeMode::plain;

  fill_random(s1_, state);
  store_be32(s1_.data(), 0);  // our time: sans-I/O, no clock
  if (mode_ == HandshakeMode::digest) {
    std::copy(std::begin(server_version), std::end(server_version), s1_.begin() + 4);
    sign_block(s1_, *scheme_, media_server_key_short());
    const size_t offset = digest_offset(s1_, *scheme_);
    std::copy(s1_.begin() + offset, s1_.begin() + offset + handshake_digest_size, s1_digest_.begin());
  } else {
    store_be32(s1_.data() + 4, 0);
  }

  std::array<uint8_t, handshake_block_size> s2;
  if (mode_ == HandshakeMode::digest) {
    fill_random(s2, state);
    const size_t c1_offset = digest_offset(c1_, *scheme_);
    const auto sig = compute_response_signature(
        s2, std::span(c1_).subspan(c1_offset, handshake_digest_size), media_server_key_full());
    std::copy(sig.begin(), sig.end(), s2.end() - handshake_digest_size);
  } else {
    s2 = c1_;  // plain: echo C1 (time, time2 = 0, random)
    store_be32(s2.data() + 4, 0);
  }

  output_.reserve(1 + 2 * handshake_block_size);
  output_.push_back(rtmp_version);
  output_.insert(output_.end(), s1_.begin(), s1_.end());
  output_.insert(output_.end(), s2.begin(), s2.end());
}

// ---- HandshakeInitiator ----

HandshakeInitiator::HandshakeInitiator(HandshakeMode mode, uint64_t seed) : mode_(mode), seed_(seed ? seed : 1) {}

void HandshakeInitiator::start() {
  if (state_ != State::idle) return;
  uint64_t state = seed_;
  fill_random(c1_, state);
  store_be32(c1_.data(), 0);
  if (mode_ == HandshakeMode::digest) {
    std::copy(std::begin(client_version), std::end(client_version), c1_.begin() + 4);
    sign_block(c1_, DigestScheme::scheme0, flash_player_key_short());
    const size_t offset = digest_offset(c1_, DigestScheme::scheme0);
    std::copy(c1_.begin() + offset, c1_.begin() + offset + handshake_digest_size, c1_digest_.begin());
  } else {
    store_be32(c1_.data() + 4, 0);
  }
  seed_ = state;
  output_.push_back(rtmp_version);
  output_.insert(output_.end(), c1_.begin(), c1_.end());
  state_ = State::s0;
}

Result<size_t> HandshakeInitiator::feed(std::span<const uint8_t> in) {
  if (state_ == State::idle) return make_error(Errc::protocol_violation, "handshake fed before start()");
  size_t used = 0;
  while (used < in.size() && state_ != State::done) {
    switch (state_) {
      case State::s0: {
        const uint8_t version = in[used++];
        if (version != rtmp_version) return bad_version(version);
        state_ = State::s1;
        break;
      }
      case State::s1:
        used += collect(block_, in.subspan(used), handshake_block_size);
        if (block_.size() == handshake_block_size) {
          std::copy(block_.begin(), block_.end(), s1_.begin());
          block_.clear();
          std::array<uint8_t, handshake_block_size> c2;
          std::optional<DigestScheme> scheme;
          if (mode_ == HandshakeMode::digest && load_be32(s1_.data() + 4) != 0) {
            scheme = find_valid_digest(s1_, media_server_key_short());
          }
          s1_digest_valid_ = scheme.has_value();
          if (mode_ == HandshakeMode::digest && !scheme && strict_) {
            return make_error(Errc::refused, "server S1 carries no valid digest");
          }
          if (scheme) {
            fill_random(c2, seed_);
            const size_t offset = digest_offset(s1_, *scheme);
            const auto sig = compute_response_signature(
                c2, std::span(s1_).subspan(offset, handshake_digest_size), flash_player_key_full());
            std::copy(sig.begin(), sig.end(), c2.end() - handshake_digest_size);
          } else {
            c2 = s1_;  // plain: echo S1
            store_be32(c2.data() + 4, 0);
          }
          output_.insert(output_.end(), c2.begin(), c2.end());
          state_ = State::s2;
        }
        break;
      case State::s2:
        used += collect(block_, in.subspan(used), handshake_block_size);
        if (block_.size() == handshake_block_size) {
          if (mode_ == HandshakeMode::digest && s1_digest_valid_) {
            s2_valid_ = response_signature_valid(HandshakeBlock(block_.data(), handshake_block_size), c1_digest_,
                                                 media_server_key_full());
          } else {
            s2_valid_ = std::equal(block_.begin() + 8, block_.end(), c1_.begin() + 8);
          }
          if (strict_ && !s2_valid_) return make_error(Errc::refused, "server S2 does not answer our C1");
          block_.clear();
          block_.shrink_to_fit();
          state_ = State::done;
        }
        break;
      case State::idle:
      case State::done:
        break;
    }
  }
  return used;
}

}  // namespace live::rtmp
