#include "playlist_parser.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

namespace live::hls::test {

namespace {

// Attribute value types of RFC 8216 4.2.
enum class Type { integer, decimal, quoted, enumerated, hex, resolution };

struct AttrSpec {
  const char* name;
  Type type;
  bool required;
};

using TagSpec = std::vector<AttrSpec>;

const std::map<std::string, TagSpec>& attribute_tags() {
  static const std::map<std::string, TagSpec> specs = {
      {"EXT-X-KEY",
       {{"METHOD", Type::enumerated, true},
        {"URI", Type::quoted, false},
        {"IV", Type::hex, false},
        {"KEYFORMAT", Type::quoted, false},
        {"KEYFORMATVERSIONS", Type::quoted, false}}},
      {"EXT-X-MAP", {{"URI", Type::quoted, true}, {"BYTERANGE", Type::quoted, false}}},
      {"EXT-X-PART",
       {{"DURATION", Type::decimal, true},
        {"URI", Type::quoted, true},
        {"INDEPENDENT", Type::enumerated, false},
        {"BYTERANGE", Type::quoted, false},
        {"GAP", Type::enumerated, false}}},
      {"EXT-X-PART-INF", {{"PART-TARGET", Type::decimal, true}}},
      {"EXT-X-SERVER-CONTROL",
       {{"CAN-SKIP-UNTIL", Type::decimal, false},
        {"CAN-SKIP-DATERANGES", Type::enumerated, false},
        {"HOLD-BACK", Type::decimal, false},
        {"PART-HOLD-BACK", Type::decimal, false},
        {"CAN-BLOCK-RELOAD", Type::enumerated, false}}},
      {"EXT-X-PRELOAD-HINT",
       {{"TYPE", Type::enumerated, true},
        {"URI", Type::quoted, true},
        {"BYTERANGE-START", Type::integer, false},
        {"BYTERANGE-LENGTH", Type::integer, false}}},
      {"EXT-X-RENDITION-REPORT",
       {{"URI", Type::quoted, true}, {"LAST-MSN", Type::integer, true}, {"LAST-PART", Type::integer, false}}},
      {"EXT-X-SKIP", {{"SKIPPED-SEGMENTS", Type::integer, true}, {"RECENTLY-REMOVED-DATERANGES", Type::quoted, false}}},
      {"EXT-X-MEDIA",
       {{"TYPE", Type::enumerated, true},
        {"GROUP-ID", Type::quoted, true},
        {"NAME", Type::quoted, true},
        {"LANGUAGE", Type::quoted, false},
        {"DEFAULT", Type::enumerated, false},
        {"AUTOSELECT", Type::enumerated, false},
        {"CHANNELS", Type::quoted, false},
        {"URI", Type::quoted, false}}},
      {"EXT-X-STREAM-INF",
       {{"BANDWIDTH", Type::integer, true},
        {"AVERAGE-BANDWIDTH", Type::integer, false},
        {"CODECS", Type::quoted, false},
        {"RESOLUTION", Type::resolution, false},
        {"FRAME-RATE", Type::decimal, false},
        {"AUDIO", Type::quoted, false}}},
  };
  return specs;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_name_char(char c) { return (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-'; }

bool is_integer(std::string_view s) { return s.size() <= 20 && all_of(s, is_digit); }
bool is_decimal(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos) return is_integer(s);
  return all_of(s.substr(0, dot), is_digit) && all_of(s.substr(dot + 1), is_digit);
}

// Parses an attribute list against a tag's spec; returns an error message or "".
std::string parse_attributes(const std::string& tag, std::string_view text, AttributeList& out) {
  const TagSpec& spec = attribute_tags().at(tag);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eq = text.find('=', pos);
    if (eq == std::string_view::npos) return "attribute without '='";
    const std::string name(text.substr(pos, eq - pos));
    if (!all_of(name, is_name_char)) return "bad attribute name '" + name + "'";
    pos = eq + 1;
    std::string value;
    bool was_quoted = false;
    if (pos < text.size() && text[pos] == '"') {
      const size_t close = text.find('"', pos + 1);
      if (close == std::string_view::npos) return "unterminated quoted string";
      value = std::string(text.substr(pos + 1, close - pos - 1));
      was_quoted = true;
      pos = close + 1;
    } else {
      const size_t comma = text.find(',', pos);
      value = std::string(text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
      pos = comma == std::string_view::npos ? text.size() : comma;
    }
    if (pos < text.size()) {
      if (text[pos] != ',') return "junk after value of " + name;
      ++pos;
      if (pos == text.size()) return "trailing comma";
    }
    const AttrSpec* a = nullptr;
    for (const auto& s : spec)
      if (name == s.name) a = &s;
    if (!a) return "unknown attribute " + name + " in " + tag;
    if (out.has(name)) return "duplicate attribute " + name;
    bool good = false;
    switch (a->type) {
      case Type::quoted: good = was_quoted; break;
      case Type::integer: good = !was_quoted && is_integer(value); break;
      case Type::decimal: good = !was_quoted && is_decimal(value); break;
      case Type::enumerated:
        good = !was_quoted && !value.empty() && value.find_first_of(" \t\",") == std::string::npos;
        break;
      case Type::hex:
        good = !was_quoted && value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X') &&
               all_of(std::string_view(value).substr(2), is_hex);
        break;
      case Type::resolution: {
        const size_t x = value.find('x');
        good = !was_quoted && x != std::string::npos && is_integer(std::string_view(value).substr(0, x)) &&
               is_integer(std::string_view(value).substr(x + 1));
        break;
      }
    }
    if (!good) return "bad value for " + name + ": '" + value + "'";
    out.values[name] = value;
  }
  for (const auto& s : spec)
    if (s.required && !out.has(s.name)) return std::string("missing required attribute ") + s.name + " in " + tag;
  return "";
}

std::optional<ParsedByteRange> parse_byterange(std::string_view s) {
  ParsedByteRange r;
  const size_t at = s.find('@');
  const std::string_view len = s.substr(0, at);
  if (!is_integer(len)) return std::nullopt;
  r.length = std::stoull(std::string(len));
  if (at != std::string_view::npos) {
    const std::string_view off = s.substr(at + 1);
    if (!is_integer(off)) return std::nullopt;
    r.offset = std::stoull(std::string(off));
  }
  return r;
}

std::vector<std::string_view> split_lines(std::string_view text, std::string& error) {
  std::vector<std::string_view> lines;
  if (text.empty() || text.back() != '\n') {
    error = "text does not end with a newline";
    return lines;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (auto l : lines) {
    for (char c : l)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        error = "control character in line";
        return {};
      }
  }
  return lines;
}

void split_tag(std::string_view line, std::string& name, std::string_view& value, bool& has_value) {
  const size_t colon = line.find(':');
  has_value = colon != std::string_view::npos;
  name = std::string(line.substr(1, has_value ? colon - 1 : std::string_view::npos));
  value = has_value ? line.substr(colon + 1) : std::string_view();
}

ParsedPart make_part(const AttributeList& a, std::string& error) {
  ParsedPart p;
  p.duration = a.number("DURATION");
  p.uri = a.at("URI");
  if (a.has("INDEPENDENT")) {
    if (a.at("INDEPENDENT") != "YES") error = "INDEPENDENT must be YES";
    p.independent = true;
  }
  if (a.has("BYTERANGE")) {
    p.byterange = parse_byterange(a.at("BYTERANGE"));
    if (!p.byterange) error = "bad part BYTERANGE";
  }
  return p;
}

}  // namespace

double AttributeList::number(const std::string& name) const { return std::strtod(at(name).c_str(), nullptr); }
uint64_t AttributeList::integer(const std::string& name) const { return std::stoull(at(name)); }

Parsed<ParsedMediaPlaylist> parse_media_playlist(std::string_view text) {
  Parsed<ParsedMediaPlaylist> result;
  std::string error;
  auto lines = split_lines(text, error);
  if (!error.empty()) {
    result.error = error;
    return result;
  }
  if (lines.empty() || lines[0] != "#EXTM3U") {
    result.error = "first line is not #EXTM3U";
    return result;
  }
  ParsedMediaPlaylist p;
  std::set<std::string> seen_once;
  ParsedSegment pending;
  bool pending_tags = false;  // tags that need a following URI line
  bool have_extinf = false;
  bool have_byterange = false;
  bool have_target = false;
  std::optional<AttributeList> current_key, current_map;
  auto fail = [&](size_t line_no, const std::string& why) {
    result.error = "line " + std::to_string(line_no + 1) + ": " + why + " [" + std::string(lines[line_no]) + "]";
    return result;
  };
  static const std::set<std::string> once = {"EXT-X-VERSION", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE",
                                             "EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-PLAYLIST-TYPE",
                                             "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-SERVER-CONTROL", "EXT-X-PART-INF",
                                             "EXT-X-ENDLIST", "EXT-X-SKIP", "EXT-X-PRELOAD-HINT"};
  static const std::set<std::string> before_segments = {"EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE",
                                                        "EXT-X-SKIP", "EXT-X-TARGETDURATION", "EXT-X-VERSION"};
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) return fail(i, "blank line");
    if (line[0] != '#') {
      if (!have_extinf) return fail(i, "URI line without #EXTINF");
      pending.uri = std::string(line);
      pending.effective_key = current_key;
      pending.effective_map = current_map;
      p.segments.push_back(std::move(pending));
      pending = ParsedSegment();
      pending_tags = have_extinf = have_byterange = false;
      continue;
    }
    if (line.substr(0, 4) != "#EXT") return fail(i, "comment line");
    std::string name;
    std::string_view value;
    bool has_value;
    split_tag(line, name, value, has_value);
    if (once.count(name)) {
      if (seen_once.count(name)) return fail(i, "tag appears twice");
      seen_once.insert(name);
    }
    if (before_segments.count(name) && (!p.segments.empty() || pending_tags || !pending.parts.empty()))
      return fail(i, "tag must precede the first media segment");
    if (have_extinf && name != "EXT-X-BYTERANGE") return fail(i, "tag between #EXTINF and its URI");
    auto need_value = [&](bool want) { return has_value == want; };
    if (attribute_tags().count(name)) {
      if (!has_value) return fail(i, "missing attribute list");
      AttributeList a;
      const std::string why = parse_attributes(name, value, a);
      if (!why.empty()) return fail(i, why);
      if (name == "EXT-X-KEY") {
        const std::string& m = a.at("METHOD");
        if (m == "NONE") {
          if (a.values.size() != 1) return fail(i, "METHOD=NONE with other attributes");
          current_key.reset();
        } else if (m == "AES-128" || m == "SAMPLE-AES") {
          if (!a.has("URI")) return fail(i, "key without URI");
          current_key = a;
        } else {
          return fail(i, "unknown METHOD");
        }
        pending.key = a;
        pending_tags = true;
      } else if (name == "EXT-X-MAP") {
        if (a.has("BYTERANGE") && !parse_byterange(a.at("BYTERANGE"))) return fail(i, "bad map BYTERANGE");
        current_map = a;
        pending.map = a;
        pending_tags = true;
      } else if (name == "EXT-X-PART") {
        std::string why2;
        pending.parts.push_back(make_part(a, why2));
        if (!why2.empty()) return fail(i, why2);
      } else if (name == "EXT-X-PART-INF") {
        p.part_target = a.number("PART-TARGET");
      } else if (name == "EXT-X-SERVER-CONTROL") {
        for (const char* yes : {"CAN-BLOCK-RELOAD", "CAN-SKIP-DATERANGES"})
          if (a.has(yes) && a.at(yes) != "YES") return fail(i, std::string(yes) + " must be YES");
        p.server_control = a;
      } else if (name == "EXT-X-PRELOAD-HINT") {
        if (a.at("TYPE") != "PART" && a.at("TYPE") != "MAP") return fail(i, "bad hint TYPE");
        p.preload_hint = a;
      } else if (name == "EXT-X-RENDITION-REPORT") {
        p.rendition_reports.push_back(a);
      } else if (name == "EXT-X-SKIP") {
        p.skipped_segments = a.integer("SKIPPED-SEGMENTS");
      } else {
        return fail(i, "tag not allowed in a media playlist");
      }
      continue;
    }
    if (name == "EXTINF") {
      if (!has_value) return fail(i, "EXTINF without duration");
      const size_t comma = value.find(',');
      if (comma == std::string_view::npos) return fail(i, "EXTINF without comma");
      const std::string_view d = value.substr(0, comma);
      if (!is_decimal(d)) return fail(i, "bad EXTINF duration");
      pending.duration_text = std::string(d);
      pending.duration = std::strtod(pending.duration_text.c_str(), nullptr);
      have_extinf = true;
    } else if (name == "EXT-X-BYTERANGE") {
      if (!have_extinf || have_byterange) return fail(i, "EXT-X-BYTERANGE out of place");
      pending.byterange = parse_byterange(value);
      if (!pending.byterange) return fail(i, "bad EXT-X-BYTERANGE");
      have_byterange = true;
    } else if (name == "EXT-X-VERSION" || name == "EXT-X-TARGETDURATION" || name == "EXT-X-MEDIA-SEQUENCE" ||
               name == "EXT-X-DISCONTINUITY-SEQUENCE") {
      if (!has_value || !is_integer(value)) return fail(i, "bad integer");
      const uint64_t v = std::stoull(std::string(value));
      if (name == "EXT-X-VERSION") p.version = static_cast<int>(v);
      if (name == "EXT-X-TARGETDURATION") {
        p.target_duration = static_cast<uint32_t>(v);
        have_target = true;
      }
      if (name == "EXT-X-MEDIA-SEQUENCE") p.media_sequence = v;
      if (name == "EXT-X-DISCONTINUITY-SEQUENCE") p.discontinuity_sequence = v;
    } else if (name == "EXT-X-PLAYLIST-TYPE") {
      if (value != "EVENT" && value != "VOD") return fail(i, "bad playlist type");
      p.playlist_type = std::string(value);
    } else if (name == "EXT-X-PROGRAM-DATE-TIME") {
      if (!has_value) return fail(i, "missing date");
      pending.program_date_time = std::string(value);
      pending_tags = true;
    } else if (name == "EXT-X-DISCONTINUITY" || name == "EXT-X-INDEPENDENT-SEGMENTS" || name == "EXT-X-ENDLIST") {
      if (!need_value(false)) return fail(i, "tag takes no value");
      if (name == "EXT-X-DISCONTINUITY") {
        if (pending.discontinuity) return fail(i, "two discontinuities for one segment");
        pending.discontinuity = true;
        pending_tags = true;
      }
      if (name == "EXT-X-INDEPENDENT-SEGMENTS") p.independent_segments = true;
      if (name == "EXT-X-ENDLIST") p.endlist = true;
    } else {
      return fail(i, "unknown tag");
    }
  }
  if (have_extinf) {
    result.error = "#EXTINF at the end without a URI";
    return result;
  }
  if ((pending.discontinuity || pending.program_date_time || pending.key) && pending.parts.empty()) {
    result.error = "segment tags at the end without a segment or part";
    return result;
  }
  if (pending.map && pending.parts.empty()) {
    result.error = "EXT-X-MAP at the end without a segment or part";
    return result;
  }
  if (!have_target) {
    result.error = "no EXT-X-TARGETDURATION";
    return result;
  }
  p.open_parts = std::move(pending.parts);
  p.open_discontinuity = pending.discontinuity;
  p.open_program_date_time = pending.program_date_time;
  result.playlist = std::move(p);
  return result;
}

Parsed<ParsedMultivariantPlaylist> parse_multivariant_playlist(std::string_view text) {
  Parsed<ParsedMultivariantPlaylist> result;
  std::string error;
  auto lines = split_lines(text, error);
  if (!error.empty()) {
    result.error = error;
    return result;
  }
  if (lines.empty() || lines[0] != "#EXTM3U") {
    result.error = "first line is not #EXTM3U";
    return result;
  }
  ParsedMultivariantPlaylist p;
  std::optional<AttributeList> pending_variant;
  bool seen_version = false;
  auto fail = [&](size_t i, const std::string& why) {
    result.error = "line " + std::to_string(i + 1) + ": " + why + " [" + std::string(lines[i]) + "]";
    return result;
  };
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) return fail(i, "blank line");
    if (line[0] != '#') {
      if (!pending_variant) return fail(i, "URI line without EXT-X-STREAM-INF");
      p.variants.push_back({std::move(*pending_variant), std::string(line)});
      pending_variant.reset();
      continue;
    }
    if (pending_variant) return fail(i, "EXT-X-STREAM-INF not followed by its URI");
    std::string name;
    std::string_view value;
    bool has_value;
    split_tag(line, name, value, has_value);
    if (name == "EXT-X-VERSION") {
      if (seen_version || !is_integer(value)) return fail(i, "bad or repeated EXT-X-VERSION");
      seen_version = true;
      p.version = std::stoi(std::string(value));
    } else if (name == "EXT-X-INDEPENDENT-SEGMENTS") {
      if (has_value || p.independent_segments) return fail(i, "bad EXT-X-INDEPENDENT-SEGMENTS");
      p.independent_segments = true;
    } else if (name == "EXT-X-MEDIA" || name == "EXT-X-STREAM-INF") {
      AttributeList a;
      const std::string why = parse_attributes(name, value, a);
      if (!why.empty()) return fail(i, why);
      if (name == "EXT-X-MEDIA") {
        if (a.at("TYPE") != "AUDIO") return fail(i, "only TYPE=AUDIO expected");
        for (const char* yn : {"DEFAULT", "AUTOSELECT"})
          if (a.has(yn) && a.at(yn) != "YES" && a.at(yn) != "NO") return fail(i, std::string(yn) + " not YES/NO");
        if (a.has("DEFAULT") && a.at("DEFAULT") == "YES" && (!a.has("AUTOSELECT") || a.at("AUTOSELECT") != "YES"))
          return fail(i, "DEFAULT=YES requires AUTOSELECT=YES");
        for (const auto& m : p.media) {
          if (m.at("GROUP-ID") != a.at("GROUP-ID")) continue;
          if (m.at("NAME") == a.at("NAME")) return fail(i, "two renditions with one NAME in a group");
          if (a.has("DEFAULT") && a.at("DEFAULT") == "YES" && m.has("DEFAULT") && m.at("DEFAULT") == "YES")
            return fail(i, "two DEFAULT=YES renditions in a group");
        }
        p.media.push_back(a);
      } else {
        if (a.has("AUDIO")) {
          bool found = false;
          for (const auto& m : p.media) found = found || m.at("GROUP-ID") == a.at("AUDIO");
          if (!found) return fail(i, "AUDIO group without EXT-X-MEDIA (must precede)");
        }
        pending_variant = a;
      }
    } else {
      return fail(i, "unknown or misplaced tag");
    }
  }
  if (pending_variant) {
    result.error = "EXT-X-STREAM-INF at the end without URI";
    return result;
  }
  if (p.variants.empty()) {
    result.error = "no variants";
    return result;
  }
  result.playlist = std::move(p);
  return result;
}

