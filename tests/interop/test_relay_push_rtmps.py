#!/usr/bin/env python3
"""interop-relay-push-rtmps: flvrelaysink pushes over RTMPS to another instance of ours. A
receiving gst-launch runs rtmpserversrc with a self-signed certificate (openssl req -x509) !
rtmpchunkdemux, every elementary stream recorded verbatim (gdppay); a relaying gst-launch runs
rtmpserversrc ! flvrelaysink push-locations="<rtmps://127.0.0.1:R/live/pushed>".
- With certificate checks on (push-tls-verify default TRUE) the self-signed receiver is not
  accepted: no rtmp-push-connected and no publish reaches the receiver within 4 s.
- With push-tls-verify=false the push connects before anything is published; ffmpeg then
  publishes a 5 s H.264 (B-frames) + AAC file into the relay, and what the receiver demuxes is
  exactly the source: every packet, same bytes, same PTS/DTS up to one offset, same codec data.
- When the publisher leaves, the relay ends (idle-timeout) and unpublishes, and the receiver
  ends by itself too (rtmp-publish-stop, then its own idle-timeout)."""

import harness as H


def relay_pipeline(port, key, recv_port, verify):
    return (f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} idle-timeout={H.IDLE_TIMEOUT_S} "
            f"! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
            f"push-locations=\"<rtmps://127.0.0.1:{recv_port}/live/pushed>\""
            + ("" if verify else " push-tls-verify=false"))


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0", "openssl"):
        H.require_tool(tool)
    cert, key_file = h.path("cert.pem"), h.path("key.pem")
    rc, out = h.run("openssl", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                "-subj", "/CN=localhost", "-keyout", key_file, "-out", cert], timeout=60)
    H.check(rc == 0, f"openssl could not make a certificate:\n{out}")
    src = H.make_test_flv("a", seconds=5)
    expected = H.MediaFile(src)

    recv_port, out_prefix = H.free_port(), h.path("received")
    receiver = h.gst_launch("receiver", H.ingest_branch(recv_port, "pushed", out_prefix,
                                                        extra=f"tls-certificate={cert} tls-key={key_file}"))
    h.wait_listening(recv_port, receiver)

    port_v = H.free_port()
    verifying = h.gst_launch("relay-verify", relay_pipeline(port_v, "checked", recv_port, verify=True))
    h.wait_listening(port_v, verifying)
    try:
        H.wait_bus_messages(verifying, "rtmp-push-connected", 1, 4)
        raise H.TestFailure("with push-tls-verify=TRUE the push accepted a self-signed certificate")
    except H.TestFailure as e:
        if "accepted a self-signed" in str(e):
            raise
    H.check(not H.bus_messages(receiver.log(), "rtmp-publish-start"),
            "a push with certificate checks on published to the self-signed receiver")
    verifying.kill()
    h.log("push-tls-verify=TRUE: no connection to the self-signed receiver, as it should be")

    port, key = H.free_port(), "relay-rtmps"
    relay = h.gst_launch("relay", relay_pipeline(port, key, recv_port, verify=False))
    h.wait_listening(port, relay)
    H.wait_bus_messages(relay, "rtmp-push-connected", 1, 15)
    H.wait_bus_messages(receiver, "rtmp-publish-start", 1, 15)
    pub = H.ffmpeg_publish(h, "publisher", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    rc = h.wait_exit(pub, 40, "publishing a 5 s file in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(relay, H.IDLE_TIMEOUT_S + 15, "the publisher left")
    h.stop_pipeline(receiver, H.IDLE_TIMEOUT_S + 15, "the relay stopped pushing")

    actual = H.read_ingest(out_prefix)
    for rec in actual.values():
        h.log(rec.summary())
    offset = H.compare_streams(expected, actual)
    h.log(f"pushed over RTMPS: all {len(expected.packets['video'])} video and {len(expected.packets['audio'])} "
          f"audio packets bit-identical, offset {offset / 1e6:.3f} ms")
    H.check(len(H.bus_messages(receiver.log(), "rtmp-publish-stop")) == 1,
            "the receiver saw no rtmp-publish-stop when the relay stopped")


if __name__ == "__main__":
    H.main("interop-relay-push-rtmps", body, deadline_s=120)
