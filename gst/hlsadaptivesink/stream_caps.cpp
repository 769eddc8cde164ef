#include "stream_caps.h"

#include "flv/avc_config.h"
#include "flv/hevc_config.h"

namespace live::hlssink {

Result<std::shared_ptr<const StreamConfig>> config_from_caps(GstCaps* caps) {
  auto c = std::make_shared<StreamConfig>();
  auto bad = [](const std::string& why) { return make_error(Errc::malformed, why); };
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const char* name = gst_structure_get_name(s);
  const GValue* cd = gst_structure_get_value(s, "codec_data");
  if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
    GstBuffer* b = gst_value_get_buffer(cd);
    GstMapInfo m;
    if (gst_buffer_map(b, &m, GST_MAP_READ)) {
      c->codec_data.assign(m.data, m.data + m.size);
      gst_buffer_unmap(b, &m);
    }
  }
  const char* format = gst_structure_get_string(s, "stream-format");
  if (g_str_equal(name, "video/x-h264") || g_str_equal(name, "video/x-h265")) {
    const bool h264 = g_str_equal(name, "video/x-h264");
    c->kind = h264 ? Kind::h264 : Kind::h265;
    c->length_prefixed = !(format && g_str_equal(format, "byte-stream"));
    gst_structure_get_int(s, "width", &c->width);
    gst_structure_get_int(s, "height", &c->height);
    gst_structure_get_fraction(s, "framerate", &c->fps_n, &c->fps_d);
    if (c->length_prefixed) {
      if (c->codec_data.empty()) return bad("no codec_data in avc/hvc1 caps");
      if (h264) {
        auto avc = flv::parse_avc_config(c->codec_data);
        if (!avc) return bad("bad codec_data: " + avc.error().describe());
        c->parameter_sets = std::move(avc->sps);
        for (auto& pps : avc->pps) c->parameter_sets.push_back(std::move(pps));
        c->nal_length_size = avc->nal_length_size;
        c->codec_string = avc->codec_string();
      } else {
        auto hevc = flv::parse_hevc_config(c->codec_data);
        if (!hevc) return bad("bad codec_data: " + hevc.error().describe());
        for (auto& array : hevc->arrays)
          for (auto& nal : array.nalus) c->parameter_sets.push_back(std::move(nal));
        c->nal_length_size = hevc->nal_length_size;
        c->codec_string = hevc->codec_string();
      }
    }
  } else {
    c->kind = Kind::aac;
    if (c->codec_data.empty()) return bad("no AudioSpecificConfig (codec_data) in AAC caps");
    auto cfg = flv::parse_audio_specific_config(c->codec_data);
    if (!cfg) return bad("bad AudioSpecificConfig");
    c->aac = *cfg;
    c->codec_string = cfg->codec_string();
    gst_structure_get_int(s, "channels", &c->channels);
    if (!c->channels) c->channels = int(c->aac.channel_configuration);
  }
  return std::shared_ptr<const StreamConfig>(std::move(c));
}

}  // namespace live::hlssink
