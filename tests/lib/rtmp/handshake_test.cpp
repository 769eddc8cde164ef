// Handshake against real peers' bytes: ffmpeg's digest C1 and nginx-rtmp's digest S1/S2,
// librtmp's and rtmp2sink's plain C1; our responder's answers validated as clients check them.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>

#include "common/byte_io.h"
#include "rtmp/handshake.h"
#include "rtmp_test_helpers.h"

using namespace live;
using namespace live::rtmp;
using namespace live::rtmp::test;

namespace {

HandshakeBlock block_at(const std::vector<uint8_t>& bytes, size_t offset) {
  return HandshakeBlock(bytes.data() + offset, handshake_block_size);
}

std::span<const uint8_t> digest_in(HandshakeBlock block, DigestScheme scheme) {
  return block.subspan(digest_offset(block, scheme), handshake_digest_size);
}

// C1/C2 and S1/S2 of a recorded session ("ffmpeg-publish" -> its .c2s.bin and .s2c.bin), and
// the digest scheme that validates C1 with the player key and S1 with the server key.
struct RecordedHandshake {
  explicit RecordedHandshake(const std::string& session)
      : c2s(read_capture(session + ".c2s.bin")), s2c(read_capture(session + ".s2c.bin")),
        c1(block_at(c2s, 1)), c2(block_at(c2s, 1 + handshake_block_size)),
        s1(block_at(s2c, 1)), s2(block_at(s2c, 1 + handshake_block_size)),
        client_scheme(find_valid_digest(c1, flash_player_key_short())),
        server_scheme(find_valid_digest(s1, media_server_key_short())) {}
  RecordedHandshake(const RecordedHandshake&) = delete;  // the blocks point into the bytes

  const std::vector<uint8_t> c2s, s2c;
  const HandshakeBlock c1, c2, s1, s2;
  const std::optional<DigestScheme> client_scheme, server_scheme;
};

}  // namespace

TEST(Handshake, FfmpegC1CarriesValidPlayerDigest) {
  const auto c2s = read_capture("ffmpeg-publish.c2s.bin");
  ASSERT_EQ(c2s[0], 3);
  const auto c1 = block_at(c2s, 1);
  EXPECT_NE(load_be32(c1.data() + 4), 0u) << "ffmpeg announces a version in C1";
  const auto scheme = find_valid_digest(c1, flash_player_key_short());
  ASSERT_TRUE(scheme.has_value());
  // The server key must not validate it (the keys matter, not just the layout).
  EXPECT_FALSE(find_valid_digest(c1, media_server_key_short()).has_value());
}

TEST(Handshake, NginxS1AndS2AnswerFfmpegDigest) {
  const RecordedHandshake h("ffmpeg-publish");
  const auto& [c2s, s2c, c1, c2, s1, s2, client_scheme, server_scheme] = h;
  ASSERT_EQ(s2c[0], 3);
  ASSERT_TRUE(client_scheme && server_scheme);
  // S2 is signed with a key derived from the client's digest and the full server key.
  EXPECT_TRUE(response_signature_valid(s2, digest_in(c1, *client_scheme), media_server_key_full()));
  // And not with the wrong peer digest.
  EXPECT_FALSE(response_signature_valid(s2, digest_in(s1, *server_scheme), media_server_key_full()));
  // When publishing, ffmpeg answers with C2 = S1 (it signs C2 only when playing).
  EXPECT_TRUE(std::equal(c2.begin(), c2.end(), s1.begin()));
}

TEST(Handshake, FfmpegPlayerSignsC2WithNginxDigest) {
  const RecordedHandshake h("ffmpeg-play");
  const auto& [c2s, s2c, c1, c2, s1, s2, client_scheme, server_scheme] = h;
  ASSERT_TRUE(client_scheme && server_scheme);
  EXPECT_TRUE(response_signature_valid(s2, digest_in(c1, *client_scheme), media_server_key_full()));
  // C2 is signed with a key derived from the server's digest and the full player key.
  EXPECT_TRUE(response_signature_valid(c2, digest_in(s1, *server_scheme), flash_player_key_full()));
  EXPECT_FALSE(response_signature_valid(c2, digest_in(c1, *client_scheme), flash_player_key_full()));
}

