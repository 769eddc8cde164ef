// whepserversink's sans-I/O WHEP rules (gst/whepserversink/whep_protocol.h): resource paths,
// session ids, reading SDP offers (a real chromium offer and broken ones), H.264 profile rules
// and the codec choice.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "whepserversink/whep_protocol.h"

using namespace live::whep;

namespace {

std::string chromium_offer() {
  const char* data = std::getenv("LIVE_TEST_DATA");
  std::ifstream in(std::string(data ? data : "tests/data") + "/whep/chromium-offer.sdp");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const char* kMinimalOffer =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\na=fingerprint:sha-256 AA:BB\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=mid:v\r\na=recvonly\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtcp-fb:97 nack pli\r\na=rtpmap:98 H264/90000\r\na=fmtp:98 profile-level-id=640c1f;packetization-mode=1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:a\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n";

}  // namespace

TEST(WhepTargets, EndpointAndSessions) {
  EXPECT_EQ(endpoint_path("live", "cam"), "/live/cam/whep");
  EXPECT_EQ(parse_target("").kind, Target::endpoint);
  EXPECT_EQ(parse_target("/").kind, Target::endpoint);
  const std::string id(32, 'a');
  EXPECT_EQ(parse_target("/" + id).kind, Target::session);
  EXPECT_EQ(parse_target("/" + id).session_id, id);
  EXPECT_EQ(parse_target("/" + id + "/").kind, Target::unknown);
  EXPECT_EQ(parse_target("/" + std::string(31, 'a')).kind, Target::unknown);
  EXPECT_EQ(parse_target("/" + std::string(32, 'A')).kind, Target::unknown);  // ids are lower-case hex
  EXPECT_EQ(parse_target("/../x").kind, Target::unknown);
  uint8_t bytes[kSessionIdBytes];
  for (size_t i = 0; i < kSessionIdBytes; ++i) bytes[i] = static_cast<uint8_t>(i * 17);
  const std::string made = session_id_from_bytes(bytes);
  EXPECT_EQ(made, "00112233445566778899aabbccddeeff");
  EXPECT_TRUE(is_session_id(made));
}

TEST(WhepOffer, ChromiumOffer) {
  std::string reason;
  const std::string text = chromium_offer();
  ASSERT_FALSE(text.empty()) << "tests/data/whep/chromium-offer.sdp missing";
  auto offer = parse_offer(text, &reason);
  ASSERT_TRUE(offer) << reason;
  ASSERT_EQ(offer->media.size(), 2u);
  EXPECT_EQ(offer->media[0].kind, "video");
  EXPECT_EQ(offer->media[0].mid, "0");
  EXPECT_EQ(offer->media[0].direction, "recvonly");
  EXPECT_EQ(offer->media[1].kind, "audio");
  // x264's High profile: chromium 156 offers no 64xxxx, but High 4:4:4 (f4001f) decodes it.
  auto high = choose_h264(offer->media[0], profile_from_caps_name("high"), &reason);
  ASSERT_TRUE(high) << reason;
  EXPECT_EQ(high->payload_type, 41);
  EXPECT_EQ(fmtp_value(high->fmtp, "profile-level-id"), "f4001f");
  // Constrained Baseline: the exact profile is preferred (42e01f, mode 1).
  auto baseline = choose_h264(offer->media[0], profile_from_caps_name("constrained-baseline"), &reason);
  ASSERT_TRUE(baseline) << reason;
  EXPECT_EQ(baseline->payload_type, 108);
  auto main = choose_h264(offer->media[0], profile_from_caps_name("main"), &reason);
  ASSERT_TRUE(main);
  EXPECT_EQ(main->payload_type, 116);
  auto opus = choose_opus(offer->media[1], &reason);
  ASSERT_TRUE(opus) << reason;
  EXPECT_EQ(opus->payload_type, 111);
  EXPECT_EQ(fmtp_value(opus->fmtp, "useinbandfec"), "1");
}

TEST(WhepOffer, MinimalOfferAndChoices) {
  std::string reason;
  auto offer = parse_offer(kMinimalOffer, &reason);
  ASSERT_TRUE(offer) << reason;
  ASSERT_EQ(offer->media[0].formats.size(), 3u);
  EXPECT_EQ(offer->media[0].formats[1].rtcp_fb, std::vector<std::string>{"nack pli"});
  // Unknown stream profile (no caps yet): the widest offered.
  auto unknown = choose_h264(offer->media[0], std::nullopt, &reason);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->payload_type, 98);
  auto cb = choose_h264(offer->media[0], H264Profile{66, 0xe0, 0x1f}, &reason);
  ASSERT_TRUE(cb);
  EXPECT_EQ(cb->payload_type, 97);
  // High 10 is decoded by neither.
  EXPECT_FALSE(choose_h264(offer->media[0], H264Profile{110, 0, 0x28}, &reason));
  EXPECT_NE(reason.find("640c1f"), std::string::npos) << reason;
  EXPECT_FALSE(choose_opus(offer->media[0], &reason));
  EXPECT_NE(reason.find("VP8"), std::string::npos) << reason;
}

