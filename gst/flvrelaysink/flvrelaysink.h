// flvrelaysink: fans one FLV stream out to RTMP players (on the shared RTMP listener),
// HTTP-FLV viewers (on the shared HTTP server) and push targets (other RTMP servers), with a
// GOP cache for instant start. render() only hands messages to the listener's I/O thread; it
// never waits for a viewer. See docs/elements/flvrelaysink.md.
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include <memory>

G_BEGIN_DECLS

#define GST_TYPE_FLV_RELAY_SINK (gst_flv_relay_sink_get_type())
G_DECLARE_FINAL_TYPE(GstFlvRelaySink, gst_flv_relay_sink, GST, FLV_RELAY_SINK, GstBaseSink)

G_END_DECLS

namespace live::gst {
class FlvRelaySinkImpl;
}

struct _GstFlvRelaySink {
  GstBaseSink parent;
  // Constructed in instance init, destroyed in finalize.
  std::unique_ptr<live::gst::FlvRelaySinkImpl> impl;
};
