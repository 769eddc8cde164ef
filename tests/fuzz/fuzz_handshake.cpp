// Fuzz target: both handshake roles over arbitrary server/client bytes, fed in pieces.
#include <cstddef>
#include <cstdint>
#include <span>

#include "rtmp/handshake.h"

using namespace live::rtmp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 251;  // the first byte picks how the rest is split
  const std::span<const uint8_t> input(data + 1, size - 1);

  HandshakeResponder responder(size);
  size_t consumed = 0;
  for (size_t pos = 0; pos < input.size() && !responder.done(); pos += piece) {
    auto used = responder.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
    if (!used) break;
    consumed += used.value();
  }
  if (responder.done() && consumed != 1 + 2 * handshake_block_size) __builtin_trap();
  if (!responder.output().empty() && responder.output().size() != 1 + 2 * handshake_block_size) __builtin_trap();

  for (auto mode : {HandshakeMode::plain, HandshakeMode::digest}) {
    HandshakeInitiator initiator(mode);
    initiator.set_strict(data[0] & 1);
    initiator.start();
    for (size_t pos = 0; pos < input.size() && !initiator.done(); pos += piece) {
      if (!initiator.feed(input.subspan(pos, std::min(piece, input.size() - pos)))) break;
    }
  }
  return 0;
}
