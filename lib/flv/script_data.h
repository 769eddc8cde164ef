// FLV SCRIPTDATA (AMF0 values, as used by onMetaData), decoded with lib/rtmp's AMF0 decoder under
// script-tag limits. AMF0 references, typed objects, XML documents, the "unsupported" marker and
// AMF3 are refused. "@setDataFrame" wrappers (RTMP data messages) are unwrapped.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "rtmp/amf0.h"

namespace live::flv {

inline constexpr uint32_t kMaxScriptDepth = 16;      // nested objects/arrays
inline constexpr uint32_t kMaxScriptEntries = 4096;  // values in one script tag, all levels

struct ScriptTag {
  std::string name;        // "onMetaData"
  rtmp::AmfValue value;    // null when the tag carries only a name
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
StreamMetadata read_stream_metadata(const rtmp::AmfValue& object);

// Writes a script tag whose value is an ECMA array of `members` (e.g. onMetaData).
void write_script_tag(std::vector<uint8_t>& out, const std::string& name,
                      const std::vector<rtmp::AmfProperty>& members);

}  // namespace live::flv
