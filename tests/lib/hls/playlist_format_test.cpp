#include "hls/playlist_format.h"

#include <gtest/gtest.h>

namespace live::hls {
namespace {

TEST(PlaylistFormat, Decimals) {
  EXPECT_EQ(format_decimal(2.0, 5), "2.00000");
  EXPECT_EQ(format_decimal(1.0 / 3.0, 5), "0.33333");
  EXPECT_EQ(format_decimal(2.0 / 3.0, 5), "0.66667");
  EXPECT_EQ(format_decimal(29.97002997, 3), "29.970");
  EXPECT_EQ(format_decimal(0.0000049, 5), "0.00000");
  EXPECT_EQ(format_decimal(0.000005, 5), "0.00001");
  EXPECT_EQ(format_decimal(12345.6, 0), "12346");
  EXPECT_EQ(format_decimal(-1.0, 3), "0.000");
  EXPECT_EQ(format_decimal(0.1, 3), "0.100");
  EXPECT_EQ(format_decimal(10.04, 5), "10.04000");
}

TEST(PlaylistFormat, DateTime) {
  EXPECT_EQ(format_date_time_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_date_time_ms(1'763'751'850'123), "2025-11-21T19:04:10.123Z");
  EXPECT_EQ(format_date_time_ms(951'782'400'000), "2000-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(format_date_time_ms(4'102'444'799'999), "2099-12-31T23:59:59.999Z");
  EXPECT_EQ(format_date_time_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(PlaylistFormat, RoundingAndQuoting) {
  EXPECT_EQ(round_seconds(2.49999), 2u);
  EXPECT_EQ(round_seconds(2.5), 3u);
  EXPECT_EQ(round_seconds(0), 0u);
  EXPECT_EQ(quoted("a\"b\nc"), "\"abc\"");
}

}  // namespace
}  // namespace live::hls
