// rtmpserversrc: a live push source that is the RTMP/RTMPS server endpoint for one stream
// (application + stream key) and outputs the published stream as video/x-flv, one FLV tag per
// buffer. See docs/elements/rtmpserversrc.md.
#pragma once

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

#include <memory>

G_BEGIN_DECLS

#define GST_TYPE_RTMP_SERVER_SRC (gst_rtmp_server_src_get_type())
G_DECLARE_FINAL_TYPE(GstRtmpServerSrc, gst_rtmp_server_src, GST, RTMP_SERVER_SRC, GstPushSrc)

G_END_DECLS

namespace live::gst {
class RtmpServerSrcImpl;
}

struct _GstRtmpServerSrc {
  GstPushSrc parent;
  // Constructed in instance init, destroyed in finalize.
  std::unique_ptr<live::gst::RtmpServerSrcImpl> impl;
};
