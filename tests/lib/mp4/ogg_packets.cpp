#include "ogg_packets.h"

#include <fstream>
#include <iterator>

namespace live::mp4::test {

bool read_ogg(const std::string& path, std::vector<OggPacket>& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  const std::vector<uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  std::vector<uint8_t> packet;
  while (pos < d.size()) {
    if (d.size() - pos < 27 || d[pos] != 'O' || d[pos + 1] != 'g' || d[pos + 2] != 'g' || d[pos + 3] != 'S') {
      error = "bad Ogg page at " + std::to_string(pos);
      return false;
    }
    int64_t granule = 0;
    for (int i = 7; i >= 0; --i) granule = (granule << 8) | d[pos + 6 + size_t(i)];
    const size_t segments = d[pos + 26];
    if (d.size() - pos < 27 + segments) {
      error = "truncated segment table";
      return false;
    }
    size_t body = pos + 27 + segments;
    for (size_t s = 0; s < segments; ++s) {
      const size_t lace = d[pos + 27 + s];
      if (body + lace > d.size()) {
        error = "truncated page body";
        return false;
      }
      packet.insert(packet.end(), d.begin() + long(body), d.begin() + long(body + lace));
      body += lace;
      if (lace < 255) {  // packet ends here
        out.push_back({std::move(packet), -1});
        packet.clear();
      }
    }
    if (!out.empty()) out.back().granule = granule;
    pos = body;
  }
  return true;
}

}  // namespace live::mp4::test
