#!/usr/bin/env python3
"""interop-live-server-auth: who may publish and play on live-server, and keys kept out of logs.
- allow-list (--publish-keys good): ffmpeg publishing "bad" exits non-zero and the server log says
  the publish was refused; publishing "good" succeeds (ffmpeg exits 0, HLS is served).
- HTTP callback (--auth-callback http://127.0.0.1:N/auth, a Python server in this test that
  answers 200 to publishes of key "yes" and to plays carrying "token=good", 403 otherwise):
  publishing "no" fails, "yes" works; while it is live, an RTMP play of "yes?token=good" gets
  the stream (ffprobe: H.264 320x240) and one of "yes?token=bad" is refused; the callback got
  form fields action, app, key, addr, query with the values of each request; with --webrtc, a
  WHEP offer for "yes?token=bad" gets 403 and one for "yes?token=good" passes to the SDP check.
- a key mapped to a public name ([stream:secret] name=show in the config file): publishing,
  RTMP play, HTTP-FLV play and the shutdown never print the key at the default log level."""

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as H


def server_bin():
    path = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(path), f"{path} was not built")
    return path


def start_server(h, name, *extra):
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn(name, [server_bin(), "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
                            "--http-port", str(http_port), "--output-dir", h.path(f"{name}-hls"),
                            "--ladder", "", "--status-interval", "0", *extra], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    return server, rtmp_port, http_port


def stop_server(h, server):
    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"{server.name} exit code:\n{H.tail(server.log())}")


def publish_refused(h, name, src, url, server):
    pub = H.ffmpeg_publish(h, name, src, url)
    rc = h.wait_exit(pub, 20, "a refused publish")
    H.check(rc != 0, f"{name}: ffmpeg's refused publish exited 0:\n{H.tail(pub.log())}")
    H.wait_for(lambda: re.search(r"publish from \S+ (to stream \S+ )?refused", server.log()), 5,
               f"{name}: the server log saying the publish was refused")


def rtmp_probe(url, timeout=20):
    """(exit code, streams by kind) of ffprobe reading an RTMP URL."""
    r = subprocess.run([H.require_tool("ffprobe"), "-v", "error", "-rw_timeout", "8000000", "-show_streams",
                        "-of", "json", url], capture_output=True, timeout=timeout)
    streams = {}
    if r.returncode == 0:
        streams = {s["codec_type"]: s for s in json.loads(r.stdout).get("streams", [])}
    return r.returncode, streams


def hls_served(http_port, name, pub, timeout):
    def master():
        H.check(pub.alive() or pub.returncode() == 0, f"the publisher failed:\n{H.tail(pub.log())}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/live/{name}/master.m3u8", timeout=2) as r:
                return "#EXTM3U" in r.read().decode()
        except OSError:
            return False
    H.wait_for(master, timeout, f"HLS of stream {name}")


def allow_list(h, src):
    server, rtmp_port, http_port = start_server(h, "allow-list", "--publish-keys", "good")
    publish_refused(h, "ffmpeg-bad", src, f"rtmp://127.0.0.1:{rtmp_port}/live/bad", server)
    pub = H.ffmpeg_publish(h, "ffmpeg-good", src, f"rtmp://127.0.0.1:{rtmp_port}/live/good")
    hls_served(http_port, "good", pub, 10)
    rc = h.wait_exit(pub, 30, "publishing in real time")
    H.check(rc == 0, f"publishing the allowed key failed (exit {rc}):\n{H.tail(pub.log())}")
    stop_server(h, server)
    h.log("allow-list: 'bad' refused, 'good' published")


