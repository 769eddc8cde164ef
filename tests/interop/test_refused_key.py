#!/usr/bin/env python3
"""interop-refused-key: ffmpeg publishing to a stream key (or application) nobody serves gets an
error status from the server (ffmpeg prints "Server error: ...") and exits non-zero, promptly; the server stays up and the served key still works, intact."""

import harness as H


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("a", seconds=5)
    expected = H.MediaFile(src)
    port, key, out = H.free_port(), "the-right-key", h.path("out")
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out, idle_timeout=10))
    h.wait_listening(port, gst)

    for name, url in (("wrong-key", f"rtmp://127.0.0.1:{port}/live/not-this-key"),
                      ("wrong-app", f"rtmp://127.0.0.1:{port}/otherapp/{key}")):
        pub = H.ffmpeg_publish(h, f"ffmpeg-{name}", src, url, extra=("-rw_timeout", "8000000"))
        rc = h.wait_exit(pub, 20, f"publishing to an unserved mount ({name})")
        H.check(rc != 0, f"ffmpeg publishing to {url} exited 0: the server accepted an unserved mount")
        # ffmpeg prints "Server error: <description>" when the server answers with an error status
        # (onStatus level "error" or _error): the client was told, not just cut off.
        H.check("Server error" in pub.log(),
                f"ffmpeg publishing to {url} was not told why (no 'Server error' from the server):\n{H.tail(pub.log(), 8)}")
        h.log(f"{name}: ffmpeg exited {rc}: {[l for l in pub.log().splitlines() if 'Server error' in l][0].strip()}")
        H.check(gst.alive(), f"our pipeline ended after a refused publish:\n{H.tail(gst.log())}")

    pub = H.ffmpeg_publish(h, "ffmpeg-right", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    rc = h.wait_exit(pub, 40, "publishing to the served key")
    H.check(rc == 0, f"publishing to the served key failed after refusals (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, 10 + 15, "the publisher left")
    offset = H.compare_streams(expected, H.read_ingest(out))
    h.log(f"served key intact after two refusals, offset {offset / 1e6:.3f} ms")


if __name__ == "__main__":
    H.main("interop-refused-key", body, deadline_s=150)
