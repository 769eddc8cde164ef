// Shared by the gst/http classes that run a GMainLoop on their own thread.
#pragma once

#include <glib.h>

namespace live::http {

// Quits `loop` from inside its own context: a plain g_main_loop_quit() before the thread has
// reached g_main_loop_run() would be lost. Join the thread afterwards.
inline void quit_loop_from_inside(GMainContext* context, GMainLoop* loop) {
  g_main_context_invoke_full(context, G_PRIORITY_HIGH,
                             [](gpointer data) -> gboolean {
                               g_main_loop_quit(static_cast<GMainLoop*>(data));
                               return G_SOURCE_REMOVE;
                             },
                             loop, nullptr);
}

}  // namespace live::http
