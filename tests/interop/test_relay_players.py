#!/usr/bin/env python3
"""interop-relay-players: rtmpserversrc ! flvrelaysink on one port; ffmpeg publishes an 8 s H.264
(B-frames) + AAC file in real time. Three real RTMP players (ffmpeg -c copy, GStreamer rtmp2src !
filesink, librtmp's rtmpdump) start before the publisher, and the same three join 3 s into the
stream; each records what it got. Each recording must be one contiguous run of the source's
packets (same bytes, same PTS/DTS up to one offset shared by audio and video) that starts at a
keyframe and goes on to the last packet published: the early players from the very first packet,
the late ones from a later keyframe, sequence headers included (the GOP cache). Every player ends
by itself when the stream ends (NetStream.Play.UnpublishNotify after idle-timeout), and the
element reports one rtmp-play-start (protocol rtmp) per player."""

import time

import harness as H

SECONDS = 8


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0", "rtmpdump"):
        H.require_tool(tool)
    H.require_gst_element("rtmp2src")
    src = H.make_test_flv("relay", seconds=SECONDS)
    expected = H.MediaFile(src)
    h.log(f"input {src}: {expected.summary()}")

    port, key = H.free_port(), "relay-players"
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} "
                              f"idle-timeout={H.IDLE_TIMEOUT_S} "
                              f"! flvrelaysink address=127.0.0.1 port={port} stream-key={key}")
    h.wait_listening(port, gst)

    ffmpeg = H.require_tool("ffmpeg")
    names = ("ffmpeg", "rtmp2src", "rtmpdump", "ffmpeg-late", "rtmp2src-late", "rtmpdump-late")
    out = {name: h.path(f"{name}.flv") for name in names}
    players = {
        "ffmpeg": h.spawn("ffmpeg-player", [ffmpeg, "-hide_banner", "-nostdin", "-i", url, "-c", "copy",
                                            "-f", "flv", out["ffmpeg"]]),
        "rtmp2src": h.gst_launch("rtmp2src-player", f"rtmp2src location={url} ! filesink location={out['rtmp2src']}",
                                 messages=False),
        # --live: no seeking or resuming; --timeout: give up if nothing comes for 30 s.
        "rtmpdump": h.spawn("rtmpdump-player", ["rtmpdump", "--live", "--timeout", "30", "-r", url,
                                                "-o", out["rtmpdump"]]),
    }
    H.wait_bus_messages(gst, "rtmp-play-start", 3, 15)
    pub = H.ffmpeg_publish(h, "publisher", src, url)
    time.sleep(3.0)
    H.check(pub.alive(), f"publisher ended early:\n{H.tail(pub.log())}")
    # Joining mid-stream: the GOP cache (sequence headers, last keyframe) must reach every player.
    players["ffmpeg-late"] = h.spawn("ffmpeg-late-player", [ffmpeg, "-hide_banner", "-nostdin", "-i", url,
                                                            "-c", "copy", "-f", "flv", out["ffmpeg-late"]])
    players["rtmp2src-late"] = h.gst_launch("rtmp2src-late-player",
                                            f"rtmp2src location={url} ! filesink location={out['rtmp2src-late']}",
                                            messages=False)
    players["rtmpdump-late"] = h.spawn("rtmpdump-late-player", ["rtmpdump", "--live", "--timeout", "30", "-r", url,
                                                              "-o", out["rtmpdump-late"]])
    rc = h.wait_exit(pub, SECONDS + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")

    # The source ends idle-timeout after the publisher left; every player must then stop by itself.
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")
    for name, proc in players.items():
        rc = h.wait_exit(proc, 15, "the stream ended (UnpublishNotify / StreamEOF)")
        H.check(rc == 0, f"{name} player exited with {rc}:\n{H.tail(proc.log())}")

    for name in names:
        got = H.MediaFile(out[name])
        late = name.endswith("-late")
        start, offset = H.check_relayed_run(expected, got, f"{name} player", from_start=not late, to_end=True)
        h.log(f"{name}: {got.summary()}; source video packets {start}.. identical, offset {offset} ms")
        if late:
            H.check(start > 0, f"{name}, which joined 3 s in, got the stream from its first packet")

    # (Players leave after the pipeline stopped, so no rtmp-play-stop can be posted for them.)
    starts = H.bus_messages(gst.log(), "rtmp-play-start")
    H.check(len(starts) == len(names), f"expected {len(names)} rtmp-play-start messages, got {len(starts)}:\n" + "\n".join(starts))
    H.check(all("protocol=(string)rtmp" in line for line in starts), "rtmp-play-start without protocol=rtmp")


if __name__ == "__main__":
    H.main("interop-relay-players", body, deadline_s=120)
