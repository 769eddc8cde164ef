// Fuzz target: AMF0 decoder. Whatever decodes must encode and decode to the same values.
#include <cstddef>
#include <cstdint>
#include <span>

#include "rtmp/amf0.h"
#include "rtmp/command.h"

using namespace live::rtmp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  auto values = amf0_decode_all(input, 16);
  if (values) {
    const auto bytes = amf0_encode_all(values.value());
    auto again = amf0_decode_all(bytes, 16);
    if (!again || again.value() != values.value()) __builtin_trap();
  }
  auto command = decode_command(input, 16);
  (void)command;
  return 0;
}