// webrtcbin's max-bundle offers (GStreamer WHEP clients) give the sections after the first port 0
// and a=bundle-only, with no transport of their own: they are in the BUNDLE, not rejected (such a
// viewer used to get video and no audio). Port 0 without a=bundle-only is still a rejection.
TEST(WhepOffer, BundleOnlySectionsAreNotRejected) {
  const std::string offer_text =
      "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n"
      "a=fingerprint:sha-256 AA\r\na=mid:video0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
      "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n"
      "m=audio 0 UDP/TLS/RTP/SAVPF 97\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=mid:audio1\r\n"
      "a=recvonly\r\na=rtpmap:97 OPUS/48000/2\r\n"
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:data2\r\n";
  std::string reason;
  auto offer = parse_offer(offer_text, &reason);
  ASSERT_TRUE(offer) << reason;
  ASSERT_EQ(offer->media.size(), 3u);
  EXPECT_FALSE(offer->media[0].rejected());
  EXPECT_TRUE(offer->media[1].bundle_only);
  EXPECT_FALSE(offer->media[1].rejected());
  EXPECT_TRUE(choose_opus(offer->media[1], &reason)) << reason;
  EXPECT_TRUE(offer->media[2].rejected());
}

TEST(WhepOffer, UnusableCodecsHaveReasons) {
  std::string reason;
  const std::string vp8_only =
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AA\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n";
  auto offer = parse_offer(vp8_only, &reason);
  ASSERT_TRUE(offer) << reason;
  EXPECT_FALSE(choose_h264(offer->media[0], std::nullopt, &reason));
  EXPECT_EQ(reason, "the video offer has no H.264 (offered: VP8)");
  EXPECT_FALSE(choose_opus(offer->media[1], &reason));
  EXPECT_EQ(reason, "the audio offer has no opus/48000/2 (offered: PCMU)");
  const std::string mode0 =
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AA\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f\r\n";
  offer = parse_offer(mode0, &reason);
  ASSERT_TRUE(offer);
  EXPECT_FALSE(choose_h264(offer->media[0], std::nullopt, &reason));
  EXPECT_EQ(reason, "the offer's H.264 has no packetization-mode=1");
}

TEST(WhepOffer, MalformedOffers) {
  const char* bad[] = {
      "",
      "hello",
      "v=1\r\nm=video 9 RTP/AVP 96\r\n",
      "v=0\r\ns=-\r\n",                                                         // no m=
      "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n",     // no ICE/DTLS
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",  // no fingerprint
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:x\r\nm=video 99999 UDP/TLS/RTP/SAVPF 96\r\n",
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 300\r\n",
      "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
      "a=rtpmap:96 H264\r\n",
      "v=0\r\nthis is not sdp\r\n",
      "\x01\x02\x03",
  };
  for (const char* text : bad) {
    std::string reason;
    EXPECT_FALSE(parse_offer(text, &reason)) << "accepted: " << text;
    EXPECT_EQ(reason.rfind("malformed SDP offer: ", 0), 0u) << reason;
  }
  std::string many = "v=0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:x\r\n";
  for (int i = 0; i < 20; ++i) many += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
  std::string reason;
  EXPECT_FALSE(parse_offer(many, &reason));
  EXPECT_NE(reason.find("m= sections"), std::string::npos);
}

TEST(WhepProfiles, Compatibility) {
  auto p = [](const char* hex) { return *parse_profile_level_id(hex); };
  EXPECT_FALSE(parse_profile_level_id("42e01"));
  EXPECT_FALSE(parse_profile_level_id("42e01g"));
  const H264Profile cb = p("42e01f"), base = p("42001f"), main = p("4d001f"), high = p("64001f"), h444 = p("f4001f");
  for (const auto& offered : {cb, base, main, high, h444}) EXPECT_TRUE(profile_accepts(offered, cb));
  EXPECT_TRUE(profile_accepts(base, base));
  EXPECT_FALSE(profile_accepts(cb, base));
  EXPECT_FALSE(profile_accepts(main, base));
  EXPECT_FALSE(profile_accepts(cb, main));
  EXPECT_TRUE(profile_accepts(main, main));
  EXPECT_TRUE(profile_accepts(high, main));
  EXPECT_FALSE(profile_accepts(main, high));
  EXPECT_TRUE(profile_accepts(high, high));
  EXPECT_TRUE(profile_accepts(h444, high));
  EXPECT_FALSE(profile_accepts(high, p("6e001f")));  // High 10
  EXPECT_TRUE(profile_accepts(p("4d401f"), cb));
  EXPECT_EQ(profile_from_caps_name("high")->profile_idc, 100);
  EXPECT_FALSE(profile_from_caps_name("nonsense"));
}
