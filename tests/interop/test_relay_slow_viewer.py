#!/usr/bin/env python3
"""interop-relay-slow-viewer: one viewer that stops reading must not hurt the others nor grow the
server without bound. ffmpeg publishes a 24 s 1280x720 ~4 Mbit/s H.264 (B-frames, 2 s GOP) + AAC
file in real time into rtmpserversrc ! flvrelaysink max-viewer-lag=1000 viewer-timeout=5000.
Three healthy viewers (the harness's RTMP player) and one ffmpeg player play from the start;
3 s in, the ffmpeg player is frozen with SIGSTOP. Checked:
- each healthy viewer receives every audio and video frame of the source, bytes and timestamps
  intact, and on time: no message arrives more than 1 s later than its timestamp says (relative
  to the first), so the frozen viewer never held the others up;
- the frozen viewer is disconnected: an rtmp-play-stop element message whose reason says it
  stayed behind, within 25 s of SIGSTOP (socket buffers fill first, then viewer-timeout);
- the server's resident memory (VmRSS of gst-launch, sampled every 0.5 s) stays below its value
  before the freeze + 32 MiB (4x the 8 MiB per-viewer queue bound; measured: +0.1 MiB); the
  figures are logged.
Then the frozen ffmpeg gets SIGCONT and is killed."""

import signal
import threading
import time

import harness as H

SECONDS = 24
FREEZE_AT_S = 3.0
RSS_MARGIN_KIB = 32 * 1024
LATE_LIMIT_S = 1.0


def body(h):
    for tool in ("ffmpeg", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("relay-4m", width=1280, height=720, seconds=SECONDS, gop=50, video_kbps=4000)
    source = H.flv_file_messages(src)
    media_bytes = sum(m.size for m in source if m.kind != "data")
    h.log(f"input {src}: {len(source)} tags, {media_bytes * 8 / SECONDS / 1e6:.2f} Mbit/s of media")

    port, key = H.free_port(), "relay-slow"
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} "
                              f"idle-timeout={H.IDLE_TIMEOUT_S} "
                              f"! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
                              f"max-viewer-lag=1000 viewer-timeout=5000")
    h.wait_listening(port, gst)

    healthy = [H.RtmpRecorder(port, "live", key, name=f"viewer-{i}") for i in range(3)]
    for viewer in healthy:
        viewer.start()
    for viewer in healthy:
        viewer.started_playing.wait(10)
        H.check(viewer.error is None, f"{viewer.name}: {viewer.error}")
    ffmpeg = H.require_tool("ffmpeg")
    frozen = h.spawn("frozen-player", [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", url,
                                       "-c", "copy", "-f", "flv", h.path("frozen.flv")])
    H.wait_bus_messages(gst, "rtmp-play-start", 4, 15)

    samples = []  # (seconds since publish start, RSS KiB)
    sampling = threading.Event()

    def sample_rss():
        while not sampling.is_set():
            rss = H.rss_kib(gst.pid)
            if rss is not None:
                samples.append((time.monotonic() - t0, rss))
            sampling.wait(0.5)

    pub = H.ffmpeg_publish(h, "publisher", src, url)
    t0 = time.monotonic()
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    time.sleep(FREEZE_AT_S)
    H.check(frozen.alive(), f"the ffmpeg player ended before the freeze:\n{H.tail(frozen.log())}")
    baseline = H.rss_kib(gst.pid)
    frozen.signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    h.log(f"ffmpeg player (pid {frozen.pid}) stopped with SIGSTOP; server RSS now {baseline / 1024:.1f} MiB")

    def dropped():
        stops = [line for line in H.bus_messages(gst.log(), "rtmp-play-stop") if "behind" in line]
        return stops or None
    stops = H.wait_for(dropped, 25, "the frozen viewer was not disconnected (no rtmp-play-stop saying it "
                                    "stayed behind)", interval=0.2)
    h.log(f"frozen viewer disconnected {time.monotonic() - frozen_at:.1f} s after SIGSTOP: {stops[0]}")
    frozen.signal(signal.SIGCONT)
    frozen.kill()

    rc = h.wait_exit(pub, SECONDS + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")
    sampling.set()
    sampler.join(5)
    for viewer in healthy:
        viewer.join(15)
        H.check(not viewer.is_alive(), f"{viewer.name} still playing 15 s after the stream ended")

    peak = max(rss for _, rss in samples)
    h.log(f"server RSS: {baseline / 1024:.1f} MiB before the freeze, peak {peak / 1024:.1f} MiB "
          f"(bound {(baseline + RSS_MARGIN_KIB) / 1024:.1f} MiB), "
          f"samples every 0.5 s: " + " ".join(f"{rss / 1024:.0f}" for _, rss in samples))
    H.check(peak <= baseline + RSS_MARGIN_KIB,
            f"server RSS grew to {peak / 1024:.1f} MiB, more than {RSS_MARGIN_KIB // 1024} MiB over "
            f"{baseline / 1024:.1f} MiB while a viewer was frozen")

    for viewer in healthy:
        player = viewer.player
        H.check(viewer.error is None, f"{viewer.name}: {viewer.error}")
        H.check(player.ended, f"{viewer.name}: the stream did not end with UnpublishNotify/StreamEOF "
                              f"(statuses {player.statuses})")
        start, offset = H.check_message_run(source, player.messages, viewer.name, from_start=True, to_end=True)
        media = [m for m in player.messages if m.kind != "data" and not m.config]
        first = media[0]
        late = max((m.received_at - first.received_at) - (m.ts - first.ts) / 1000 for m in media)
        h.log(f"{viewer.name}: all {len(media)} frames identical, offset {offset} ms; "
              f"latest arrival {late * 1000:.0f} ms behind the stream's own clock")
        H.check(late <= LATE_LIMIT_S, f"{viewer.name}: a message arrived {late:.2f} s later than its timestamp "
                                      f"says: the frozen viewer held the others up")


if __name__ == "__main__":
    H.main("interop-relay-slow-viewer", body, deadline_s=150)
