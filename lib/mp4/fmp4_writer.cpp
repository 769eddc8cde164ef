#include "mp4/fmp4_writer.h"

#include <algorithm>
#include <limits>

#include "mp4/box_writer.h"

namespace live::mp4 {

namespace {

constexpr uint32_t kMovieTimescale = 1000;

// tfhd / trun flags (ISO/IEC 14496-12 8.8.7, 8.8.8).
constexpr uint32_t kTfhdDefaultBaseIsMoof = 0x020000;
constexpr uint32_t kTrunDataOffset = 0x000001;
constexpr uint32_t kTrunSampleDuration = 0x000100;
constexpr uint32_t kTrunSampleSize = 0x000200;
constexpr uint32_t kTrunSampleFlags = 0x000400;
constexpr uint32_t kTrunCompositionOffset = 0x000800;

bool is_video(Codec c) { return c == Codec::h264 || c == Codec::h265 || c == Codec::av1; }

const char* sample_entry_type(Codec c) {
  switch (c) {
    case Codec::h264: return "avc1";
    case Codec::h265: return "hvc1";
    case Codec::av1: return "av01";
    case Codec::aac: return "mp4a";
    case Codec::opus: return "Opus";
  }
  return "????";
}

const char* config_box_type(Codec c) {
  switch (c) {
    case Codec::h264: return "avcC";
    case Codec::h265: return "hvcC";
    case Codec::av1: return "av1C";
    case Codec::aac: return "esds";
    case Codec::opus: return "dOps";
  }
  return "????";
}

// OpusHead (RFC 7845, little-endian) -> OpusSpecificBox payload (Opus in ISOBMFF, big-endian).
void write_dops(BoxWriter& b, const std::vector<uint8_t>& head) {
  const size_t dops = b.begin("dOps");
  ByteWriter& w = b.w();
  const uint8_t channels = head[9];
  w.u8(0);  // Version
  w.u8(channels);
  w.be16(uint16_t(head[10] | (head[11] << 8)));                                           // PreSkip
  w.be32(uint32_t(head[12] | (head[13] << 8) | (head[14] << 16) | (uint32_t(head[15]) << 24)));  // InputSampleRate
  w.be16(uint16_t(head[16] | (head[17] << 8)));                                           // OutputGain
  w.u8(head[18]);                                                                         // ChannelMappingFamily
  if (head[18] != 0) w.bytes(std::span<const uint8_t>(head).subspan(19, 2 + size_t(channels)));
  b.end(dops);
}

// Size of the NAL unit length prefix from the decoder configuration record.
size_t nal_length_size(const TrackConfig& t) {
  if (t.codec == Codec::h264) return (t.codec_config[4] & 3) + 1;
  if (t.codec == Codec::h265) return (t.codec_config[21] & 3) + 1;
  return 0;
}

void write_matrix(ByteWriter& w) {
  const uint32_t m[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
  for (uint32_t v : m) w.be32(v);
}

// MPEG-4 descriptor header: tag and a length in 7-bit groups (ISO/IEC 14496-1 8.3.3).
void descriptor_header(ByteWriter& w, uint8_t tag, size_t length) {
  w.u8(tag);
  uint8_t groups[4];
  int n = 0;
  do {
    groups[n++] = uint8_t(length & 0x7f);
    length >>= 7;
  } while (length > 0 && n < 4);
  for (int i = n - 1; i >= 0; --i) w.u8(uint8_t(groups[i] | (i > 0 ? 0x80 : 0)));
}

size_t descriptor_size(size_t payload) {
  size_t n = 1;
  for (size_t l = payload >> 7; l > 0; l >>= 7) ++n;
  return 1 + n + payload;
}

void write_esds(BoxWriter& b, const TrackConfig& t) {
  const size_t esds = b.begin_full("esds", 0, 0);
  ByteWriter& w = b.w();
  const size_t dsi = descriptor_size(t.codec_config.size());
  const size_t dcd = descriptor_size(13 + dsi);
  const size_t slc = descriptor_size(1);
  descriptor_header(w, 0x03, 3 + dcd + slc);  // ES_Descriptor
  w.be16(static_cast<uint16_t>(t.track_id));  // ES_ID
  w.u8(0);                                    // no stream dependence, URL or OCR stream
  descriptor_header(w, 0x04, 13 + dsi);       // DecoderConfigDescriptor
  w.u8(0x40);                                 // objectTypeIndication: MPEG-4 Audio
  w.u8((0x05 << 2) | 1);                      // streamType audio, upStream 0, reserved 1
  w.be24(0);                                  // bufferSizeDB
  w.be32(0);                                  // maxBitrate (unknown)
  w.be32(0);                                  // avgBitrate (unknown)
  descriptor_header(w, 0x05, t.codec_config.size());  // DecoderSpecificInfo
  w.bytes(t.codec_config);
  descriptor_header(w, 0x06, 1);  // SLConfigDescriptor
  w.u8(0x02);                     // predefined: MP4
  b.end(esds);
}

void write_sample_entry(BoxWriter& b, const TrackConfig& t) {
  ByteWriter& w = b.w();
  if (is_video(t.codec)) {
    const size_t entry = b.begin(sample_entry_type(t.codec));
    b.zeros(6);
    w.be16(1);  // data_reference_index
    b.zeros(16);  // pre_defined, reserved, pre_defined[3]
    w.be16(static_cast<uint16_t>(t.width));
    w.be16(static_cast<uint16_t>(t.height));
    w.be32(0x00480000);  // 72 dpi
    w.be32(0x00480000);
    w.be32(0);   // reserved
    w.be16(1);   // frame_count
    b.zeros(32);  // compressorname (empty Pascal string)
    w.be16(0x0018);  // depth
    w.be16(0xffff);  // pre_defined = -1
    const size_t config = b.begin(config_box_type(t.codec));
    w.bytes(t.codec_config);
    b.end(config);
    b.end(entry);
  } else {
    const size_t entry = b.begin(sample_entry_type(t.codec));
    b.zeros(6);
    w.be16(1);  // data_reference_index
    b.zeros(8);  // reserved
    w.be16(t.channels);
    w.be16(16);  // samplesize
    w.be16(0);   // pre_defined
    w.be16(0);   // reserved
    w.be32(t.sample_rate << 16);
    if (t.codec == Codec::opus)
      write_dops(b, t.codec_config);
    else
      write_esds(b, t);
    b.end(entry);
  }
}

void write_trak(BoxWriter& b, const TrackConfig& t) {
  ByteWriter& w = b.w();
  const bool video = is_video(t.codec);
  const size_t trak = b.begin("trak");

  const size_t tkhd = b.begin_full("tkhd", 0, 0x000003);  // enabled, in movie
  w.be32(0);  // creation_time
  w.be32(0);  // modification_time
  w.be32(t.track_id);
  w.be32(0);  // reserved
  w.be32(0);  // duration: unknown (fragmented)
  b.zeros(8);
  w.be16(0);  // layer
  w.be16(0);  // alternate_group
  w.be16(video ? 0 : 0x0100);  // volume
  w.be16(0);
  write_matrix(w);
  w.be32(video ? t.width << 16 : 0);
  w.be32(video ? t.height << 16 : 0);
  b.end(tkhd);

  const size_t mdia = b.begin("mdia");
  const size_t mdhd = b.begin_full("mdhd", 0, 0);
  w.be32(0);
  w.be32(0);
  w.be32(t.timescale);
  w.be32(0);  // duration
  uint16_t lang = 0;
  for (size_t i = 0; i < 3; ++i) lang = uint16_t((lang << 5) | ((t.language[i] - 0x60) & 0x1f));
  w.be16(lang);
  w.be16(0);
  b.end(mdhd);

  const size_t hdlr = b.begin_full("hdlr", 0, 0);
  w.be32(0);  // pre_defined
  w.bytes(video ? "vide" : "soun");
  b.zeros(12);
  w.bytes(video ? std::string_view("VideoHandler", 13) : std::string_view("SoundHandler", 13));
  b.end(hdlr);

  const size_t minf = b.begin("minf");
  if (video) {
    const size_t vmhd = b.begin_full("vmhd", 0, 1);
    b.zeros(8);  // graphicsmode, opcolor
    b.end(vmhd);
  } else {
    const size_t smhd = b.begin_full("smhd", 0, 0);
    b.zeros(4);  // balance, reserved
    b.end(smhd);
  }
  const size_t dinf = b.begin("dinf");
  const size_t dref = b.begin_full("dref", 0, 0);
  w.be32(1);
  const size_t url = b.begin_full("url ", 0, 1);  // media data is in this file
  b.end(url);
  b.end(dref);
  b.end(dinf);

  const size_t stbl = b.begin("stbl");
  const size_t stsd = b.begin_full("stsd", 0, 0);
  w.be32(1);
  write_sample_entry(b, t);
  b.end(stsd);
  for (const char* empty : {"stts", "stsc", "stco"}) {
    const size_t box = b.begin_full(empty, 0, 0);
    w.be32(0);  // entry_count: samples live in the fragments
    b.end(box);
  }
  const size_t stsz = b.begin_full("stsz", 0, 0);
  w.be32(0);  // sample_size
  w.be32(0);  // sample_count
  b.end(stsz);
  b.end(stbl);
  b.end(minf);
  b.end(mdia);
  b.end(trak);
}

}  // namespace

Result<Fmp4Writer> Fmp4Writer::create(std::vector<TrackConfig> tracks) {
  if (tracks.empty()) return make_error(Errc::malformed, "no tracks");
  if (tracks.size() > kMaxTracks) return make_error(Errc::limit_exceeded, "too many tracks");
  for (size_t i = 0; i < tracks.size(); ++i) {
    const TrackConfig& t = tracks[i];
    const std::string id = "track " + std::to_string(t.track_id);
    if (t.track_id == 0) return make_error(Errc::malformed, "track id 0");
    for (size_t j = 0; j < i; ++j)
      if (tracks[j].track_id == t.track_id) return make_error(Errc::malformed, id + ": duplicate id");
    if (t.timescale == 0) return make_error(Errc::malformed, id + ": timescale 0");
    if (t.codec_config.size() > kMaxCodecConfigBytes)
      return make_error(Errc::limit_exceeded, id + ": codec config too large");
    if (t.language.size() != 3 || !std::all_of(t.language.begin(), t.language.end(),
                                               [](char c) { return c >= 'a' && c <= 'z'; }))
      return make_error(Errc::malformed, id + ": language must be three lowercase letters");
    switch (t.codec) {
      case Codec::h264:
        if (t.codec_config.size() < 7 || t.codec_config[0] != 1)
          return make_error(Errc::malformed, id + ": not an AVCDecoderConfigurationRecord");
        break;
      case Codec::h265:
        if (t.codec_config.size() < 23 || t.codec_config[0] != 1)
          return make_error(Errc::malformed, id + ": not an HEVCDecoderConfigurationRecord");
        break;
      case Codec::av1:
        if (t.codec_config.size() < 4 || t.codec_config[0] != 0x81)
          return make_error(Errc::malformed, id + ": not an AV1CodecConfigurationRecord");
        break;
      case Codec::opus: {
        const auto& h = t.codec_config;
        static const uint8_t magic[8] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd'};
        if (h.size() < 19 || !std::equal(magic, magic + 8, h.begin()) || (h[8] >> 4) != 0 || h[9] == 0)
          return make_error(Errc::malformed, id + ": not an OpusHead");
        if (h[18] != 0 && h.size() < 21 + size_t(h[9]))
          return make_error(Errc::malformed, id + ": OpusHead channel mapping table truncated");
        if (t.channels != h[9]) return make_error(Errc::malformed, id + ": channels differ from OpusHead");
        if (t.sample_rate == 0 || t.sample_rate > 0xffff)
          return make_error(Errc::unsupported, id + ": sample rate must be 1..65535");
        break;
      }
      case Codec::aac:
        if (t.codec_config.size() < 2) return make_error(Errc::malformed, id + ": AudioSpecificConfig too short");
        if (t.sample_rate == 0 || t.sample_rate > 0xffff)
          return make_error(Errc::unsupported, id + ": sample rate must be 1..65535");
        if (t.channels == 0) return make_error(Errc::malformed, id + ": no channels");
        break;
    }
    if (is_video(t.codec) && (t.width == 0 || t.height == 0 || t.width > 0xffff || t.height > 0xffff))
      return make_error(Errc::malformed, id + ": video size missing or too large");
  }
  return Fmp4Writer(std::move(tracks));
}

std::vector<uint8_t> Fmp4Writer::init_segment() const {
  std::vector<uint8_t> out;
  BoxWriter b(out);
  ByteWriter& w = b.w();

  const size_t ftyp = b.begin("ftyp");
  w.bytes("iso6");  // major brand
  w.be32(0);        // minor version
  for (const char* brand : {"iso6", "cmfc", "isom", "mp41"}) w.bytes(brand);
  b.end(ftyp);

  const size_t moov = b.begin("moov");
  const size_t mvhd = b.begin_full("mvhd", 0, 0);
  w.be32(0);  // creation_time
  w.be32(0);  // modification_time
  w.be32(kMovieTimescale);
  w.be32(0);           // duration: unknown (fragmented)
  w.be32(0x00010000);  // rate 1.0
  w.be16(0x0100);      // volume 1.0
  b.zeros(10);
  write_matrix(w);
  b.zeros(24);  // pre_defined
  uint32_t max_id = 0;
  for (const auto& t : tracks_) max_id = std::max(max_id, t.track_id);
  w.be32(max_id + 1);  // next_track_ID
  b.end(mvhd);

  for (const auto& t : tracks_) write_trak(b, t);

  const size_t mvex = b.begin("mvex");
  for (const auto& t : tracks_) {
    const size_t trex = b.begin_full("trex", 0, 0);
    w.be32(t.track_id);
    w.be32(1);  // default_sample_description_index
    w.be32(0);  // default_sample_duration
    w.be32(0);  // default_sample_size
    w.be32(0);  // default_sample_flags
    b.end(trex);
  }
  b.end(mvex);
  b.end(moov);
  return out;
}

Result<std::vector<uint8_t>> Fmp4Writer::write_fragment(std::span<const TrackRun> runs, bool with_styp) {
  // Validate everything before writing a byte.
  if (runs.empty()) return make_error(Errc::malformed, "fragment without tracks");
  uint64_t payload = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const TrackRun& run = runs[i];
    const std::string id = "track " + std::to_string(run.track_id);
    auto it = std::find_if(tracks_.begin(), tracks_.end(),
                           [&](const TrackConfig& t) { return t.track_id == run.track_id; });
    if (it == tracks_.end()) return make_error(Errc::malformed, id + ": unknown track");
    for (size_t j = 0; j < i; ++j)
      if (runs[j].track_id == run.track_id) return make_error(Errc::malformed, id + ": twice in one fragment");
    if (run.samples.empty()) return make_error(Errc::malformed, id + ": no samples");
    if (run.samples.size() > kMaxSamplesPerRun) return make_error(Errc::limit_exceeded, id + ": too many samples");
    const size_t length_size = nal_length_size(*it);
    for (size_t s = 0; s < run.samples.size(); ++s) {
      const Sample& smp = run.samples[s];
      if (smp.dts < 0) return make_error(Errc::malformed, id + ": negative dts");
      if (s > 0 && smp.dts < run.samples[s - 1].dts) return make_error(Errc::malformed, id + ": dts decreases");
      const int64_t cto = smp.pts - smp.dts;
      if (cto < std::numeric_limits<int32_t>::min() || cto > std::numeric_limits<int32_t>::max())
        return make_error(Errc::malformed, id + ": composition offset out of range");
      if (smp.data.empty()) return make_error(Errc::malformed, id + ": empty sample");
      if (length_size > 0) {
        // Length-prefixed NAL units must tile the sample exactly (catches Annex B input).
        size_t pos = 0;
        while (pos < smp.data.size()) {
          if (smp.data.size() - pos < length_size)
            return make_error(Errc::malformed, id + ": truncated NAL length prefix");
          size_t nal = 0;
          for (size_t k = 0; k < length_size; ++k) nal = (nal << 8) | smp.data[pos + k];
          pos += length_size;
          if (nal > smp.data.size() - pos) return make_error(Errc::malformed, id + ": NAL unit overruns sample");
          pos += nal;
        }
      }
      payload += smp.data.size();
    }
    if (payload > kMaxFragmentBytes) return make_error(Errc::limit_exceeded, "fragment too large");
  }

