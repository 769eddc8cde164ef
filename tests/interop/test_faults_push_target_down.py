#!/usr/bin/env python3
"""interop-faults-push-target-down (issue #9, faults): the push target of live-server
(--push rtmp://127.0.0.1:N/live/{name}, Debian's nginx-rtmp with its own configuration, started
and stopped by PID) goes down for --down-seconds (default 20; 180 for the long run) while ffmpeg
keeps publishing a looped H.264 (B-frames, 1 s GOP) + AAC file. Checked:
- before: the target is "publishing" in /api/streams and ffmpeg pulls the stream from nginx;
- nginx SIGKILLed: the server logs the push as disconnected; while it is down the relay retries
  with a doubling backoff (livenet warnings "retrying in N ms": 1 s, 2 s, 4 s ... at most 30 s),
  not more often;
- meanwhile the local outputs are not disturbed: an RTMP viewer (the harness's player, joined
  before the fault) gets video with no gap over 1.5 s and is never ended, and the HLS playlist
  keeps adding segments with the same media sequence and no EXT-X-DISCONTINUITY;
- nginx started again on the same port: the target is "publishing" again within the backoff
  (at most 30 s + 10 s), the server logs "connected" again, and 3 s pulled from nginx start at a
  keyframe with the source's codec configuration (sequence headers) and hold the source's frames
  in order (the pull check of interop-relay-push-nginx)."""

import argparse
import re
import signal
import time

import faults_common as F
import harness as H
from test_relay_push_nginx import check_pull

GAP_LIMIT_S = 1.5
MAX_BACKOFF_S = 30


def pull(h, nginx_port, name):
    ffmpeg = H.require_tool("ffmpeg")
    out = h.path(f"{name}.flv")
    rc, log = h.run(name, [ffmpeg, "-hide_banner", "-nostdin", "-rw_timeout", "10000000",
                           "-i", f"rtmp://127.0.0.1:{nginx_port}/live/show", "-c", "copy", "-t", "3",
                           "-f", "flv", out], timeout=30)
    H.check(rc == 0, f"{name}: ffmpeg could not pull the pushed stream from nginx (exit {rc}):\n{H.tail(log)}")
    return out


def push_state(http):
    for s in F.api_streams(http):
        for t in s.get("push_targets", []):
            return t.get("state")
    return None


def retries(server):
    """(GStreamer log time in s, backoff in ms) of every push retry the server logged."""
    out = []
    for line in server.log().splitlines():
        m = re.match(r"\s*(\d+):(\d+):(\d+\.\d+).*push rtmp://.*retrying in (\d+) ms", line)
        if m:
            out.append((int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)), int(m.group(4))))
    return out


