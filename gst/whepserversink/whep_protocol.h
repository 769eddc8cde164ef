// The WHEP (draft-ietf-wish-whep) rules of whepserversink that need no I/O: which resource a
// request names, session ids, and what an SDP offer asks for (the codecs we can send it).
// Plain C++ and the standard library (no GLib, no GStreamer): unit-tested in
// tests/gst/whep_protocol_test.cpp. The SDP here is only read as text lines (RFC 8866); the
// answer itself is written by webrtcbin.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace live::whep {

// ---- resources ----

// "/{application}/{stream-key}/whep": the endpoint a player POSTs its offer to.
std::string endpoint_path(std::string_view application, std::string_view stream_key);

enum class Target { endpoint, session, unknown };
struct ParsedTarget {
  Target kind = Target::unknown;
  std::string session_id;  // Target::session
};
// `rest`: the request path after the endpoint path ("" or "/{session-id}", still encoded).
ParsedTarget parse_target(std::string_view rest);

inline constexpr size_t kSessionIdBytes = 16;  // 128 random bits, 32 hex digits
// Hex of 16 bytes from the caller's random source.
std::string session_id_from_bytes(const uint8_t (&random)[kSessionIdBytes]);
bool is_session_id(std::string_view text);

// ---- SDP offers ----

struct OfferedFormat {
  int payload_type = -1;
  std::string encoding;  // as written in a=rtpmap ("H264", "opus"); compare case-insensitively
  uint32_t clock_rate = 0;
  uint32_t channels = 0;  // 0 if not given
  std::string fmtp;       // a=fmtp parameters as written ("" if none)
  std::vector<std::string> rtcp_fb;  // a=rtcp-fb values for this payload type ("nack pli", ...)
};

struct OfferedMedia {
  std::string kind;  // "video", "audio", "application", ...
  uint16_t port = 0;
  std::string protocol;  // "UDP/TLS/RTP/SAVPF"
  std::string mid;
  std::string direction = "sendrecv";
  bool bundle_only = false;  // a=bundle-only: port 0 means "in the BUNDLE transport", not rejected
  std::vector<OfferedFormat> formats;  // in the m= line's order
  // A section the offerer rejected (port 0 without a=bundle-only, RFC 8843 section 7.5.3).
  bool rejected() const { return port == 0 && !bundle_only; }
};

struct Offer {
  std::vector<OfferedMedia> media;
};

inline constexpr size_t kMaxOfferMedia = 16;    // m= sections
inline constexpr size_t kMaxOfferLines = 4096;  // lines of the whole offer

// Reads an offer; nullopt and a readable reason when it is not one we can answer (no v=0,
// no m= line, a line that is not "x=...", no ICE credentials or DTLS fingerprint, over the limits).
std::optional<Offer> parse_offer(std::string_view sdp, std::string* reason);

// The value of `name` in a fmtp parameter list ("a=1;b=2"), nullopt if absent.
std::optional<std::string> fmtp_value(std::string_view fmtp, std::string_view name);

// ---- H.264 profiles (RFC 6184 profile-level-id) ----

struct H264Profile {
  uint8_t profile_idc = 0;
  uint8_t constraints = 0;  // constraint_set0..5 flags byte
  uint8_t level_idc = 0;
};
// "42e01f" -> {0x42, 0xe0, 0x1f}; nullopt unless 6 hex digits.
std::optional<H264Profile> parse_profile_level_id(std::string_view hex);
// GStreamer's caps name ("constrained-baseline", "main", "high", ...) -> profile, nullopt if unknown.
std::optional<H264Profile> profile_from_caps_name(std::string_view name);
// Whether a decoder that accepts `offered` decodes a stream of `stream` (profiles only; levels are
// not compared: browsers offer level-asymmetry-allowed and decode higher levels).
bool profile_accepts(const H264Profile& offered, const H264Profile& stream);

// ---- choosing what to send ----

struct Choice {
  int payload_type = -1;
  std::string fmtp;  // the offered fmtp of that payload type, echoed in the answer
  std::vector<std::string> rtcp_fb;
};

// An H.264 payload type of `media` with packetization-mode=1 whose profile decodes the stream
// (if its profile is known yet): the same profile first, then the narrowest that accepts it.
// nullopt with a readable reason otherwise.
std::optional<Choice> choose_h264(const OfferedMedia& media, const std::optional<H264Profile>& stream,
                                  std::string* reason);
// The offer's opus/48000/2 payload type, nullopt with a reason otherwise.
std::optional<Choice> choose_opus(const OfferedMedia& media, std::string* reason);

}  // namespace live::whep
