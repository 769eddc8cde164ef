#!/usr/bin/env python3
"""interop-ffmpeg-publish: ffmpeg publishes H.264 (with B-frames) + AAC with -c copy from a file
ffmpeg made; our rtmpserversrc ! rtmpchunkdemux must hand out exactly the input's packets: same
count, same bytes, same PTS and DTS (up to one shared offset), same codec configuration, and the
stream must end by itself (idle-timeout) after the publisher leaves."""

import harness as H


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("a", seconds=5)
    expected = H.MediaFile(src)
    h.log(f"input {src}: {expected.summary()}")

    port, key, out = H.free_port(), "interop-a", h.path("out")
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out))
    h.wait_listening(port, gst)
    pub = H.ffmpeg_publish(h, "ffmpeg", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    rc = h.wait_exit(pub, 40, "publishing a 5 s file in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")

    actual = H.read_ingest(out)
    for rec in actual.values():
        h.log(rec.summary())
    offset = H.compare_streams(expected, actual)
    h.log(f"all {len(expected.packets['video'])} video and {len(expected.packets['audio'])} audio packets "
          f"bit-identical, PTS/DTS equal up to offset {offset / 1e6:.3f} ms")

    log = gst.log()
    starts, stops = H.bus_messages(log, "rtmp-publish-start"), H.bus_messages(log, "rtmp-publish-stop")
    H.check(len(starts) == 1, f"expected one rtmp-publish-start element message, got {len(starts)}")
    H.check(len(stops) == 1, f"expected one rtmp-publish-stop element message, got {len(stops)}")


if __name__ == "__main__":
    H.main("interop-ffmpeg-publish", body, deadline_s=150)
