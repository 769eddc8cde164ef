#!/usr/bin/env python3
"""interop-rtmp2sink-publish: GStreamer's rtmp2sink (plain handshake, 128-byte chunks) publishes
x264 (B-frames) + AAC from flvmux; every frame it sent arrives bit-identical with its timestamps."""

import gst_publish_common as C
import harness as H


def body(h):
    C.run(h, "rtmp2sink", "rtmp2sink", "rtmp2sink location={url}")


if __name__ == "__main__":
    H.main("interop-rtmp2sink-publish", body, deadline_s=150)
