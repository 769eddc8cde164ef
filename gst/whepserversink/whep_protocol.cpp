// WHEP resources and SDP offer reading for whepserversink: see the header.
#include "whepserversink/whep_protocol.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace live::whep {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <typename T>
bool parse_number(std::string_view text, T* out) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t next = text.find(separator, pos);
    if (next == std::string_view::npos) next = text.size();
    if (next > pos) parts.push_back(text.substr(pos, next - pos));
    pos = next + 1;
  }
  return parts;
}

// "<pt> <rest>" of a=rtpmap/a=fmtp/a=rtcp-fb; pt -1 for '*'.
bool split_payload_attribute(std::string_view value, int* pt, std::string_view* rest) {
  const size_t space = value.find(' ');
  const std::string_view first = value.substr(0, space);
  *rest = space == std::string_view::npos ? std::string_view() : trim(value.substr(space + 1));
  if (first == "*") {
    *pt = -1;
    return true;
  }
  return parse_number(first, pt) && *pt >= 0 && *pt <= 127;
}

OfferedFormat* format_of(OfferedMedia& media, int pt) {
  for (auto& f : media.formats)
    if (f.payload_type == pt) return &f;
  return nullptr;
}

bool is_constrained_baseline(const H264Profile& p) {
  return (p.profile_idc == 66 && (p.constraints & 0x40)) || (p.profile_idc == 77 && (p.constraints & 0x80)) ||
         (p.profile_idc == 88 && (p.constraints & 0xC0) == 0xC0);
}

// Higher ranks decode every profile of a lower rank in the High family (Main ⊂ High ⊂ High 10 ...).
int high_family_rank(uint8_t idc) {
  switch (idc) {
    case 77: return 1;
    case 100: return 2;
    case 110: return 3;
    case 122: return 4;
    case 244: return 5;
    default: return 0;
  }
}

// Narrow before wide: how much more than the stream an offered profile asks the decoder for.
int profile_width(const H264Profile& p) {
  if (is_constrained_baseline(p)) return 0;
  if (p.profile_idc == 66) return 1;
  if (p.profile_idc == 88) return 2;
  return 2 + high_family_rank(p.profile_idc);
}

std::string encodings_of(const OfferedMedia& media) {
  std::string names;
  for (const auto& f : media.formats) {
    if (f.encoding.empty() || iequals(f.encoding, "rtx") || iequals(f.encoding, "red") ||
        iequals(f.encoding, "ulpfec") || names.find(f.encoding) != std::string::npos)
      continue;
    names += (names.empty() ? "" : ", ") + f.encoding;
  }
  return names.empty() ? std::string("none") : names;
}

}  // namespace

std::string endpoint_path(std::string_view application, std::string_view stream_key) {
  return "/" + std::string(application) + "/" + std::string(stream_key) + "/whep";
}

ParsedTarget parse_target(std::string_view rest) {
  if (rest.empty() || rest == "/") return {Target::endpoint, {}};
  if (rest.front() == '/' && is_session_id(rest.substr(1))) return {Target::session, std::string(rest.substr(1))};
  return {};
}

std::string session_id_from_bytes(const uint8_t (&random)[kSessionIdBytes]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (uint8_t b : random) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

bool is_session_id(std::string_view text) {
  return text.size() == 2 * kSessionIdBytes &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> fmtp_value(std::string_view fmtp, std::string_view name) {
  for (std::string_view param : split(fmtp, ';')) {
    param = trim(param);
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), name))
      return std::string(trim(param.substr(eq + 1)));
  }
  return std::nullopt;
}

