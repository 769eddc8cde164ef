#!/usr/bin/env python3
"""interop-two-mounts: two rtmpserversrc elements on one port with different stream keys in one
pipeline; two ffmpeg publishers, the second starting once the first one's output has grown (the
first mount must flow alone meanwhile), then both at the same time, with different pictures,
resolutions and tones. Each mount's output is exactly its own publisher's stream, complete."""

import os

import harness as H


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src_a = H.make_test_flv("a", seconds=5)
    src_b = H.make_test_flv("b", width=640, height=360, pattern="smptebars", tone=880, seconds=5)
    exp_a, exp_b = H.MediaFile(src_a), H.MediaFile(src_b)
    port = H.free_port()
    out_a, out_b = h.path("out-a"), h.path("out-b")
    gst = h.gst_launch("gst", H.ingest_branch(port, "cam-a", out_a, name="a", sink_async=False) + " " +
                       H.ingest_branch(port, "cam-b", out_b, name="b", sink_async=False))
    h.wait_listening(port, gst)
    pub_a = H.ffmpeg_publish(h, "ffmpeg-a", src_a, f"rtmp://127.0.0.1:{port}/live/cam-a")
    # cam-a must flow on its own while cam-b has no publisher yet: mounts do not wait for each other.
    def video_a_bytes():
        return os.path.getsize(out_a + "-video.gdp") if os.path.exists(out_a + "-video.gdp") else 0
    H.wait_for(lambda: video_a_bytes() > 10000, 20,
               "cam-a's output growing past 10000 bytes of video while cam-b is idle")
    size_a = video_a_bytes()
    h.log(f"cam-a flows alone: {size_a} bytes of video recorded before cam-b publishes")
    pub_b = H.ffmpeg_publish(h, "ffmpeg-b", src_b, f"rtmp://127.0.0.1:{port}/live/cam-b")
    for pub in (pub_a, pub_b):
        rc = h.wait_exit(pub, 40, "publishing a 5 s file")
        H.check(rc == 0, f"{pub.name} failed (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "both publishers left")

    for name, expected, prefix in (("cam-a", exp_a, out_a), ("cam-b", exp_b, out_b)):
        actual = H.read_ingest(prefix)
        for rec in actual.values():
            h.log(f"{name} {rec.summary()}")
        offset = H.compare_streams(expected, actual)
        h.log(f"{name}: its own {len(expected.packets['video'])} video / {len(expected.packets['audio'])} audio "
              f"packets, bit-identical, offset {offset / 1e6:.3f} ms")
    caps_a = H.read_ingest(out_a)["video"].caps[-1]
    caps_b = H.read_ingest(out_b)["video"].caps[-1]
    H.check("width=(int)320" in caps_a and "width=(int)640" in caps_b,
            f"mounts did not keep their own resolutions: {caps_a} / {caps_b}")


if __name__ == "__main__":
    H.main("interop-two-mounts", body, deadline_s=180)
