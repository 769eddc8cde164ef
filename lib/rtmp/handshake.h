// The RTMP handshake: C0 C1 / S0 S1 S2 / C2, 1 + 1536 + 1536 bytes each way.
// Two flavours exist in the field: "plain" (the published spec: S2 echoes C1) and "digest"
// (Flash Player 9 and later, ffmpeg, OBS): C1 and S1 carry an HMAC-SHA256 digest at an offset
// derived from the block itself (scheme 0: offset bytes at 8, scheme 1: at 772), and S2/C2
// end with an HMAC signed by a key derived from the peer's digest.
// Both sides here are sans-I/O: bytes in, bytes out, nothing else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"

namespace live::rtmp {

inline constexpr size_t handshake_block_size = 1536;  // C1, S1, C2, S2
inline constexpr uint8_t rtmp_version = 3;             // C0/S0; 6 (and 8, 9) is RTMPE
inline constexpr size_t handshake_digest_size = 32;

enum class HandshakeMode { plain, digest };

// Digest scheme: where the digest offset is encoded in the block.
enum class DigestScheme { scheme0 = 0, scheme1 = 1 };

using HandshakeBlock = std::span<const uint8_t, handshake_block_size>;

// The public keys of the digest handshake: the first 30 ("Genuine Adobe Flash Player 001") or
// 36 ("Genuine Adobe Flash Media Server 001") bytes sign C1/S1; the full keys (text + 32 fixed
// bytes) derive the key that signs C2/S2.
std::span<const uint8_t> flash_player_key_full();
std::span<const uint8_t> flash_player_key_short();
std::span<const uint8_t> media_server_key_full();
std::span<const uint8_t> media_server_key_short();

// Offset of the digest inside a block for the given scheme.
size_t digest_offset(HandshakeBlock block, DigestScheme scheme);
// HMAC-SHA256 over the block without the 32 digest bytes at `offset`.
std::array<uint8_t, handshake_digest_size> compute_block_digest(HandshakeBlock block, size_t offset,
                                                                std::span<const uint8_t> key);
// Tries scheme 0 then scheme 1; returns the scheme whose digest matches.
std::optional<DigestScheme> find_valid_digest(HandshakeBlock block, std::span<const uint8_t> key);
// Writes the digest into a block at the position its scheme dictates.
void sign_block(std::span<uint8_t, handshake_block_size> block, DigestScheme scheme, std::span<const uint8_t> key);
// The signature at the end of S2/C2: HMAC(HMAC(full_key, peer_digest), block[0..1504]).
std::array<uint8_t, handshake_digest_size> compute_response_signature(HandshakeBlock block,
                                                                      std::span<const uint8_t> peer_digest,
                                                                      std::span<const uint8_t> full_key);
bool response_signature_valid(HandshakeBlock block, std::span<const uint8_t> peer_digest,
                              std::span<const uint8_t> full_key);

// Server side. Feed bytes from the client from C0 on; take S0S1S2 from output() once C1 is in.
class HandshakeResponder {
 public:
  // `seed` fills the random parts of S1/S2 (sans-I/O: no entropy source of our own).
  explicit HandshakeResponder(uint64_t seed = 0x5a17c0de);

  // Consumes bytes up to the end of C2 and returns how many; bytes after C2 are chunk data
  // and are left unconsumed. Errors: C0 version other than 3 (RTMPE refused as unsupported).
  Result<size_t> feed(std::span<const uint8_t> in);

  bool done() const { return state_ == State::done; }
  // Bytes for the client (S0 S1 S2), produced at once when C1 is complete.
  std::vector<uint8_t>& output() { return output_; }
  HandshakeMode mode() const { return mode_; }
  std::optional<DigestScheme> client_scheme() const { return scheme_; }
  // For digest clients: whether C2 carried a valid signature over our S1 digest. Real servers
  // do not insist (clients differ), and neither do we; this is informational.
  bool client_response_valid() const { return c2_valid_; }

 private:
  enum class State { c0, c1, c2, done };
  void respond();

  State state_ = State::c0;
  uint64_t seed_;
  std::vector<uint8_t> block_;  // C1 or C2 being collected
  std::array<uint8_t, handshake_block_size> c1_{};
  std::array<uint8_t, handshake_block_size> s1_{};
  std::vector<uint8_t> output_;
  HandshakeMode mode_ = HandshakeMode::plain;
  std::optional<DigestScheme> scheme_;
  std::array<uint8_t, handshake_digest_size> s1_digest_{};
  bool c2_valid_ = false;
};

// Client side: start() queues C0C1; feed S0S1S2 from the server; C2 is queued after S1/S2.
class HandshakeInitiator {
 public:
  explicit HandshakeInitiator(HandshakeMode mode = HandshakeMode::digest, uint64_t seed = 0xc11e47);

  // Queues C0 C1 in output(). Call once before feed().
  void start();
  // Consumes bytes up to the end of S2; bytes after S2 are left unconsumed. With
  // `strict`, an S1 without a valid server digest (digest mode) is an error; by default it is
  // accepted, as servers that answer plainly are common.
  Result<size_t> feed(std::span<const uint8_t> in);

  bool done() const { return state_ == State::done; }
  std::vector<uint8_t>& output() { return output_; }
  bool server_digest_valid() const { return s1_digest_valid_; }
  bool server_response_valid() const { return s2_valid_; }
  void set_strict(bool strict) { strict_ = strict; }

 private:
  enum class State { idle, s0, s1, s2, done };

  HandshakeMode mode_;
  uint64_t seed_;
  bool strict_ = false;
  State state_ = State::idle;
  std::vector<uint8_t> block_;
  std::array<uint8_t, handshake_block_size> c1_{};
  std::array<uint8_t, handshake_block_size> s1_{};
  std::array<uint8_t, handshake_digest_size> c1_digest_{};
  std::vector<uint8_t> output_;
  bool s1_digest_valid_ = false;
  bool s2_valid_ = false;
};

}  // namespace live::rtmp
