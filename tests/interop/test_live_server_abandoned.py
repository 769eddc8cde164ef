#!/usr/bin/env python3
"""interop-live-server-abandoned: a publisher that is gone by the time its stream's pipeline is
ready (here: it hangs up right after its publish command, while the auth callback takes 3 s to
say yes) must not leave a stream behind forever: rtmpserversrc's idle timeout only counts
after a first publish, so live-server ends a stream whose publisher never arrived after
idle-timeout, and the stream key can be published again."""

import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as H
import rtmp_raw

IDLE_TIMEOUT_S = 2


class SlowThenYes(BaseHTTPRequestHandler):
    delay_s = 3  # the publisher is gone before the answer

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(SlowThenYes.delay_s)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def body(h):
    auth = ThreadingHTTPServer(("127.0.0.1", 0), SlowThenYes)
    threading.Thread(target=auth.serve_forever, daemon=True).start()
    rtmp, http = H.free_port(), H.free_port()
    server = h.spawn("live-server", [
        os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server"), "--address", "127.0.0.1",
        "--rtmp-port", str(rtmp), "--http-port", str(http), "--output-dir", h.path("hls"),
        "--ladder", "", "--idle-timeout", str(IDLE_TIMEOUT_S),
        "--auth-callback", f"http://127.0.0.1:{auth.server_address[1]}/auth"], env=H.gst_env())
    h.wait_listening(rtmp, server)
    rtmp_raw.RawPublisher(rtmp, "live", "late", wait_for_answer=False).close()
    deadline = time.monotonic() + SlowThenYes.delay_s + IDLE_TIMEOUT_S + 8
    while "stream late ended: its publisher never arrived" not in server.log() and time.monotonic() < deadline:
        H.check(server.alive(), f"live-server died:\n{H.tail(server.log())}")
        time.sleep(0.2)
    H.check("stream late started" in server.log(), f"the slow callback's stream was never built:\n{H.tail(server.log())}")
    H.check("stream late ended: its publisher never arrived" in server.log(),
            f"the stream without a publisher was not ended:\n{H.tail(server.log())}")
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/streams", timeout=5) as r:
        H.check(b'"late"' not in r.read(), "the abandoned stream is still listed")
    # The key is free again: a publisher (answered at once this time) gets its stream.
    SlowThenYes.delay_s = 0
    pub = rtmp_raw.RawPublisher(rtmp, "live", "late")
    H.check(pub.accepted, f"publishing the key again was refused:\n{H.tail(server.log())}")
    pub.close()
    auth.shutdown()
    server.signal(2)
    H.check(h.wait_exit(server, 30, "SIGINT") == 0, f"live-server did not exit cleanly:\n{H.tail(server.log())}")


if __name__ == "__main__":
    H.main("interop-live-server-abandoned", body, deadline_s=90)