TEST(Handshake, ResponderAnswersFfmpegWithDigest) {
  const auto c2s = read_capture("ffmpeg-publish.c2s.bin");
  HandshakeResponder responder;
  auto used = responder.feed(std::span(c2s).first(1 + handshake_block_size));
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used.value(), 1 + handshake_block_size);
  EXPECT_FALSE(responder.done());
  ASSERT_EQ(responder.mode(), HandshakeMode::digest);
  const auto& out = responder.output();
  ASSERT_EQ(out.size(), 1 + 2 * handshake_block_size);
  EXPECT_EQ(out[0], 3);
  const auto c1 = block_at(c2s, 1);
  const auto s1 = block_at(out, 1);
  const auto s2 = block_at(out, 1 + handshake_block_size);
  const auto client_scheme = find_valid_digest(c1, flash_player_key_short());
  const auto server_scheme = find_valid_digest(s1, media_server_key_short());
  ASSERT_TRUE(server_scheme.has_value());
  EXPECT_EQ(*server_scheme, *client_scheme) << "S1 uses the client's digest scheme";
  EXPECT_NE(load_be32(s1.data() + 4), 0u) << "S1 announces a server version (ffmpeg checks digests only then)";
  EXPECT_TRUE(response_signature_valid(s2, digest_in(c1, *client_scheme), media_server_key_full()));

  // ffmpeg's recorded C2 answered nginx's S1, not ours: accepted anyway, flagged invalid.
  auto rest = responder.feed(std::span(c2s).subspan(1 + handshake_block_size));
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest.value(), handshake_block_size) << "stops after C2, leaving chunk data";
  EXPECT_TRUE(responder.done());
  EXPECT_FALSE(responder.client_response_valid());
}

TEST(Handshake, ResponderAnswersPlainClientsPlainly) {
  for (const char* name : {"librtmp-publish.c2s.bin", "rtmp2sink-publish.c2s.bin"}) {
    SCOPED_TRACE(name);
    const auto c2s = read_capture(name);
    HandshakeResponder responder;
    auto used = responder.feed(c2s);
    ASSERT_TRUE(used.ok());
    EXPECT_EQ(used.value(), handshake_bytes);
    EXPECT_TRUE(responder.done());
    EXPECT_EQ(responder.mode(), HandshakeMode::plain);
    const auto& out = responder.output();
    ASSERT_EQ(out.size(), 1 + 2 * handshake_block_size);
    // Plain S2 echoes C1's time and random bytes.
    EXPECT_TRUE(std::equal(c2s.begin() + 1, c2s.begin() + 5, out.begin() + 1 + handshake_block_size));
    EXPECT_TRUE(std::equal(c2s.begin() + 9, c2s.begin() + 1 + handshake_block_size,
                           out.begin() + 9 + handshake_block_size));
  }
}

TEST(Handshake, ResponderOutputIndependentOfSplits) {
  const auto c2s = read_capture("ffmpeg-publish.c2s.bin");
  const std::span<const uint8_t> hs(c2s.data(), handshake_bytes);
  HandshakeResponder whole;
  ASSERT_TRUE(whole.feed(hs).ok());
  for (size_t piece : {1u, 2u, 7u, 100u, 1537u, 1600u}) {
    HandshakeResponder split;
    size_t consumed = 0;
    for (size_t pos = 0; pos < hs.size(); pos += piece) {
      auto used = split.feed(hs.subspan(pos, std::min(piece, hs.size() - pos)));
      ASSERT_TRUE(used.ok());
      consumed += used.value();
    }
    EXPECT_EQ(consumed, handshake_bytes);
    EXPECT_TRUE(split.done());
    EXPECT_EQ(split.output(), whole.output()) << "piece " << piece;
  }
}

