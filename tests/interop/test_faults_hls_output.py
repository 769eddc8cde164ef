#!/usr/bin/env python3
"""interop-faults-hls-output (issue #9, faults): hlsadaptivesink's output directory read-only or
full, in the live-server application, next to a healthy stream. The test runs in a private mount
namespace (unshare -m) and mounts there
- <output>/live/ro: a read-only tmpfs (an unwritable folder),
- <output>/live/full: a 1 MiB tmpfs (a disk that fills within seconds at ~1.5 Mbit/s; LL-HLS
  writes parts and segments, playlist-length 0 deletes nothing).
Three ffmpeg publishers (looped, -c copy): "ok" first, with an RTMP viewer of the harness playing
it, then "ro" and "full". Checked:
- each faulty stream loses its HLS output once, alone: the log line names the stream and the
  output folder, and the details give the file and the errno text ("Read-only file system", "No
  space left on device"); no *.tmp is left in the full folder;
- its other outputs go on: its publisher stays connected, ffprobe plays it over RTMP and
  HTTP-FLV, /api/streams gives the reason in hls_error, its HLS URLs answer 404;
- meanwhile "ok" goes on: its playlist keeps adding segments, ffprobe plays it over RTMP and
  HTTP-FLV, and the viewer that played it from before the faults got frames without a gap of
  more than 1.5 s and was never ended;
- publishing "full" again (after its stream ended) while the disk is still full (2 times;
  --full-cycles N): each new stream loses HLS the same way and goes on over RTMP; the server's
  RSS is logged after each;
- space freed (the tmpfs grown to 64 MiB): publishing "full" again gives a working stream;
- SIGTERM: exit 0, the healthy playlists end with EXT-X-ENDLIST."""

import argparse
import os
import signal
import subprocess
import sys
import time

import faults_common as F
import harness as H

TMPFS_FULL = "size=1m"
GAP_LIMIT_S = 1.5


def files_under(path):
    return [os.path.join(d, f) for d, _, files in os.walk(path) for f in files]


def body(h, cycles):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    src = H.make_test_flv("faults-out", width=640, height=360, fps=25, seconds=10, gop=25, video_kbps=1500)
    out = h.path("live-output")
    ro_dir, full_dir = os.path.join(out, "live", "ro"), os.path.join(out, "live", "full")
    F.mount_tmpfs(ro_dir, "ro,size=64k")
    F.mount_tmpfs(full_dir, TMPFS_FULL)
    try:
        run(h, src, out, ro_dir, full_dir, cycles)
    finally:
        F.umount(full_dir)
        F.umount(ro_dir)