namespace {

uint32_t round_half_up(double d) { return static_cast<uint32_t>(std::floor(d + 0.5)); }

int decimals_of(const std::string& s) {
  const size_t dot = s.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(s.size() - dot - 1);
}

}  // namespace

std::vector<std::string> check_media_rules(const ParsedMediaPlaylist& p) {
  std::vector<std::string> v;
  auto add = [&](std::string s) { v.push_back(std::move(s)); };
  bool any_part = !p.open_parts.empty(), any_byterange = false, any_map = false, any_iv = false;
  static const std::regex date(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  std::set<std::string> uris;
  for (const auto& s : p.segments) {
    if (round_half_up(s.duration) > p.target_duration)
      add("EXTINF " + s.duration_text + " rounds above EXT-X-TARGETDURATION " + std::to_string(p.target_duration));
    const int dec = decimals_of(s.duration_text);
    if (dec < 3 || dec > 5) add("EXTINF " + s.duration_text + " not written with 3-5 decimals");
    if (!uris.insert(s.uri).second) add("segment URI listed twice: " + s.uri);
    if (s.byterange) any_byterange = true;
    if (s.effective_map) {
      any_map = true;
      if (s.effective_map->has("BYTERANGE")) any_byterange = true;
    }
    if (s.key && s.key->has("IV")) any_iv = true;
    if (s.program_date_time && !std::regex_match(*s.program_date_time, date))
      add("bad EXT-X-PROGRAM-DATE-TIME " + *s.program_date_time);
    if (!s.parts.empty()) {
      any_part = true;
      double sum = 0;
      for (const auto& part : s.parts) sum += part.duration;
      if (std::fabs(sum - s.duration) > 1e-5 * double(s.parts.size() + 1))
        add("parts of " + s.uri + " sum to " + std::to_string(sum) + ", EXTINF says " + s.duration_text);
      if (p.independent_segments && !s.parts.front().independent)
        add("first part of " + s.uri + " is not INDEPENDENT=YES");
    }
  }
  if (p.independent_segments && !p.open_parts.empty() && !p.open_parts.front().independent &&
      p.segments.size() > 0)
    add("first part of the open segment is not INDEPENDENT=YES");
  auto check_parts = [&](const std::vector<ParsedPart>& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const ParsedPart& part = parts[i];
      if (part.byterange) any_byterange = true;
      if (p.part_target && part.duration > *p.part_target + 1e-9)
        add("part " + part.uri + " longer than PART-TARGET");
      // RFC 8216bis 4.4.4.9: at least 85 % of PART-TARGET, except independent parts and the
      // last part of a segment (the open segment's newest part may turn out to be its last).
      const bool last = i + 1 == parts.size();
      if (p.part_target && !part.independent && !last && part.duration < 0.85 * *p.part_target - 1e-9)
        add("part " + part.uri + " shorter than 85% of PART-TARGET");
    }
  };
  for (const auto& s : p.segments) check_parts(s.parts);
  check_parts(p.open_parts);
  if (any_part && !p.part_target) add("parts without EXT-X-PART-INF");
  if (p.part_target) {
    if (!p.server_control) {
      add("EXT-X-PART-INF without EXT-X-SERVER-CONTROL");
    } else {
      const auto& sc = *p.server_control;
      if (!sc.has("CAN-BLOCK-RELOAD")) add("LL-HLS without CAN-BLOCK-RELOAD=YES");
      if (!sc.has("PART-HOLD-BACK")) {
        add("LL-HLS without PART-HOLD-BACK");
      } else if (sc.number("PART-HOLD-BACK") + 1e-9 < 3 * *p.part_target) {
        add("PART-HOLD-BACK below 3 x PART-TARGET");
      }
    }
  }
  if (p.server_control) {
    const auto& sc = *p.server_control;
    if (sc.has("HOLD-BACK") && sc.number("HOLD-BACK") + 1e-9 < 3.0 * p.target_duration)
      add("HOLD-BACK below 3 x target duration");
    if (sc.has("CAN-SKIP-UNTIL") && sc.number("CAN-SKIP-UNTIL") + 1e-9 < 6.0 * p.target_duration)
      add("CAN-SKIP-UNTIL below 6 x target duration");
  }
  if (p.skipped_segments && (!p.server_control || !p.server_control->has("CAN-SKIP-UNTIL")))
    add("EXT-X-SKIP without CAN-SKIP-UNTIL");
  if (p.preload_hint && !p.part_target) add("preload hint without parts");
  if (p.preload_hint && p.endlist) add("preload hint in an ended playlist");
  if (!p.rendition_reports.empty() && !p.part_target) add("rendition reports without parts");
  if (p.playlist_type == std::optional<std::string>("VOD") && !p.endlist) add("VOD playlist without ENDLIST");
  // RFC 8216 6.2.2: a live playlist that has dropped segments lists at least 3 target durations.
  if (!p.endlist && !p.playlist_type && p.media_sequence > 0) {
    double listed = 0;
    for (const auto& seg : p.segments) listed += seg.duration;
    if (listed + 1e-9 < 3.0 * p.target_duration && !p.skipped_segments)
      add("segments were removed but less than three target durations are listed");
  }
  if (any_byterange && p.version < 4) add("byte ranges need EXT-X-VERSION >= 4");
  if (any_iv && p.version < 2) add("IV needs EXT-X-VERSION >= 2");
  if (any_map && p.version < 6) add("EXT-X-MAP needs EXT-X-VERSION >= 6");
  if (p.skipped_segments && p.version < 9) add("EXT-X-SKIP needs EXT-X-VERSION >= 9");
  if (p.version < 3) add("decimal EXTINF needs EXT-X-VERSION >= 3");
  return v;
}

