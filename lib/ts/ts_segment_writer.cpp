#include "ts/ts_segment_writer.h"

#include <algorithm>
#include <utility>

namespace live::ts {

namespace {
constexpr size_t kPacketSize = 188;
constexpr uint64_t kTimestampMask = (uint64_t(1) << 33) - 1;

void put_timestamp(std::vector<uint8_t>& v, uint8_t prefix, uint64_t ts) {
  ts &= kTimestampMask;
  v.push_back(uint8_t((prefix << 4) | (((ts >> 30) & 7) << 1) | 1));
  v.push_back(uint8_t(ts >> 22));
  v.push_back(uint8_t((((ts >> 15) & 0x7f) << 1) | 1));
  v.push_back(uint8_t(ts >> 7));
  v.push_back(uint8_t(((ts & 0x7f) << 1) | 1));
}
}  // namespace

uint32_t mpeg2_crc32(std::span<const uint8_t> data) {
  uint32_t crc = 0xffffffffu;
  for (uint8_t b : data) {
    crc ^= uint32_t(b) << 24;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
  }
  return crc;
}

void TsSegmentWriter::write_section(uint16_t pid, uint8_t& cc, std::span<const uint8_t> section) {
  uint8_t pkt[kPacketSize];
  std::fill(std::begin(pkt), std::end(pkt), 0xff);
  pkt[0] = 0x47;
  pkt[1] = uint8_t(0x40 | (pid >> 8));
  pkt[2] = uint8_t(pid);
  pkt[3] = uint8_t(0x10 | (cc & 0x0f));
  cc = (cc + 1) & 0x0f;
  pkt[4] = 0;  // pointer_field
  std::copy(section.begin(), section.end(), pkt + 5);
  uint32_t crc = mpeg2_crc32(section);
  uint8_t* c = pkt + 5 + section.size();
  c[0] = uint8_t(crc >> 24); c[1] = uint8_t(crc >> 16); c[2] = uint8_t(crc >> 8); c[3] = uint8_t(crc);
  out_.insert(out_.end(), pkt, pkt + kPacketSize);
}

void TsSegmentWriter::begin_segment() {
  const uint8_t pat[] = {0x00, 0xb0, 13, 0x00, 0x01, 0xc1, 0x00, 0x00,
                         0x00, 0x01, uint8_t(0xe0 | (kPmtPid >> 8)), uint8_t(kPmtPid & 0xff)};
  write_section(0, pat_cc_, pat);

  std::vector<uint8_t> pmt = {0x02, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00,
                              uint8_t(0xe0 | (kVideoPid >> 8)), uint8_t(kVideoPid & 0xff), 0xf0, 0x00};
  auto add_stream = [&](uint8_t type, uint16_t pid) {
    pmt.insert(pmt.end(), {type, uint8_t(0xe0 | (pid >> 8)), uint8_t(pid & 0xff), 0xf0, 0x00});
  };
  add_stream(codec_ == VideoCodec::h264 ? 0x1b : 0x24, kVideoPid);
  if (has_audio_) add_stream(0x0f, kAudioPid);
  pmt[2] = uint8_t(pmt.size() - 3 + 4);  // section_length counts from after it, CRC included
  write_section(kPmtPid, pmt_cc_, pmt);
}

void TsSegmentWriter::write_pes(uint16_t pid, uint8_t& cc, std::span<const uint8_t> pes,
                                bool random_access, bool with_pcr, uint64_t pcr90) {
  size_t pos = 0;
  bool first = true;
  while (pos < pes.size()) {
    uint8_t pkt[kPacketSize];
    size_t remaining = pes.size() - pos;
    // Adaptation field content (after its length byte) that this packet must carry.
    std::vector<uint8_t> af;
    if (first && (random_access || with_pcr)) {
      af.push_back(uint8_t((random_access ? 0x40 : 0) | (with_pcr ? 0x10 : 0)));
      if (with_pcr) {
        uint64_t base = pcr90 & kTimestampMask;
        af.insert(af.end(), {uint8_t(base >> 25), uint8_t(base >> 17), uint8_t(base >> 9),
                             uint8_t(base >> 1), uint8_t(((base & 1) << 7) | 0x7e), 0x00});
      }
    }
    size_t af_total = af.empty() ? 0 : 1 + af.size();
    size_t room = 184 - af_total;
    if (remaining < room) {
      // Stuff the adaptation field so the packet is exactly full.
      size_t needed = 184 - remaining;  // total adaptation field bytes including length byte
      if (af.empty() && needed >= 2) af.push_back(0x00);
      while (1 + af.size() < needed) af.push_back(0xff);
      af_total = needed;  // needed == 1 means a zero-length adaptation field
      room = remaining;
    }
    pkt[0] = 0x47;
    pkt[1] = uint8_t((first ? 0x40 : 0) | (pid >> 8));
    pkt[2] = uint8_t(pid);
    pkt[3] = uint8_t((af_total ? 0x30 : 0x10) | (cc & 0x0f));
    cc = (cc + 1) & 0x0f;
    size_t o = 4;
    if (af_total) {
      pkt[o++] = uint8_t(af_total - 1);
      std::copy(af.begin(), af.end(), pkt + o);
      o += af_total - 1;
    }
    std::copy(pes.begin() + pos, pes.begin() + pos + room, pkt + o);
    pos += room;
    first = false;
    out_.insert(out_.end(), pkt, pkt + kPacketSize);
  }
}

void TsSegmentWriter::write_video(std::span<const uint8_t> au, uint64_t pts90, uint64_t dts90,
                                  bool keyframe) {
  std::vector<uint8_t> pes = {0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x80};
  bool with_dts = (pts90 & kTimestampMask) != (dts90 & kTimestampMask);
  pes.push_back(with_dts ? 0xc0 : 0x80);
  pes.push_back(with_dts ? 10 : 5);
  put_timestamp(pes, with_dts ? 3 : 2, pts90);
  if (with_dts) put_timestamp(pes, 1, dts90);
  pes.insert(pes.end(), au.begin(), au.end());
  // PCR on every video PES: the video PID carries the program clock.
  write_pes(kVideoPid, video_cc_, pes, keyframe, true, dts90);
}

void TsSegmentWriter::write_audio(std::span<const uint8_t> frame, uint64_t pts90) {
  std::vector<uint8_t> pes = {0x00, 0x00, 0x01, 0xc0, 0x00, 0x00, 0x80, 0x80, 5};
  put_timestamp(pes, 2, pts90);
  size_t length = pes.size() - 6 + frame.size();
  if (length <= 0xffff) {
    pes[4] = uint8_t(length >> 8);
    pes[5] = uint8_t(length);
  }
  pes.insert(pes.end(), frame.begin(), frame.end());
  write_pes(kAudioPid, audio_cc_, pes, true, false, 0);
}

}  // namespace live::ts