def body(h, down_s):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    src = H.make_test_flv("relay", seconds=8)
    expected = H.MediaFile(src)
    nginx_port = H.free_port()
    nginx = H.start_nginx_rtmp(h, nginx_port, name="nginx-1")
    env = dict(H.gst_env(), GST_DEBUG="*:1,livenet:2", GST_DEBUG_NO_COLOR="1")
    server_bin = F.live_server_binary()
    rtmp, http = H.free_port(), H.free_port()
    server = h.spawn("live-server", [server_bin, "--address", "127.0.0.1", "--rtmp-port", str(rtmp),
                                     "--http-port", str(http), "--output-dir", h.path("live-output"),
                                     "--ladder", "", "--status-interval", "0", "--playlist-length", "0",
                                     "--push", f"rtmp://127.0.0.1:{nginx_port}/live/{{name}}"], env=env)
    h.wait_listening(rtmp, server, timeout=60)
    pub = F.ffmpeg_loop(h, "publisher", src, f"rtmp://127.0.0.1:{rtmp}/live/show")
    api = lambda: "/api/streams: " + str(F.try_fetch(f"http://127.0.0.1:{http}/api/streams"))
    F.wait_server("push target publishing", lambda: push_state(http) == "publishing", 20, server, describe=api)
    playlist = F.wait_server("the source playlist", lambda: F.source_playlist_url(http, "show"), 20, server,
                             describe=api)
    viewer = H.RtmpRecorder(rtmp, "live", "show", name="viewer")
    viewer.start()
    viewer.started_playing.wait(10)
    check_pull(h, expected, pull(h, nginx_port, "pull-before"), "pull before the outage")

    before = F.fetch(playlist)
    nginx.kill()
    down_at = time.monotonic()
    F.wait_server("the push disconnected", lambda: re.search(r"stream show: push to \S+ disconnected", server.log()),
                  10, server)
    states = set()
    while time.monotonic() < down_at + down_s:
        states.add(push_state(http))
        H.check(pub.alive(), f"the publisher ended:\n{H.tail(pub.log())}")
        time.sleep(0.5)
    during = F.fetch(playlist)
    H.start_nginx_rtmp(h, nginx_port, name="nginx-2")
    up_at = time.monotonic()
    F.wait_server("the push target publishing again", lambda: push_state(http) == "publishing",
                  MAX_BACKOFF_S + 10, server, interval=0.1, describe=api)
    reconnect_s = time.monotonic() - up_at
    h.log(f"nginx down {down_s:.0f} s; push states seen meanwhile {sorted(str(s) for s in states)}; publishing again "
          f"{reconnect_s:.1f} s after nginx restarted")
    check_pull(h, expected, pull(h, nginx_port, "pull-after"), "pull after the outage")
    H.check(len(F.log_lines(server, r"stream show: push to \S+ connected")) == 2,
            "expected two 'connected' lines:\n" + "\n".join(F.log_lines(server, "push to")))

    # Backoff: doubling from 1 s, capped at 30 s; the attempts were spaced as announced.
    tries = retries(server)
    h.log("retries (log time s, backoff ms): " + ", ".join(f"({t:.1f}, {b})" for t, b in tries))
    H.check(tries, "no push retry was logged")
    backoffs = [b for _, b in tries]
    H.check(backoffs[0] == 1000, f"first retry after {backoffs[0]} ms, expected 1000")
    for a, b in zip(backoffs, backoffs[1:]):
        H.check(b == min(2 * a, MAX_BACKOFF_S * 1000), f"backoff {a} ms followed by {b} ms")
    for (t0, b0), (t1, _) in zip(tries, tries[1:]):
        H.check(t1 - t0 >= b0 / 1000 - 0.05, f"a retry {t1 - t0:.2f} s after one announced in {b0} ms")
    H.check(len(tries) <= 2 + down_s / 2, f"{len(tries)} connection attempts in {down_s} s: too many")

    # The local outputs were not disturbed.
    after = F.fetch(playlist)
    H.check(F.media_sequence(after) == F.media_sequence(before), "the HLS media sequence changed")
    H.check("#EXT-X-DISCONTINUITY" not in after.splitlines(), "a discontinuity in the HLS playlist")
    added = len(F.segment_uris(during)) - len(F.segment_uris(before))
    H.check(added >= down_s / 2 - 2, f"only {added} HLS segments were added during {down_s} s of outage")
    H.check(viewer.is_alive() and not viewer.player.ended and viewer.error is None,
            f"the RTMP viewer was ended or failed: {viewer.error}, {viewer.player.statuses}")
    frames = [m for m in viewer.player.messages if m.kind == "video" and not m.config]
    gaps = [b.received_at - a.received_at for a, b in zip(frames, frames[1:])]
    H.check(frames and max(gaps) <= GAP_LIMIT_S, f"the RTMP viewer waited {max(gaps or [0]):.2f} s for a frame")
    H.check(all(b.ts > a.ts for a, b in zip(frames, frames[1:])), "the RTMP viewer's video timestamps went back")
    h.log(f"during the outage: {added} HLS segments added; RTMP viewer {len(frames)} frames, longest gap "
          f"{max(gaps):.3f} s")
    viewer.stop()
    pub.kill()
    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"live-server exit code:\n{H.tail(server.log())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--down-seconds", type=float, default=20.0)
    options = parser.parse_args()
    H.main("interop-faults-push-target-down", lambda h: body(h, options.down_seconds),
           deadline_s=int(150 + options.down_seconds))
