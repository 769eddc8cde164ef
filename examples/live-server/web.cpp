// Web (see web.h).
#include "web.h"

#include <cstdio>

namespace live_server {

namespace {

// Stream names come from publishers' keys: any bytes. JSON and Prometheus text must be UTF-8.
std::string valid_utf8(const std::string& text) {
  if (g_utf8_validate(text.data(), gssize(text.size()), nullptr)) return text;
  gchar* valid = g_utf8_make_valid(text.data(), gssize(text.size()));
  std::string out = valid;
  g_free(valid);
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : valid_utf8(text)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string label(const std::string& text) {
  std::string out;
  for (char c : valid_utf8(text)) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

std::string html(const std::string& text) {
  gchar* escaped = g_markup_escape_text(valid_utf8(text).c_str(), -1);
  std::string out = escaped;
  g_free(escaped);
  return out;
}

std::string url_segment(const std::string& text) {
  gchar* escaped = g_uri_escape_string(text.c_str(), nullptr, FALSE);
  std::string out = escaped;
  g_free(escaped);
  return out;
}

GBytes* read_file(const std::string& path) {
  gchar* contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents(path.c_str(), &contents, &length, nullptr)) return nullptr;
  return g_bytes_new_take(contents, length);
}

GstStructure* respond(const char* content_type, const std::string& body, int status = 200) {
  return gst_structure_new("http-response", "status", G_TYPE_INT, status, "content-type",
                           G_TYPE_STRING, content_type, "body", G_TYPE_STRING, body.c_str(), nullptr);
}

GstStructure* respond_bytes(const char* content_type, GBytes* body, const char* cache_control) {
  return gst_structure_new("http-response", "status", G_TYPE_INT, 200, "content-type", G_TYPE_STRING,
                           content_type, "body", G_TYPE_BYTES, body, "cache-control", G_TYPE_STRING,
                           cache_control, nullptr);
}

// One entry per stream name: a metric series or API entry twice would be invalid (a stream
// ending while its name is published again must never show up twice).
std::vector<StreamSnapshot> unique_names(std::vector<StreamSnapshot> streams) {
  std::vector<StreamSnapshot> out;
  for (StreamSnapshot& s : streams) {
    bool seen = false;
    for (const StreamSnapshot& o : out) seen = seen || o.name == s.name;
    if (!seen) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Web::Web(const Config& config, Snapshots snapshots, GstObject* server)
    : config_(config), snapshots_(std::move(snapshots)), server_(server) {}

Web::~Web() {
  if (index_page_) g_bytes_unref(index_page_);
  if (hls_js_) g_bytes_unref(hls_js_);
}

bool Web::load(std::string& why) {
  if (config_.player_dir.empty()) return true;
  index_page_ = read_file(config_.player_dir + "/index.html");  // optional: else the plain list
  hls_js_ = read_file(config_.player_dir + "/node_modules/hls.js/dist/hls.min.js");
  if (!hls_js_) {
    why = "--player-dir " + config_.player_dir +
          " must hold node_modules/hls.js/dist/hls.min.js (run npm ci in that folder)";
    return false;
  }
  return true;
}

GstStructure* Web::handle(const GstStructure* request) const {
  const gchar* method = gst_structure_get_string(request, "method");
  const gchar* path = gst_structure_get_string(request, "path");
  if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) return nullptr;
  const std::string p = path ? path : "";
  if (p == "/api/streams")
    return respond("application/json", streams_json(unique_names(snapshots_())));
  if (p == "/metrics")
    return respond("text/plain; version=0.0.4; charset=utf-8", metrics_text(unique_names(snapshots_())));
  if (p == "/hls.min.js" && hls_js_) return respond_bytes("text/javascript", hls_js_, "max-age=3600");
  if (p == "/" || p == "/index.html") {
    if (index_page_) return respond_bytes("text/html; charset=utf-8", index_page_, "no-cache");
    // Without the player folder: a plain list of the live streams and their URLs.
    std::string page = "<!doctype html><meta charset=utf-8><title>live-server</title><h1>Live streams</h1><ul>";
    for (const StreamSnapshot& s : unique_names(snapshots_())) {
      // Names are publishers' keys: escaped as text and as a URL path segment.
      const std::string base = html(url_segment(config_.application) + "/" + url_segment(s.name));
      page += "<li>" + html(s.name) + ": <a href=\"" + base + "/master.m3u8\">HLS</a>, <a href=\"" + base +
              ".flv\">HTTP-FLV</a>" + (s.webrtc ? ", WebRTC (WHEP): <code>" + base + "/whep</code>" : std::string()) +
              "</li>";
    }
    return respond("text/html; charset=utf-8", page + "</ul>\n");
  }
  return nullptr;
}

std::string Web::streams_json(const std::vector<StreamSnapshot>& streams) const {
  std::string out = "{\"streams\":[";
  bool first = true;
  for (const StreamSnapshot& s : streams) {
    if (!first) out += ",";
    first = false;
    const std::string base = "/" + config_.application + "/" + s.name;
    const std::string http_base = "/" + url_segment(config_.application) + "/" + url_segment(s.name);
    out += "{\"name\":" + json_string(s.name) + ",\"since\":" + std::to_string(s.since_unix_s) +
           ",\"publishing\":" + (s.publishing ? "true" : "false") +
           ",\"video_codec\":" + json_string(s.video_codec) +
           ",\"audio_codec\":" + json_string(s.audio_codec) + ",\"width\":" + std::to_string(s.width) +
           ",\"height\":" + std::to_string(s.height) + ",\"bitrate_in\":" + std::to_string(s.bitrate_in) +
           ",\"bytes_in\":" + std::to_string(s.bytes_in) +
           ",\"bytes_out_relay\":" + std::to_string(s.bytes_out_relay) +
           ",\"bitrate_out_relay\":" + std::to_string(s.bitrate_out_relay) +
           ",\"hls_bytes_written\":" + std::to_string(s.hls_bytes_written) +
           ",\"viewers\":{\"rtmp\":" + std::to_string(s.rtmp_viewers) +
           ",\"http_flv\":" + std::to_string(s.http_flv_viewers) +
           ",\"webrtc\":" + std::to_string(s.webrtc_viewers) + "}" +
           ",\"webrtc_viewers\":" + std::to_string(s.webrtc_viewers) +
           ",\"dropped_frames\":" + std::to_string(s.dropped_frames) +
           ",\"segments\":" + std::to_string(s.segments) + ",\"variants\":[";
    for (size_t i = 0; i < s.variants.size(); ++i) out += (i ? "," : "") + json_string(s.variants[i]);
    out += "],\"push_targets\":[";
    for (size_t i = 0; i < s.push_targets.size(); ++i)
      out += std::string(i ? "," : "") + "{\"location\":" + json_string(s.push_targets[i].first) +
             ",\"state\":" + json_string(s.push_targets[i].second) + "}";
    out += "],\"recording\":" + json_string(s.recording) + ",\"hls_error\":" + json_string(s.hls_error) +
           ",\"urls\":{\"hls\":" +
           json_string(http_base + "/master.m3u8") + ",\"http_flv\":" + json_string(http_base + ".flv") +
           ",\"rtmp\":" + json_string("rtmp://HOST:" + std::to_string(config_.rtmp_port) + base) +
           (s.webrtc ? ",\"whep\":" + json_string(http_base + "/whep") : std::string()) + "}}";
  }
  return out + "],\"webrtc\":" + (config_.webrtc ? "true" : "false") +
         ",\"rtmp_port\":" + std::to_string(config_.rtmp_port) +
         ",\"application\":" + json_string(config_.application) + "}\n";
}

std::string Web::metrics_text(const std::vector<StreamSnapshot>& streams) const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, const std::string& stream, const std::string& value,
                    const char* extra = nullptr) {
    out += std::string(name) + "{stream=\"" + label(stream) + "\"" + (extra ? std::string(",") + extra : "") +
           "} " + value + "\n";
  };
  unsigned publishers = 0;
  for (const StreamSnapshot& s : streams) publishers += s.publishing ? 1 : 0;
  family("live_streams", "gauge", "Live streams (pipelines) now.");
  out += "live_streams " + std::to_string(streams.size()) + "\n";
  family("live_publishers", "gauge", "Streams with a connected publisher.");
  out += "live_publishers " + std::to_string(publishers) + "\n";
  GstStructure* stats = nullptr;
  g_object_get(server_, "stats", &stats, nullptr);
  guint rtmp_connections = 0;
  if (stats) gst_structure_get_uint(stats, "rtmp-connections", &rtmp_connections);
  if (stats) gst_structure_free(stats);
  family("live_rtmp_connections", "gauge", "Open RTMP connections (publishers, players, handshakes).");
  out += "live_rtmp_connections " + std::to_string(rtmp_connections) + "\n";
  family("live_stream_viewers", "gauge", "Viewers of a stream by protocol.");
  for (const StreamSnapshot& s : streams) {
    sample("live_stream_viewers", s.name, std::to_string(s.rtmp_viewers), "protocol=\"rtmp\"");
    sample("live_stream_viewers", s.name, std::to_string(s.http_flv_viewers), "protocol=\"http-flv\"");
    if (s.webrtc) sample("live_stream_viewers", s.name, std::to_string(s.webrtc_viewers), "protocol=\"webrtc\"");
  }
  // One integer per stream for each of these families.
  struct PerStream {
    const char* name;
    const char* type;
    const char* help;
    uint64_t StreamSnapshot::*value;
  };
  static const PerStream kPerStream[] = {
      {"live_stream_bitrate_in_bits_per_second", "gauge", "Published bitrate over the last 5 s.", &StreamSnapshot::bitrate_in},
      {"live_stream_bitrate_out_bits_per_second", "gauge", "Bitrate to RTMP and HTTP-FLV viewers, last 5 s.", &StreamSnapshot::bitrate_out_relay},
      {"live_stream_bytes_in_total", "counter", "Bytes received from the stream's publishers.", &StreamSnapshot::bytes_in},
      {"live_stream_bytes_out_total", "counter", "Bytes sent to RTMP and HTTP-FLV viewers.", &StreamSnapshot::bytes_out_relay},
      {"live_stream_dropped_frames_total", "counter", "Frames dropped (slow viewers, HLS before the first keyframe).", &StreamSnapshot::dropped_frames},
      {"live_stream_hls_bytes_written_total", "counter", "HLS segment and part bytes written, all variants.", &StreamSnapshot::hls_bytes_written},
      {"live_stream_hls_segments_total", "counter", "HLS segments written.", &StreamSnapshot::segments},
  };
  for (const PerStream& f : kPerStream) {
    family(f.name, f.type, f.help);
    for (const StreamSnapshot& s : streams) sample(f.name, s.name, std::to_string(s.*f.value));
  }
  family("live_stream_packaging_latency_p99_seconds", "gauge", "HLS packaging latency, 99th percentile of the last 1000.");
  for (const StreamSnapshot& s : streams) {
    char value[32];
    std::snprintf(value, sizeof value, "%.6f", s.packaging_latency_p99_us / 1e6);
    sample("live_stream_packaging_latency_p99_seconds", s.name, value);
  }
  return out;
}

}  // namespace live_server
