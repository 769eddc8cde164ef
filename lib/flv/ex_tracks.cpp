#include "flv/ex_tracks.h"

#include <string>

namespace live::flv {

namespace {
Error truncated(const char* media, const char* what) {
  return make_error(Errc::truncated, std::string(media) + " " + what);
}
}  // namespace

Result<uint8_t> read_mod_ex(ByteReader& r, uint8_t packet_type, uint8_t mod_ex_type,
                            uint32_t& timestamp_offset_nanos, const char* media) {
  size_t entries = 0;
  while (packet_type == mod_ex_type) {
    if (++entries > kMaxModExEntries)
      return make_error(Errc::limit_exceeded, std::string("too many ") + media + " ModEx entries");
    uint8_t size8 = 0;
    if (!r.read_u8(size8)) return truncated(media, "ModEx size");
    size_t size = size_t(size8) + 1;
    if (size == 256) {
      uint16_t size16 = 0;
      if (!r.read_be16(size16)) return truncated(media, "ModEx size16");
      size = size_t(size16) + 1;
    }
    std::span<const uint8_t> mod_data;
    if (!r.read_bytes(size, mod_data)) return truncated(media, "ModEx data");
    uint8_t b = 0;
    if (!r.read_u8(b)) return truncated(media, "ModEx type");
    const uint8_t mod_type = b >> 4;
    packet_type = b & 0x0F;
    if (mod_type == 0 && mod_data.size() >= 3) {  // TimestampOffsetNano
      timestamp_offset_nanos = load_be24(mod_data.data());
      if (timestamp_offset_nanos > 999999)
        return make_error(Errc::malformed, std::string(media) + " ModEx nanosecond offset above 999999");
    }
  }
  return packet_type;
}

Result<ExTrackHeader> read_ex_track_header(ByteReader& r, uint8_t packet_type, uint8_t multitrack_type,
                                           uint8_t mod_ex_type, const char* media) {
  ExTrackHeader h;
  h.packet_type = packet_type;
  if (packet_type == multitrack_type) {
    uint8_t b = 0;
    if (!r.read_u8(b)) return truncated(media, "multitrack type");
    h.multitrack = true;
    h.multitrack_type = static_cast<MultitrackType>(b >> 4);
    h.packet_type = b & 0x0F;
    if (uint8_t(h.multitrack_type) > 2)
      return make_error(Errc::malformed, std::string(media) + " multitrack type");
    if (h.packet_type == multitrack_type || h.packet_type == mod_ex_type)
      return make_error(Errc::malformed, std::string("nested ") + media + " multitrack packet type");
    if (h.multitrack_type != MultitrackType::many_tracks_many_codecs && !r.read_be32(h.shared_fourcc))
      return truncated(media, "fourcc");
  } else if (!r.read_be32(h.shared_fourcc)) {
    return truncated(media, "fourcc");
  }
  return h;
}

Result<void> read_ex_tracks(ByteReader& r, const ExTrackHeader& header, const char* media,
                            const std::function<Result<void>(const ExTrack&)>& on_track) {
  if (!header.multitrack) return on_track(ExTrack{0, header.shared_fourcc, r.rest()});
  size_t count = 0;
  do {
    if (count++ >= kMaxTracksPerTag)
      return make_error(Errc::limit_exceeded, std::string(media) + " tracks per tag");
    ExTrack t;
    t.fourcc = header.shared_fourcc;
    if (header.multitrack_type == MultitrackType::many_tracks_many_codecs && !r.read_be32(t.fourcc))
      return truncated(media, "track fourcc");
    if (!r.read_u8(t.track_id)) return truncated(media, "track id");
    if (header.multitrack_type == MultitrackType::one_track) {
      t.body = r.rest();
      r.skip(t.body.size());
    } else {
      uint32_t size = 0;
      if (!r.read_be24(size)) return truncated(media, "track size");
      if (!r.read_bytes(size, t.body)) return truncated(media, "track body");
    }
    if (auto handled = on_track(t); !handled) return handled;
  } while (!r.empty() && header.multitrack_type != MultitrackType::one_track);
  return {};
}

}  // namespace live::flv
