// GstHlsSinkPad accessors (the type is declared in hlsadaptivesink.h).
#pragma once

#include <string>

#include "hlsadaptivesink.h"

std::string gst_hls_sink_pad_variant_name(GstPad* pad);  // "" when not set
guint gst_hls_sink_pad_bitrate(GstPad* pad);             // 0 when not set
