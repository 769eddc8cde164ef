#include "flv/audio_config.h"

#include <cstring>

#include "common/byte_io.h"
#include "flv/bit_reader.h"
#include "flv/fourcc.h"

namespace live::flv {

namespace {
constexpr uint32_t kSamplingFrequencies[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                                22050, 16000, 12000, 11025, 8000,  7350};

uint8_t read_object_type(BitReader& br) {
  uint8_t t = uint8_t(br.bits(5));
  if (t == 31) t = uint8_t(32 + br.bits(6));
  return t;
}

bool read_frequency(BitReader& br, uint8_t& index, uint32_t& rate) {
  index = uint8_t(br.bits(4));
  if (index == 15) {
    rate = br.bits(24);
  } else if (index < 13) {
    rate = kSamplingFrequencies[index];
  } else {
    return false;
  }
  return rate != 0;
}

bool has_ga_specific_config(uint8_t t) {
  return t == 1 || t == 2 || t == 3 || t == 4 || t == 6 || t == 7 || t == 17 || (t >= 19 && t <= 23);
}
}  // namespace

Result<AudioSpecificConfig> parse_audio_specific_config(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return make_error(Errc::truncated, "AudioSpecificConfig");
  BitReader br(bytes);
  AudioSpecificConfig c;
  c.object_type = c.signalled_object_type = read_object_type(br);
  if (!read_frequency(br, c.sampling_frequency_index, c.sample_rate))
    return make_error(Errc::malformed, "AudioSpecificConfig sampling frequency");
  c.channel_configuration = uint8_t(br.bits(4));
  if (c.object_type == 5 || c.object_type == 29) {  // explicit hierarchical SBR (and PS) signalling
    c.sbr = true;
    c.ps = c.object_type == 29;
    uint8_t ext_index = 0;
    if (!read_frequency(br, ext_index, c.extension_sample_rate))
      return make_error(Errc::malformed, "AudioSpecificConfig extension sampling frequency");
    c.object_type = read_object_type(br);
    if (c.object_type == 22) br.bits(4);  // extensionChannelConfiguration (ER BSAC)
  }
  if (!br.ok()) return make_error(Errc::truncated, "AudioSpecificConfig");
  if (has_ga_specific_config(c.object_type)) {
    br.bits(1);                  // frameLengthFlag
    if (br.flag()) br.bits(14);  // dependsOnCoreCoder -> coreCoderDelay
    bool extension_flag = br.flag();
    if (c.channel_configuration == 0) return c;  // program_config_element: not parsed, no sync extension search
    if (c.object_type == 6 || c.object_type == 20) br.bits(3);  // layerNr
    if (extension_flag) {
      if (c.object_type == 22) br.bits(16);
      if (c.object_type == 17 || c.object_type == 19 || c.object_type == 20 || c.object_type == 23) br.bits(3);
      br.bits(1);  // extensionFlag3
    }
    // Backward-compatible (implicit in the core config, explicit after it) SBR/PS signalling.
    if (!c.sbr && br.ok() && br.remaining() >= 16 && br.bits(11) == 0x2B7) {
      uint8_t ext_type = read_object_type(br);
      if (ext_type == 5 && br.flag()) {
        c.sbr = true;
        uint8_t ext_index = 0;
        if (!read_frequency(br, ext_index, c.extension_sample_rate)) c.extension_sample_rate = 0;
        if (br.remaining() >= 12 && br.bits(11) == 0x548) c.ps = br.flag();
      }
    }
  }
  if (!br.ok()) return make_error(Errc::truncated, "AudioSpecificConfig");
  return c;
}

uint32_t AudioSpecificConfig::channels() const {
  if (ps) return 2;
  if (channel_configuration >= 1 && channel_configuration <= 6) return channel_configuration;
  if (channel_configuration == 7) return 8;
  return 0;
}

std::string AudioSpecificConfig::codec_string() const {
  return "mp4a.40." + std::to_string(signalled_object_type);
}

Result<OpusHead> parse_opus_head(std::span<const uint8_t> b) {
  if (b.size() < kOpusHeadMinSize) return make_error(Errc::truncated, "OpusHead");
  if (std::memcmp(b.data(), "OpusHead", 8) != 0) return make_error(Errc::malformed, "OpusHead magic");
  OpusHead h;
  h.version = b[8];
  if ((h.version >> 4) != 0) return make_error(Errc::unsupported, "OpusHead major version");
  h.channels = b[9];
  h.pre_skip = uint16_t(b[10] | (b[11] << 8));
  h.input_sample_rate = load_le32(b.data() + 12);
  h.output_gain = int16_t(uint16_t(b[16] | (b[17] << 8)));
  h.mapping_family = b[18];
  if (h.channels == 0) return make_error(Errc::malformed, "OpusHead channel count 0");
  if (h.mapping_family == 0) {
    if (h.channels > 2) return make_error(Errc::malformed, "OpusHead family 0 with more than 2 channels");
    h.stream_count = 1;
    h.coupled_count = h.channels == 2 ? 1 : 0;
    return h;
  }
  if (b.size() < kOpusHeadMinSize + 2 + h.channels) return make_error(Errc::truncated, "OpusHead channel mapping");
  h.stream_count = b[19];
  h.coupled_count = b[20];
  if (h.stream_count == 0 || h.coupled_count > h.stream_count)
    return make_error(Errc::malformed, "OpusHead stream counts");
  h.channel_mapping.assign(b.begin() + 21, b.begin() + 21 + h.channels);
  return h;
}

std::string audio_codec_string(uint32_t code) {
  switch (code) {
    case fourcc::opus: return "opus";
    case fourcc::mp3: return "mp4a.40.34";
    case fourcc::flac: return "fLaC";
    case fourcc::ac3: return "ac-3";
    case fourcc::eac3: return "ec-3";
    default: return {};
  }
}

}  // namespace live::flv
