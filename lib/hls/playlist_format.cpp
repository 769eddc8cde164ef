#include "hls/playlist_format.h"

#include <cmath>
#include <cstdio>

namespace live::hls {

std::string format_decimal(double value, int decimals) {
  if (!(value > 0)) value = 0;  // also catches NaN
  uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  // Integer arithmetic after one rounding: no locale, no printf rounding surprises.
  const auto scaled = static_cast<uint64_t>(std::floor(value * double(scale) + 0.5));
  std::string out = std::to_string(scaled / scale);
  if (decimals > 0) {
    std::string frac = std::to_string(scaled % scale);
    out += '.';
    out.append(size_t(decimals) - frac.size(), '0');
    out += frac;
  }
  return out;
}

// Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
static void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::string format_date_time_ms(int64_t ms) {
  int64_t days = ms / 86'400'000;
  int64_t rem = ms % 86'400'000;
  if (rem < 0) {
    rem += 86'400'000;
    --days;
  }
  int64_t year;
  unsigned month, day;
  civil_from_days(days, year, month, day);
  const int64_t hh = rem / 3'600'000, mm = rem / 60'000 % 60, ss = rem / 1000 % 60, mss = rem % 1000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(year), month, day, static_cast<long long>(hh),
                static_cast<long long>(mm), static_cast<long long>(ss), static_cast<long long>(mss));
  return buf;
}

uint32_t round_seconds(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<uint32_t>(std::floor(seconds + 0.5));
}

std::string quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value)
    if (c != '"' && c != '\r' && c != '\n') out += c;
  out += '"';
  return out;
}

}  // namespace live::hls
