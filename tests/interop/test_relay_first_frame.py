#!/usr/bin/env python3
"""interop-relay-first-frame: instant start from the GOP cache. ffmpeg publishes, looped, an H.264
(B-frames, 2 s GOP) + AAC stream; one pipeline serves it from two flvrelaysinks on the same
port, one with the GOP cache (default) and one with gop-cache=false. A minimal RTMP player (the
harness's: plain handshake, connect, createStream, play) joins mid-stream, five times at
different points of the GOP:
- NetStream.Play.Start comes before any media message;
- with the cache, its first video message is the AVC sequence header, its first coded video
  frame a keyframe of the source, and that keyframe arrives at most 200 ms after the play
  command was sent (the times are logged);
- without the cache, the first coded video frame is still a keyframe (after the sequence
  header), just later: at most one GOP (2 s) + 500 ms after play."""

import random
import statistics
import time

import harness as H

GOP_S = 2
FIRST_FRAME_LIMIT_S = 0.200
RUNS = 5


def first_keyframe(port, key, source_hashes, what, limit_s):
    player = H.RtmpPlayer(port, "live", key)
    server_closed = False
    try:
        player.connect_and_play()
        end = player.play_sent_at + limit_s + 3
        while time.monotonic() < end:
            if not player.poll(0.05):
                server_closed = True
                break
            if any(m.kind == "video" and not m.config for m in player.messages):
                break
    finally:
        player.close()
    H.check("NetStream.Play.Start" in player.statuses,
            f"{what}: no NetStream.Play.Start: statuses {player.statuses}, connection "
            f"{'closed by the server' if server_closed else 'open'}, {len(player.messages)} messages")
    early = player.media_before_status["NetStream.Play.Start"]
    H.check(early == 0, f"{what}: {early} media messages came before NetStream.Play.Start "
                        f"(players such as librtmp and rtmp2src drop them): {player.messages[:early][:6]}")
    delay, _ = player.video_keyframe_after_play()
    H.check(delay is not None, f"{what}: no video frame within {limit_s + 3:.1f} s of play "
                               f"(got {player.messages[:6]})")
    video = [m for m in player.messages if m.kind == "video"]
    frame = next(m for m in video if not m.config)
    H.check(video[0].config, f"{what}: the first video message is not the AVC sequence header: {video[0]}")
    H.check(frame.key, f"{what}: the first coded video frame is not a keyframe: {frame}")
    H.check(frame.hash in source_hashes, f"{what}: the first keyframe {frame} is none of the source's")
    H.check(delay <= limit_s, f"{what}: first keyframe {delay * 1000:.1f} ms after play, limit {limit_s * 1000:.0f} ms")
    return delay


def body(h):
    for tool in ("ffmpeg", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("relay-gop2", seconds=6, gop=GOP_S * 25)
    source = H.flv_file_messages(src)
    keyframes = {m.hash for m in source if m.key}
    H.check(len(keyframes) == 3, f"test media should have 3 keyframes (2 s GOP), has {len(keyframes)}")

    port, key = H.free_port(), "relay-first"
    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} ! tee name=t "
                              f"t. ! queue ! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
                              f"t. ! queue ! flvrelaysink address=127.0.0.1 port={port} stream-key={key}-nocache "
                              f"gop-cache=false")
    h.wait_listening(port, gst)
    ffmpeg = H.require_tool("ffmpeg")
    pub = h.spawn("publisher-loop", [ffmpeg, "-hide_banner", "-nostdin", "-re", "-stream_loop", "-1", "-i", src,
                                     "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"])
    H.wait_bus_messages(gst, "rtmp-publish-start", 1, 15)
    time.sleep(GOP_S + 0.5)  # at least one whole GOP in the cache

    rng = random.Random(7)
    cached = []
    for run in range(RUNS):
        H.check(pub.alive(), f"publisher ended:\n{H.tail(pub.log())}")
        time.sleep(rng.uniform(0.2, 0.9))  # join at different points of the GOP
        cached.append(first_keyframe(port, key, keyframes, f"GOP cache, viewer {run + 1}", FIRST_FRAME_LIMIT_S))
    h.log("GOP cache: first keyframe after play: " + ", ".join(f"{d * 1000:.1f} ms" for d in cached)
          + f" (max {max(cached) * 1000:.1f} ms, median {statistics.median(cached) * 1000:.1f} ms)")

    uncached = []
    for run in range(3):
        H.check(pub.alive(), f"publisher ended:\n{H.tail(pub.log())}")
        time.sleep(rng.uniform(0.2, 0.9))
        uncached.append(first_keyframe(port, f"{key}-nocache", keyframes, f"gop-cache=false, viewer {run + 1}",
                                       GOP_S + 0.5))
    h.log("gop-cache=false: first keyframe after play: " + ", ".join(f"{d * 1000:.1f} ms" for d in uncached))


if __name__ == "__main__":
    H.main("interop-relay-first-frame", body, deadline_s=90)
