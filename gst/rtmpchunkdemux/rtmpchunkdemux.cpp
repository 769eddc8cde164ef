// Placeholder so the plugin builds; replaced by the real element.
#include <gst/gst.h>

struct GstRtmpChunkDemux { GstElement parent; };
struct GstRtmpChunkDemuxClass { GstElementClass parent_class; };
G_DEFINE_TYPE(GstRtmpChunkDemux, gst_rtmp_chunk_demux, GST_TYPE_ELEMENT)
static void gst_rtmp_chunk_demux_class_init(GstRtmpChunkDemuxClass* klass) {
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "rtmpchunkdemux (in progress)", "Generic", "in progress", "gst-live-server");
}
static void gst_rtmp_chunk_demux_init(GstRtmpChunkDemux*) {}
GST_ELEMENT_REGISTER_DEFINE(rtmpchunkdemux, "rtmpchunkdemux", GST_RANK_NONE, gst_rtmp_chunk_demux_get_type());
