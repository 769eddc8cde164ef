#!/usr/bin/env python3
"""interop-live-server-api-polling: /api/streams and /metrics polled without pause while streams start.

A monitoring scraper must never hang the server. Four threads GET /api/streams and /metrics back
to back while 8 ffmpeg publishers start one after another (each stream's HLS sink starts when its
tracks are known, registering its HTTP site on the server thread that answers the polls):
- every poll is answered (200) within 2 s;
- every publish shows up in /api/streams as publishing within 5 s of its start;
- then every publisher stops and every stream ends (idle-timeout 2 s) under the same polling:
  all leave /api/streams within 10 s and the server is still up;
- no stream and no stream's HLS failed (the log says so when one does).
Before the fix, live-server deadlocked on the second or third stream: the demuxer thread held the
stream's lock while hlsadaptivesink's start waited for the HTTP server thread, which waited for
that lock in /api/streams (and for the sink's own lock in its "stats"); and a stream could be
destroyed on the HTTP server thread (a poll's copy was its last reference), its HLS site removed
before the work it had posted to that thread ran: a crash (SIGSEGV/SIGABRT) now and then."""

import json
import os
import signal
import threading
import time
import urllib.request

import harness as H

STREAMS = 8
MAX_POLL_S = 2.0


def body(h):
    server_bin = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(server_bin), f"{server_bin} was not built")
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn("live-server", [server_bin, "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
                                     "--http-port", str(http_port), "--output-dir", h.path("hls"), "--ladder", "",
                                     "--status-interval", "0", "--idle-timeout", "2"], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    src = H.make_test_flv("api-polling", seconds=30)
    stop = threading.Event()
    failures, polls, worst = [], [0], [0.0]

    def poll(path):
        while not stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=10) as r:
                    r.read()
                    ok = r.status == 200
            except OSError as e:
                ok = False
                failures.append(f"{path}: {e}")
            took = time.monotonic() - started
            worst[0] = max(worst[0], took)
            polls[0] += 1
            if not ok or took > MAX_POLL_S:
                failures.append(f"{path} took {took:.2f} s")
                return

    threads = [threading.Thread(target=poll, args=(p,), daemon=True)
               for p in ("/api/streams", "/metrics", "/api/streams", "/metrics")]
    for t in threads:
        t.start()
    publishers = []
    try:
        for i in range(STREAMS):
            key = f"s{i}"
            publishers.append(H.ffmpeg_publish(h, f"ffmpeg-{key}", src, f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"))

            def live():
                H.check(server.alive(), f"live-server exited ({server.returncode()}):\n{H.tail(server.log())}")
                H.check(not failures, f"polls failed: {failures[:4]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/streams", timeout=10) as r:
                        streams = json.loads(r.read())["streams"]
                except OSError as e:
                    raise H.TestFailure(f"GET /api/streams while {key} starts: {e}; polls: {failures[:4]}")
                return any(s["name"] == key and s["publishing"] and s["segments"] > 0 for s in streams)
            H.wait_for(live, 5, f"stream {key} publishing with an HLS segment in /api/streams", interval=0.1)
        H.check(not failures, f"polls failed: {failures[:4]}")
        started_polls = polls[0]
        for p in publishers:
            p.kill()

        def all_ended():
            H.check(server.alive(), f"live-server exited ({server.returncode()}):\n{H.tail(server.log())}")
            H.check(not failures, f"polls failed: {failures[:4]}")
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/streams", timeout=10) as r:
                return not json.loads(r.read())["streams"]
        H.wait_for(all_ended, 10, "every stream ended and left /api/streams", interval=0.1)
        h.log(f"{STREAMS} streams ended under {polls[0] - started_polls} more polls")
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    h.log(f"{polls[0]} polls answered in all, the slowest in {worst[0]:.3f} s")
    server.signal(signal.SIGINT)
    rc = h.wait_exit(server, 30, "SIGINT")
    H.check(rc == 0, f"live-server exited with {rc} after SIGINT:\n{H.tail(server.log())}")
    # Each stream's HLS sink started with its pads (it was once started by the pipeline's own state
    # change before them: "needs at least one video_%u pad", and the stream ended).
    failed = [l for l in server.log().splitlines() if "HLS output failed" in l or " failed in " in l]
    H.check(not failed, "a stream or its HLS failed:\n" + "\n".join(failed))


if __name__ == "__main__":
    H.main("interop-live-server-api-polling", body, deadline_s=150)
