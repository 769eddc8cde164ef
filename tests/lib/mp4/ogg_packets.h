// Reads the packets of the first logical stream of an Ogg file (RFC 3533) with their granule
// positions: enough to take Opus packets and the OpusHead out of tests/data. Test helper only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace live::mp4::test {

struct OggPacket {
  std::vector<uint8_t> data;
  int64_t granule = -1;  // granule position of the page on which the packet ends (-1: not last on page)
};

bool read_ogg(const std::string& path, std::vector<OggPacket>& out, std::string& error);

}  // namespace live::mp4::test
