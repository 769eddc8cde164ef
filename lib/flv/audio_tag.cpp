#include "flv/audio_tag.h"

#include <string>

#include "common/byte_io.h"
#include "flv/ex_tracks.h"
#include "flv/fourcc.h"

namespace live::flv {

uint32_t AudioTag::legacy_rate_hz() const {
  switch (format) {
    case SoundFormat::mp3_8k:
    case SoundFormat::nellymoser_8k:
    case SoundFormat::g711_alaw:
    case SoundFormat::g711_mulaw:
      return 8000;
    case SoundFormat::nellymoser_16k:
    case SoundFormat::speex:
      return 16000;
    default:
      break;
  }
  static constexpr uint32_t kRates[4] = {5512, 11025, 22050, 44100};
  return kRates[sound_rate & 3];
}

Result<AudioTag> parse_audio_tag(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint8_t b0 = 0;
  if (!r.read_u8(b0)) return make_error(Errc::truncated, "empty audio tag");
  AudioTag tag;
  tag.format = static_cast<SoundFormat>(b0 >> 4);
  if (tag.format != SoundFormat::ex_header) {
    tag.sound_rate = (b0 >> 2) & 3;
    tag.sound_size = (b0 >> 1) & 1;
    tag.sound_type = b0 & 1;
    AudioTrackPacket t;
    if (tag.format == SoundFormat::aac) {
      uint8_t pt = 0;
      if (!r.read_u8(pt)) return make_error(Errc::truncated, "AAC packet type");
      if (pt > 1) return make_error(Errc::malformed, "AAC packet type " + std::to_string(pt));
      t.packet_type = static_cast<AudioPacketType>(pt);
      t.fourcc = fourcc::mp4a;
    } else if (tag.format == SoundFormat::mp3 || tag.format == SoundFormat::mp3_8k) {
      t.fourcc = fourcc::mp3;
    }
    t.data = r.rest();
    tag.tracks.push_back(t);
    return tag;
  }

  tag.enhanced = true;
  auto pt = read_mod_ex(r, b0 & 0x0F, uint8_t(AudioPacketType::mod_ex), tag.timestamp_offset_nanos, "audio");
  if (!pt) return pt.error();
  auto header = read_ex_track_header(r, *pt, uint8_t(AudioPacketType::multitrack),
                                     uint8_t(AudioPacketType::mod_ex), "audio");
  if (!header) return header.error();
  tag.multitrack = header->multitrack;
  tag.multitrack_type = header->multitrack_type;
  const auto packet_type = static_cast<AudioPacketType>(header->packet_type);
  switch (packet_type) {
    case AudioPacketType::sequence_start:
    case AudioPacketType::coded_frames:
    case AudioPacketType::sequence_end:
    case AudioPacketType::multichannel_config:
      break;
    default:
      return make_error(Errc::unsupported, "audio packet type " + std::to_string(uint8_t(packet_type)));
  }
  auto read = read_ex_tracks(r, *header, "audio", [&](const ExTrack& t) -> Result<void> {
    tag.tracks.push_back(AudioTrackPacket{t.track_id, t.fourcc, packet_type, t.body});
    return {};
  });
  if (!read) return read.error();
  return tag;
}

Result<MultichannelConfig> parse_multichannel_config(std::span<const uint8_t> body) {
  ByteReader r(body);
  MultichannelConfig c;
  if (!r.read_u8(c.channel_order) || !r.read_u8(c.channel_count))
    return make_error(Errc::truncated, "multichannel config");
  if (c.channel_order == 2) {
    std::span<const uint8_t> map;
    if (!r.read_bytes(c.channel_count, map)) return make_error(Errc::truncated, "channel mapping");
    c.channel_mapping.assign(map.begin(), map.end());
  } else if (c.channel_order == 1) {
    if (!r.read_be32(c.channel_flags)) return make_error(Errc::truncated, "channel flags");
  } else if (c.channel_order != 0) {
    return make_error(Errc::malformed, "channel order " + std::to_string(c.channel_order));
  }
  return c;
}

void write_legacy_aac_audio(std::vector<uint8_t>& out, AudioPacketType packet_type, std::span<const uint8_t> data) {
  ByteWriter w(out);
  w.u8(0xAF);
  w.u8(uint8_t(packet_type));
  w.bytes(data);
}

void write_legacy_audio(std::vector<uint8_t>& out, SoundFormat format, uint8_t sound_rate, uint8_t sound_size,
                        uint8_t sound_type, std::span<const uint8_t> data) {
  ByteWriter w(out);
  w.u8(uint8_t((uint8_t(format) << 4) | ((sound_rate & 3) << 2) | ((sound_size & 1) << 1) | (sound_type & 1)));
  w.bytes(data);
}

void write_ex_audio(std::vector<uint8_t>& out, AudioPacketType packet_type, const AudioTrackWrite& track) {
  ByteWriter w(out);
  w.u8(uint8_t((uint8_t(SoundFormat::ex_header) << 4) | uint8_t(packet_type)));
  w.be32(track.fourcc);
  w.bytes(track.data);
}

void write_ex_audio_multitrack(std::vector<uint8_t>& out, MultitrackType type, AudioPacketType packet_type,
                               std::span<const AudioTrackWrite> tracks) {
  ByteWriter w(out);
  w.u8(uint8_t((uint8_t(SoundFormat::ex_header) << 4) | uint8_t(AudioPacketType::multitrack)));
  w.u8(uint8_t((uint8_t(type) << 4) | uint8_t(packet_type)));
  if (type != MultitrackType::many_tracks_many_codecs) w.be32(tracks.empty() ? 0 : tracks[0].fourcc);
  for (const auto& t : tracks) {
    if (type == MultitrackType::many_tracks_many_codecs) w.be32(t.fourcc);
    w.u8(t.track_id);
    if (type == MultitrackType::one_track) {
      w.bytes(t.data);
      break;
    }
    w.be24(uint32_t(t.data.size()));
    w.bytes(t.data);
  }
}

}  // namespace live::flv
