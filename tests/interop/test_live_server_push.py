#!/usr/bin/env python3
"""interop-live-server-push: live-server --push rtmp://127.0.0.1:N/live/{name} restreams every
stream to a real nginx-rtmp (Debian's nginx with libnginx-mod-rtmp, own configuration in the work
directory, started and stopped by PID). ffmpeg publishes a looped H.264 (B-frames) + AAC file with
the key "secret-key", mapped to the public name "show" by the config file. Checked:
- /api/streams lists the stream's push target with state "publishing" and its location
  (host, port, application), and never the publish key;
- ffprobe reading rtmp://127.0.0.1:N/live/show from nginx finds H.264 320x240 and AAC;
- ffmpeg pulling 3 s from nginx gets at least 2 s of video starting at a keyframe, every frame
  one of the source's, with the source's codec configuration;
- the server log names the push as connected."""

import json
import os
import signal
import subprocess
import urllib.request

import harness as H


def api_streams(http_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/streams", timeout=3) as r:
            return json.loads(r.read()).get("streams", [])
    except OSError:
        return []


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    server_bin = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(server_bin), f"{server_bin} was not built")
    src = H.make_test_flv("push", seconds=8)
    expected = H.MediaFile(src)
    nginx_port, rtmp_port, http_port = H.free_port(), H.free_port(), H.free_port()
    H.start_nginx_rtmp(h, nginx_port)
    conf = h.path("live-server.conf")
    with open(conf, "w") as f:
        f.write("[stream:secret-key]\nname=show\n")
    server = h.spawn("live-server", [server_bin, "--config", conf, "--address", "127.0.0.1",
                                     "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
                                     "--output-dir", h.path("hls"), "--ladder", "", "--status-interval", "0",
                                     "--push", f"rtmp://127.0.0.1:{nginx_port}/live/{{name}}"], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    ffmpeg = H.require_tool("ffmpeg")
    pub = h.spawn("publisher", [ffmpeg, "-hide_banner", "-nostdin", "-re", "-stream_loop", "-1", "-i", src,
                                "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/secret-key"])

    def publishing_target():
        for s in api_streams(http_port):
            for t in s.get("push_targets", []):
                if t.get("state") == "publishing":
                    return s, t
        H.check(pub.alive(), f"the publisher ended:\n{H.tail(pub.log())}")
        return None
    stream, target = H.wait_for(publishing_target, 20, "/api/streams: a push target in state publishing")
    h.log(f"/api/streams: stream {stream['name']}, push target {target}")
    H.check(stream["name"] == "show", f"stream listed as {stream['name']}")
    # The element shows the target without its last path segment (a key at most targets).
    H.check(target["location"].startswith(f"rtmp://127.0.0.1:{nginx_port}/live/"),
            f"push target location {target['location']}")
    H.check("secret-key" not in json.dumps(stream), f"/api/streams shows the publish key: {stream}")

    ffprobe = H.require_tool("ffprobe")
    r = subprocess.run([ffprobe, "-v", "error", "-rw_timeout", "10000000", "-show_streams", "-of", "json",
                        f"rtmp://127.0.0.1:{nginx_port}/live/show"], capture_output=True, timeout=30)
    H.check(r.returncode == 0, f"ffprobe cannot read the stream from nginx: {r.stderr.decode(errors='replace')}")
    streams = {s["codec_type"]: s for s in json.loads(r.stdout)["streams"]}
    video, audio = streams.get("video", {}), streams.get("audio", {})
    h.log(f"nginx serves: video {video.get('codec_name')} {video.get('width')}x{video.get('height')}, "
          f"audio {audio.get('codec_name')}")
    H.check(video.get("codec_name") == "h264" and (video.get("width"), video.get("height")) == (320, 240),
            f"video from nginx: {video}")
    H.check(audio.get("codec_name") == "aac", f"audio from nginx: {audio}")

    out = h.path("pulled.flv")
    rc, log = h.run("pull", [ffmpeg, "-hide_banner", "-nostdin", "-rw_timeout", "10000000",
                             "-i", f"rtmp://127.0.0.1:{nginx_port}/live/show", "-c", "copy", "-t", "3",
                             "-f", "flv", out], timeout=30)
    H.check(rc == 0, f"ffmpeg could not pull from nginx (exit {rc}):\n{H.tail(log)}")
    got = H.MediaFile(out)
    h.log(f"pulled from nginx: {got.summary()}")
    for kind in ("video", "audio"):
        H.check(got.extradata_hash(kind) == expected.extradata_hash(kind),
                f"{kind} codec configuration from nginx differs from the source's")
    frames = got.packets["video"]
    H.check(len(frames) >= 50, f"only {len(frames)} video frames in 3 s from nginx")
    H.check(frames[0].key, f"the first video frame from nginx is not a keyframe: {frames[0]}")
    source_hashes = {p.hash for p in expected.packets["video"]}
    strangers = [p for p in frames if p.hash not in source_hashes]
    H.check(not strangers, f"{len(strangers)} frames from nginx are none of the source's, e.g. {strangers[:2]}")

    H.check("stream show: push to rtmp://127.0.0.1" in server.log() and " connected" in server.log(),
            f"live-server did not log the push:\n{H.tail(server.log())}")
    pub.kill()
    server.signal(signal.SIGTERM)
    H.check(h.wait_exit(server, 30, "SIGTERM") == 0, f"live-server exit code:\n{H.tail(server.log())}")
    H.check("secret-key" not in server.log(), "live-server's output contains the publish key")


if __name__ == "__main__":
    H.main("interop-live-server-push", body, deadline_s=90)
