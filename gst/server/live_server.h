// GstLiveServer: the process-wide server object with which an application serves any number of
// streams from ordinary pipelines (the role of GstRTSPServer's mount points and media factories).
// It holds an RTMP port and an HTTP port open while no stream exists, asks the application
// ("mount-needed") when a publisher or player names a stream no element serves yet, so that it
// can build that stream's pipeline on demand, and lets it answer the HTTP requests no element
// serves ("http-request": pages, API, metrics). Elements of the process that name the same
// ports share them (gst/net Listener, gst/http HttpPort). See docs/server.md.
#pragma once

#include <gst/gst.h>

#include <memory>

G_BEGIN_DECLS

#define GST_TYPE_LIVE_SERVER (gst_live_server_get_type())
G_DECLARE_FINAL_TYPE(GstLiveServer, gst_live_server, GST, LIVE_SERVER, GstObject)

G_END_DECLS

namespace live::gst {
class LiveServerImpl;
}

struct _GstLiveServer {
  GstObject parent;
  // Constructed in instance init, destroyed in finalize.
  std::unique_ptr<live::gst::LiveServerImpl> impl;
};
