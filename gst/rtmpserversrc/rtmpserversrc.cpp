// Placeholder so the plugin builds; replaced by the real element.
#include <gst/gst.h>

struct GstRtmpServerSrc { GstElement parent; };
struct GstRtmpServerSrcClass { GstElementClass parent_class; };
G_DEFINE_TYPE(GstRtmpServerSrc, gst_rtmp_server_src, GST_TYPE_ELEMENT)
static void gst_rtmp_server_src_class_init(GstRtmpServerSrcClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "rtmpserversrc (in progress)", "Generic", "in progress", "gst-live-server");
}
static void gst_rtmp_server_src_init(GstRtmpServerSrc*) {}
GST_ELEMENT_REGISTER_DEFINE(rtmpserversrc, "rtmpserversrc", GST_RANK_NONE, gst_rtmp_server_src_get_type());