std::optional<Offer> parse_offer(std::string_view sdp, std::string* reason) {
  auto fail = [&](std::string why) {
    *reason = "malformed SDP offer: " + why;
    return std::nullopt;
  };
  Offer offer;
  bool session_ufrag = false, session_pwd = false, session_fingerprint = false;
  std::vector<std::array<bool, 3>> media_credentials;  // ufrag, pwd, fingerprint per m= section
  bool seen_version = false;
  size_t lines = 0;
  for (std::string_view line : split(sdp, '\n')) {
    line = trim(line);
    if (line.empty()) continue;
    if (++lines > kMaxOfferLines) return fail("more than " + std::to_string(kMaxOfferLines) + " lines");
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
      return fail("line " + std::to_string(lines) + " is not <type>=<value>");
    const char type = line[0];
    const std::string_view value = line.substr(2);
    if (!seen_version) {
      if (line != "v=0") return fail("it does not start with v=0");
      seen_version = true;
      continue;
    }
    if (type == 'm') {
      if (offer.media.size() == kMaxOfferMedia) return fail("more than " + std::to_string(kMaxOfferMedia) + " m= sections");
      const auto fields = split(value, ' ');
      OfferedMedia media;
      uint32_t port = 0;
      std::string_view port_text = fields.size() > 1 ? fields[1] : std::string_view();
      port_text = port_text.substr(0, port_text.find('/'));
      if (fields.size() < 4 || !parse_number(port_text, &port) || port > 65535)
        return fail("bad m= line '" + std::string(line) + "'");
      media.kind = std::string(fields[0]);
      media.port = static_cast<uint16_t>(port);
      media.protocol = std::string(fields[2]);
      const bool rtp = media.protocol.find("RTP") != std::string::npos;
      for (size_t i = 3; i < fields.size(); ++i) {
        OfferedFormat format;
        if (rtp && (!parse_number(fields[i], &format.payload_type) || format.payload_type < 0 || format.payload_type > 127))
          return fail("bad payload type '" + std::string(fields[i]) + "'");
        if (rtp) media.formats.push_back(std::move(format));
      }
      offer.media.push_back(std::move(media));
      media_credentials.push_back({false, false, false});
      continue;
    }
    if (type != 'a') continue;
    const size_t colon = value.find(':');
    const std::string_view name = value.substr(0, colon);
    const std::string_view attr = colon == std::string_view::npos ? std::string_view() : trim(value.substr(colon + 1));
    if (offer.media.empty()) {
      session_ufrag |= name == "ice-ufrag" && !attr.empty();
      session_pwd |= name == "ice-pwd" && !attr.empty();
      session_fingerprint |= name == "fingerprint" && !attr.empty();
      continue;
    }
    OfferedMedia& media = offer.media.back();
    auto& credentials = media_credentials.back();
    credentials[0] |= name == "ice-ufrag" && !attr.empty();
    credentials[1] |= name == "ice-pwd" && !attr.empty();
    credentials[2] |= name == "fingerprint" && !attr.empty();
    if (name == "mid") {
      media.mid = std::string(attr);
    } else if (name == "bundle-only") {
      media.bundle_only = true;
    } else if (name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive") {
      media.direction = std::string(name);
    } else if (name == "rtpmap" || name == "fmtp" || name == "rtcp-fb") {
      int pt = -1;
      std::string_view rest;
      if (!split_payload_attribute(attr, &pt, &rest)) return fail("bad a=" + std::string(name) + " line");
      if (name == "rtcp-fb") {
        for (auto& f : media.formats)
          if (pt == -1 || f.payload_type == pt) f.rtcp_fb.emplace_back(rest);
        continue;
      }
      OfferedFormat* format = pt < 0 ? nullptr : format_of(media, pt);
      if (format == nullptr) continue;  // a payload type the m= line does not list: ignored
      if (name == "fmtp") {
        format->fmtp = std::string(rest);
        continue;
      }
      const auto parts = split(rest, '/');
      if (parts.size() < 2 || parts.size() > 3 || !parse_number(parts[1], &format->clock_rate) ||
          (parts.size() == 3 && !parse_number(parts[2], &format->channels)))
        return fail("bad a=rtpmap line '" + std::string(line) + "'");
      format->encoding = std::string(parts[0]);
    }
  }
  if (!seen_version) return fail("it is empty");
  if (offer.media.empty()) return fail("it has no m= section");
  for (size_t i = 0; i < offer.media.size(); ++i) {
    // Rejected sections need no transport; bundle-only ones share the first section's (RFC 8843).
    if (offer.media[i].port == 0) continue;
    const auto& c = media_credentials[i];
    if (!(c[0] || session_ufrag) || !(c[1] || session_pwd))
      return fail("m= section " + std::to_string(i) + " has no a=ice-ufrag/a=ice-pwd");
    if (!(c[2] || session_fingerprint)) return fail("m= section " + std::to_string(i) + " has no a=fingerprint (DTLS)");
  }
  return offer;
}

