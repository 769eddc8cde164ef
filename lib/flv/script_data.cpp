#include "flv/script_data.h"

#include <bit>
#include <cstring>

#include "common/byte_io.h"
#include "flv/fourcc.h"

namespace live::flv {

const ScriptValue* ScriptValue::find(std::string_view key) const {
  if (!object) return nullptr;
  for (const auto& [k, v] : *object)
    if (k == key) return &v;
  return nullptr;
}

namespace {

struct Decoder {
  ByteReader r;
  size_t entries = 0;

  Result<std::string> short_string() {
    uint16_t len = 0;
    std::string s;
    if (!r.read_be16(len) || !r.read_string(len, s)) return make_error(Errc::truncated, "AMF0 string");
    return s;
  }

  Result<void> members(ScriptObject& obj, size_t depth) {
    for (;;) {
      auto key = short_string();
      if (!key) return key.error();
      uint8_t marker = 0;
      if (key->empty() && r.peek_u8(marker) && marker == 9) {
        r.skip(1);
        return {};
      }
      auto v = value(depth + 1);
      if (!v) return v.error();
      obj.emplace_back(std::move(*key), std::move(*v));
    }
  }

  Result<ScriptValue> value(size_t depth) {
    if (depth > kMaxScriptDepth) return make_error(Errc::limit_exceeded, "AMF0 nesting depth");
    if (++entries > kMaxScriptEntries) return make_error(Errc::limit_exceeded, "AMF0 value count");
    uint8_t marker = 0;
    if (!r.read_u8(marker)) return make_error(Errc::truncated, "AMF0 marker");
    ScriptValue v;
    switch (marker) {
      case 0: {
        uint64_t bits = 0;
        if (!r.read_be64(bits)) return make_error(Errc::truncated, "AMF0 number");
        v.kind = ScriptValue::Kind::number;
        v.number = std::bit_cast<double>(bits);
        return v;
      }
      case 1: {
        uint8_t b = 0;
        if (!r.read_u8(b)) return make_error(Errc::truncated, "AMF0 boolean");
        v.kind = ScriptValue::Kind::boolean;
        v.boolean = b != 0;
        return v;
      }
      case 2: {
        auto s = short_string();
        if (!s) return s.error();
        v.kind = ScriptValue::Kind::string;
        v.string = std::move(*s);
        return v;
      }
      case 12: {
        uint32_t len = 0;
        if (!r.read_be32(len) || !r.read_string(len, v.string)) return make_error(Errc::truncated, "AMF0 long string");
        v.kind = ScriptValue::Kind::string;
        return v;
      }
      case 3:
      case 8: {
        if (marker == 8 && !r.skip(4)) return make_error(Errc::truncated, "AMF0 ECMA array count");
        v.kind = ScriptValue::Kind::object;
        v.object = std::make_shared<ScriptObject>();
        if (auto res = members(*v.object, depth); !res) return res.error();
        return v;
      }
      case 10: {
        uint32_t count = 0;
        if (!r.read_be32(count)) return make_error(Errc::truncated, "AMF0 strict array count");
        if (count > kMaxScriptEntries) return make_error(Errc::limit_exceeded, "AMF0 strict array count");
        v.kind = ScriptValue::Kind::array;
        v.array = std::make_shared<ScriptArray>();
        for (uint32_t i = 0; i < count; ++i) {
          auto e = value(depth + 1);
          if (!e) return e.error();
          v.array->push_back(std::move(*e));
        }
        return v;
      }
      case 11: {
        uint64_t bits = 0;
        if (!r.read_be64(bits) || !r.skip(2)) return make_error(Errc::truncated, "AMF0 date");
        v.kind = ScriptValue::Kind::date;
        v.number = std::bit_cast<double>(bits);
        return v;
      }
      case 5:
      case 6:
        return v;
      default:
        return make_error(Errc::unsupported, "AMF0 marker " + std::to_string(marker));
    }
  }
};

std::optional<uint32_t> codec_fourcc(const ScriptValue* v) {
  if (!v) return std::nullopt;
  if (v->kind == ScriptValue::Kind::string && v->string.size() == 4)
    return make_fourcc(v->string[0], v->string[1], v->string[2], v->string[3]);
  if (v->kind == ScriptValue::Kind::number && v->number >= 256 && v->number <= 4294967295.0)
    return uint32_t(v->number);  // E-RTMP writes the FourCC as a number; legacy ids are < 16
  return std::nullopt;
}

}  // namespace

Result<ScriptTag> parse_script_tag(std::span<const uint8_t> payload) {
  Decoder d{ByteReader(payload)};
  ScriptTag tag;
  for (int i = 0; i < 2; ++i) {
    auto name = d.value(0);
    if (!name) return name.error();
    if (name->kind != ScriptValue::Kind::string) return make_error(Errc::malformed, "script tag name not a string");
    tag.name = std::move(name->string);
    if (tag.name != "@setDataFrame") break;
  }
  if (d.r.empty()) return tag;
  auto v = d.value(0);
  if (!v) return v.error();
  tag.value = std::move(*v);
  return tag;
}

StreamMetadata read_stream_metadata(const ScriptValue& obj) {
  StreamMetadata m;
  auto num = [&](const char* key, std::optional<double>& out) {
    if (auto* v = obj.find(key); v && v->kind == ScriptValue::Kind::number) out = v->number;
  };
  num("width", m.width);
  num("height", m.height);
  num("framerate", m.framerate);
  num("videodatarate", m.videodatarate);
  num("audiodatarate", m.audiodatarate);
  num("audiosamplerate", m.audiosamplerate);
  num("audiosamplesize", m.audiosamplesize);
  num("duration", m.duration);
  if (auto* v = obj.find("stereo"); v && v->kind == ScriptValue::Kind::boolean) m.stereo = v->boolean;
  if (auto* v = obj.find("encoder"); v && v->kind == ScriptValue::Kind::string) m.encoder = v->string;
  if (auto* v = obj.find("videocodecid")) {
    if (auto f = codec_fourcc(v)) m.video_fourcc = f;
    else if (v->kind == ScriptValue::Kind::number) m.videocodecid = v->number;
  }
  if (auto* v = obj.find("audiocodecid")) {
    if (auto f = codec_fourcc(v)) m.audio_fourcc = f;
    else if (v->kind == ScriptValue::Kind::number) m.audiocodecid = v->number;
  }
  m.has_video_track_map = obj.find("videoTrackIdInfoMap") != nullptr;
  m.has_audio_track_map = obj.find("audioTrackIdInfoMap") != nullptr;
  return m;
}

namespace {
void write_string_body(ByteWriter& w, const std::string& s) {
  w.be16(uint16_t(s.size()));
  w.bytes(std::string_view(s).substr(0, 0xFFFF));
}
void write_value(ByteWriter& w, const ScriptValue& v) {
  switch (v.kind) {
    case ScriptValue::Kind::number:
    case ScriptValue::Kind::date:
      w.u8(v.kind == ScriptValue::Kind::number ? 0 : 11);
      w.be64(std::bit_cast<uint64_t>(v.number));
      if (v.kind == ScriptValue::Kind::date) w.be16(0);
      break;
    case ScriptValue::Kind::boolean:
      w.u8(1);
      w.u8(v.boolean ? 1 : 0);
      break;
    case ScriptValue::Kind::string:
      w.u8(2);
      write_string_body(w, v.string);
      break;
    case ScriptValue::Kind::object:
      w.u8(3);
      for (const auto& [k, m] : *v.object) {
        write_string_body(w, k);
        write_value(w, m);
      }
      w.be24(9);
      break;
    case ScriptValue::Kind::array:
      w.u8(10);
      w.be32(uint32_t(v.array->size()));
      for (const auto& e : *v.array) write_value(w, e);
      break;
    case ScriptValue::Kind::null:
      w.u8(5);
      break;
  }
}
}  // namespace

void write_script_tag(std::vector<uint8_t>& out, const std::string& name, const ScriptObject& members) {
  ByteWriter w(out);
  w.u8(2);
  write_string_body(w, name);
  w.u8(8);
  w.be32(uint32_t(members.size()));
  for (const auto& [k, v] : members) {
    write_string_body(w, k);
    write_value(w, v);
  }
  w.be24(9);
}

}  // namespace live::flv
