// live-server: the ready-to-run application. One RTMP/RTMPS ingest point, transcoded to a
// two-rung adaptive ladder (the source passed through + one scaled rendition) and served as
// HLS / LL-HLS from the built-in HTTP server. Everything it does is an ordinary GStreamer
// pipeline of this plugin set's elements; --print-pipeline shows it for gst-launch-1.0.
#include <glib-unix.h>
#include <gst/gst.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct Options {
  std::string address = "0.0.0.0";
  int rtmp_port = 1935;
  std::string application = "live";
  std::string stream_key;  // empty: any key
  std::string tls_certificate;
  std::string tls_key;
  int http_port = 8080;
  std::string output_dir = "live-output";
  bool low_latency = true;
  std::string segment_format = "fmp4";
  int playlist_length = 6;
  int ladder_width = 640;
  int ladder_height = 360;
  int ladder_kbps = 800;
  bool print_pipeline = false;
  std::string player_dir;  // holds player.html and node_modules/hls.js: served at /
};

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The player page, as an absolute path (http-index-file is a file path, not a URL path).
std::string index_path(const Options& o) {
  gchar* dir = g_canonicalize_filename(o.output_dir.c_str(), nullptr);
  std::string path = std::string(dir) + "/index.html";
  g_free(dir);
  return path;
}

std::string build_pipeline(const Options& o) {
  std::string src = "rtmpserversrc name=ingest address=" + quote(o.address) +
                    " port=" + std::to_string(o.rtmp_port) + " application=" + quote(o.application) +
                    " stream-key=" + quote(o.stream_key);
  if (!o.tls_certificate.empty())
    src += " tls-certificate=" + quote(o.tls_certificate) + " tls-key=" + quote(o.tls_key);
  const std::string sink = "hlsadaptivesink name=hls location=" + quote(o.output_dir) +
                           " http-port=" + std::to_string(o.http_port) +
                           " segment-format=" + o.segment_format +
                           " playlist-length=" + std::to_string(o.playlist_length) +
                           " low-latency=" + (o.low_latency ? "true" : "false") +
                           (o.player_dir.empty() ? "" : " http-index-file=" + quote(index_path(o)));
  const std::string scaled_caps = "video/x-raw,width=" + std::to_string(o.ladder_width) +
                                  ",height=" + std::to_string(o.ladder_height);
  // The source rendition passes through untouched (its keyframes define the segment
  // boundaries); the scaled rendition is re-encoded and its key units are forced there.
  return src + " ! rtmpchunkdemux name=demux " + sink +
         " demux.video_0 ! queue ! h264parse ! tee name=source_video"
         " source_video. ! queue ! hls.video_0"
         " source_video. ! queue max-size-time=2000000000 ! avdec_h264 ! videoconvert ! videoscale ! " +
         scaled_caps + " ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=600 bitrate=" +
         std::to_string(o.ladder_kbps) + " ! video/x-h264,profile=main ! h264parse ! queue ! hls.video_1"
         " demux.audio_0 ! queue ! aacparse ! hls.audio_0";
}

// Puts the player page and hls.js into the HLS directory so the built-in server serves them.
bool install_player(const Options& o) {
  struct Copy { std::string from, to; };
  const Copy copies[] = {
      {o.player_dir + "/player.html", index_path(o)},
      {o.player_dir + "/node_modules/hls.js/dist/hls.min.js", o.output_dir + "/hls.min.js"},
  };
  if (g_mkdir_with_parents(o.output_dir.c_str(), 0755) != 0) {
    g_printerr("live-server: cannot create %s\n", o.output_dir.c_str());
    return false;
  }
  for (const Copy& c : copies) {
    gchar* contents = nullptr;
    gsize length = 0;
    GError* err = nullptr;
    if (!g_file_get_contents(c.from.c_str(), &contents, &length, &err) ||
        !g_file_set_contents(c.to.c_str(), contents, length, &err)) {
      g_printerr("live-server: player page: %s\n", err->message);
      g_clear_error(&err);
      g_free(contents);
      return false;
    }
    g_free(contents);
  }
  return true;
}

GMainLoop* g_loop = nullptr;
GstElement* g_pipeline = nullptr;

gboolean on_sigint(gpointer) {
  g_printerr("live-server: stopping (EOS: the playlists get their ENDLIST)\n");
  gst_element_send_event(g_pipeline, gst_event_new_eos());
  return G_SOURCE_REMOVE;
}

