// whepserversink: WebRTC playback by WHEP (draft-ietf-wish-whep). A bin with request pads
// "video" (H.264) and "audio" (Opus); payloads each once and fans the packets out to one
// webrtcbin per viewer. Serves POST /{application}/{stream-key}/whep on the shared HTTP port.
// See docs/elements/whepserversink.md.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_WHEP_SERVER_SINK (gst_whep_server_sink_get_type())
G_DECLARE_FINAL_TYPE(GstWhepServerSink, gst_whep_server_sink, GST, WHEP_SERVER_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(whepserversink);

G_END_DECLS