class AuthServer:
    """The auth callback: records every POST's form fields; 200 for publishes of key "yes" and
    plays whose query has token=good, 403 otherwise."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode(),
                                                                   keep_blank_values=True).items()}
                outer.requests.append((self.path, form))
                ok = form.get("key") == "yes" and (form.get("action") == "publish" or
                                                   "token=good" in form.get("query", ""))
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def find(self, **fields):
        return [f for path, f in self.requests if all(f.get(k) == v for k, v in fields.items())]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def whep_post(http_port, name, query):
    """(status, body) of a WHEP POST whose body is not an SDP offer."""
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/live/{name}/whep?{query}", data=b"v=0\r\n",
                                     method="POST", headers={"Content-Type": "application/sdp"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace").strip()


def callback(h, src_long):
    auth = AuthServer()
    try:
        server, rtmp_port, http_port = start_server(h, "callback", "--auth-callback",
                                                    f"http://127.0.0.1:{auth.port}/auth", "--webrtc")
        publish_refused(h, "ffmpeg-no", src_long, f"rtmp://127.0.0.1:{rtmp_port}/live/no", server)
        pub = H.ffmpeg_publish(h, "ffmpeg-yes", src_long, f"rtmp://127.0.0.1:{rtmp_port}/live/yes?src=cam1")
        hls_served(http_port, "yes", pub, 10)
        rc, streams = rtmp_probe(f"rtmp://127.0.0.1:{rtmp_port}/live/yes?token=good")
        video = streams.get("video", {})
        h.log(f"play of yes?token=good: exit {rc}, video {video.get('codec_name')} {video.get('width')}x{video.get('height')}")
        H.check(rc == 0 and video.get("codec_name") == "h264" and video.get("width") == 320,
                f"the allowed play did not get the stream: exit {rc}, {streams}")
        started = time.monotonic()
        rc, streams = rtmp_probe(f"rtmp://127.0.0.1:{rtmp_port}/live/yes?token=bad")
        h.log(f"play of yes?token=bad: exit {rc} after {time.monotonic() - started:.1f} s")
        H.check(rc != 0 and not streams, f"the play the callback refused got the stream: {streams}")
        H.check(re.search(r"play of stream yes from \S+ refused", server.log()),
                f"the server log does not say the play was refused:\n{H.tail(server.log())}")
        # WebRTC (WHEP) viewers pass the same callback: a refused offer gets 403 before its SDP is
        # read; an allowed one goes on to the SDP (400 here: the body is not an offer).
        whep = {q: whep_post(http_port, "yes", q) for q in ("token=bad", "token=good")}
        h.log(f"WHEP POSTs: {whep}")
        H.check(whep["token=bad"][0] == 403, f"WHEP offer with token=bad: {whep['token=bad']}, expected 403")
        H.check(whep["token=good"][0] == 400, f"WHEP offer with token=good: {whep['token=good']}, expected 400 "
                                              "(allowed, then a malformed SDP)")
        H.check(pub.alive(), f"the publisher ended early:\n{H.tail(pub.log())}")
        pub.kill()
        stop_server(h, server)
        for path, form in auth.requests:
            h.log(f"callback got POST {path}: {form}")
        H.check(all(path == "/auth" for path, _ in auth.requests), f"callback paths: {auth.requests}")
        for form in auth.requests:
            missing = {"action", "app", "key", "addr", "query"} - set(form[1])
            H.check(not missing, f"callback request lacks {missing}: {form[1]}")
        H.check(auth.find(action="publish", app="live", key="no", addr="127.0.0.1"),
                "no publish request for key 'no' with app 'live', addr 127.0.0.1")
        H.check(auth.find(action="publish", app="live", key="yes", addr="127.0.0.1", query="src=cam1"),
                "no publish request for key 'yes' with query 'src=cam1'")
        H.check(auth.find(action="play", app="live", key="yes", addr="127.0.0.1", query="token=good"),
                "no play request for 'yes' with query 'token=good'")
        H.check(auth.find(action="play", app="live", key="yes", addr="127.0.0.1", query="token=bad"),
                "no play request for 'yes' with query 'token=bad'")
        plays = [f for _, f in auth.requests if f.get("action") == "play"]
        H.check(len(plays) == 4, f"expected 4 play requests (2 RTMP, 2 WHEP), got {len(plays)}: {plays}")
    finally:
        auth.close()


def key_not_logged(h, src):
    conf = h.path("names.conf")
    with open(conf, "w") as f:
        f.write("[stream:secret]\nname=show\n")
    server, rtmp_port, http_port = start_server(h, "named", "--config", conf)
    pub = H.ffmpeg_publish(h, "ffmpeg-secret", src, f"rtmp://127.0.0.1:{rtmp_port}/live/secret")
    hls_served(http_port, "show", pub, 10)
    rc, streams = rtmp_probe(f"rtmp://127.0.0.1:{rtmp_port}/live/show")
    H.check(rc == 0 and "video" in streams, f"RTMP play of 'show' failed: exit {rc}")
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/live/show.flv", timeout=5) as r:
        H.check(r.read(13).startswith(b"FLV"), "HTTP-FLV of 'show' is not FLV")
    H.check(h.wait_exit(pub, 30, "publishing in real time") == 0, f"publish failed:\n{H.tail(pub.log())}")
    H.wait_for(lambda: re.search(r"stream show: publisher \S+ stopped", server.log()), 10, "the publish's end")
    stop_server(h, server)
    log = server.log()
    H.check("stream show" in log, f"the log does not name the stream by its public name:\n{H.tail(log)}")
    leaks = [line for line in log.splitlines() if "secret" in line]
    H.check(not leaks, "live-server printed the stream key:\n" + "\n".join(leaks[:5]))
    h.log(f"{len(log.splitlines())} lines of output, none with the key")


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    src = H.make_test_flv("auth", seconds=4)
    src_long = H.make_test_flv("auth", seconds=30)
    allow_list(h, src)
    callback(h, src_long)
    key_not_logged(h, src)


if __name__ == "__main__":
    H.main("interop-live-server-auth", body, deadline_s=120)
