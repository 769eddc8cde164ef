#!/usr/bin/env python3
"""interop-rtmps-publish: ffmpeg publishes over RTMPS (rtmps://, TLS with a self-signed certificate
openssl makes here) to rtmpserversrc with tls-certificate/tls-key; the packets arrive intact (same
count, bytes, PTS/DTS). A plain-RTMP client on the TLS port must not get a stream through."""

import harness as H


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0", "openssl"):
        H.require_tool(tool)
    cert, key_file = h.path("cert.pem"), h.path("key.pem")
    rc, out = h.run("openssl", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                "-subj", "/CN=localhost", "-keyout", key_file, "-out", cert], timeout=60)
    H.check(rc == 0, f"openssl could not make a certificate:\n{out}")

    src = H.make_test_flv("a", seconds=5)
    expected = H.MediaFile(src)
    port, key, out_prefix = H.free_port(), "interop-tls", h.path("out")
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out_prefix,
                                              extra=f"tls-certificate={cert} tls-key={key_file}"))
    h.wait_listening(port, gst)

    # Plain RTMP against the TLS listener: must fail, and must not disturb the server.
    plain = H.ffmpeg_publish(h, "ffmpeg-plain", src, f"rtmp://127.0.0.1:{port}/live/{key}",
                             extra=("-rw_timeout", "5000000"))
    rc = h.wait_exit(plain, 20, "a plain RTMP publish to the TLS port")
    H.check(rc != 0, "a plain RTMP client published successfully to the RTMPS listener")
    H.check(gst.alive(), f"our pipeline died after a plain RTMP client hit the TLS port:\n{H.tail(gst.log())}")

    pub = H.ffmpeg_publish(h, "ffmpeg-tls", src, f"rtmps://127.0.0.1:{port}/live/{key}",
                           extra=("-tls_verify", "0"))
    rc = h.wait_exit(pub, 40, "publishing a 5 s file over RTMPS")
    H.check(rc == 0, f"ffmpeg failed to publish over RTMPS (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")

    actual = H.read_ingest(out_prefix)
    for rec in actual.values():
        h.log(rec.summary())
    offset = H.compare_streams(expected, actual)
    h.log(f"RTMPS: all packets bit-identical, offset {offset / 1e6:.3f} ms")


if __name__ == "__main__":
    H.main("interop-rtmps-publish", body, deadline_s=180)
