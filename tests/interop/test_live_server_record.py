#!/usr/bin/env python3
"""interop-live-server-record: live-server --record writes one MP4 per publish. ffmpeg publishes
H.264 (B-frames, 1 s GOP) + AAC files to rtmp://127.0.0.1:P/live/show three times within
idle-timeout: 5 s, then at once 3 s (its first frame ends the first file), then, once the second
file is finalised, 4 s; the server gets SIGTERM as soon as the third publish ends. Checked:
- while the first publish is live, /api/streams names the file being written;
- the first two files are finalised (ffprobe reads them) while the server runs, the second
  within 3 s after its publish ended; the third is finalised by the shutdown (exit code 0);
- exactly three files <record-dir>/show-<UTC yyyymmdd-hhmmss>.mp4, each H.264 + AAC, starting at
  a keyframe, with the input's resolution, its duration within 1 s of its publish's, and exactly
  as many video frames as its input;
- a record folder that cannot be made (a regular file in its path) gives one clear log line and
  the stream goes on: HLS is served and ffmpeg's publish succeeds."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import harness as H

FIRST_S, SECOND_S, THIRD_S = 5, 3, 4
NAME_RE = re.compile(r"^show-\d{8}-\d{6}(-\d+)?\.mp4$")


def server_bin():
    path = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(path), f"{path} was not built")
    return path


def start_server(h, name, record_dir):
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn(name, [server_bin(), "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
                            "--http-port", str(http_port), "--output-dir", h.path(f"{name}-hls"),
                            "--ladder", "", "--record", "--record-dir", record_dir,
                            "--idle-timeout", "10", "--status-interval", "0"], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    return server, rtmp_port, http_port


def api_streams(http_port):
    """The streams /api/streams lists ([] while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/streams", timeout=3) as r:
            return json.loads(r.read()).get("streams", [])
    except OSError:
        return []


def probe(path):
    """(format duration s, {kind: stream}, video packets with flags) of an MP4 as ffprobe reads it."""
    ffprobe = H.require_tool("ffprobe")
    r = subprocess.run([ffprobe, "-v", "error", "-show_format", "-show_streams", "-show_packets",
                        "-of", "json", path], capture_output=True, timeout=60)
    H.check(r.returncode == 0, f"ffprobe cannot read {path}: {r.stderr.decode(errors='replace')}")
    info = json.loads(r.stdout)
    streams = {s["codec_type"]: s for s in info.get("streams", [])}
    H.check("video" in streams, f"{path} has no video stream")
    vindex = streams["video"]["index"]
    video = [p for p in info.get("packets", []) if p["stream_index"] == vindex]
    return float(info["format"]["duration"]), streams, video


def check_file(h, path, expected, seconds, what):
    duration, streams, video = probe(path)
    v = streams["video"]
    h.log(f"{what}: {os.path.basename(path)}: {duration:.2f} s, {len(video)} video frames, "
          f"{v.get('codec_name')} {v.get('width')}x{v.get('height')}, audio {streams.get('audio', {}).get('codec_name')}")
    H.check(v.get("codec_name") == "h264", f"{what}: video codec {v.get('codec_name')}")
    H.check((v.get("width"), v.get("height")) == (320, 240), f"{what}: video {v.get('width')}x{v.get('height')}")
    H.check(streams.get("audio", {}).get("codec_name") == "aac", f"{what}: audio {streams.get('audio')}")
    H.check(abs(duration - seconds) <= 1.0, f"{what}: lasts {duration:.2f} s, its publish {seconds} s")
    H.check(video and "K" in video[0].get("flags", ""), f"{what}: the first video frame is not a keyframe")
    frames = len(expected.packets["video"])
    H.check(len(video) == frames, f"{what}: {len(video)} video frames, its input has {frames}")


def recordings(record_dir):
    return sorted(f for f in os.listdir(record_dir) if f.endswith(".mp4")) if os.path.isdir(record_dir) else []


def wait_log(server, pattern, timeout, what):
    return H.wait_for(lambda: re.search(pattern, server.log()), timeout, what)


def publish(h, name, src, rtmp_port, seconds):
    pub = H.ffmpeg_publish(h, name, src, f"rtmp://127.0.0.1:{rtmp_port}/live/show")
    rc = h.wait_exit(pub, seconds + 20, "publishing in real time")
    H.check(rc == 0, f"{name}: ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")


def three_publishes(h):
    first = H.make_test_flv("rec-a", seconds=FIRST_S, tone=440)
    second = H.make_test_flv("rec-b", seconds=SECOND_S, tone=660, pattern="smptebars")
    third = H.make_test_flv("rec-c", seconds=THIRD_S, tone=880, pattern="testsrc")
    expected = [H.MediaFile(first), H.MediaFile(second), H.MediaFile(third)]
    record_dir = h.path("recordings")
    server, rtmp_port, http_port = start_server(h, "live-server", record_dir)

    pub = H.ffmpeg_publish(h, "ffmpeg-1", first, f"rtmp://127.0.0.1:{rtmp_port}/live/show")
    live = H.wait_for(lambda: next((s for s in api_streams(http_port) if s.get("recording")), None),
                      FIRST_S, "/api/streams naming the recording")
    H.check(NAME_RE.match(os.path.basename(live["recording"])),
            f"/api/streams says it records to {live['recording']}")
    rc = h.wait_exit(pub, FIRST_S + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg-1 failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    time.sleep(1.0)  # the next file's name is a second later

    # At once (within the stop grace): the next publisher's first frame ends the first file.
    publish(h, "ffmpeg-2", second, rtmp_port, SECOND_S)
    wait_log(server, r"stream show: publisher \S+ stopped(.|\n)*stream show: publisher \S+ stopped", 10,
             "the second publish's end in the log")
    ended = time.monotonic()
    H.wait_for(lambda: len(re.findall(r"stream show: recorded \S+", server.log())) == 2, 10,
               "two files finalised while the server runs")
    h.log(f"second file finalised {time.monotonic() - ended:.1f} s after its publish ended")
    H.check(time.monotonic() - ended <= 3.0, "the second file took more than 3 s to be finalised")
    files = recordings(record_dir)
    H.check(len(files) == 2, f"after two publishes: {files}")
    for f, exp, seconds, what in zip(files, expected, (FIRST_S, SECOND_S), ("first", "second")):
        check_file(h, os.path.join(record_dir, f), exp, seconds, f"{what} publish (server running)")
    time.sleep(1.0)

    publish(h, "ffmpeg-3", third, rtmp_port, THIRD_S)
    server.signal(signal.SIGTERM)  # at once: this file is finalised by the shutdown
    rc = h.wait_exit(server, 30, "SIGTERM")
    H.check(rc == 0, f"live-server exited with {rc}:\n{H.tail(server.log())}")
    files = recordings(record_dir)
    H.check(len(files) == 3, f"expected three recordings, found {files}")
    for f in files:
        H.check(NAME_RE.match(f), f"recording named {f}, expected show-<yyyymmdd-hhmmss>.mp4")
    for f, exp, seconds, what in zip(files, expected, (FIRST_S, SECOND_S, THIRD_S), ("first", "second", "third")):
        check_file(h, os.path.join(record_dir, f), exp, seconds, f"{what} publish")
    H.check(not re.search(r"was cut off|recording to \S+ failed", server.log()),
            f"live-server reports a broken recording:\n{H.tail(server.log())}")


def unwritable_dir(h):
    src = H.make_test_flv("rec-a", seconds=FIRST_S, tone=440)
    blocker = h.path("not-a-folder")
    with open(blocker, "w") as f:
        f.write("a file where the record folder would be\n")
    server, rtmp_port, http_port = start_server(h, "live-server-bad-dir", os.path.join(blocker, "rec"))
    pub = H.ffmpeg_publish(h, "ffmpeg-bad-dir", src, f"rtmp://127.0.0.1:{rtmp_port}/live/show")
    line = wait_log(server, r"stream show: cannot record.*", 10, "a log line saying recording is impossible")
    h.log(f"log: {line.group(0)}")
    H.check("not-a-folder" in line.group(0), "the log line does not name the folder")

    def master():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/live/show/master.m3u8", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None
    H.check("#EXTM3U" in H.wait_for(master, FIRST_S + 5, "HLS of the stream that cannot be recorded"),
            "master playlist is not a playlist")
    rc = h.wait_exit(pub, FIRST_S + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish while recording was impossible (exit {rc}):\n{H.tail(pub.log())}")
    H.check(server.alive(), f"live-server exited:\n{H.tail(server.log())}")
    H.check(not re.search(r"stream show failed", server.log()), f"the stream failed:\n{H.tail(server.log())}")
    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"live-server exit code:\n{H.tail(server.log())}")


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    three_publishes(h)
    unwritable_dir(h)


if __name__ == "__main__":
    H.main("interop-live-server-record", body, deadline_s=120)
