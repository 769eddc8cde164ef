#include "flv_samples.h"

#include <fstream>
#include <iterator>

namespace live::mp4::test {

bool read_flv(const std::string& path, FlvStreams& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  const std::vector<uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (d.size() < 13 || d[0] != 'F' || d[1] != 'L' || d[2] != 'V') {
    error = "not an FLV file";
    return false;
  }
  size_t pos = 13;  // header (9) + PreviousTagSize0 (4)
  while (pos + 11 <= d.size()) {
    const uint8_t type = d[pos] & 0x1f;
    const size_t size = (size_t(d[pos + 1]) << 16) | (size_t(d[pos + 2]) << 8) | d[pos + 3];
    const int64_t ts = (int64_t(d[pos + 7]) << 24) | (int64_t(d[pos + 4]) << 16) | (int64_t(d[pos + 5]) << 8) | d[pos + 6];
    if (pos + 11 + size + 4 > d.size()) {
      error = "truncated tag";
      return false;
    }
    const uint8_t* body = d.data() + pos + 11;
    if (type == 9 && size >= 5 && (body[0] & 0x80)) {
      // Enhanced RTMP ExVideoTagHeader: frame type, packet type, FourCC.
      const int frame_type = (body[0] >> 4) & 7, packet_type = body[0] & 0x0f;
      const std::string fourcc(body + 1, body + 5);
      if (fourcc != "hvc1" && fourcc != "av01") {
        error = "enhanced video is not hvc1 or av01";
        return false;
      }
      if (packet_type == 0) {
        (fourcc == "hvc1" ? out.hevc_config : out.av1_config).assign(body + 5, body + size);
      } else if (packet_type == 1 && fourcc == "av01") {  // AV1 CodedFrames carry no composition time
        out.video.push_back({ts, 0, frame_type == 1, std::vector<uint8_t>(body + 5, body + size)});
      } else if (packet_type == 1 && size >= 8) {  // CodedFrames: with composition time
        int32_t cts = (int32_t(body[5]) << 16) | (int32_t(body[6]) << 8) | body[7];
        if (cts & 0x800000) cts -= 0x1000000;
        out.video.push_back({ts, cts, frame_type == 1, std::vector<uint8_t>(body + 8, body + size)});
      } else if (packet_type == 3) {  // CodedFramesX: composition time 0
        out.video.push_back({ts, 0, frame_type == 1, std::vector<uint8_t>(body + 5, body + size)});
      }
    } else if (type == 9 && size >= 5) {
      if ((body[0] & 0x0f) != 7) {
        error = "video is not H.264";
        return false;
      }
      int32_t cts = (int32_t(body[2]) << 16) | (int32_t(body[3]) << 8) | body[4];
      if (cts & 0x800000) cts -= 0x1000000;
      if (body[1] == 0) {
        out.avc_config.assign(body + 5, body + size);
      } else if (body[1] == 1) {
        out.video.push_back({ts, cts, (body[0] >> 4) == 1, std::vector<uint8_t>(body + 5, body + size)});
      }
    } else if (type == 8 && size >= 2) {
      if ((body[0] >> 4) != 10) {
        error = "audio is not AAC";
        return false;
      }
      if (body[1] == 0)
        out.aac_config.assign(body + 2, body + size);
      else
        out.audio.push_back({ts, 0, true, std::vector<uint8_t>(body + 2, body + size)});
    }
    pos += 11 + size + 4;
  }
  return true;
}

}  // namespace live::mp4::test