std::vector<std::string> check_update_rules(const ParsedMediaPlaylist& a, const ParsedMediaPlaylist& b) {
  std::vector<std::string> v;
  auto add = [&](std::string s) { v.push_back(std::move(s)); };
  if (a.target_duration != b.target_duration) add("EXT-X-TARGETDURATION changed");
  if (a.part_target != b.part_target) add("PART-TARGET changed");
  if (b.media_sequence < a.media_sequence) add("media sequence went backwards");
  if (a.endlist && !b.endlist) add("ENDLIST disappeared");

  // Discontinuity sequence number of every listed segment (RFC 8216 6.2.2 rule: must not change).
  auto dsn = [](const ParsedMediaPlaylist& p) {
    std::vector<uint64_t> out;
    uint64_t n = p.discontinuity_sequence;
    for (const auto& s : p.segments) {
      if (s.discontinuity) ++n;
      out.push_back(n);
    }
    return out;
  };
  const auto dsn_a = dsn(a), dsn_b = dsn(b);
  const uint64_t b_first = b.media_sequence + b.skipped_segments.value_or(0);
  for (size_t j = 0; j < b.segments.size(); ++j) {
    const uint64_t msn = b_first + j;
    if (msn < a.media_sequence + a.skipped_segments.value_or(0)) continue;
    const size_t i = msn - a.media_sequence - a.skipped_segments.value_or(0);
    if (i >= a.segments.size()) break;
    const auto& sa = a.segments[i];
    const auto& sb = b.segments[j];
    const std::string m = "msn " + std::to_string(msn) + ": ";
    if (sa.uri != sb.uri) add(m + "URI changed " + sa.uri + " -> " + sb.uri);
    if (sa.duration_text != sb.duration_text) add(m + "duration changed");
    if (sa.discontinuity != sb.discontinuity) add(m + "discontinuity flag changed");
    if (b.skipped_segments.value_or(0) == 0 && a.skipped_segments.value_or(0) == 0 && dsn_a[i] != dsn_b[j])
      add(m + "discontinuity sequence number changed");
    if ((sa.effective_key.has_value() != sb.effective_key.has_value()) ||
        (sa.effective_key && sa.effective_key->values != sb.effective_key->values))
      add(m + "key changed");
    if ((sa.effective_map.has_value() != sb.effective_map.has_value()) ||
        (sa.effective_map && sa.effective_map->values != sb.effective_map->values))
      add(m + "map changed");
  }
  // Media sequence moves by exactly the number of segments that left.
  if (!b.segments.empty() && !a.segments.empty() && !a.skipped_segments && !b.skipped_segments) {
    size_t j = 0;
    while (j < a.segments.size() && a.segments[j].uri != b.segments[0].uri) ++j;
    if (j < a.segments.size()) {
      if (b.media_sequence != a.media_sequence + j)
        add("media sequence moved by " + std::to_string(b.media_sequence - a.media_sequence) + " but " +
            std::to_string(j) + " segments left");
    } else if (b.media_sequence < a.media_sequence + a.segments.size()) {
      add("all segments replaced but media sequence moved too little");
    }
  }
  // Parts of a's open segment reappear in the same order, and the preload hint was the next part.
  const uint64_t open_msn_a = a.media_sequence + a.skipped_segments.value_or(0) + a.segments.size();
  const std::vector<ParsedPart>* b_parts = nullptr;
  const uint64_t b_end = b_first + b.segments.size();
  if (open_msn_a < b_end) {
    if (open_msn_a >= b_first) b_parts = &b.segments[open_msn_a - b_first].parts;
  } else if (open_msn_a == b_end) {
    b_parts = &b.open_parts;
  }
  // Tags written ahead of the open segment's parts must not change when it completes.
  if (!a.open_parts.empty() && open_msn_a >= b_first && open_msn_a < b_end) {
    const ParsedSegment& done = b.segments[open_msn_a - b_first];
    if (done.discontinuity != a.open_discontinuity) add("open segment's discontinuity changed on completion");
    if (a.open_program_date_time && done.program_date_time != a.open_program_date_time)
      add("open segment's program date time changed on completion");
  }
  if (!a.open_parts.empty() && open_msn_a == b_end && !b.open_parts.empty() &&
      a.open_discontinuity != b.open_discontinuity)
    add("open segment's discontinuity changed");
  if (b_parts && !b_parts->empty()) {
    for (size_t k = 0; k < a.open_parts.size() && k < b_parts->size(); ++k)
      if (a.open_parts[k].uri != (*b_parts)[k].uri || a.open_parts[k].duration != (*b_parts)[k].duration)
        add("open part " + std::to_string(k) + " changed");
    if (a.preload_hint && b_parts->size() > a.open_parts.size()) {
      const ParsedPart& next = (*b_parts)[a.open_parts.size()];
      if (next.uri != a.preload_hint->at("URI")) add("preload hint " + a.preload_hint->at("URI") + " but next part is " + next.uri);
      if (a.preload_hint->has("BYTERANGE-START") &&
          (!next.byterange || next.byterange->offset != a.preload_hint->integer("BYTERANGE-START")))
        add("preload hint byte range start does not match the next part");
    }
  }
  if (a.preload_hint && !a.open_parts.empty() && open_msn_a < b_end && b_parts && b_parts->size() == a.open_parts.size() &&
      open_msn_a + 1 < b_end + 1) {
    // The segment closed right after a's last part: the hint must be the next segment's first part.
    const uint64_t next_msn = open_msn_a + 1;
    const std::vector<ParsedPart>* nb = nullptr;
    if (next_msn < b_end && next_msn >= b_first)
      nb = &b.segments[next_msn - b_first].parts;
    else if (next_msn == b_end)
      nb = &b.open_parts;
    if (nb && !nb->empty() && nb->front().uri != a.preload_hint->at("URI"))
      add("preload hint " + a.preload_hint->at("URI") + " but next part is " + nb->front().uri);
  }
  return v;
}

std::vector<std::string> check_rendition_report(const AttributeList& report, const ParsedMediaPlaylist& other) {
  std::vector<std::string> v;
  const uint64_t first = other.media_sequence + other.skipped_segments.value_or(0);
  uint64_t last_msn;
  std::optional<uint64_t> last_part;
  if (!other.open_parts.empty()) {
    last_msn = first + other.segments.size();
    last_part = other.open_parts.size() - 1;
  } else if (!other.segments.empty()) {
    last_msn = first + other.segments.size() - 1;
    if (!other.segments.back().parts.empty()) last_part = other.segments.back().parts.size() - 1;
  } else {
    return {"report on a playlist without segments or parts"};
  }
  if (report.integer("LAST-MSN") != last_msn)
    v.push_back("LAST-MSN " + report.at("LAST-MSN") + ", playlist's last is " + std::to_string(last_msn));
  if (report.has("LAST-PART") != last_part.has_value() ||
      (last_part && report.integer("LAST-PART") != *last_part))
    v.push_back("LAST-PART " + (report.has("LAST-PART") ? report.at("LAST-PART") : std::string("absent")) +
                ", playlist's last is " + (last_part ? std::to_string(*last_part) : std::string("none")));
  return v;
}

}  // namespace live::hls::test
