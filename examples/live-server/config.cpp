// Loads live-server's configuration (see config.h).
#include "config.h"

#include <glib.h>
#include <gst/gst.h>

#include <cstdio>

namespace live_server {

std::string Config::public_name(const std::string& key) const {
  auto it = streams.find(key);
  return it != streams.end() && !it->second.name.empty() ? it->second.name : key;
}

std::vector<std::string> Config::push_targets(const std::string& key) const {
  std::vector<std::string> out;
  const std::string name = public_name(key);
  for (std::string target : push) {
    for (size_t at; (at = target.find("{name}")) != std::string::npos;) target.replace(at, 6, name);
    out.push_back(target);
  }
  if (auto it = streams.find(key); it != streams.end())
    out.insert(out.end(), it->second.push.begin(), it->second.push.end());
  return out;
}

bool Config::records(const std::string& key) const {
  auto it = streams.find(key);
  return it != streams.end() && it->second.record >= 0 ? it->second.record == 1 : record;
}

bool parse_ladder(const std::string& text, std::vector<Rung>& out, std::string& why) {
  out.clear();
  gchar** items = g_strsplit(text.c_str(), ",", -1);
  bool ok = true;
  for (gchar** item = items; *item && ok; ++item) {
    g_strstrip(*item);
    if (!**item) continue;
    Rung rung;
    char tail = 0;
    if (std::sscanf(*item, "%dx%d@%d%c", &rung.width, &rung.height, &rung.kbps, &tail) != 3 ||
        rung.width < 16 || rung.height < 16 || rung.width > 7680 || rung.height > 4320 ||
        rung.width % 2 || rung.height % 2 || rung.kbps < 50 || rung.kbps > 100000) {
      why = std::string("bad ladder rung '") + *item +
            "' (want WIDTHxHEIGHT@KBPS, even sizes, e.g. 640x360@800)";
      ok = false;
    }
    out.push_back(rung);
  }
  g_strfreev(items);
  if (ok && out.size() > 8) {
    why = "at most 8 transcoded rungs";
    ok = false;
  }
  return ok;
}

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  gchar** items = g_strsplit_set(text.c_str(), ", ", -1);
  for (gchar** item = items; *item; ++item)
    if (**item) out.emplace_back(*item);
  g_strfreev(items);
  return out;
}

// Reads one key file into config; false + why on a file or value error.
bool load_key_file(const std::string& path, Config& c, std::string& why) {
  GKeyFile* file = g_key_file_new();
  GError* error = nullptr;
  bool ok = g_key_file_load_from_file(file, path.c_str(), G_KEY_FILE_NONE, &error);
  auto str = [&](const char* group, const char* key, std::string& out) {
    if (!ok || !g_key_file_has_key(file, group, key, nullptr)) return;
    gchar* v = g_key_file_get_string(file, group, key, &error);
    if (v) out = g_strstrip(v);
    g_free(v);
    if (error) ok = false;
  };
  auto num = [&](const char* group, const char* key, int& out, int lo, int hi) {
    if (!ok || !g_key_file_has_key(file, group, key, nullptr)) return;
    const int v = g_key_file_get_integer(file, group, key, &error);
    if (error) { ok = false; return; }
    if (v < lo || v > hi) {
      why = std::string("[") + group + "] " + key + " = " + std::to_string(v) + " is outside " +
            std::to_string(lo) + ".." + std::to_string(hi);
      ok = false;
      return;
    }
    out = v;
  };
  auto flag = [&](const char* group, const char* key, bool& out) {
    if (!ok || !g_key_file_has_key(file, group, key, nullptr)) return;
    const gboolean v = g_key_file_get_boolean(file, group, key, &error);
    if (!error) {
      out = v;
      return;
    }
    gchar* raw = g_key_file_get_value(file, group, key, nullptr);
    why = std::string("[") + group + "] " + key + " = " + (raw ? raw : "") + " is not true or false";
    g_free(raw);
    g_clear_error(&error);
    ok = false;
  };
  std::string text;
  str("server", "address", c.address);
  num("server", "rtmp-port", c.rtmp_port, 1, 65535);
  str("server", "application", c.application);
  str("server", "tls-certificate", c.tls_certificate);
  str("server", "tls-key", c.tls_key);
  num("server", "max-connections-per-address", c.max_connections_per_address, 0, 65535);
  num("server", "http-port", c.http_port, 1, 65535);
  str("server", "output-dir", c.output_dir);
  str("server", "player-dir", c.player_dir);
  num("server", "idle-timeout", c.idle_timeout, 1, 3600);
  num("server", "status-interval", c.status_interval, 0, 86400);
  num("server", "max-streams", c.max_streams, 1, 1000);
  flag("hls", "low-latency", c.low_latency);
  flag("hls", "in-memory", c.hls_in_memory);
  str("hls", "segment-format", c.segment_format);
  num("hls", "playlist-length", c.playlist_length, 0, 1000);
  if (ok && g_key_file_has_key(file, "ladder", "rungs", nullptr)) {
    str("ladder", "rungs", text);
    if (ok && !parse_ladder(text, c.ladder, why)) ok = false;
  }
  str("ladder", "encoder-preset", c.encoder_preset);
  flag("webrtc", "enabled", c.webrtc);
  str("webrtc", "stun-server", c.stun_server);
  str("webrtc", "turn-server", c.turn_server);
  num("relay", "video-write-delay", c.video_write_delay, 0, 1000);
  if (text.clear(), str("auth", "publish-keys", text), !text.empty()) c.publish_keys = split_list(text);
  str("auth", "callback", c.auth_callback);
  if (text.clear(), str("push", "targets", text), !text.empty()) c.push = split_list(text);
  flag("record", "enabled", c.record);
  str("record", "dir", c.record_dir);
  gchar** groups = ok ? g_key_file_get_groups(file, nullptr) : nullptr;
  for (gchar** group = groups; group && *group && ok; ++group) {
    if (!g_str_has_prefix(*group, "stream:")) continue;
    StreamSettings& st = c.streams[*group + 7];
    str(*group, "name", st.name);
    if (text.clear(), str(*group, "push", text), !text.empty()) st.push = split_list(text);
    if (ok && g_key_file_has_key(file, *group, "record", nullptr)) {
      bool on = false;
      flag(*group, "record", on);
      st.record = on ? 1 : 0;
    }
  }
  g_strfreev(groups);
  if (error) why = error->message;
  g_clear_error(&error);
  g_key_file_free(file);
  if (!ok && why.empty()) why = "cannot read it";
  if (!ok) why = path + ": " + why;
  return ok;
}