def run(h, src, out, ro_dir, full_dir, cycles):
    server, rtmp, http = F.start_live_server(h, "--playlist-length", "0", "--idle-timeout", "5", output_dir=out)
    url = f"rtmp://127.0.0.1:{rtmp}/live/"
    pubs = {"ok": F.ffmpeg_loop(h, "ffmpeg-ok", src, url + "ok")}
    ok_playlist = F.wait_server("ok's source playlist", lambda: F.source_playlist_url(http, "ok"), 20, server)
    viewer = H.RtmpRecorder(rtmp, "live", "ok", name="viewer-ok")
    viewer.start()
    viewer.started_playing.wait(10)
    pubs["ro"] = F.ffmpeg_loop(h, "ffmpeg-ro", src, url + "ro")
    pubs["full"] = F.ffmpeg_loop(h, "ffmpeg-full", src, url + "full")
    faults_at = time.monotonic()

    relay_ok = lambda play: F.ffprobe_streams(play)[0] == 0 and "h264,video,640,360" in F.ffprobe_streams(play)[1]
    for name, folder, errno_text in (("ro", ro_dir, "Read-only file system"),
                                     ("full", full_dir, "No space left on device")):
        F.wait_server(f"stream {name}'s HLS failing", lambda: f"stream {name}: HLS output failed" in server.log(),
                      30, server)
        log = server.log()
        H.check(f"Could not write HLS output in {folder}" in log,
                f"the failure of stream {name} does not name its folder {folder}:\n{H.tail(log)}")
        H.check(errno_text in log, f"the failure of stream {name} does not say '{errno_text}':\n{H.tail(log)}")
        H.check(f"stream {name} failed" not in log, f"stream {name} was ended by its HLS failure:\n{H.tail(log)}")
        h.log(f"stream {name}'s HLS failed {time.monotonic() - faults_at:.1f} s after its publisher started: "
              + " | ".join(F.log_lines(server, f"stream {name}: HLS output failed|{errno_text}")))
    stat = os.statvfs(full_dir)
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    leftovers = [f for f in files_under(full_dir) if f.endswith(".tmp")]
    H.check(not leftovers, f"temporary files left in the full folder: {leftovers}")
    h.log(f"full folder at the failure: {used} bytes used of {stat.f_blocks * stat.f_frsize}, "
          f"{len(files_under(full_dir))} files")

    # The failed streams' other outputs go on: their publishers stay, RTMP and HTTP-FLV play them,
    # /api/streams says why HLS is off, and their HLS URLs answer 404 (not a playlist that stalls).
    streams = {s["name"]: s for s in F.api_streams(http)}
    H.check(sorted(streams) == ["full", "ok", "ro"], f"/api/streams lists {sorted(streams)} after the failures")
    for name, folder in (("ro", ro_dir), ("full", full_dir)):
        H.check(pubs[name].alive(), f"the {name} publisher was disconnected by the HLS failure")
        H.check(folder in streams[name].get("hls_error", ""), f"/api/streams {name}: hls_error {streams[name]}")
        for play in (f"rtmp://127.0.0.1:{rtmp}/live/{name}", f"http://127.0.0.1:{http}/live/{name}.flv"):
            code, found, err = F.ffprobe_streams(play)
            H.check(code == 0 and "h264,video,640,360" in found, f"ffprobe {play} after its HLS failed: "
                                                                  f"exit {code} {found} {err}")
        code = F.http_status(f"http://127.0.0.1:{http}/live/{name}/master.m3u8")
        H.check(code == 404, f"{name}'s master playlist after its HLS failed: HTTP {code}, expected 404")
    H.check(streams["ok"].get("hls_error") == "", f"ok has an hls_error: {streams['ok']}")

    # The healthy stream goes on.
    n_ok = len(F.segment_uris(F.fetch(ok_playlist)))
    F.wait_server("ok adding 3 segments after the failures",
                  lambda: len(F.segment_uris(F.fetch(ok_playlist))) >= n_ok + 3, 20, server)
    for play in (f"rtmp://127.0.0.1:{rtmp}/live/ok", f"http://127.0.0.1:{http}/live/ok.flv"):
        code, found, err = F.ffprobe_streams(play)
        H.check(code == 0 and "h264,video,640,360" in found, f"ffprobe {play}: exit {code} {found} {err}")
    H.check(viewer.is_alive() and not viewer.player.ended and viewer.error is None,
            f"the viewer of ok was ended or failed: {viewer.error}, statuses {viewer.player.statuses}")
    frames = [m for m in viewer.player.messages if m.kind == "video" and not m.config]
    H.check(len(frames) > 100, f"the viewer of ok got only {len(frames)} video frames")
    gaps = [b.received_at - a.received_at for a, b in zip(frames, frames[1:])]
    H.check(max(gaps) <= GAP_LIMIT_S, f"the viewer of ok waited {max(gaps):.2f} s for a frame")
    H.check(all(b.ts > a.ts for a, b in zip(frames, frames[1:])), "the viewer of ok got video timestamps going back")
    h.log(f"ok: {len(F.segment_uris(F.fetch(ok_playlist)))} segments, viewer {len(frames)} frames, "
          f"longest gap {max(gaps):.3f} s")
    viewer.stop()

    def republish_full(label):
        """Ends the full stream (its publisher gone for the idle timeout) and publishes it again."""
        pubs["full"].kill()
        F.wait_server(f"stream full ending ({label})",
                      lambda: "full" not in [s["name"] for s in F.api_streams(http)], 20, server)
        pubs["full"] = F.ffmpeg_loop(h, f"ffmpeg-full-{label}", src, url + "full")

    # Publishing again while the disk is still full: the new stream's HLS fails the same way and
    # the stream goes on without it; the server does not grow with each attempt (--full-cycles N).
    rss = [H.rss_kib(server.pid)]
    for i in range(cycles):
        republish_full(str(i))
        F.wait_server(f"stream full's HLS failing again ({i + 1})",
                      lambda: server.log().count("stream full: HLS output failed") >= i + 2, 30, server)
        H.check(pubs["full"].alive(), "the full publisher was disconnected")
        rss.append(H.rss_kib(server.pid))
    if cycles:
        H.check(not [f for f in files_under(full_dir) if f.endswith(".tmp")], "temporary files left")
        H.check(relay_ok(f"rtmp://127.0.0.1:{rtmp}/live/full"), "full not playable over RTMP after the cycles")
        h.log(f"{cycles} publishes to the full disk, each lost HLS alone and went on over RTMP; server RSS KiB "
              f"{rss[0]} -> {rss[-1]} (max {max(rss)}): {rss}")

    # Space freed: the stream's next pipeline has HLS again.
    r = subprocess.run([H.require_tool("mount"), "-o", "remount,size=64m", full_dir], capture_output=True, timeout=20)
    H.check(r.returncode == 0, f"remounting the full tmpfs with 64 MiB failed: {r.stderr.decode(errors='replace')}")
    republish_full("again")
    full_playlist = F.wait_server("full's playlist after space was freed",
                                  lambda: F.source_playlist_url(http, "full"), 20, server)
    F.wait_server("full adding 2 segments", lambda: len(F.segment_uris(F.try_fetch(full_playlist) or "")) >= 2,
                  20, server)
    H.check(server.log().count("stream full: HLS output failed") == 1 + cycles,
            "stream full's HLS failed again after space was freed")

    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"live-server exit code:\n{H.tail(server.log())}")
    for name in ("ok", "full"):
        stream_dir = os.path.join(out, "live", name)
        for _, uri in F.variants_of(open(os.path.join(stream_dir, "master.m3u8")).read()):
            text = open(os.path.join(stream_dir, uri)).read()
            H.check("#EXT-X-ENDLIST" in text, f"{name} {uri} has no EXT-X-ENDLIST after SIGTERM")
    for p in pubs.values():
        p.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full-cycles", type=int, default=2, help="publishes to the still full disk")
    options = parser.parse_args()
    F.in_private_mount_namespace(__file__, sys.argv[1:])
    H.main("interop-faults-hls-output", lambda h: body(h, options.full_cycles),
           deadline_s=180 + 5 * options.full_cycles)
