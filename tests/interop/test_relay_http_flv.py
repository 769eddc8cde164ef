#!/usr/bin/env python3
"""interop-relay-http-flv: flvrelaysink http-port=H serves the stream that ffmpeg publishes into
rtmpserversrc as HTTP-FLV at http://127.0.0.1:H/live/KEY.flv. Checked:
- the response head, read raw: 200, Content-Type video/x-flv, Transfer-Encoding chunked,
  Cache-Control no-cache, Access-Control-Allow-Origin; HEAD answers the same head and no body;
  an unknown key or application answers 404;
- a raw HTTP client that reads the whole response: valid chunked framing ending with the last
  chunk (0 CRLF CRLF) when the stream ends, the body an FLV file whose packets are the source's
  from the first to the last (same bytes, same PTS/DTS up to one offset);
- ffmpeg reading the URL (-c copy) before the publisher starts gets every packet; an ffmpeg that
  joins 3 s in gets a contiguous run from a later keyframe to the end; both end by themselves;
- one rtmp-play-start with protocol http-flv per GET (HEAD is no viewer)."""

import threading
import time

import harness as H

SECONDS = 8


def dechunk(body, what):
    """The payload of a chunked HTTP body; fails on bad framing or a missing last chunk."""
    out, p = bytearray(), 0
    while True:
        eol = body.find(b"\r\n", p)
        H.check(eol >= 0, f"{what}: chunked body ends inside a chunk-size line at byte {p}")
        size = int(body[p:eol].split(b";")[0], 16)
        p = eol + 2
        if size == 0:
            H.check(body[p:p + 2] == b"\r\n", f"{what}: last chunk not followed by CRLF: {body[p:p + 10]!r}")
            H.check(p + 2 == len(body), f"{what}: {len(body) - p - 2} bytes after the last chunk")
            return bytes(out)
        H.check(p + size + 2 <= len(body), f"{what}: body ends inside a chunk of {size} bytes (no last chunk)")
        out += body[p:p + size]
        H.check(body[p + size:p + size + 2] == b"\r\n", f"{what}: chunk of {size} bytes not followed by CRLF")
        p += size + 2


class RawReader(threading.Thread):
    """GET over a plain socket, reading until the server closes."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.status = self.headers = self.body = self.error = None

    def run(self):
        try:
            self.status, self.headers, self.body, _ = H.http_get_raw(self.port, self.path, body_bytes=1 << 30,
                                                                     timeout=30)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = f"{type(e).__name__}: {e}"


def check_head(h, status, headers, what):
    H.check(status == 200, f"{what}: status {status}")
    expected = {"content-type": "video/x-flv", "cache-control": "no-cache"}
    for name, value in expected.items():
        H.check(headers.get(name, "").lower() == value, f"{what}: {name} is {headers.get(name)!r}, expected {value}")
    H.check("access-control-allow-origin" in headers, f"{what}: no Access-Control-Allow-Origin header: {headers}")


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("relay", seconds=SECONDS)
    expected = H.MediaFile(src)
    h.log(f"input {src}: {expected.summary()}")

    port, http_port, key = H.free_port(), H.free_port(), "relay-http"
    path = f"/live/{key}.flv"
    http_url = f"http://127.0.0.1:{http_port}{path}"
    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} "
                              f"idle-timeout={H.IDLE_TIMEOUT_S} "
                              f"! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
                              f"http-address=127.0.0.1 http-port={http_port}")
    h.wait_listening(port, gst)
    h.wait_listening(http_port, gst)

    for bad in ("/live/other-key.flv", f"/other-app/{key}.flv", f"/live/{key}"):
        status, _, _, _ = H.http_get_raw(http_port, bad)
        H.check(status == 404, f"GET {bad}: status {status}, expected 404")
    status, headers, rest, _ = H.http_get_raw(http_port, path, method="HEAD", body_bytes=1, timeout=3)
    check_head(h, status, headers, "HEAD")
    H.check(rest == b"", f"HEAD answered with a body: {rest[:40]!r}")
    h.log(f"HEAD {path}: {status} {headers}")

    ffmpeg = H.require_tool("ffmpeg")
    out = {"ffmpeg": h.path("ffmpeg.flv"), "ffmpeg-late": h.path("ffmpeg-late.flv")}
    early = h.spawn("ffmpeg-player", [ffmpeg, "-hide_banner", "-nostdin", "-i", http_url, "-c", "copy",
                                      "-f", "flv", out["ffmpeg"]])
    raw = RawReader(http_port, path)
    raw.start()
    H.wait_bus_messages(gst, "rtmp-play-start", 2, 15)

    pub = H.ffmpeg_publish(h, "publisher", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    time.sleep(3.0)
    H.check(pub.alive(), f"publisher ended early:\n{H.tail(pub.log())}")
    status, headers, start_of_body, first_byte_s = H.http_get_raw(http_port, path, body_bytes=64)
    check_head(h, status, headers, "GET while live")
    H.check(headers.get("transfer-encoding", "").lower() == "chunked",
            f"GET: Transfer-Encoding {headers.get('transfer-encoding')!r}, expected chunked")
    size_line, _, rest = start_of_body.partition(b"\r\n")
    H.check(int(size_line, 16) > 0 and rest.startswith(b"FLV\x01"), f"GET: body does not start with a chunk "
                                                                     f"holding an FLV header: {start_of_body[:20]!r}")
    h.log(f"GET while live: {status}, {headers}; first body byte after {first_byte_s * 1000:.1f} ms")
    late = h.spawn("ffmpeg-late-player", [ffmpeg, "-hide_banner", "-nostdin", "-i", http_url, "-c", "copy",
                                          "-f", "flv", out["ffmpeg-late"]])
    rc = h.wait_exit(pub, SECONDS + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")

    for name, proc in (("ffmpeg", early), ("ffmpeg-late", late)):
        rc = h.wait_exit(proc, 15, "the stream ended (last chunk)")
        H.check(rc == 0, f"{name} HTTP-FLV player exited with {rc}:\n{H.tail(proc.log())}")
    raw.join(15)
    H.check(not raw.is_alive(), "the raw HTTP-FLV reader still reads 15 s after the stream ended (no end of response)")
    H.check(raw.error is None, f"raw HTTP-FLV reader: {raw.error}")
    check_head(h, raw.status, raw.headers, "raw GET")
    flv = dechunk(raw.body, "raw GET")
    raw_path = h.path("raw.flv")
    with open(raw_path, "wb") as f:
        f.write(flv)
    out["raw"] = raw_path

    for name in ("raw", "ffmpeg", "ffmpeg-late"):
        got = H.MediaFile(out[name])
        is_late = name == "ffmpeg-late"
        start, offset = H.check_relayed_run(expected, got, f"{name} HTTP-FLV", from_start=not is_late, to_end=True)
        h.log(f"{name}: {got.summary()}; source video packets {start}.. identical, offset {offset} ms")
        if is_late:
            H.check(start > 0, "the HTTP-FLV player that joined 3 s in got the stream from its first packet")

    starts = H.bus_messages(gst.log(), "rtmp-play-start")
    http_starts = [line for line in starts if "protocol=(string)http-flv" in line]
    # raw GET, ffmpeg, GET while live, late ffmpeg (HEAD and 404s are not viewers)
    H.check(len(http_starts) == 4, f"expected 4 rtmp-play-start with protocol http-flv, got {len(http_starts)}:\n"
            + "\n".join(starts))


if __name__ == "__main__":
    H.main("interop-relay-http-flv", body, deadline_s=120)
