// FLV SCRIPTDATA (AMF0 values, as used by onMetaData), decoding only what metadata needs:
// numbers, booleans, strings, objects, ECMA and strict arrays, dates, null. AMF0 references and
// AMF3 are refused. "@setDataFrame" wrappers (RTMP data messages) are unwrapped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"

namespace live::flv {

inline constexpr size_t kMaxScriptDepth = 16;
inline constexpr size_t kMaxScriptEntries = 4096;  // values in one script tag, all levels

struct ScriptValue;
using ScriptObject = std::vector<std::pair<std::string, ScriptValue>>;  // keeps wire order
using ScriptArray = std::vector<ScriptValue>;

struct ScriptValue {
  enum class Kind { null, number, boolean, string, object, array, date } kind = Kind::null;
  double number = 0;  // also the date in ms since the epoch
  bool boolean = false;
  std::string string;
  std::shared_ptr<ScriptObject> object;  // object and ECMA array
  std::shared_ptr<ScriptArray> array;    // strict array

  const ScriptValue* find(std::string_view key) const;  // object member, nullptr if absent
};

struct ScriptTag {
  std::string name;  // "onMetaData"
  ScriptValue value;
};

Result<ScriptTag> parse_script_tag(std::span<const uint8_t> payload);

// Stream metadata read from an onMetaData object; absent members stay empty.
struct StreamMetadata {
  std::optional<double> width, height, framerate, videodatarate, audiodatarate, audiosamplerate,
      audiosamplesize, duration;
  std::optional<bool> stereo;
  std::optional<double> videocodecid, audiocodecid;  // legacy numeric id
  std::optional<uint32_t> video_fourcc, audio_fourcc;  // E-RTMP: codec id given as a FourCC number or string
  std::optional<std::string> encoder;
  bool has_video_track_map = false;  // E-RTMP v2 videoTrackIdInfoMap present
  bool has_audio_track_map = false;
};
StreamMetadata read_stream_metadata(const ScriptValue& object);

// Writes onMetaData as an ECMA array of numbers/strings/booleans, for tests and sources.
void write_script_tag(std::vector<uint8_t>& out, const std::string& name, const ScriptObject& members);

}  // namespace live::flv
