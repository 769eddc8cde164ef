// Fuzz target: a whole publishing client connection. A fixed plain S0 S1 S2 comes first, then
// the fuzz input as the server's chunk stream. The input's first byte picks the piece size,
// the handshake mode and the transaction numbering; once publishing, media goes out (a
// metadata message, a video frame larger than the chunk size, audio) after every piece.
// Traps on broken promises: publishing() after rejected/closed, media accepted while not
// publishing, media taking the queue over its limit, events before handshake_done.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rtmp/client_session.h"

using namespace live::rtmp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::span<const uint8_t> input(data + 1, size - 1);

  ClientSessionConfig config;
  config.app = "live";
  config.tc_url = "rtmp://127.0.0.1/live";
  config.stream_name = "key";
  config.handshake_mode = control & 1 ? HandshakeMode::plain : HandshakeMode::digest;
  config.number_every_command = !(control & 2);
  config.limits.max_message_size = 256 * 1024;
  config.limits.max_chunk_streams = 16;
  config.limits.max_incoming_chunk_size = 64 * 1024;
  config.limits.max_amf_depth = 16;
  config.limits.max_pending_output = 256 * 1024;
  ClientSession session(config);
  session.start();

  std::vector<uint8_t> handshake(1 + 2 * 1536, 0);
  handshake[0] = 3;
  if (!session.feed(handshake)) __builtin_trap();

  static const uint8_t metadata[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x05};
  static const uint8_t audio[] = {0xaf, 0x01, 0x21, 0x00};
  std::vector<uint8_t> video(6000, 0x5a);
  video[0] = 0x17;

  const size_t piece = 1 + size_t(control >> 2) * (control & 0x80 ? 997 : 13);
  bool handshake_seen = false, ended = false;
  uint32_t ts = 0;
  for (size_t pos = 0; pos < input.size(); pos += piece) {
    auto r = session.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
    ClientEvent e;
    while (session.next_event(e)) {
      if (e.kind == ClientEventKind::handshake_done) handshake_seen = true;
      else if (!handshake_seen) __builtin_trap();
      if (e.kind == ClientEventKind::rejected || e.kind == ClientEventKind::closed) ended = true;
    }
    if (ended && session.publishing()) __builtin_trap();
    const bool publishing = session.publishing();
    for (int i = 0; i < 3; ++i) {
      const bool sent = i == 0   ? session.send_media(18, ts, metadata)
                        : i == 1 ? session.send_media(9, ts, video)
                                 : session.send_media(8, ts + 1, audio);
      if (sent && !publishing) __builtin_trap();
      if (sent && session.pending_output_size() > config.limits.max_pending_output) __builtin_trap();
    }
    ts += uint32_t(pos) * 4099;  // crosses 0xFFFFFF and wraps on long inputs
    if (session.pending_output().size() != session.pending_output_size()) __builtin_trap();
    session.consume_output(session.pending_output_size() / 2);
    if (!r) break;
  }
  session.unpublish();
  if (session.publishing()) __builtin_trap();
  session.consume_output(session.pending_output_size());
  return 0;
}
