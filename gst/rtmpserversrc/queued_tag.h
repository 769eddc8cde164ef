// What rtmpserversrc holds for its streaming thread: the published messages as FLV tags, and
// the rule for dropping one when downstream does not keep up.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "relay/relay_message.h"

namespace live::gst {

struct QueuedTag {
  uint8_t type = 0;
  uint32_t timestamp = 0;  // the publisher's, milliseconds
  uint64_t publish_serial = 0;
  std::vector<uint8_t> payload;
};

// Removes the oldest audio/video frame, never codec configuration (sequence headers) or
// metadata: without them nothing after the gap could be decoded. Returns the bytes removed
// (0: nothing droppable).
inline size_t drop_oldest_frame(std::deque<QueuedTag>& queue) {
  for (auto it = queue.begin(); it != queue.end(); ++it) {
    if (it->type == 18 || relay::classify_tag(it->type, it->payload).is_config()) continue;
    const size_t size = it->payload.size();
    queue.erase(it);
    return size;
  }
  return 0;
}

}  // namespace live::gst