std::optional<H264Profile> parse_profile_level_id(std::string_view hex) {
  if (hex.size() != 6) return std::nullopt;
  uint32_t value = 0;
  auto [end, error] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
  if (error != std::errc() || end != hex.data() + hex.size()) return std::nullopt;
  return H264Profile{static_cast<uint8_t>(value >> 16), static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
}

std::optional<H264Profile> profile_from_caps_name(std::string_view name) {
  struct Entry {
    std::string_view name;
    H264Profile profile;
  };
  static constexpr Entry kProfiles[] = {
      {"constrained-baseline", {66, 0xe0, 0}}, {"baseline", {66, 0, 0}},       {"main", {77, 0, 0}},
      {"extended", {88, 0, 0}},                {"high", {100, 0, 0}},          {"constrained-high", {100, 0, 0}},
      {"progressive-high", {100, 0, 0}},       {"high-10", {110, 0, 0}},       {"high-10-intra", {110, 0, 0}},
      {"high-4:2:2", {122, 0, 0}},             {"high-4:2:2-intra", {122, 0, 0}}, {"high-4:4:4", {244, 0, 0}},
      {"high-4:4:4-intra", {244, 0, 0}},
  };
  for (const auto& e : kProfiles)
    if (e.name == name) return e.profile;
  return std::nullopt;
}

bool profile_accepts(const H264Profile& offered, const H264Profile& stream) {
  if (is_constrained_baseline(stream)) return true;  // every H.264 decoder decodes Constrained Baseline
  if (stream.profile_idc == 66)  // full Baseline (FMO, ASO): a Baseline or Extended decoder, not a CB one
    return (offered.profile_idc == 66 && !is_constrained_baseline(offered)) || offered.profile_idc == 88;
  if (stream.profile_idc == 88) return offered.profile_idc == 88;
  const int need = high_family_rank(stream.profile_idc);
  return need > 0 && high_family_rank(offered.profile_idc) >= need;
}

std::optional<Choice> choose_h264(const OfferedMedia& media, const std::optional<H264Profile>& stream,
                                  std::string* reason) {
  const OfferedFormat* best = nullptr;
  H264Profile best_profile;
  bool any_h264 = false, any_mode1 = false;
  std::string offered_profiles;
  for (const auto& f : media.formats) {
    if (!iequals(f.encoding, "H264") || f.clock_rate != 90000) continue;
    any_h264 = true;
    if (fmtp_value(f.fmtp, "packetization-mode").value_or("0") != "1") continue;
    any_mode1 = true;
    // RFC 6184: without profile-level-id the format is Baseline level 1 (42000a).
    const std::string text = fmtp_value(f.fmtp, "profile-level-id").value_or("42000a");
    const auto profile = parse_profile_level_id(text);
    if (!profile) continue;
    offered_profiles += (offered_profiles.empty() ? "" : ", ") + text;
    if (stream && !profile_accepts(*profile, *stream)) continue;
    // Known stream: the narrowest accepting profile (the same one if offered). Unknown: the widest.
    const bool better = best == nullptr || (stream ? profile_width(*profile) < profile_width(best_profile)
                                                   : profile_width(*profile) > profile_width(best_profile));
    if (better) {
      best = &f;
      best_profile = *profile;
    }
  }
  if (best != nullptr) return Choice{best->payload_type, best->fmtp, best->rtcp_fb};
  if (!any_h264)
    *reason = "the " + media.kind + " offer has no H.264 (offered: " + encodings_of(media) + ")";
  else if (!any_mode1)
    *reason = "the offer's H.264 has no packetization-mode=1";
  else
    *reason = "the stream's H.264 profile (profile_idc " + std::to_string(stream->profile_idc) +
              ") is not among the profiles the offer accepts (" + offered_profiles + ")";
  return std::nullopt;
}

std::optional<Choice> choose_opus(const OfferedMedia& media, std::string* reason) {
  for (const auto& f : media.formats)
    if (iequals(f.encoding, "opus") && f.clock_rate == 48000 && f.channels == 2)
      return Choice{f.payload_type, f.fmtp, f.rtcp_fb};
  *reason = "the " + media.kind + " offer has no opus/48000/2 (offered: " + encodings_of(media) + ")";
  return std::nullopt;
}

}  // namespace live::whep
