// Number, date and attribute formatting shared by the playlist writers. Locale-independent
// (a GStreamer application may have called setlocale) and deterministic.
#pragma once

#include <cstdint>
#include <string>

namespace live::hls {

// Decimal-floating-point with exactly `decimals` digits after the point, rounded half up:
// format_decimal(2.0, 5) == "2.00000", format_decimal(29.97, 3) == "29.970". Negative -> 0.
std::string format_decimal(double value, int decimals);

// EXT-X-PROGRAM-DATE-TIME value: ISO 8601 / RFC 3339 UTC with milliseconds,
// e.g. "2026-11-21T19:04:10.123Z".
std::string format_date_time_ms(int64_t ms_since_epoch);

// Rounds a duration in seconds to the nearest integer, half up (how EXTINF is compared with
// EXT-X-TARGETDURATION).
uint32_t round_seconds(double seconds);

// Quoted-string attribute value: the spec forbids '"', CR and LF inside; those are dropped.
std::string quoted(const std::string& value);

}  // namespace live::hls