bool validate(const Config& c, std::string& why) {
  if (c.segment_format != "fmp4" && c.segment_format != "mpegts")
    why = "segment format must be fmp4 or mpegts, not '" + c.segment_format + "'";
  else if (c.tls_certificate.empty() != c.tls_key.empty())
    why = "--tls-certificate and --tls-key go together";
  else if (c.rtmp_port < 1 || c.rtmp_port > 65535 || c.http_port < 1 || c.http_port > 65535)
    why = "ports must be 1..65535";
  else if (c.application.empty() || c.application.find('/') != std::string::npos)
    why = "the application must be one path segment, e.g. live";
  else if (!c.stun_server.empty() && !g_str_has_prefix(c.stun_server.c_str(), "stun://"))
    why = "the STUN server must be a stun://host:port URL, not '" + c.stun_server + "'";
  else if (!c.turn_server.empty() && !g_str_has_prefix(c.turn_server.c_str(), "turn://") &&
           !g_str_has_prefix(c.turn_server.c_str(), "turns://"))
    why = "the TURN server must be a turn:// or turns://user:password@host:port URL";  // not echoed: a secret
  for (const auto& [key, st] : c.streams)
    if (!st.name.empty() && (st.name.find_first_of("/?#%\\ ") != std::string::npos || st.name[0] == '.'))
      why = "[stream:...] name '" + st.name + "' must be one plain URL segment";
  return why.empty();
}

}  // namespace