gboolean on_bus_message(GstBus*, GstMessage* msg, gpointer) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GError* err = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &err, &dbg);
      g_printerr("live-server: error from %s: %s\n%s\n", GST_OBJECT_NAME(msg->src), err->message,
                 dbg ? dbg : "");
      g_clear_error(&err);
      g_free(dbg);
      g_main_loop_quit(g_loop);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError* err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      g_printerr("live-server: warning from %s: %s\n", GST_OBJECT_NAME(msg->src), err->message);
      g_clear_error(&err);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit(g_loop);
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure* s = gst_message_get_structure(msg);
      const gchar* name = gst_structure_get_name(s);
      if (g_str_has_prefix(name, "rtmp-publish-")) {
        const gchar* addr = gst_structure_get_string(s, "client-address");
        g_print("live-server: %s from %s\n", name, addr ? addr : "?");
      }
      break;
    }
    default:
      break;
  }
  return TRUE;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  gchar* address = nullptr;
  gchar* application = nullptr;
  gchar* stream_key = nullptr;
  gchar* tls_certificate = nullptr;
  gchar* tls_key = nullptr;
  gchar* output_dir = nullptr;
  gchar* segment_format = nullptr;
  gboolean no_low_latency = FALSE;
  gboolean print_pipeline = FALSE;
  gchar* player_dir = nullptr;
  GOptionEntry entries[] = {
      {"address", 0, 0, G_OPTION_ARG_STRING, &address, "Address to listen on (default 0.0.0.0)", "ADDR"},
      {"rtmp-port", 0, 0, G_OPTION_ARG_INT, &o.rtmp_port, "RTMP(S) port (default 1935)", "PORT"},
      {"application", 0, 0, G_OPTION_ARG_STRING, &application, "RTMP application (default live)", "NAME"},
      {"stream-key", 0, 0, G_OPTION_ARG_STRING, &stream_key, "Accepted stream key (default: any)", "KEY"},
      {"tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate, "PEM certificate: serve RTMPS", "FILE"},
      {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, "PEM private key for RTMPS", "FILE"},
      {"http-port", 0, 0, G_OPTION_ARG_INT, &o.http_port, "HLS HTTP port (default 8080)", "PORT"},
      {"output-dir", 0, 0, G_OPTION_ARG_FILENAME, &output_dir, "HLS directory (default live-output)", "DIR"},
      {"segment-format", 0, 0, G_OPTION_ARG_STRING, &segment_format, "fmp4 (default) or mpegts", "FMT"},
      {"playlist-length", 0, 0, G_OPTION_ARG_INT, &o.playlist_length, "Segments listed per playlist (default 6, 0 = all)", "N"},
      {"no-low-latency", 0, 0, G_OPTION_ARG_NONE, &no_low_latency, "Plain HLS instead of LL-HLS", nullptr},
      {"ladder-width", 0, 0, G_OPTION_ARG_INT, &o.ladder_width, "Width of the scaled rendition (640)", "W"},
      {"ladder-height", 0, 0, G_OPTION_ARG_INT, &o.ladder_height, "Height of the scaled rendition (360)", "H"},
      {"ladder-kbps", 0, 0, G_OPTION_ARG_INT, &o.ladder_kbps, "Bitrate of the scaled rendition (800)", "KBPS"},
      {"player-dir", 0, 0, G_OPTION_ARG_FILENAME, &player_dir, "Folder with player.html and node_modules/hls.js, served at / (default: none)", "DIR"},
      {"print-pipeline", 0, 0, G_OPTION_ARG_NONE, &print_pipeline, "Print the gst-launch pipeline and exit", nullptr},
      {nullptr}};
  GOptionContext* ctx = g_option_context_new("- RTMP ingest to adaptive HLS / LL-HLS");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    g_printerr("live-server: %s\n", err->message);
    return 2;
  }
  g_option_context_free(ctx);
  auto take = [](gchar* v, std::string& dst) {
    if (v) dst = v;
    g_free(v);
  };
  take(address, o.address);
  take(application, o.application);
  take(stream_key, o.stream_key);
  take(tls_certificate, o.tls_certificate);
  take(tls_key, o.tls_key);
  take(output_dir, o.output_dir);
  take(segment_format, o.segment_format);
  take(player_dir, o.player_dir);
  o.low_latency = !no_low_latency;

  const std::string description = build_pipeline(o);
  if (print_pipeline) {
    g_print("%s\n", description.c_str());
    return 0;
  }
  gst_init(&argc, &argv);
  if (!o.player_dir.empty() && !install_player(o)) return 1;
  g_pipeline = gst_parse_launch(description.c_str(), &err);
  if (!g_pipeline) {
    g_printerr("live-server: cannot build the pipeline: %s\n", err->message);
    return 1;
  }
  g_loop = g_main_loop_new(nullptr, FALSE);
  GstBus* bus = gst_element_get_bus(g_pipeline);
  gst_bus_add_watch(bus, on_bus_message, nullptr);
  gst_object_unref(bus);
  g_unix_signal_add(SIGINT, on_sigint, nullptr);
  g_unix_signal_add(SIGTERM, on_sigint, nullptr);

  if (gst_element_set_state(g_pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    g_printerr("live-server: the pipeline refused to start (is port %d free?)\n", o.rtmp_port);
    return 1;
  }
  const char* scheme = o.tls_certificate.empty() ? "rtmp" : "rtmps";
  g_print("live-server: publish to %s://HOST:%d/%s/%s\n", scheme, o.rtmp_port, o.application.c_str(),
          o.stream_key.empty() ? "<any key>" : "<your key>");
  g_print("live-server: play http://HOST:%d/master.m3u8 (player page: http://HOST:%d/)\n", o.http_port,
          o.http_port);
  g_main_loop_run(g_loop);
  gst_element_set_state(g_pipeline, GST_STATE_NULL);
  gst_object_unref(g_pipeline);
  g_main_loop_unref(g_loop);
  return 0;
}