  std::vector<uint8_t> out;
  BoxWriter b(out);
  ByteWriter& w = b.w();

  if (with_styp) {
    const size_t styp = b.begin("styp");
    w.bytes("msdh");
    w.be32(0);
    for (const char* brand : {"msdh", "cmfs"}) w.bytes(brand);
    b.end(styp);
  }

  const size_t moof = b.begin("moof");
  const size_t mfhd = b.begin_full("mfhd", 0, 0);
  w.be32(sequence_number_);
  b.end(mfhd);

  std::vector<size_t> data_offset_fields;
  for (const TrackRun& run : runs) {
    bool has_cto = false;
    for (const Sample& smp : run.samples) has_cto = has_cto || smp.pts != smp.dts;

    const size_t traf = b.begin("traf");
    const size_t tfhd = b.begin_full("tfhd", 0, kTfhdDefaultBaseIsMoof);
    w.be32(run.track_id);
    b.end(tfhd);
    const size_t tfdt = b.begin_full("tfdt", 1, 0);
    w.be64(static_cast<uint64_t>(run.samples.front().dts));
    b.end(tfdt);

    uint32_t flags = kTrunDataOffset | kTrunSampleDuration | kTrunSampleSize | kTrunSampleFlags;
    if (has_cto) flags |= kTrunCompositionOffset;
    const size_t trun = b.begin_full("trun", has_cto ? 1 : 0, flags);
    w.be32(static_cast<uint32_t>(run.samples.size()));
    data_offset_fields.push_back(b.size());
    w.be32(0);  // data_offset, patched below
    uint32_t previous_duration = 0;
    for (size_t s = 0; s < run.samples.size(); ++s) {
      const Sample& smp = run.samples[s];
      uint32_t duration = smp.duration;
      if (duration == 0) {  // derive from the next decode time, else repeat the last one
        duration = s + 1 < run.samples.size()
                       ? static_cast<uint32_t>(run.samples[s + 1].dts - smp.dts)
                       : previous_duration;
      }
      previous_duration = duration;
      w.be32(duration);
      w.be32(static_cast<uint32_t>(smp.data.size()));
      w.be32(smp.keyframe ? kSyncSampleFlags : kNonSyncSampleFlags);
      if (has_cto) w.be32(static_cast<uint32_t>(static_cast<int32_t>(smp.pts - smp.dts)));
    }
    b.end(trun);
    b.end(traf);
  }
  b.end(moof);

  // Data offsets count from the first byte of moof (default-base-is-moof).
  const size_t moof_size = out.size() - moof;
  uint64_t offset = moof_size + 8;  // mdat header
  for (size_t i = 0; i < runs.size(); ++i) {
    w.patch_be32(data_offset_fields[i], static_cast<uint32_t>(offset));
    for (const Sample& smp : runs[i].samples) offset += smp.data.size();
  }

  out.reserve(out.size() + 8 + payload);
  const size_t mdat = b.begin("mdat");
  for (const TrackRun& run : runs)
    for (const Sample& smp : run.samples) w.bytes(smp.data);
  b.end(mdat);

  ++sequence_number_;
  return out;
}

}  // namespace live::mp4
