#!/usr/bin/env python3
"""interop-relay-push-nginx: flvrelaysink pushes to nginx-rtmp (Debian's nginx with
libnginx-mod-rtmp, own configuration in the work directory, `live on`) and reconnects after nginx
restarts. ffmpeg publishes a looped H.264 (B-frames, 1 s GOP) + AAC file into
rtmpserversrc ! flvrelaysink push-locations="<rtmp://127.0.0.1:N/live/pushed>". Checked:
- the element reports rtmp-push-connected; ffmpeg pulling rtmp://127.0.0.1:N/live/pushed from
  nginx for 3 s gets H.264 + AAC with the source's codec configuration, at least 2 s of video,
  its first video packet a keyframe, every video packet one of the source's in source order (no
  frame lost or reordered, across loop restarts) with increasing DTS;
- nginx is killed (SIGKILL to its process group, by PID): the element reports
  rtmp-push-disconnected; nginx is started again on the same port 2 s later: a second
  rtmp-push-connected comes within 15 s (backoff 1 s, 2 s, 4 s...), and pulling again gets the
  stream as above."""

import time

import harness as H

PULL_SECONDS = 3


def check_pull(h, expected, path, what):
    got = H.MediaFile(path)
    h.log(f"{what}: {got.summary()}")
    for kind in ("video", "audio"):
        H.check(got.codec(kind) == expected.codec(kind), f"{what}: {kind} codec {got.codec(kind)}")
        H.check(got.extradata_hash(kind) == expected.extradata_hash(kind),
                f"{what}: {kind} codec configuration differs from the source's")
    video = got.packets["video"]
    H.check(len(video) >= 2 * 25, f"{what}: only {len(video)} video packets in {PULL_SECONDS} s")
    H.check(video[0].key, f"{what}: the first video packet is not a keyframe: {video[0]}")
    source = expected.packets["video"]
    index = {}
    for i, p in enumerate(source):
        index.setdefault(p.hash, i)
    positions = []
    for j, p in enumerate(video):
        H.check(p.hash in index, f"{what}: video packet {j} {p} is none of the source's")
        positions.append(index[p.hash])
    for j in range(1, len(video)):
        H.check(positions[j] == (positions[j - 1] + 1) % len(source),
                f"{what}: video packet {j} is source packet {positions[j]}, after source packet {positions[j - 1]}")
        H.check(video[j].dts > video[j - 1].dts, f"{what}: video DTS not increasing at packet {j}: "
                                                 f"{video[j - 1]} then {video[j]}")
    H.check(len(got.packets["audio"]) >= 2 * 40, f"{what}: only {len(got.packets['audio'])} audio packets")


def pull(h, nginx_port, name):
    ffmpeg = H.require_tool("ffmpeg")
    out = h.path(f"{name}.flv")
    rc, log = h.run(name, [ffmpeg, "-hide_banner", "-nostdin", "-rw_timeout", "10000000",
                           "-i", f"rtmp://127.0.0.1:{nginx_port}/live/pushed", "-c", "copy",
                           "-t", str(PULL_SECONDS), "-f", "flv", out], timeout=30)
    H.check(rc == 0, f"{name}: ffmpeg could not pull the pushed stream from nginx (exit {rc}):\n{H.tail(log)}")
    return out


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("relay", seconds=8)
    expected = H.MediaFile(src)
    port, nginx_port, key = H.free_port(), H.free_port(), "relay-push"
    nginx = H.start_nginx_rtmp(h, nginx_port, name="nginx-1")

    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} "
                              f"! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
                              f"push-locations=\"<rtmp://127.0.0.1:{nginx_port}/live/pushed>\"")
    h.wait_listening(port, gst)
    ffmpeg = H.require_tool("ffmpeg")
    pub = h.spawn("publisher", [ffmpeg, "-hide_banner", "-nostdin", "-re", "-stream_loop", "-1", "-i", src,
                                "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/{key}"])
    H.wait_bus_messages(gst, "rtmp-push-connected", 1, 15)
    H.wait_bus_messages(gst, "rtmp-publish-start", 1, 15)
    check_pull(h, expected, pull(h, nginx_port, "pull-1"), "pull from nginx")

    nginx.kill()
    killed_at = time.monotonic()
    h.log(f"nginx (pid {nginx.pid}) killed")
    lost = H.wait_bus_messages(gst, "rtmp-push-disconnected", 1, 10)
    h.log(f"after {time.monotonic() - killed_at:.1f} s: {lost[0]}")
    time.sleep(2.0)  # the outage: nginx stays down while the publisher goes on
    H.check(pub.alive(), f"publisher ended:\n{H.tail(pub.log())}")
    H.start_nginx_rtmp(h, nginx_port, name="nginx-2")
    restarted_at = time.monotonic()
    connected = H.wait_bus_messages(gst, "rtmp-push-connected", 2, 15)
    h.log(f"push resumed {time.monotonic() - restarted_at:.1f} s after nginx restarted: {connected[1]}")
    check_pull(h, expected, pull(h, nginx_port, "pull-2"), "pull from the restarted nginx")

    log = gst.log()
    H.check(len(H.bus_messages(log, "rtmp-push-disconnected")) == 1,
            "expected exactly one rtmp-push-disconnected message:\n" + "\n".join(H.bus_messages(log, "rtmp-push")))
    H.check(f"127.0.0.1:{nginx_port}" in connected[0], f"rtmp-push-connected does not name the target: {connected[0]}")
    H.check(gst.alive() and pub.alive(), "the pipeline or the publisher ended during the push test")


if __name__ == "__main__":
    H.main("interop-relay-push-nginx", body, deadline_s=120)
