#!/usr/bin/env python3
"""interop-faults-publisher-killed (issue #9, faults): a publisher dies in the middle of a frame
and publishing resumes on the same key of live-server, with viewers attached. (The plain ffmpeg
SIGKILL + republish of the HLS output is also in interop-live-server-streams, and of the
rtmpserversrc output in interop-publisher-restart; this test adds a death in the middle of an
RTMP chunk, two restarts in a row and what relay viewers get.)

Sources (all 320x240, 1 s GOP, B-frames, AAC): A testsrc2 440 Hz, B smptebars 880 Hz.
1. The raw publisher (rtmp_raw) sends A's tags in real time for 6 s, then the first 400 bytes of
   the next video frame (128-byte chunks: it stops inside the fourth chunk) and resets the
   connection (SO_LINGER 0).
2. ffmpeg publishes B to the same key; after 6 s it is SIGKILLed.
3. ffmpeg publishes A again.
An RTMP viewer (the harness's player) and an HTTP-FLV viewer (a raw GET of /live/show.flv)
play from before step 1 to the end. Checked:
- HLS: the same source playlist throughout: media sequence unchanged, every earlier segment still
  listed, no ENDLIST, at most one EXT-X-DISCONTINUITY per restart; the newest segment after
  step 2 holds B's frames and after step 3 A's (byte hashes);
- each viewer stayed connected and got, in order, a run of A, a run of B and a run of A; every
  video frame is a whole frame of its source (the cut frame never reaches anyone), each run
  starts with a keyframe preceded by a video sequence header, and timestamps never go back."""

import os
import re
import signal
import socket
import struct
import threading
import time

import faults_common as F
import harness as H
import rtmp_raw

FPS = 25


