#!/usr/bin/env python3
"""interop-live-server-config: live-server configured by a key file, and its start-up errors.
- a config file alone ([server] address, rtmp-port, http-port, output-dir, status-interval;
  [hls] segment-format=mpegts, playlist-length; [ladder] rungs; [relay] video-write-delay;
  [webrtc] enabled, stun-server, turn-server) is obeyed: an HTTP-FLV viewer gets the stream in
  writes 300 ms apart, the server listens on the file's ports, ffmpeg's publish is served as HLS
  from the file's output-dir in MPEG-TS segments, the ladder has the file's one rung, /api/streams
  lists the stream's WHEP URL; a WHEP offer makes the viewer's ICE agent send a Binding request to
  the file's STUN server and an Allocate request to its TURN server (UDP listeners of this test on
  loopback), and the TURN password is in no output; SIGTERM ends it with exit code 0 while that
  WHEP session (never connected) is still open;
- a bad config file (unknown segment-format; rtmp-port or video-write-delay out of range) and a
  bad flag value make the server exit with code 2 and print exactly one line naming the problem;
- an RTMP or HTTP port already in use makes it exit non-zero with one line naming the port."""

import json
import os
import re
import signal
import socket
import struct
import threading
import time
import urllib.request

import harness as H


def server_bin():
    path = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(path), f"{path} was not built")
    return path


def write(h, name, text):
    path = h.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


TURN_SECRET = "turn-pass-7f3a"


