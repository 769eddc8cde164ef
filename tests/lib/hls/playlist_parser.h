// A small strict HLS playlist parser for tests: it knows every tag and attribute our writer may
// produce, checks attribute syntax and types (RFC 8216 4.2), and rejects anything else
// (unknown tags, unknown or duplicate attributes, blank lines, comments, malformed values),
// so a test that parses our output also checks its syntax.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace live::hls::test {

struct AttributeList {
  std::map<std::string, std::string> values;  // quoted strings are stored without the quotes
  bool has(const std::string& name) const { return values.count(name) > 0; }
  const std::string& at(const std::string& name) const { return values.at(name); }
  double number(const std::string& name) const;
  uint64_t integer(const std::string& name) const;
};

struct ParsedByteRange {
  uint64_t length = 0;
  std::optional<uint64_t> offset;
};

struct ParsedPart {
  double duration = 0;
  std::string uri;
  bool independent = false;
  std::optional<ParsedByteRange> byterange;
};

struct ParsedSegment {
  double duration = 0;
  std::string duration_text;  // exactly as written after #EXTINF:
  std::string uri;
  std::optional<ParsedByteRange> byterange;
  bool discontinuity = false;
  std::optional<std::string> program_date_time;
  std::optional<AttributeList> key;  // EXT-X-KEY written right before this segment
  std::optional<AttributeList> map;  // EXT-X-MAP written right before this segment
  std::optional<AttributeList> effective_key;  // the key in effect for this segment
  std::optional<AttributeList> effective_map;
  std::vector<ParsedPart> parts;
};

struct ParsedMediaPlaylist {
  int version = 1;
  uint32_t target_duration = 0;
  uint64_t media_sequence = 0;
  uint64_t discontinuity_sequence = 0;
  bool independent_segments = false;
  std::optional<std::string> playlist_type;
  bool endlist = false;
  std::optional<AttributeList> server_control;
  std::optional<double> part_target;
  std::optional<uint64_t> skipped_segments;
  std::vector<ParsedSegment> segments;
  std::vector<ParsedPart> open_parts;  // parts after the last complete segment
  bool open_discontinuity = false;     // EXT-X-DISCONTINUITY before the open parts
  std::optional<std::string> open_program_date_time;
  std::optional<AttributeList> preload_hint;
  std::vector<AttributeList> rendition_reports;
};

struct ParsedVariant {
  AttributeList attributes;
  std::string uri;
};

struct ParsedMultivariantPlaylist {
  int version = 1;
  bool independent_segments = false;
  std::vector<AttributeList> media;
  std::vector<ParsedVariant> variants;
};

// Parse or give a one-line reason (with the line number) why the text is not acceptable.
struct ParseError {
  std::string message;
};

template <typename T>
struct Parsed {
  std::optional<T> playlist;
  std::string error;
  bool ok() const { return playlist.has_value(); }
};

Parsed<ParsedMediaPlaylist> parse_media_playlist(std::string_view text);
Parsed<ParsedMultivariantPlaylist> parse_multivariant_playlist(std::string_view text);

// Rules of RFC 8216 / 8216bis a single media playlist must obey; returns the violations.
std::vector<std::string> check_media_rules(const ParsedMediaPlaylist& p);

// Rules between two successive versions of the same media playlist (earlier, later).
std::vector<std::string> check_update_rules(const ParsedMediaPlaylist& earlier, const ParsedMediaPlaylist& later);

// An EXT-X-RENDITION-REPORT against the playlist it reports on (rendered at the same moment):
// LAST-MSN is the msn of its last (partial) segment, LAST-PART the index of its last part.
std::vector<std::string> check_rendition_report(const AttributeList& report, const ParsedMediaPlaylist& other);

}  // namespace live::hls::test
