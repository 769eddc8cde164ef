// rtmpchunkdemux: demuxes an RTMP message stream (video/x-flv, or the raw post-handshake chunk
// stream application/x-rtmp-chunks) into elementary streams, with Enhanced RTMP (HEVC, AV1,
// VP9, Opus, multitrack) that stock flvdemux in GStreamer 1.22 does not understand.
#pragma once

#include <gst/gst.h>

#include <memory>

G_BEGIN_DECLS

#define GST_TYPE_RTMP_CHUNK_DEMUX (gst_rtmp_chunk_demux_get_type())
G_DECLARE_FINAL_TYPE(GstRtmpChunkDemux, gst_rtmp_chunk_demux, GST, RTMP_CHUNK_DEMUX, GstElement)

G_END_DECLS

namespace live::gst {
class RtmpChunkDemuxImpl;
}

struct _GstRtmpChunkDemux {
  GstElement parent;
  GstPad* sinkpad;
  // Constructed in instance init, destroyed in finalize.
  std::unique_ptr<live::gst::RtmpChunkDemuxImpl> impl;
};
