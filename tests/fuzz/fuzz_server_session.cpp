// Fuzz target: a whole server connection. A fixed plain handshake comes first, then the fuzz
// input as the client's chunk stream; publish/play requests are accepted or refused by the
// input's first byte, and a player gets some media back.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rtmp/server_session.h"

using namespace live::rtmp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::span<const uint8_t> input(data + 1, size - 1);

  ServerSessionConfig config;
  config.limits.max_message_size = 256 * 1024;
  config.limits.max_chunk_streams = 16;
  config.limits.max_incoming_chunk_size = 64 * 1024;
  config.limits.max_amf_depth = 16;
  config.limits.max_pending_output = 512 * 1024;
  config.limits.max_held_media = 256 * 1024;
  ServerSession session(config);

  std::vector<uint8_t> handshake(1 + 2 * 1536, 0);
  handshake[0] = 3;
  if (!session.feed(handshake)) __builtin_trap();

  const size_t piece = 1 + size_t(control >> 2) * (control & 0x80 ? 997 : 13);
  const uint8_t media[] = {0xaf, 0x01, 0x21, 0x00};
  for (size_t pos = 0; pos < input.size(); pos += piece) {
    auto r = session.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
    SessionEvent e;
    while (session.next_event(e)) {
      if (e.kind == SessionEventKind::publish_requested) {
        if (control & 1) session.accept_publish();
        else session.reject_publish("NetStream.Publish.BadName", "refused");
      } else if (e.kind == SessionEventKind::play_requested) {
        if (control & 2) session.accept_play();
        else session.reject_play("NetStream.Play.StreamNotFound", "refused");
      }
    }
    session.send_media(8, uint32_t(pos), media);
    session.consume_output(session.pending_output().size() / 2);
    if (!r) break;
  }
  session.close("NetStream.Publish.Unpublish", "fuzz end");
  session.consume_output(session.pending_output().size());
  return 0;
}
