#include "flv/video_tag.h"

#include <string>

#include "common/byte_io.h"
#include "flv/fourcc.h"

namespace live::flv {

namespace {

int32_t sign_extend24(uint32_t v) { return (v & 0x800000) ? int32_t(v | 0xFF000000u) : int32_t(v); }

// Reads the ModEx entries that may precede the real packet type (E-RTMP v2). Unknown ModEx
// types are skipped by their declared size, as the spec asks.
Result<uint8_t> read_mod_ex(ByteReader& r, uint8_t packet_type, uint8_t mod_ex_value, uint32_t& nanos) {
  size_t entries = 0;
  while (packet_type == mod_ex_value) {
    if (++entries > kMaxModExEntries) return make_error(Errc::limit_exceeded, "too many ModEx entries");
    uint8_t size8 = 0;
    if (!r.read_u8(size8)) return make_error(Errc::truncated, "ModEx size");
    size_t size = size_t(size8) + 1;
    if (size == 256) {
      uint16_t size16 = 0;
      if (!r.read_be16(size16)) return make_error(Errc::truncated, "ModEx size16");
      size = size_t(size16) + 1;
    }
    std::span<const uint8_t> mod_data;
    if (!r.read_bytes(size, mod_data)) return make_error(Errc::truncated, "ModEx data");
    uint8_t b = 0;
    if (!r.read_u8(b)) return make_error(Errc::truncated, "ModEx type");
    uint8_t mod_type = b >> 4;
    packet_type = b & 0x0F;
    if (mod_type == 0 && mod_data.size() >= 3) {  // TimestampOffsetNano
      nanos = load_be24(mod_data.data());
      if (nanos > 999999) return make_error(Errc::malformed, "ModEx nanosecond offset above 999999");
    }
  }
  return packet_type;
}

Result<void> parse_track_body(VideoTrackPacket& t, std::span<const uint8_t> body) {
  ByteReader r(body);
  if (t.packet_type == VideoPacketType::coded_frames && fourcc_has_composition_time(t.fourcc)) {
    uint32_t cts = 0;
    if (!r.read_be24(cts)) return make_error(Errc::truncated, "video composition time");
    t.composition_time = sign_extend24(cts);
  }
  t.data = r.rest();
  if (t.packet_type == VideoPacketType::coded_frames_x) t.packet_type = VideoPacketType::coded_frames;
  return {};
}

}  // namespace

bool fourcc_has_composition_time(uint32_t code) { return code == fourcc::avc1 || code == fourcc::hvc1; }

Result<VideoTag> parse_video_tag(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t b0 = 0;
  if (!r.read_u8(b0)) return make_error(Errc::truncated, "empty video tag");
  VideoTag tag;
  tag.enhanced = (b0 & 0x80) != 0;
  tag.frame_type = static_cast<FrameType>((b0 >> 4) & 0x07);
  if (tag.frame_type == FrameType{0} || uint8_t(tag.frame_type) > 5)
    return make_error(Errc::malformed, "video frame type " + std::to_string(uint8_t(tag.frame_type)));

  if (!tag.enhanced) {
    tag.legacy_codec_id = b0 & 0x0F;
    if (tag.frame_type == FrameType::command) {
      uint8_t cmd = 0;
      if (!r.read_u8(cmd)) return make_error(Errc::truncated, "video command");
      tag.command = cmd;
      return tag;
    }
    VideoTrackPacket t;
    auto codec = static_cast<LegacyVideoCodec>(tag.legacy_codec_id);
    if (codec == LegacyVideoCodec::avc || codec == LegacyVideoCodec::hevc_ext) {
      uint8_t pt = 0;
      uint32_t cts = 0;
      if (!r.read_u8(pt) || !r.read_be24(cts)) return make_error(Errc::truncated, "AVC video tag header");
      if (pt > 2) return make_error(Errc::malformed, "AVC packet type " + std::to_string(pt));
      t.fourcc = codec == LegacyVideoCodec::avc ? fourcc::avc1 : fourcc::hvc1;
      t.packet_type = static_cast<VideoPacketType>(pt);
      t.composition_time = pt == 1 ? sign_extend24(cts) : 0;
    }
    t.data = r.rest();
    tag.tracks.push_back(t);
    return tag;
  }

  auto pt = read_mod_ex(r, b0 & 0x0F, uint8_t(VideoPacketType::mod_ex), tag.timestamp_offset_nanos);
  if (!pt) return pt.error();
  auto packet_type = static_cast<VideoPacketType>(*pt);

  if (tag.frame_type == FrameType::command && packet_type != VideoPacketType::metadata) {
    uint8_t cmd = 0;
    if (!r.read_u8(cmd)) return make_error(Errc::truncated, "video command");
    tag.command = cmd;
    return tag;
  }

  uint32_t shared_fourcc = 0;
  if (packet_type == VideoPacketType::multitrack) {
    uint8_t b = 0;
    if (!r.read_u8(b)) return make_error(Errc::truncated, "video multitrack type");
    tag.multitrack = true;
    tag.multitrack_type = static_cast<MultitrackType>(b >> 4);
    packet_type = static_cast<VideoPacketType>(b & 0x0F);
    if (uint8_t(tag.multitrack_type) > 2) return make_error(Errc::malformed, "video multitrack type");
    if (packet_type == VideoPacketType::multitrack || packet_type == VideoPacketType::mod_ex)
      return make_error(Errc::malformed, "nested video multitrack packet type");
    if (tag.multitrack_type != MultitrackType::many_tracks_many_codecs && !r.read_be32(shared_fourcc))
      return make_error(Errc::truncated, "video fourcc");
  } else if (!r.read_be32(shared_fourcc)) {
    return make_error(Errc::truncated, "video fourcc");
  }
  if (uint8_t(packet_type) > uint8_t(VideoPacketType::mod_ex))
    return make_error(Errc::unsupported, "video packet type " + std::to_string(uint8_t(packet_type)));

  if (!tag.multitrack) {
    VideoTrackPacket t;
    t.fourcc = shared_fourcc;
    t.packet_type = packet_type;
    if (auto res = parse_track_body(t, r.rest()); !res) return res.error();
    tag.tracks.push_back(t);
    return tag;
  }

  do {
    if (tag.tracks.size() >= kMaxTracksPerTag) return make_error(Errc::limit_exceeded, "video tracks per tag");
    VideoTrackPacket t;
    t.fourcc = shared_fourcc;
    t.packet_type = packet_type;
    if (tag.multitrack_type == MultitrackType::many_tracks_many_codecs && !r.read_be32(t.fourcc))
      return make_error(Errc::truncated, "video track fourcc");
    if (!r.read_u8(t.track_id)) return make_error(Errc::truncated, "video track id");
    std::span<const uint8_t> body;
    if (tag.multitrack_type == MultitrackType::one_track) {
      body = r.rest();
      r.skip(body.size());
    } else {
      uint32_t size = 0;
      if (!r.read_be24(size)) return make_error(Errc::truncated, "video track size");
      if (!r.read_bytes(size, body)) return make_error(Errc::truncated, "video track body");
    }
    if (auto res = parse_track_body(t, body); !res) return res.error();
    tag.tracks.push_back(t);
  } while (!r.empty() && tag.multitrack_type != MultitrackType::one_track);
  return tag;
}

namespace {
void write_track_body(ByteWriter& w, VideoPacketType packet_type, const VideoTrackWrite& t) {
  if (packet_type == VideoPacketType::coded_frames && fourcc_has_composition_time(t.fourcc))
    w.be24(uint32_t(t.composition_time) & 0xFFFFFF);
  w.bytes(t.data);
}
}  // namespace

void write_legacy_avc_video(std::vector<uint8_t>& out, FrameType frame_type, VideoPacketType packet_type,
                            int32_t composition_time, std::span<const uint8_t> data) {
  ByteWriter w(out);
  w.u8(uint8_t((uint8_t(frame_type) << 4) | uint8_t(LegacyVideoCodec::avc)));
  w.u8(uint8_t(packet_type));
  w.be24(uint32_t(composition_time) & 0xFFFFFF);
  w.bytes(data);
}

void write_ex_video(std::vector<uint8_t>& out, FrameType frame_type, VideoPacketType packet_type,
                    const VideoTrackWrite& track) {
  ByteWriter w(out);
  w.u8(uint8_t(0x80 | (uint8_t(frame_type) << 4) | uint8_t(packet_type)));
  w.be32(track.fourcc);
  write_track_body(w, packet_type, track);
}

void write_ex_video_multitrack(std::vector<uint8_t>& out, FrameType frame_type, MultitrackType type,
                               VideoPacketType packet_type, std::span<const VideoTrackWrite> tracks) {
  ByteWriter w(out);
  w.u8(uint8_t(0x80 | (uint8_t(frame_type) << 4) | uint8_t(VideoPacketType::multitrack)));
  w.u8(uint8_t((uint8_t(type) << 4) | uint8_t(packet_type)));
  if (type != MultitrackType::many_tracks_many_codecs) w.be32(tracks.empty() ? 0 : tracks[0].fourcc);
  for (const auto& t : tracks) {
    if (type == MultitrackType::many_tracks_many_codecs) w.be32(t.fourcc);
    w.u8(t.track_id);
    if (type == MultitrackType::one_track) {
      write_track_body(w, packet_type, t);
      break;
    }
    size_t size_at = w.size();
    w.be24(0);
    write_track_body(w, packet_type, t);
    w.patch_be24(size_at, uint32_t(w.size() - size_at - 3));
  }
}

}  // namespace live::flv
