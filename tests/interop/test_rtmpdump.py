#!/usr/bin/env python3
"""interop-rtmpdump: librtmp's own command-line client. rtmpdump asking to *play* a mount that
only ingests (rtmpserversrc, no relay) is refused with an error, promptly, without data and without
harming the server; a publish to that mount right after still arrives intact."""

import os

import harness as H


def body(h):
    for tool in ("rtmpdump", "ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("a", seconds=5)
    expected = H.MediaFile(src)
    port, key, out = H.free_port(), "interop-dump", h.path("out")
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out, idle_timeout=10))
    h.wait_listening(port, gst)

    dumped = h.path("dumped.flv")
    play = h.spawn("rtmpdump", ["rtmpdump", "--live", "--timeout", "10", "-r",
                                f"rtmp://127.0.0.1:{port}/live/{key}", "-o", dumped])
    rc = h.wait_exit(play, 20, "asking to play an ingest-only mount")
    H.check(rc != 0, f"rtmpdump exited 0 playing an ingest-only mount:\n{H.tail(play.log())}")
    size = os.path.getsize(dumped) if os.path.exists(dumped) else 0
    H.check(size <= 13, f"rtmpdump received {size} bytes from an ingest-only mount")
    h.log(f"rtmpdump refused (exit {rc}): {H.tail(play.log(), 2)}")
    H.check(gst.alive(), f"our pipeline ended after an rtmpdump play request:\n{H.tail(gst.log())}")

    pub = H.ffmpeg_publish(h, "ffmpeg", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    rc = h.wait_exit(pub, 40, "publishing after the play attempt")
    H.check(rc == 0, f"publishing failed after an rtmpdump play attempt (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, 10 + 15, "the publisher left")
    offset = H.compare_streams(expected, H.read_ingest(out))
    h.log(f"publish after the play attempt intact, offset {offset / 1e6:.3f} ms")


if __name__ == "__main__":
    H.main("interop-rtmpdump", body, deadline_s=150)