int load_config(int& argc, char**& argv, Config& c, bool& exit_now) {
  exit_now = false;
  gchar *config_file = nullptr, *address = nullptr, *application = nullptr, *stream_key = nullptr,
        *publish_keys = nullptr, *tls_certificate = nullptr, *tls_key = nullptr, *output_dir = nullptr,
        *segment_format = nullptr, *player_dir = nullptr, *ladder = nullptr, *auth_callback = nullptr,
        *record_dir = nullptr, *encoder_preset = nullptr, *stun_server = nullptr, *turn_server = nullptr;
  gchar** push = nullptr;
  int rtmp_port = -1, http_port = -1, playlist_length = -1, idle_timeout = -1, status_interval = -1;
  int ladder_width = 0, ladder_height = 0, ladder_kbps = 0, max_streams = -1;
  gboolean no_low_latency = FALSE, low_latency = FALSE, print_pipeline = FALSE, record = FALSE;
  gboolean webrtc = FALSE, no_webrtc = FALSE, hls_in_memory = FALSE;
  GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file, "Config file (GLib key file, see docs/operations.md); flags override it", "FILE"},
      {"address", 0, 0, G_OPTION_ARG_STRING, &address, "Address to listen on for RTMP and HTTP (default 0.0.0.0)", "ADDR"},
      {"rtmp-port", 0, 0, G_OPTION_ARG_INT, &rtmp_port, "RTMP(S) port (default 1935)", "PORT"},
      {"application", 0, 0, G_OPTION_ARG_STRING, &application, "RTMP application and URL path (default live)", "NAME"},
      {"stream-key", 0, 0, G_OPTION_ARG_STRING, &stream_key, "Accept only this publish key (same as --publish-keys KEY)", "KEY"},
      {"publish-keys", 0, 0, G_OPTION_ARG_STRING, &publish_keys, "Comma-separated publish keys allowed (default: any key)", "KEYS"},
      {"auth-callback", 0, 0, G_OPTION_ARG_STRING, &auth_callback, "URL asked (HTTP POST) before every publish and play; 2xx allows", "URL"},
      {"tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate, "PEM certificate: serve RTMPS", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key for RTMPS", "FILE"},
      {"http-port", 0, 0, G_OPTION_ARG_INT, &http_port, "HTTP port: page, HLS, HTTP-FLV, API, metrics (default 8080)", "PORT"},
      {"output-dir", 0, 0, G_OPTION_ARG_FILENAME, &output_dir, "HLS directory, one folder per stream (default live-output)", "DIR"},
      {"segment-format", 0, 0, G_OPTION_ARG_STRING, &segment_format, "fmp4 (default) or mpegts", "FMT"},
      {"playlist-length", 0, 0, G_OPTION_ARG_INT, &playlist_length, "Segments listed per playlist (default 6, 0 = all)", "N"},
      {"no-low-latency", 0, 0, G_OPTION_ARG_NONE, &no_low_latency, "Plain HLS instead of LL-HLS", nullptr},
      {"hls-in-memory", 0, 0, G_OPTION_ARG_NONE, &hls_in_memory, "Keep HLS in memory, served on the HTTP port; nothing is written to --output-dir", nullptr},
      {"low-latency", 0, 0, G_OPTION_ARG_NONE, &low_latency, "LL-HLS (the default)", nullptr},
      {"ladder", 0, 0, G_OPTION_ARG_STRING, &ladder, "Transcoded rungs below the source, e.g. 640x360@800,426x240@400 (default); \"\" = source only", "RUNGS"},
      {"ladder-width", 0, 0, G_OPTION_ARG_INT, &ladder_width, "Width of the first transcoded rung (older flag)", "W"},
      {"ladder-height", 0, 0, G_OPTION_ARG_INT, &ladder_height, "Height of the first transcoded rung (older flag)", "H"},
      {"ladder-kbps", 0, 0, G_OPTION_ARG_INT, &ladder_kbps, "Bitrate of the first transcoded rung (older flag)", "KBPS"},
      {"encoder-preset", 0, 0, G_OPTION_ARG_STRING, &encoder_preset, "x264enc speed-preset of the rungs (default superfast)", "NAME"},
      {"webrtc", 0, 0, G_OPTION_ARG_NONE, &webrtc, "WebRTC play (WHEP) of every stream at /APP/NAME/whep on the HTTP port (default off: "
       "it costs CPU per stream without viewers, AAC -> Opus and x264 when there is no ladder)", nullptr},
      {"no-webrtc", 0, 0, G_OPTION_ARG_NONE, &no_webrtc, "No WebRTC play (the default)", nullptr},
      {"stun-server", 0, 0, G_OPTION_ARG_STRING, &stun_server, "WebRTC: STUN server, for a server behind NAT (default none)", "stun://HOST:PORT"},
      {"turn-server", 0, 0, G_OPTION_ARG_STRING, &turn_server, "WebRTC: TURN server relaying media for viewers that cannot reach this one (default none)", "turn://USER:PASS@HOST:PORT"},
      {"push", 0, 0, G_OPTION_ARG_STRING_ARRAY, &push, "Restream every stream to this rtmp:// or rtmps:// URL ({name} = stream name); repeatable", "URL"},
      {"record", 0, 0, G_OPTION_ARG_NONE, &record, "Record every publish to an MP4 file", nullptr},
      {"record-dir", 0, 0, G_OPTION_ARG_FILENAME, &record_dir, "Folder of the recordings (default recordings)", "DIR"},
      {"idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout, "Seconds a stream waits for its publisher to return before it ends (default 10)", "S"},
      {"max-streams", 0, 0, G_OPTION_ARG_INT, &max_streams, "Streams at once (default 16)", "N"},
      {"status-interval", 0, 0, G_OPTION_ARG_INT, &status_interval, "Seconds between status lines (default 30, 0 = none)", "S"},
      {"player-dir", 0, 0, G_OPTION_ARG_FILENAME, &player_dir, "Folder with index.html and node_modules/hls.js (served at /)", "DIR"},
      {"print-pipeline", 0, 0, G_OPTION_ARG_NONE, &print_pipeline, "Print a stream's pipeline for gst-launch-1.0 and exit", nullptr},
      {nullptr}};
  GOptionContext* ctx = g_option_context_new("- multi-stream RTMP server: adaptive LL-HLS, RTMP and HTTP-FLV play");
  g_option_context_set_summary(ctx,
      "Publish any number of streams to rtmp://HOST:1935/live/KEY (ffmpeg, OBS); each is served at\n"
      "http://HOST:8080/live/NAME/master.m3u8 (adaptive LL-HLS), rtmp://HOST:1935/live/NAME and\n"
      "http://HOST:8080/live/NAME.flv (and WebRTC at http://HOST:8080/live/NAME/whep with --webrtc).\n"
      "http://HOST:8080/ lists the live streams with a player;\n"
      "/api/streams (JSON) and /metrics (Prometheus) report on them.");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* err = nullptr;
  const bool parsed = g_option_context_parse(ctx, &argc, &argv, &err);
  g_option_context_free(ctx);
  auto take = [](gchar*& v, std::string& dst) {
    if (v) dst = v;
    g_free(v);
    v = nullptr;
  };
  std::string why;
  if (!parsed) why = err->message;
  g_clear_error(&err);
  if (why.empty() && config_file && !load_key_file(config_file, c, why)) {}
  if (why.empty()) {
    take(address, c.address);
    take(application, c.application);
    take(tls_certificate, c.tls_certificate);
    take(tls_key, c.tls_key);
    take(output_dir, c.output_dir);
    take(segment_format, c.segment_format);
    take(player_dir, c.player_dir);
    take(auth_callback, c.auth_callback);
    take(record_dir, c.record_dir);
    take(encoder_preset, c.encoder_preset);
    take(stun_server, c.stun_server);
    take(turn_server, c.turn_server);
    if (rtmp_port >= 0) c.rtmp_port = rtmp_port;
    if (http_port >= 0) c.http_port = http_port;
    if (playlist_length >= 0) c.playlist_length = playlist_length;
    if (idle_timeout > 0) c.idle_timeout = idle_timeout;
    if (status_interval >= 0) c.status_interval = status_interval;
    if (max_streams > 0) c.max_streams = max_streams;
    if (no_low_latency) c.low_latency = false;
    if (low_latency) c.low_latency = true;
    if (record) c.record = true;
    if (hls_in_memory) c.hls_in_memory = true;
    if (webrtc) c.webrtc = true;
    if (no_webrtc) c.webrtc = false;
    if (print_pipeline) c.print_pipeline = true;
    if (stream_key) c.publish_keys = {stream_key};
    if (publish_keys) c.publish_keys = split_list(publish_keys);
    if (push) {
      c.push.clear();
      for (gchar** p = push; *p; ++p) c.push.emplace_back(*p);
    }
    if (ladder) parse_ladder(ladder, c.ladder, why);
    if (why.empty() && (ladder_width || ladder_height || ladder_kbps)) {
      if (c.ladder.empty()) c.ladder.push_back({640, 360, 800});
      if (ladder_width) c.ladder[0].width = ladder_width;
      if (ladder_height) c.ladder[0].height = ladder_height;
      if (ladder_kbps) c.ladder[0].kbps = ladder_kbps;
    }
  }
  if (why.empty()) validate(c, why);
  for (gchar* v : {config_file, address, application, stream_key, publish_keys, tls_certificate, tls_key,
                   output_dir, segment_format, player_dir, ladder, auth_callback, record_dir, encoder_preset,
                   stun_server, turn_server})
    g_free(v);
  g_strfreev(push);
  if (!why.empty()) {
    g_printerr("live-server: %s\n", why.c_str());
    exit_now = true;
    return 2;
  }
  return 0;
}

}  // namespace live_server