TEST(Handshake, RefusesOtherVersions) {
  for (uint8_t version : {6, 8, 9}) {
    HandshakeResponder responder;
    const uint8_t c0[1] = {version};
    auto r = responder.feed(c0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::unsupported) << "RTMPE version " << int(version);
  }
  HandshakeResponder responder;
  const uint8_t junk[4] = {'G', 'E', 'T', ' '};
  auto r = responder.feed(junk);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::malformed);
}

TEST(Handshake, InitiatorAndResponderAgreeOnDigest) {
  HandshakeInitiator client(HandshakeMode::digest);
  client.set_strict(true);
  HandshakeResponder server;
  client.start();
  ASSERT_EQ(client.output().size(), 1 + handshake_block_size);
  EXPECT_TRUE(find_valid_digest(block_at(client.output(), 1), flash_player_key_short()).has_value());
  ASSERT_TRUE(server.feed(client.output()).ok());
  client.output().clear();
  ASSERT_EQ(server.mode(), HandshakeMode::digest);
  auto used = client.feed(server.output());
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used.value(), 1 + 2 * handshake_block_size);
  EXPECT_TRUE(client.done());
  EXPECT_TRUE(client.server_digest_valid());
  EXPECT_TRUE(client.server_response_valid());
  ASSERT_EQ(client.output().size(), handshake_block_size);  // C2
  ASSERT_TRUE(server.feed(client.output()).ok());
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(server.client_response_valid());
}

TEST(Handshake, InitiatorPlainAgainstResponder) {
  HandshakeInitiator client(HandshakeMode::plain);
  client.set_strict(true);
  HandshakeResponder server;
  client.start();
  ASSERT_TRUE(server.feed(client.output()).ok());
  client.output().clear();
  EXPECT_EQ(server.mode(), HandshakeMode::plain);
  ASSERT_TRUE(client.feed(server.output()).ok());
  EXPECT_TRUE(client.done());
  EXPECT_TRUE(client.server_response_valid());
  ASSERT_TRUE(server.feed(client.output()).ok());
  EXPECT_TRUE(server.done());
  EXPECT_TRUE(server.client_response_valid());
}

TEST(Handshake, InitiatorValidatesNginxS1) {
  const auto s2c = read_capture("ffmpeg-publish.s2c.bin");
  HandshakeInitiator client(HandshakeMode::digest);
  client.start();
  auto used = client.feed(std::span(s2c).first(handshake_bytes));
  ASSERT_TRUE(used.ok());
  EXPECT_TRUE(client.done());
  EXPECT_TRUE(client.server_digest_valid());
  // nginx's S2 answered ffmpeg's C1, not ours.
  EXPECT_FALSE(client.server_response_valid());
  // The C2 we would send validates against nginx's S1 digest the way nginx checks it.
  const auto s1 = block_at(s2c, 1);
  const auto scheme = find_valid_digest(s1, media_server_key_short());
  ASSERT_TRUE(scheme.has_value());
  ASSERT_EQ(client.output().size(), 1 + 2 * handshake_block_size);
  EXPECT_TRUE(response_signature_valid(block_at(client.output(), 1 + handshake_block_size), digest_in(s1, *scheme),
                                       flash_player_key_full()));
}

TEST(Handshake, StrictInitiatorRefusesWrongS2) {
  const auto s2c = read_capture("ffmpeg-publish.s2c.bin");
  HandshakeInitiator client(HandshakeMode::digest);
  client.set_strict(true);
  client.start();
  auto used = client.feed(std::span(s2c).first(handshake_bytes));
  ASSERT_FALSE(used.ok());
  EXPECT_EQ(used.error().code, Errc::refused);
}
