#!/usr/bin/env python3
"""interop-librtmp-publish: librtmp (the library OBS uses) through GStreamer's rtmpsink publishes
x264 (B-frames) + AAC from flvmux; every frame it sent arrives bit-identical with its timestamps."""

import gst_publish_common as C
import harness as H


def body(h):
    C.run(h, "librtmp", "rtmpsink", "rtmpsink location={url}")


if __name__ == "__main__":
    H.main("interop-librtmp-publish", body, deadline_s=150)
