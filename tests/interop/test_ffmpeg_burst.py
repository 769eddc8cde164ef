#!/usr/bin/env python3
"""interop-ffmpeg-burst: ffmpeg publishes a 20 s H.264 (B-frames) + AAC file *without* -re, as
fast as the connection takes it (restreaming a file, or a publisher catching up after a stall).
Every packet still arrives exactly once, bit-identical, with its PTS/DTS intervals."""

import harness as H


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("burst", width=640, height=360, seconds=20, gop=50)
    expected = H.MediaFile(src)
    h.log(f"input {src}: {expected.summary()}")
    port, key, out = H.free_port(), "interop-burst", h.path("out")
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out))
    h.wait_listening(port, gst)
    pub = H.ffmpeg_publish(h, "ffmpeg", src, f"rtmp://127.0.0.1:{port}/live/{key}", realtime=False)
    rc = h.wait_exit(pub, 60, "publishing a 20 s file as fast as possible")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 30, "the publisher left")
    actual = H.read_ingest(out)
    for rec in actual.values():
        h.log(rec.summary())
    offset = H.compare_streams(expected, actual)
    h.log(f"burst: all {len(expected.packets['video'])} video and {len(expected.packets['audio'])} audio packets "
          f"bit-identical, offset {offset / 1e6:.3f} ms")


if __name__ == "__main__":
    H.main("interop-ffmpeg-burst", body, deadline_s=180)
