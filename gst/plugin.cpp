// The plugin: registers every element of the set.
#include <gst/gst.h>

#include "server/live_server.h"

GST_ELEMENT_REGISTER_DECLARE(rtmpserversrc);
GST_ELEMENT_REGISTER_DECLARE(rtmpchunkdemux);
GST_ELEMENT_REGISTER_DECLARE(hlsadaptivesink);
GST_ELEMENT_REGISTER_DECLARE(flvrelaysink);
GST_ELEMENT_REGISTER_DECLARE(whepserversink);

static gboolean plugin_init(GstPlugin* plugin) {
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER(rtmpserversrc, plugin);
  ok |= GST_ELEMENT_REGISTER(rtmpchunkdemux, plugin);
  ok |= GST_ELEMENT_REGISTER(hlsadaptivesink, plugin);
  ok |= GST_ELEMENT_REGISTER(flvrelaysink, plugin);
  ok |= GST_ELEMENT_REGISTER(whepserversink, plugin);
  // Not an element: applications find it with g_type_from_name("GstLiveServer") once the
  // plugin is loaded (gst_plugin_load_by_name("liveserver")).
  gst_type_mark_as_plugin_api(GST_TYPE_LIVE_SERVER, static_cast<GstPluginAPIFlags>(0));
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, liveserver,
                  "RTMP/RTMPS server, RTMP demuxer, FLV relay and adaptive HLS sink", plugin_init, VERSION,
                  "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
