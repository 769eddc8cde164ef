#!/usr/bin/env python3
"""interop-faults-upload-origin (issue #9, faults): hlsadaptivesink uploads (upload-location) to an
HTTP origin that answers 500 for a while. The origin is a Python http.server in this test: PUT
stores the body (201), DELETE removes it (204); from OUTAGE_AFTER_S after the first PUT it
answers every request 500 for --outage-seconds (default 10), then works again.

gst-launch: videotestsrc (live, 25 fps, num-buffers for RUN_S seconds) ! x264enc (1 s GOP) !
h264parse ! hlsadaptivesink low-latency fMP4 (1 s segments, 250 ms parts, playlist-length 0),
written to a local folder and uploaded. Checked, after the pipeline ended by itself (EOS):
- the outage happened: the origin answered 500 at least 10 times, and requests came after it;
- no upload was given up (no "Upload of ... failed" warning on the bus);
- the origin holds the same multivariant and media playlists as the local folder, with
  EXT-X-ENDLIST, and every file they reference (init segment, every segment, every part still
  listed) with the local file's bytes: a player reading the origin sees the complete stream.
--outage-seconds N for a longer run by hand (the figure goes into the reliability report)."""

import argparse
import http.server
import os
import re
import sys
import threading
import time

import harness as H

OUTAGE_AFTER_S = 3.0
FPS = 25


class Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, outage_s):
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.files = {}
        self.lock = threading.Lock()
        self.outage_s = outage_s
        self.first_put = None
        self.answers = []  # (seconds since the first PUT, method, path, status)

    def status_now(self):
        now = time.monotonic()
        if self.first_put is None:
            self.first_put = now
        t = now - self.first_put
        return t, 500 if OUTAGE_AFTER_S <= t < OUTAGE_AFTER_S + self.outage_s else 0


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, method):
        o = self.server
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        with o.lock:
            t, forced = o.status_now()
            if forced:
                status = forced
            elif method == "PUT":
                o.files[self.path] = data
                status = 201
            else:
                o.files.pop(self.path, None)
                status = 204
            o.answers.append((t, method, self.path, status))
        self._answer(status, b"origin down\n" if status == 500 else b"")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")


def referenced(text):
    """URIs a playlist references: media lines, EXT-X-MAP, EXT-X-PART (not preload hints)."""
    uris = [l for l in text.splitlines() if l and not l.startswith("#")]
    for line in text.splitlines():
        if line.startswith(("#EXT-X-MAP:", "#EXT-X-PART:")):
            uris.append(re.search(r'URI="([^"]+)"', line).group(1))
    return uris


def body(h, outage_s):
    H.require_tool("gst-launch-1.0")
    for element in ("x264enc", "h264parse", "videotestsrc"):
        H.require_gst_element(element)
    origin = Origin(outage_s)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    run_s = int(OUTAGE_AFTER_S + outage_s + 8)
    local = h.path("local")
    gst = h.gst_launch("gst", (
        f"videotestsrc is-live=true num-buffers={run_s * FPS} pattern=ball "
        f"! video/x-raw,width=320,height=240,framerate={FPS}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} bitrate=600 ! h264parse "
        f"! hls.video_0 hlsadaptivesink name=hls location={local} "
        f"upload-location=http://127.0.0.1:{origin.server_address[1]}/up/ segment-format=fmp4 low-latency=true "
        f"target-duration=1000000000 part-duration=250000000 playlist-length=0"))
    rc = gst.wait(run_s + 60 + outage_s * 2)
    H.check(rc is not None, f"the pipeline did not end within {run_s + 60 + outage_s * 2} s")
    H.check(rc == 0, f"gst-launch exited with {rc}:\n{H.tail(gst.log())}")
    origin.shutdown()

    with origin.lock:
        answers = list(origin.answers)
        files = dict(origin.files)
    errors = [a for a in answers if a[3] == 500]
    after = [a for a in answers if a[0] >= OUTAGE_AFTER_S + outage_s]
    h.log(f"origin: {len(answers)} requests, {len(errors)} answered 500 "
          f"({errors[0][0]:.1f} s .. {errors[-1][0]:.1f} s after the first PUT), {len(after)} after the outage; "
          f"{len(files)} files held" if errors else f"origin: {len(answers)} requests, none in the outage")
    H.check(len(errors) >= 10, f"only {len(errors)} requests were answered 500: no outage was tested")
    H.check(after, "no request reached the origin after the outage")
    given_up = [l for l in gst.log().splitlines() if "Upload of" in l]
    H.check(not given_up, f"{len(given_up)} uploads were given up, e.g. {given_up[:3]}")

    master = "/up/master.m3u8"
    H.check(master in files, f"the origin has no {master}; it has {sorted(files)[:10]}")
    H.check(files[master] == open(os.path.join(local, "master.m3u8"), "rb").read(),
            "the origin's master.m3u8 differs from the local one")
    playlists = [l for l in files[master].decode().splitlines() if l and not l.startswith("#")]
    H.check(playlists, "the master playlist lists no variant")
    checked = 0
    for pl in playlists:
        remote = files.get("/up/" + pl)
        H.check(remote is not None, f"the origin has no {pl}")
        local_text = open(os.path.join(local, pl), "rb").read()
        H.check(remote == local_text, f"the origin's {pl} differs from the local one (an older version?)")
        text = remote.decode()
        H.check("#EXT-X-ENDLIST" in text, f"the origin's {pl} has no EXT-X-ENDLIST")
        base = os.path.dirname(pl)
        for uri in referenced(text):
            rel = os.path.normpath(os.path.join(base, uri))
            H.check("/up/" + rel in files, f"{pl} references {uri}, missing on the origin")
            H.check(files["/up/" + rel] == open(os.path.join(local, rel), "rb").read(),
                    f"the origin's {rel} differs from the local file")
            checked += 1
        segments = len([l for l in text.splitlines() if l and not l.startswith("#")])
        H.check(segments >= run_s - 2, f"{pl} lists {segments} segments for {run_s} s of video")
    h.log(f"the origin's playlists match the local ones, with ENDLIST; {checked} referenced files present and "
          f"identical")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage-seconds", type=float, default=10.0)
    options = parser.parse_args()
    H.main("interop-faults-upload-origin", lambda h: body(h, options.outage_seconds),
           deadline_s=int(120 + 3 * options.outage_seconds))
