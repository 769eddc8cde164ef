#include "flv/script_data.h"

#include "common/byte_io.h"
#include "flv/fourcc.h"

namespace live::flv {

using rtmp::AmfType;
using rtmp::AmfValue;

namespace {

// Metadata needs plain values only; references and typed/XML values are refused as before.
Result<void> check_supported(const AmfValue& v) {
  switch (v.type) {
    case AmfType::reference:
    case AmfType::typed_object:
    case AmfType::xml_document:
    case AmfType::unsupported:
      return make_error(Errc::unsupported, "AMF0 type " + std::to_string(int(v.type)) + " in script data");
    default:
      break;
  }
  for (const auto& p : v.properties)
    if (auto r = check_supported(p.value); !r) return r;
  for (const auto& e : v.elements)
    if (auto r = check_supported(e); !r) return r;
  return {};
}

std::optional<uint32_t> codec_fourcc(const AmfValue* v) {
  if (!v) return std::nullopt;
  if (v->is_string() && v->string.size() == 4)
    return make_fourcc(v->string[0], v->string[1], v->string[2], v->string[3]);
  if (v->type == AmfType::number && v->number >= 256 && v->number <= 4294967295.0)
    return uint32_t(v->number);  // E-RTMP writes the FourCC as a number; legacy ids are < 16
  return std::nullopt;
}

}  // namespace

Result<ScriptTag> parse_script_tag(std::span<const uint8_t> payload) {
  ByteReader r(payload);
  uint32_t budget = kMaxScriptEntries;
  auto next = [&]() -> Result<AmfValue> {
    auto v = rtmp::amf0_decode(r, kMaxScriptDepth, budget);
    if (!v) return v.error();
    if (auto ok = check_supported(*v); !ok) return ok.error();
    return v;
  };
  ScriptTag tag;
  for (int i = 0; i < 2; ++i) {
    auto name = next();
    if (!name) return name.error();
    if (!name->is_string()) return make_error(Errc::malformed, "script tag name not a string");
    tag.name = std::move(name->string);
    if (tag.name != "@setDataFrame") break;
  }
  if (r.empty()) return tag;
  auto v = next();
  if (!v) return v.error();
  tag.value = std::move(*v);
  return tag;
}

StreamMetadata read_stream_metadata(const AmfValue& obj) {
  StreamMetadata m;
  auto num = [&](const char* key, std::optional<double>& out) {
    if (auto v = obj.number_property(key)) out = v;
  };
  num("width", m.width);
  num("height", m.height);
  num("framerate", m.framerate);
  num("videodatarate", m.videodatarate);
  num("audiodatarate", m.audiodatarate);
  num("audiosamplerate", m.audiosamplerate);
  num("audiosamplesize", m.audiosamplesize);
  num("duration", m.duration);
  if (auto* v = obj.find("stereo"); v && v->type == AmfType::boolean) m.stereo = v->boolean;
  if (auto* v = obj.find("encoder"); v && v->is_string()) m.encoder = v->string;
  if (auto* v = obj.find("videocodecid")) {
    if (auto f = codec_fourcc(v)) m.video_fourcc = f;
    else if (v->type == AmfType::number) m.videocodecid = v->number;
  }
  if (auto* v = obj.find("audiocodecid")) {
    if (auto f = codec_fourcc(v)) m.audio_fourcc = f;
    else if (v->type == AmfType::number) m.audiocodecid = v->number;
  }
  m.has_video_track_map = obj.find("videoTrackIdInfoMap") != nullptr;
  m.has_audio_track_map = obj.find("audioTrackIdInfoMap") != nullptr;
  return m;
}

void write_script_tag(std::vector<uint8_t>& out, const std::string& name,
                      const std::vector<rtmp::AmfProperty>& members) {
  rtmp::amf0_encode(AmfValue::make_string(name), out);
  rtmp::amf0_encode(AmfValue::make_ecma_array(members), out);
}

}  // namespace live::flv