class FlvArrivals(threading.Thread):
    """An HTTP-FLV viewer of /live/show.flv that notes when bytes arrive: retries until the
    stream is there, then reads for `seconds`."""

    def __init__(self, http_port, seconds):
        super().__init__(daemon=True, name="flv-arrivals")
        self.http_port, self.seconds = http_port, seconds
        self.arrivals = []  # (monotonic time, bytes) per recv
        self.head = b""

    def run(self):
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as s:
                s.sendall(b"GET /live/show.flv HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                first = s.recv(65536)
                if b" 200 " not in first.split(b"\r\n", 1)[0]:
                    time.sleep(0.2)  # not published yet
                    continue
                self.head = first
                until = time.monotonic() + self.seconds
                while time.monotonic() < until:
                    s.settimeout(max(0.01, until - time.monotonic()))
                    try:
                        data = s.recv(65536)
                    except socket.timeout:
                        break
                    if not data:
                        break
                    self.arrivals.append((time.monotonic(), len(data)))
                return

    def bursts(self, gap_s=0.03):
        """Groups of arrivals less than gap_s apart: one per server write (or merged write)."""
        count, previous = 0, None
        for at, _ in self.arrivals:
            if previous is None or at - previous > gap_s:
                count += 1
            previous = at
        return count


class StunListener(threading.Thread):
    """A UDP socket on loopback recording the STUN requests that reach it (message type, source),
    answering none: a STUN server the config names, to see that the viewer's ICE agent uses it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if len(data) >= 20 and not data[0] & 0xC0 and struct.unpack_from("!H", data, 2)[0] == len(data) - 20:
                self.requests.append((struct.unpack_from("!H", data, 0)[0], peer))

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


def post_offer(http_port, path):
    offer = open(os.path.join(os.environ["LIVE_TEST_DATA"], "whep", "chromium-offer.sdp"), newline="").read()
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}", data=offer.encode(), method="POST",
                                 headers={"Content-Type": "application/sdp"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Location"), r.read().decode()


def good_file(h):
    rtmp_port, http_port = H.free_port(), H.free_port()
    stun, turn = StunListener(), StunListener()
    stun.start()
    turn.start()
    out = h.path("from-config")
    conf = write(h, "good.conf", f"""# live-server test configuration
[server]
address = 127.0.0.1
rtmp-port = {rtmp_port}
http-port = {http_port}
output-dir = {out}
status-interval = 0
idle-timeout = 5

[hls]
segment-format = mpegts
playlist-length = 0

[ladder]
rungs = 160x120@200

[relay]
video-write-delay = 300

[webrtc]
enabled = true
stun-server = stun://127.0.0.1:{stun.port}
turn-server = turn://tester:{TURN_SECRET}@127.0.0.1:{turn.port}
""")
    server = h.spawn("server-config", [server_bin(), "--config", conf], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    src = H.make_test_flv("config", seconds=5)
    pub = H.ffmpeg_publish(h, "ffmpeg", src, f"rtmp://127.0.0.1:{rtmp_port}/live/show")
    flv = FlvArrivals(http_port, seconds=2.0)
    flv.start()
    master = H.wait_for(lambda: fetch(f"http://127.0.0.1:{http_port}/live/show/master.m3u8"), 10,
                        "the master playlist on the config file's HTTP port")
    resolutions = sorted(re.findall(r"RESOLUTION=(\d+x\d+)", master))
    H.check(resolutions == ["160x120", "320x240"], f"variants {resolutions}: the file's ladder is 160x120")
    api = json.loads(fetch(f"http://127.0.0.1:{http_port}/api/streams"))
    H.check(api["webrtc"] and api["streams"][0]["urls"].get("whep") == "/live/show/whep",
            f"[webrtc] enabled = true from the file: /api/streams {api}")
    status, _, answer = post_offer(http_port, "/live/show/whep")
    H.check(status == 201, f"WHEP POST: {status}")
    # Binding (0x0001) to the STUN server, Allocate (0x0003) to the TURN server, from the viewer's
    # host candidate; neither answers, so the answer comes after the element's 2 s gathering bound.
    H.check(any(kind == 0x0001 for kind, _ in stun.requests), f"the file's STUN server got no Binding request: "
                                                              f"{stun.requests}")
    H.check(any(kind == 0x0003 for kind, _ in turn.requests), f"the file's TURN server got no Allocate request: "
                                                              f"{turn.requests}")
    H.check("typ host" in answer, f"no host candidate in the answer:\n{answer}")
    h.log(f"WHEP offer answered; requests to the STUN server {[hex(k) for k, _ in stun.requests]}, to the TURN "
          f"server {[hex(k) for k, _ in turn.requests]}")
    # [relay] video-write-delay = 300: an HTTP-FLV viewer gets the stream in writes 300 ms apart
    # (25 fps video and AAC audio written at once would be 40 or more in 2 s).
    flv.join(10)
    H.check(not flv.is_alive() and flv.head.startswith(b"HTTP/1.1 200"), "no HTTP-FLV response for /live/show.flv")
    got = sum(n for _, n in flv.arrivals)
    H.check(got > 10000, f"HTTP-FLV: only {got} bytes in 2 s")
    H.check(2 <= flv.bursts() <= 12, f"[relay] video-write-delay = 300 from the file: {flv.bursts()} writes in 2 s "
                                     f"(expected about 7)")
    h.log(f"HTTP-FLV viewer: {got} bytes in {flv.bursts()} writes in 2 s (video-write-delay = 300)")
    # The session stays open, never connected, through the SIGTERM below: live-server once hung
    # there for good (its EOS went to every source in the pipeline, the session's nicesrc too).
    stun.stop()
    turn.stop()
    H.check(h.wait_exit(pub, 30, "publishing in real time") == 0, f"publish failed:\n{H.tail(pub.log())}")
    server.signal(signal.SIGTERM)
    stopping = time.monotonic()
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"exit code after SIGTERM:\n{H.tail(server.log())}")
    h.log(f"SIGTERM with an unconnected WHEP session open: exit 0 after {time.monotonic() - stopping:.2f} s")
    stream_dir = os.path.join(out, "live", "show")
    H.check(os.path.isdir(stream_dir), f"{stream_dir} (output-dir from the file) was not written")
    segments = [f for root, _, files in os.walk(stream_dir) for f in files if f.endswith((".ts", ".m4s", ".mp4"))]
    H.check(segments and all(f.endswith(".ts") for f in segments),
            f"segment-format=mpegts from the file, segments written: {sorted(segments)[:6]}")
    H.check(TURN_SECRET not in server.log(), "the TURN password is in live-server's output")
    h.log(f"config file obeyed: ports {rtmp_port}/{http_port}, {len(segments)} .ts segments, variants {resolutions}")


def one_line_error(h, name, argv, expect_code, pattern):
    env = H.gst_env()
    env.pop("GST_DEBUG", None)  # what a user sees: GStreamer's own debug log is off by default
    rc, out = h.run(name, [server_bin(), *argv], timeout=20, env=env)
    lines = [line for line in out.splitlines() if line.strip()]
    h.log(f"{name}: exit {rc}: {lines}")
    if expect_code is None:
        H.check(rc != 0, f"{name}: exit code 0")
    else:
        H.check(rc == expect_code, f"{name}: exit code {rc}, expected {expect_code}:\n{out}")
    H.check(len(lines) == 1, f"{name}: expected one line of output, got {len(lines)}:\n{out}")
    H.check(re.search(pattern, lines[0]), f"{name}: the line does not match /{pattern}/: {lines[0]}")


def bad_configs(h):
    bad_format = write(h, "bad-format.conf", "[server]\nrtmp-port = 19350\n[hls]\nsegment-format = webm\n")
    one_line_error(h, "bad-segment-format", ["--config", bad_format], 2, r"segment.format.*webm")
    bad_port = write(h, "bad-port.conf", "[server]\nrtmp-port = 70000\n")
    one_line_error(h, "bad-port", ["--config", bad_port], 2, r"rtmp-port.*70000")
    bad_delay = write(h, "bad-delay.conf", "[relay]\nvideo-write-delay = 5000\n")
    one_line_error(h, "bad-video-write-delay", ["--config", bad_delay], 2, r"video-write-delay = 5000 is outside 0\.\.1000")
    not_a_number = write(h, "bad-number.conf", "[server]\nhttp-port = eighty\n")
    one_line_error(h, "bad-number", ["--config", not_a_number], 2, r"http-port|eighty")
    bad_flag = write(h, "bad-flag.conf", "[webrtc]\nenabled = maybe\n")
    one_line_error(h, "bad-boolean", ["--config", bad_flag], 2, r"bad-flag\.conf: \[webrtc\] enabled = maybe is not true or false")
    one_line_error(h, "missing-file", ["--config", h.path("no-such.conf")], 2, r"no-such\.conf")
    one_line_error(h, "bad-flag", ["--http-port", "0"], 2, r"port")
    one_line_error(h, "bad-stun", ["--stun-server", "127.0.0.1:3478"], 2, r"STUN server must be a stun://")
    one_line_error(h, "bad-turn", ["--turn-server", f"http://u:{TURN_SECRET}@127.0.0.1"], 2,
                   r"TURN server must be a turn:// or turns://")
    rc, out = h.run("print-pipeline-turn", [server_bin(), "--webrtc", "--turn-server",
                                            f"turns://u:{TURN_SECRET}@turn.example:5349", "--print-pipeline"],
                    timeout=20, env=H.gst_env())
    H.check(rc == 0 and "turn-server=turns://USER:PASSWORD@turn.example:5349" in out and TURN_SECRET not in out,
            f"--print-pipeline with a TURN server (exit {rc}):\n{out}")


def port_in_use(h):
    for which in ("rtmp", "http"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            taken = busy.getsockname()[1]
            other = H.free_port()
            rtmp_port, http_port = (taken, other) if which == "rtmp" else (other, taken)
            started = time.monotonic()
            one_line_error(h, f"{which}-port-in-use", ["--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
                                                       "--http-port", str(http_port), "--output-dir", h.path("unused")],
                           None, str(taken))
            h.log(f"{which} port {taken} in use: refused in {time.monotonic() - started:.1f} s")


def body(h):
    H.require_tool("ffmpeg")
    bad_configs(h)
    port_in_use(h)
    good_file(h)


if __name__ == "__main__":
    H.main("interop-live-server-config", body, deadline_s=90)
