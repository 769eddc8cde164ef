// Placeholder so the plugin builds; replaced by the real element.
#include <gst/gst.h>

struct GstHlsAdaptiveSink { GstElement parent; };
struct GstHlsAdaptiveSinkClass { GstElementClass parent_class; };
G_DEFINE_TYPE(GstHlsAdaptiveSink, gst_hls_adaptive_sink, GST_TYPE_ELEMENT)
static void gst_hls_adaptive_sink_class_init(GstHlsAdaptiveSinkClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "hlsadaptivesink (in progress)", "Generic", "in progress", "gst-live-server");
}
static void gst_hls_adaptive_sink_init(GstHlsAdaptiveSink*) {}
GST_ELEMENT_REGISTER_DEFINE(hlsadaptivesink, "hlsadaptivesink", GST_RANK_NONE, gst_hls_adaptive_sink_get_type());
