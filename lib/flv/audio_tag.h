// Audio tag headers: legacy FLV (SoundFormat/SoundRate/SoundSize/SoundType, AACPacketType) and
// Enhanced RTMP v2 ExAudio (SoundFormat 9: AudioPacketType, FourCC, ModEx, multitrack).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "flv/video_tag.h"  // MultitrackType, kMaxTracksPerTag, kMaxModExEntries

namespace live::flv {

enum class SoundFormat : uint8_t {
  pcm_platform = 0,
  adpcm = 1,
  mp3 = 2,
  pcm_le = 3,
  nellymoser_16k = 4,
  nellymoser_8k = 5,
  nellymoser = 6,
  g711_alaw = 7,
  g711_mulaw = 8,
  ex_header = 9,
  aac = 10,
  speex = 11,
  mp3_8k = 14,
  device_specific = 15,
};

enum class AudioPacketType : uint8_t {
  sequence_start = 0,
  coded_frames = 1,
  sequence_end = 2,
  multichannel_config = 4,
  multitrack = 5,
  mod_ex = 7,
};

// One track's packet. Legacy AAC maps AACPacketType 0/1 onto sequence_start/coded_frames
// (fourcc mp4a); legacy MP3 gets fourcc .mp3; other legacy formats have fourcc 0.
struct AudioTrackPacket {
  uint8_t track_id = 0;
  uint32_t fourcc = 0;
  AudioPacketType packet_type = AudioPacketType::coded_frames;
  std::span<const uint8_t> data;
};

struct AudioTag {
  bool enhanced = false;
  SoundFormat format = SoundFormat::pcm_platform;  // ex_header for Enhanced RTMP
  uint8_t sound_rate = 0;  // legacy 2-bit index: 0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz
  uint8_t sound_size = 0;  // legacy: 0 8-bit, 1 16-bit
  uint8_t sound_type = 0;  // legacy: 0 mono, 1 stereo
  bool multitrack = false;
  MultitrackType multitrack_type = MultitrackType::one_track;
  uint32_t timestamp_offset_nanos = 0;
  std::vector<AudioTrackPacket> tracks;

  // Legacy header values in Hz and channels (the MP3-8k and Nellymoser-8k/16k formats fix them).
  uint32_t legacy_rate_hz() const;
  uint32_t legacy_channels() const { return sound_type ? 2 : 1; }
};

Result<AudioTag> parse_audio_tag(std::span<const uint8_t> payload);

// The MultichannelConfig body (E-RTMP v2).
struct MultichannelConfig {
  uint8_t channel_order = 0;  // 0 unspecified, 1 native (flags), 2 custom (mapping)
  uint8_t channel_count = 0;
  uint32_t channel_flags = 0;
  std::vector<uint8_t> channel_mapping;
};
Result<MultichannelConfig> parse_multichannel_config(std::span<const uint8_t> body);

// Writers. Legacy AAC: 0xAF (44 kHz, 16-bit, stereo, as the spec requires for AAC) + packet type.
void write_legacy_aac_audio(std::vector<uint8_t>& out, AudioPacketType packet_type, std::span<const uint8_t> data);
// Any legacy format: the one header byte then data (no AACPacketType).
void write_legacy_audio(std::vector<uint8_t>& out, SoundFormat format, uint8_t sound_rate, uint8_t sound_size,
                        uint8_t sound_type, std::span<const uint8_t> data);

struct AudioTrackWrite {
  uint8_t track_id = 0;
  uint32_t fourcc = 0;
  std::span<const uint8_t> data;
};
void write_ex_audio(std::vector<uint8_t>& out, AudioPacketType packet_type, const AudioTrackWrite& track);
void write_ex_audio_multitrack(std::vector<uint8_t>& out, MultitrackType type, AudioPacketType packet_type,
                               std::span<const AudioTrackWrite> tracks);

}  // namespace live::flv
