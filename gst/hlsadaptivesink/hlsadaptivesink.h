// hlsadaptivesink: adaptive HLS / LL-HLS sink element. Request pads video_%u (one variant each)
// and audio_%u (one AAC rendition, shared by every variant). See docs/elements/hlsadaptivesink.md.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_HLS_ADAPTIVE_SINK (gst_hls_adaptive_sink_get_type())
G_DECLARE_FINAL_TYPE(GstHlsAdaptiveSink, gst_hls_adaptive_sink, GST, HLS_ADAPTIVE_SINK, GstElement)

// The request pads: per-variant settings live on the pad.
#define GST_TYPE_HLS_SINK_PAD (gst_hls_sink_pad_get_type())
G_DECLARE_FINAL_TYPE(GstHlsSinkPad, gst_hls_sink_pad, GST, HLS_SINK_PAD, GstPad)

typedef enum {
  GST_HLS_SEGMENT_FORMAT_MPEGTS = 0,
  GST_HLS_SEGMENT_FORMAT_FMP4 = 1,
} GstHlsSegmentFormat;

GST_ELEMENT_REGISTER_DECLARE(hlsadaptivesink);

G_END_DECLS
