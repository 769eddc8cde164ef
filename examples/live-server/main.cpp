// live-server: the ready-to-run multi-stream server. Every publish to rtmp://HOST/live/KEY that
// the policy allows gets its own pipeline of this plugin set's elements (StreamPipeline): the
// source and a transcoded ladder as adaptive LL-HLS, RTMP and HTTP-FLV play with a GOP cache,
// optional push and recording. GstLiveServer (gst/server) holds the RTMP and HTTP ports, asks
// for a pipeline when a new key is published and lets Web answer "/", the API and metrics.
#include <glib-unix.h>
#include <gst/gst.h>

#include <malloc.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "config.h"
#include "policy.h"
#include "stream_manager.h"
#include "web.h"

namespace {

using namespace live_server;

struct App {
  Config config;
  std::unique_ptr<Policy> policy;
  std::unique_ptr<StreamManager> streams;
  std::unique_ptr<Web> web;
  GstObject* server = nullptr;
  GMainLoop* loop = nullptr;
  bool stopping = false;
};

gboolean on_stop_signal(gpointer data) {
  auto* app = static_cast<App*>(data);
  if (app->stopping) {
    g_printerr("live-server: stopping now\n");
    g_main_loop_quit(app->loop);
    return G_SOURCE_CONTINUE;
  }
  app->stopping = true;
  g_printerr("live-server: stopping: every stream ends (playlists get ENDLIST, viewers StreamEOF)\n");
  app->streams->shutdown(10, [app] { g_main_loop_quit(app->loop); });
  return G_SOURCE_CONTINUE;
}

gboolean on_mount_needed(GstObject*, GstStructure* request, gpointer data) {
  auto* app = static_cast<App*>(data);
  if (app->stopping) return FALSE;
  return app->streams->provide(request);
}

GstStructure* on_http_request(GstObject*, GstStructure* request, gpointer data) {
  return static_cast<App*>(data)->web->handle(request);
}

// A stream's pipeline for gst-launch-1.0, for --print-pipeline (one H.264 + AAC stream; with
// --webrtc, a source with B-frames, i.e. not Baseline).
void print_pipeline(const Config& c) {
  // The WebRTC branches' queues: leaky, never holding the tee they hang from.
  const std::string leaky = "queue leaky=downstream max-size-time=1000000000 max-size-buffers=0 max-size-bytes=0";
  std::string ladder;
  for (size_t i = 0; i < c.ladder.size(); ++i) {
    const Rung& r = c.ladder[i];
    const std::string hls_pad = "hls.video_" + std::to_string(i + 1);
    ladder += " raw. ! queue ! videoscale ! video/x-raw,width=" + std::to_string(r.width) +
              ",height=" + std::to_string(r.height) + ",pixel-aspect-ratio=1/1 ! x264enc tune=zerolatency speed-preset=" +
              c.encoder_preset + " key-int-max=600 bitrate=" + std::to_string(r.kbps) +
              " ! video/x-h264,profile=main ! h264parse ! " +
              (c.webrtc && i == 0 ? "tee name=top top. ! queue ! " + hls_pad + " top. ! " + leaky + " ! webrtc.video"
                                  : "queue ! " + hls_pad);
  }
  // As StreamPipeline builds it: the demuxer gets a queue (a thread) only when there is a ladder.
  const bool transcodes = !c.ladder.empty();
  std::string webrtc;
  if (c.webrtc) {
    if (!transcodes)
      webrtc += " src. ! " + leaky + " ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! x264enc "
                "tune=zerolatency bframes=0 bitrate=2500 speed-preset=" + c.encoder_preset +
                " ! video/x-h264,profile=main ! webrtc.video";
    webrtc += " aud. ! " + leaky + " ! avdec_aac ! audioconvert ! audioresample ! opusenc ! webrtc.audio "
              "whepserversink name=webrtc application=" + c.application + " stream-key=NAME http-port=" +
              std::to_string(c.http_port);
    if (!c.stun_server.empty()) webrtc += " stun-server=" + c.stun_server;
    // The TURN URL holds a password: printed without it (validate() checked it has a scheme).
    if (!c.turn_server.empty()) {
      const std::string& turn = c.turn_server;
      const size_t host = turn.find('@') == std::string::npos ? turn.find("://") + 3 : turn.rfind('@') + 1;
      webrtc += " turn-server=" + turn.substr(0, turn.find("://") + 3) + "USER:PASSWORD@" + turn.substr(host);
    }
  }
  g_print("rtmpserversrc port=%d application=%s stream-key=KEY idle-timeout=%d ! tee name=flv "
          "flv. ! flvrelaysink port=%d application=%s stream-key=NAME http-port=%d "
          "flv. ! %srtmpchunkdemux name=demux "
          "hlsadaptivesink name=hls location=%s/%s/NAME http-port=%d http-prefix=/%s/NAME "
          "playlist-length=%d low-latency=%s segment-format=%s in-memory=%s "
          "demux.video_0 ! h264parse ! tee name=src src. ! queue ! hls.video_0 "
          "%s%s demux.audio_0 ! aacparse ! %s%s\n",
          c.rtmp_port, c.application.c_str(), c.idle_timeout, c.rtmp_port, c.application.c_str(),
          c.http_port, transcodes ? "queue max-size-time=3000000000 ! " : "", c.output_dir.c_str(),
          c.application.c_str(), c.http_port, c.application.c_str(), c.playlist_length,
          c.low_latency ? "true" : "false", c.segment_format.c_str(), c.hls_in_memory ? "true" : "false",
          transcodes ? "src. ! queue ! avdec_h264 ! tee name=raw" : "", ladder.c_str(),
          c.webrtc ? "tee name=aud aud. ! queue ! hls.audio_0" : "queue ! hls.audio_0", webrtc.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // one log line at a time, also into a pipe or a file
  // glibc gives each thread that allocates an arena of its own, up to 8 per core, and keeps what
  // they held: streams come and go with their threads, and the hostile-clients test's waves
  // grew the process 70 -> 138 MiB that way (with as many arenas as cores it levelled off at
  // 86-92 MiB). MALLOC_ARENA_MAX in the environment still wins.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, std::max(2, int(g_get_num_processors())));
  App app;
  bool exit_now = false;
  if (int status = load_config(argc, argv, app.config, exit_now); exit_now) return status;
  if (app.config.print_pipeline) {
    print_pipeline(app.config);
    return 0;
  }
  gst_init(&argc, &argv);
  GstPlugin* plugin = gst_plugin_load_by_name("liveserver");
  const GType server_type = g_type_from_name("GstLiveServer");
  if (!plugin || !server_type) {
    g_printerr("live-server: the liveserver plugin is not found (set GST_PLUGIN_PATH to the build's gst folder)\n");
    return 1;
  }
  gst_object_unref(plugin);
  const Config& c = app.config;
  app.policy = std::make_unique<Policy>(c);
  app.streams = std::make_unique<StreamManager>(c, *app.policy);
  app.server = GST_OBJECT(g_object_new(server_type, "address", c.address.c_str(), "rtmp-port",
                                       guint(c.rtmp_port), "http-address", c.address.c_str(),
                                       "http-port", guint(c.http_port),
                                       "max-connections-per-address", guint(c.max_connections_per_address),
                                       nullptr));
  gst_object_ref_sink(app.server);
  if (!c.tls_certificate.empty())
    g_object_set(app.server, "tls-certificate", c.tls_certificate.c_str(), "tls-key", c.tls_key.c_str(), nullptr);
  app.web = std::make_unique<Web>(c, [&app] { return app.streams->snapshots(); }, app.server);
  std::string why;
  if (!app.web->load(why)) {
    g_printerr("live-server: %s\n", why.c_str());
    return 1;
  }
  g_signal_connect(app.server, "mount-needed", G_CALLBACK(on_mount_needed), &app);
  g_signal_connect(app.server, "http-request", G_CALLBACK(on_http_request), &app);
  gboolean started = FALSE;
  g_signal_emit_by_name(app.server, "start", &started);
  if (!started) {
    gchar* error = nullptr;
    g_object_get(app.server, "last-error", &error, nullptr);
    g_printerr("live-server: cannot start: %s\n", error ? error : "unknown error");
    g_free(error);
    return 1;
  }
  app.loop = g_main_loop_new(nullptr, FALSE);
  g_unix_signal_add(SIGINT, on_stop_signal, &app);
  g_unix_signal_add(SIGTERM, on_stop_signal, &app);
  g_timeout_add_seconds(1, [](gpointer data) -> gboolean {
    static_cast<App*>(data)->streams->end_abandoned();
    return G_SOURCE_CONTINUE;
  }, &app);
  if (c.status_interval > 0)
    g_timeout_add_seconds(guint(c.status_interval), [](gpointer data) -> gboolean {
      static_cast<App*>(data)->streams->log_status();
      return G_SOURCE_CONTINUE;
    }, &app);
  const char* scheme = c.tls_certificate.empty() ? "rtmp" : "rtmps";
  g_print("live-server: publish to %s://HOST:%d/%s/<key> (%s)\n", scheme, c.rtmp_port,
          c.application.c_str(),
          c.publish_keys.empty() && c.auth_callback.empty() ? "any key" : "keys the policy allows");
  g_print("live-server: streams at http://HOST:%d/ ; each at /%s/<name>/master.m3u8, /%s/<name>.flv "
          "and %s://HOST:%d/%s/<name>; /api/streams and /metrics report\n",
          c.http_port, c.application.c_str(), c.application.c_str(), scheme, c.rtmp_port, c.application.c_str());
  if (c.webrtc)
    g_print("live-server: WebRTC (WHEP) play of every stream at http://HOST:%d/%s/<name>/whep\n", c.http_port,
            c.application.c_str());
  g_main_loop_run(app.loop);
  g_signal_emit_by_name(app.server, "stop");
  app.streams.reset();  // pipelines to NULL
  gst_object_unref(app.server);
  g_main_loop_unref(app.loop);
  g_print("live-server: stopped\n");
  return 0;
}
