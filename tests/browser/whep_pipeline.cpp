// Runs a gst-launch style pipeline for the WHEP tests and makes what a test cannot get from
// gst-launch-1.0 visible: the `stats` of the element named "w" (whepserversink), written to a
// file every 100 ms (atomically), and every bus error and element message as one stdout line.
// Exit 0 at EOS or SIGINT/SIGTERM, 1 after an error on the bus.
//   whep_pipeline STATS_FILE PIPELINE-DESCRIPTION...
#include <gst/gst.h>
#include <glib-unix.h>

#include <cstdio>
#include <string>

namespace {

struct App {
  GstElement* pipeline = nullptr;
  GMainLoop* loop = nullptr;
  std::string stats_file;
  int exit_code = 0;
};

gboolean write_stats(gpointer data) {
  auto* app = static_cast<App*>(data);
  GstElement* w = gst_bin_get_by_name(GST_BIN(app->pipeline), "w");
  if (w == nullptr) return G_SOURCE_CONTINUE;
  GstStructure* stats = nullptr;
  g_object_get(w, "stats", &stats, nullptr);
  gst_object_unref(w);
  if (stats == nullptr) return G_SOURCE_CONTINUE;
  gchar* text = gst_structure_to_string(stats);
  gst_structure_free(stats);
  const std::string tmp = app->stats_file + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "%s\n", text);
    std::fclose(f);
    std::rename(tmp.c_str(), app->stats_file.c_str());
  }
  g_free(text);
  return G_SOURCE_CONTINUE;
}

gboolean on_bus(GstBus*, GstMessage* message, gpointer data) {
  auto* app = static_cast<App*>(data);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      GError* error = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(message, &error, &debug);
      std::printf("ERROR from %s: %s (%s)\n", GST_OBJECT_NAME(GST_MESSAGE_SRC(message)), error->message,
                  debug ? debug : "");
      g_error_free(error);
      g_free(debug);
      app->exit_code = 1;
      g_main_loop_quit(app->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      std::printf("EOS\n");
      g_main_loop_quit(app->loop);
      break;
    case GST_MESSAGE_ELEMENT: {
      gchar* text = gst_structure_to_string(gst_message_get_structure(message));
      std::printf("ELEMENT %s\n", text);
      g_free(text);
      break;
    }
    default:
      break;
  }
  std::fflush(stdout);
  return G_SOURCE_CONTINUE;
}

gboolean on_signal(gpointer data) {
  g_main_loop_quit(static_cast<App*>(data)->loop);
  return G_SOURCE_REMOVE;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: whep_pipeline STATS_FILE PIPELINE...\n");
    return 2;
  }
  App app;
  app.stats_file = argv[1];
  GError* error = nullptr;
  app.pipeline = gst_parse_launchv(const_cast<const gchar**>(argv + 2), &error);
  if (app.pipeline == nullptr) {
    std::printf("ERROR: cannot build the pipeline: %s\n", error ? error->message : "?");
    return 1;
  }
  app.loop = g_main_loop_new(nullptr, FALSE);
  GstBus* bus = gst_element_get_bus(app.pipeline);
  gst_bus_add_watch(bus, on_bus, &app);
  gst_object_unref(bus);
  g_timeout_add(100, write_stats, &app);
  g_unix_signal_add(SIGINT, on_signal, &app);
  g_unix_signal_add(SIGTERM, on_signal, &app);
  if (gst_element_set_state(app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::printf("ERROR: the pipeline does not start\n");
    app.exit_code = 1;
  } else {
    std::printf("PLAYING\n");
    std::fflush(stdout);
    g_main_loop_run(app.loop);
  }
  // Drain errors posted during the start failure.
  if (app.exit_code == 1) {
    GstBus* b = gst_element_get_bus(app.pipeline);
    while (GstMessage* m = gst_bus_pop_filtered(b, GST_MESSAGE_ERROR)) {
      on_bus(b, m, &app);
      gst_message_unref(m);
    }
    gst_object_unref(b);
  }
  write_stats(&app);
  gst_element_set_state(app.pipeline, GST_STATE_NULL);
  gst_object_unref(app.pipeline);
  std::printf("EXIT %d\n", app.exit_code);
  return app.exit_code;
}
