#include "flv/video_tag.h"

#include <string>

#include "common/byte_io.h"
#include "flv/ex_tracks.h"
#include "flv/fourcc.h"

namespace live::flv {

namespace {

int32_t sign_extend24(uint32_t v) { return (v & 0x800000) ? int32_t(v | 0xFF000000u) : int32_t(v); }

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

  auto pt = read_mod_ex(r, b0 & 0x0F, uint8_t(VideoPacketType::mod_ex), tag.timestamp_offset_nanos, "video");
  if (!pt) return pt.error();

  if (tag.frame_type == FrameType::command && *pt != uint8_t(VideoPacketType::metadata)) {
    uint8_t cmd = 0;
    if (!r.read_u8(cmd)) return make_error(Errc::truncated, "video command");
    tag.command = cmd;
    return tag;
  }

  auto header = read_ex_track_header(r, *pt, uint8_t(VideoPacketType::multitrack),
                                     uint8_t(VideoPacketType::mod_ex), "video");
  if (!header) return header.error();
  tag.multitrack = header->multitrack;
  tag.multitrack_type = header->multitrack_type;
  const auto packet_type = static_cast<VideoPacketType>(header->packet_type);
  if (uint8_t(packet_type) > uint8_t(VideoPacketType::mod_ex))
    return make_error(Errc::unsupported, "video packet type " + std::to_string(uint8_t(packet_type)));
  auto read = read_ex_tracks(r, *header, "video", [&](const ExTrack& t) -> Result<void> {
    VideoTrackPacket packet;
    packet.track_id = t.track_id;
    packet.fourcc = t.fourcc;
    packet.packet_type = packet_type;
    if (auto res = parse_track_body(packet, t.body); !res) return res.error();
    tag.tracks.push_back(packet);
    return {};
  });
  if (!read) return read.error();
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
