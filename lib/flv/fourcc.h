// FourCC codes of Enhanced RTMP (E-RTMP v1/v2): big-endian, as they appear on the wire.
#pragma once

#include <cstdint>
#include <string>

namespace live::flv {

constexpr uint32_t make_fourcc(char a, char b, char c, char d) {
  return (uint32_t(uint8_t(a)) << 24) | (uint32_t(uint8_t(b)) << 16) | (uint32_t(uint8_t(c)) << 8) | uint8_t(d);
}

namespace fourcc {
inline constexpr uint32_t avc1 = make_fourcc('a', 'v', 'c', '1');
inline constexpr uint32_t hvc1 = make_fourcc('h', 'v', 'c', '1');
inline constexpr uint32_t av01 = make_fourcc('a', 'v', '0', '1');
inline constexpr uint32_t vp09 = make_fourcc('v', 'p', '0', '9');
inline constexpr uint32_t vp08 = make_fourcc('v', 'p', '0', '8');
inline constexpr uint32_t mp4a = make_fourcc('m', 'p', '4', 'a');
inline constexpr uint32_t opus = make_fourcc('O', 'p', 'u', 's');
inline constexpr uint32_t mp3 = make_fourcc('.', 'm', 'p', '3');
inline constexpr uint32_t ac3 = make_fourcc('a', 'c', '-', '3');
inline constexpr uint32_t eac3 = make_fourcc('e', 'c', '-', '3');
inline constexpr uint32_t flac = make_fourcc('f', 'L', 'a', 'C');
}  // namespace fourcc

// Printable form for logs ("hvc1"); non-printable bytes become '?'.
inline std::string fourcc_to_string(uint32_t code) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    char c = char(code >> (24 - 8 * i));
    if (c >= 0x20 && c < 0x7F) s[i] = c;
  }
  return s;
}

}  // namespace live::flv