class HttpFlvViewer(threading.Thread):
    """GET /live/KEY.flv over a plain socket; keeps the decoded FLV body (chunked framing)."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.raw = bytearray()
        self.closed = False
        self._halt = threading.Event()

    def run(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            s.settimeout(0.3)
            while not self._halt.is_set():
                try:
                    block = s.recv(1 << 16)
                except socket.timeout:
                    continue
                if not block:
                    self.closed = True
                    break
                self.raw += block

    def stop(self):
        self._halt.set()
        self.join(5)

    def messages(self, h):
        data = bytes(self.raw)
        head, _, body = data.partition(b"\r\n\r\n")
        H.check(head.startswith(b"HTTP/1.1 200"), f"HTTP-FLV answer: {head[:100]!r}")
        flv = bytearray()
        while body:
            size_line, _, rest = body.partition(b"\r\n")
            if not rest and not size_line:
                break
            size = int(size_line.split(b";")[0], 16)
            if size == 0 or len(rest) < size + 2:
                break
            flv += rest[:size]
            body = rest[size + 2:]
        path = h.path("http-flv-viewer.flv")
        with open(path, "wb") as f:
            f.write(flv)
        return H.flv_file_messages(path)


def raw_publish_then_die(h, rtmp, tags, seconds):
    """Sends tags (FLV file order) in real time for `seconds`, then part of the next video frame,
    then a TCP reset."""
    pub = rtmp_raw.RawPublisher(rtmp, "live", "show")
    H.check(pub.accepted, "the raw publisher's publish was not accepted")
    start = time.monotonic()
    for i, (kind, ts, payload) in enumerate(tags):
        if kind == 18:
            continue
        if ts >= seconds * 1000 and kind == 9 and len(payload) > 600:
            csid = 6
            header = bytes([csid]) + struct.pack(">I", ts)[1:] + struct.pack(">I", len(payload))[1:] + b"\x09" + \
                struct.pack("<I", 1)
            whole = header + payload[:128]
            for at in range(128, len(payload), 128):
                whole += bytes([0xC0 | csid]) + payload[at:at + 128]
            pub.send(whole[:400])
            pub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            pub.close()
            h.log(f"raw publisher: reset after 400 of {len(whole)} bytes of the video frame at {ts} ms")
            return
        delay = start + ts / 1000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pub.send_message(kind, ts, payload)
    raise H.TestFailure("the source ended before the raw publisher was to die")


def frame_runs(messages, sources, what):
    """Splits a viewer's video frames into runs by source; every frame must be a whole frame of
    one source. Returns [(source name, frames, index of the first message of the run)]."""
    runs = []
    for i, m in enumerate(messages):
        if m.kind != "video" or m.config:
            continue
        owner = [name for name, hashes in sources.items() if m.hash in hashes]
        H.check(owner, f"{what}: video frame {m} (message {i}) is no whole frame of any source")
        if not runs or runs[-1][0] not in owner:
            runs.append((owner[0], [], i))
        runs[-1][1].append(m)
    return runs


def check_viewer(messages, sources, what):
    runs = frame_runs(messages, sources, what)
    H.check([r[0] for r in runs] == ["A", "B", "A"], f"{what}: source runs {[(r[0], len(r[1])) for r in runs]}, "
                                                     f"expected A, B, A")
    previous_end = 0
    for name, frames, first in runs:
        H.check(frames[0].key, f"{what}: the run of {name} starts with a non-keyframe {frames[0]}")
        H.check(any(m.kind == "video" and m.config for m in messages[previous_end:first]),
                f"{what}: no video sequence header before the run of {name}")
        previous_end = first
    video = [m for m in messages if m.kind == "video"]
    for a, b in zip(video, video[1:]):
        H.check(b.ts >= a.ts, f"{what}: video timestamp goes back from {a.ts} to {b.ts} ms")
    return [(name, len(frames)) for name, frames, _ in runs]


def newest_segment_hashes(h, http, playlist_url, name):
    text = F.fetch(playlist_url)
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
    seg = F.segment_uris(text)[-1]
    base = playlist_url.rsplit("/", 1)[0] + "/"
    path = h.path(f"{name}.mp4")
    with open(path, "wb") as f:
        for uri in (init, seg):
            f.write(F.fetch_bytes(base + uri))
    return {p.hash for p in H.MediaFile(path).packets["video"]}


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    a_src = H.make_test_flv("kill-a", seconds=20, gop=FPS)
    b_src = H.make_test_flv("kill-b", seconds=20, gop=FPS, pattern="smptebars", tone=880)
    # Elementary-stream hashes (HLS segments) and whole FLV tag payloads (what viewers get).
    sources = {n: {p.hash for p in H.MediaFile(s).packets["video"]} for n, s in (("A", a_src), ("B", b_src))}
    tag_sources = {n: {m.hash for m in H.flv_file_messages(s) if m.kind == "video"}
                   for n, s in (("A", a_src), ("B", b_src))}
    H.check(not sources["A"] & sources["B"], "the two sources share frames")
    server, rtmp, http = F.start_live_server(h, "--playlist-length", "0", "--idle-timeout", "8")

    # A viewer of each kind before the first publisher: a first publish is needed for the stream.
    tags = H.read_flv_tags(a_src)
    killer = threading.Thread(target=raw_publish_then_die, args=(h, rtmp, tags, 6.0), daemon=True)
    killer.start()
    playlist = F.wait_server("the source playlist", lambda: F.source_playlist_url(http, "show"), 20, server)
    rtmp_viewer = H.RtmpRecorder(rtmp, "live", "show", name="rtmp-viewer")
    rtmp_viewer.start()
    flv_viewer = HttpFlvViewer(http, "/live/show.flv")
    flv_viewer.start()
    killer.join(30)
    F.wait_server("the server noticing the dead publisher",
                  lambda: re.search(r"stream show: publisher \S+ stopped", server.log()), 10, server)
    before = F.fetch(playlist)

    pub_b = H.ffmpeg_publish(h, "ffmpeg-b", b_src, f"rtmp://127.0.0.1:{rtmp}/live/show")
    n = len(F.segment_uris(before))
    F.wait_server("3 segments of B", lambda: len(F.segment_uris(F.fetch(playlist))) >= n + 3, 20, server)
    H.check(newest_segment_hashes(h, http, playlist, "newest-b") <= sources["B"],
            "the newest segment after the first restart does not hold B's frames only")
    time.sleep(1.3)  # SIGKILL somewhere inside a frame's transfer
    pub_b.kill()
    F.wait_server("the server noticing the killed ffmpeg",
                  lambda: len(re.findall(r"stream show: publisher \S+ stopped", server.log())) >= 2, 10, server)
    middle = F.fetch(playlist)
    pub_a = H.ffmpeg_publish(h, "ffmpeg-a", a_src, f"rtmp://127.0.0.1:{rtmp}/live/show")
    n = len(F.segment_uris(middle))
    F.wait_server("3 segments of A again", lambda: len(F.segment_uris(F.fetch(playlist))) >= n + 3, 20, server)
    H.check(newest_segment_hashes(h, http, playlist, "newest-a") <= sources["A"],
            "the newest segment after the second restart does not hold A's frames only")
    after = F.fetch(playlist)

    H.check("#EXT-X-ENDLIST" not in after, "the playlist ended although the publisher came back")
    H.check(F.media_sequence(after) == F.media_sequence(before), "the media sequence restarted")
    H.check(F.segment_uris(after)[:len(F.segment_uris(before))] == F.segment_uris(before) and
            F.segment_uris(after)[:len(F.segment_uris(middle))] == F.segment_uris(middle),
            "segments listed before a restart are gone")
    discontinuities = sum(1 for _, _, d in F.segments_of(after) if d)
    H.check(discontinuities <= 2, f"{discontinuities} discontinuities for two restarts")
    h.log(f"HLS: {len(F.segment_uris(after))} segments, media sequence {F.media_sequence(after)}, "
          f"{discontinuities} discontinuities")

    time.sleep(1)
    rtmp_viewer.stop()
    flv_viewer.stop()
    H.check(rtmp_viewer.error is None and not rtmp_viewer.player.ended,
            f"the RTMP viewer failed or was ended: {rtmp_viewer.error} {rtmp_viewer.player.statuses}")
    H.check(not flv_viewer.closed, "the server closed the HTTP-FLV viewer")
    runs = check_viewer(rtmp_viewer.player.messages, tag_sources, "RTMP viewer")
    h.log(f"RTMP viewer: runs {runs}")
    runs = check_viewer(flv_viewer.messages(h), tag_sources, "HTTP-FLV viewer")
    h.log(f"HTTP-FLV viewer: runs {runs}")
    pub_a.kill()
    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"live-server exit code:\n{H.tail(server.log())}")
    H.check(server.log().count("stream show started") == 1,
            "the stream was started again instead of continued:\n" + "\n".join(F.log_lines(server, "stream show")))


if __name__ == "__main__":
    H.main("interop-faults-publisher-killed", body, deadline_s=200)
