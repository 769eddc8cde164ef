#!/usr/bin/env python3
"""interop-live-server-streams: the README's main-job command (scripts/run-server.sh) serving
several streams at once, as a new user would try it:
- two ffmpeg publishers with different keys and different sources (640x360 and 960x540) at once;
  within 10 s each stream's master playlist lists its ladder (source + the transcoded rungs below
  the source's height) and ffprobe reads every variant over HTTP;
- no mix-up: each stream's source variant carries its own publisher's frames, bit for bit;
- RTMP and HTTP-FLV play work for both (ffprobe: codec and size of each stream's source);
- the publisher of one stream killed (SIGKILL) and publishing again within idle-timeout continues
  the same HLS stream (media sequence goes on, earlier segments kept, no ENDLIST in between);
- a third publisher that sends garbage after its publish was accepted ends only its own stream:
  the others keep adding segments and keep playing;
- SIGTERM ends every playlist with EXT-X-ENDLIST and the server exits 0."""

import os
import re
import signal
import time
import urllib.request

import harness as H
import rtmp_raw

FPS = 25
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDLE_TIMEOUT_S = 8


def fetch(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, predicate, timeout, server):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        H.check(server.alive(), f"live-server exited while waiting for {what}:\n{H.tail(server.log())}")
        time.sleep(0.2)
    raise H.TestFailure(f"{what}: not within {timeout} s\n{H.tail(server.log())}")


def master(http, name):
    try:
        return fetch(f"http://127.0.0.1:{http}/live/{name}/master.m3u8")
    except OSError:
        return None


def variants_of(text):
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            out.append((re.search(r"RESOLUTION=(\d+x\d+)", line).group(1), lines[i + 1]))
    return out


def media_sequence(text):
    return int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))


def segment_uris(text):
    return [l for l in text.splitlines() if l and not l.startswith("#")]


def ffprobe_streams(url, timeout=15):
    ffprobe = H.require_tool("ffprobe")
    import subprocess
    r = subprocess.run([ffprobe, "-v", "error", "-rw_timeout", "8000000", "-show_entries",
                        "stream=codec_name,codec_type,width,height", "-of", "csv=p=0", url],
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode().strip().splitlines(), r.stderr.decode()


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    talk_src = H.make_test_flv("talk", width=640, height=360, fps=FPS, seconds=60, gop=2 * FPS, tone=440)
    game_src = H.make_test_flv("game", width=960, height=540, fps=FPS, seconds=60, gop=2 * FPS,
                               pattern="smptebars", tone=880)
    rtmp, http = H.free_port(), H.free_port()
    out = h.path("live-output")
    args = ["--address", "127.0.0.1", "--rtmp-port", str(rtmp), "--http-port", str(http),
            "--output-dir", out, "--playlist-length", "0", "--idle-timeout", str(IDLE_TIMEOUT_S),
            "--status-interval", "2"]
    build_root = os.path.realpath(os.environ["LIVE_BUILD_ROOT"])
    if build_root == os.path.realpath(os.path.join(REPO, "build")):
        # Exactly the README's command (it installs nothing new and builds nothing new here).
        argv = [os.path.join(REPO, "scripts", "run-server.sh"), *args]
    else:
        h.log(f"build root {build_root} is not the README's build/: running its binary with run-server.sh's flags")
        argv = [os.path.join(build_root, "examples", "live-server"), "--player-dir",
                os.path.join(REPO, "examples", "web"), *args]
    server = h.spawn("live-server", argv, env=H.gst_env())
    h.wait_listening(rtmp, server, timeout=120)

    t0 = time.monotonic()
    pubs = {"talk": H.ffmpeg_publish(h, "ffmpeg-talk", talk_src, f"rtmp://127.0.0.1:{rtmp}/live/talk"),
            "game": H.ffmpeg_publish(h, "ffmpeg-game", game_src, f"rtmp://127.0.0.1:{rtmp}/live/game")}
    expect = {"talk": ["640x360", "426x240"], "game": ["960x540", "640x360", "426x240"]}
    for name, resolutions in expect.items():
        text = wait_for(f"{name}'s master playlist", lambda: master(http, name), 10 - (time.monotonic() - t0), server)
        got = [r for r, _ in variants_of(text)]
        H.check(got == resolutions, f"{name}: variants {got}, expected {resolutions}\n{text}")
    h.log(f"both master playlists served {time.monotonic() - t0:.1f} s after the publishers started")
    for name in expect:
        for resolution, uri in variants_of(master(http, name)):
            code, streams, err = ffprobe_streams(f"http://127.0.0.1:{http}/live/{name}/{uri}")
            H.check(code == 0 and f"h264,video,{resolution.replace('x', ',')}" in streams,
                    f"ffprobe of {name}'s {resolution} variant: exit {code}, {streams}, {err[-500:]}")

    # No mix-up: each source variant holds its own publisher's first frames, byte for byte.
    for name, src in (("talk", talk_src), ("game", game_src)):
        text = master(http, name)
        source_uri = variants_of(text)[0][1]
        playlist = fetch(f"http://127.0.0.1:{http}/live/{name}/{source_uri}")
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist).group(1)
        base = f"http://127.0.0.1:{http}/live/{name}/{os.path.dirname(source_uri)}/"
        seg = segment_uris(playlist)[0]
        path = h.path(f"{name}-first.mp4")
        with open(path, "wb") as f:
            for uri in (init, seg):
                with urllib.request.urlopen(base + uri, timeout=5) as r:
                    f.write(r.read())
        got = H.MediaFile(path).packets["video"]
        want = {p.hash for p in H.MediaFile(src).packets["video"]}
        other = {p.hash for p in H.MediaFile(game_src if name == "talk" else talk_src).packets["video"]}
        H.check(got and all(p.hash in want for p in got),
                f"{name}: frames of its first segment are not its publisher's")
        H.check(not any(p.hash in other for p in got), f"{name}: carries the other stream's frames")

    # RTMP and HTTP-FLV play of both streams.
    for name, size in (("talk", "640,360"), ("game", "960,540")):
        for url in (f"rtmp://127.0.0.1:{rtmp}/live/{name}", f"http://127.0.0.1:{http}/live/{name}.flv"):
            code, streams, err = ffprobe_streams(url)
            H.check(code == 0 and f"h264,video,{size}" in streams and "aac,audio" in streams,
                    f"ffprobe {url}: exit {code}, {streams}, {err[-500:]}")
    h.log("RTMP and HTTP-FLV play: both streams, right sizes")

    # The talk publisher dies and comes back: the same HLS stream goes on.
    source_uri = variants_of(master(http, "talk"))[0][1]
    playlist_url = f"http://127.0.0.1:{http}/live/talk/{source_uri}"
    before = fetch(playlist_url)
    pubs["talk"].kill()
    wait_for("the server noticing the killed publisher",
             lambda: re.search(r"stream talk: publisher \S+ stopped", server.log()), 10, server)
    time.sleep(1)
    pubs["talk"] = H.ffmpeg_publish(h, "ffmpeg-talk-again", talk_src, f"rtmp://127.0.0.1:{rtmp}/live/talk")
    n_before = len(segment_uris(before))
    wait_for("new talk segments after the republish",
             lambda: len(segment_uris(fetch(playlist_url))) >= n_before + 3, 20, server)
    after = fetch(playlist_url)
    H.check("#EXT-X-ENDLIST" not in after, "the talk playlist ended although its publisher came back in time")
    H.check(media_sequence(after) == media_sequence(before), "the media sequence restarted: not the same stream")
    H.check(segment_uris(after)[:n_before] == segment_uris(before),
            "segments listed before the republish are gone: not the same stream")
    H.check(master(http, "talk") is not None and "stream talk ended" not in server.log(),
            "the talk stream ended instead of continuing")
    h.log(f"talk continued: {n_before} segments before the kill, {len(segment_uris(after))} after, "
          f"{after.count('#EXT-X-DISCONTINUITY')} discontinuity tag(s)")

    # A publisher that sends garbage after its publish was accepted: only its stream ends.
    raw = rtmp_raw.RawPublisher(rtmp, "live", "junk")
    H.check(raw.accepted, "the raw publisher's publish was not accepted")
    wait_for("stream junk started", lambda: "stream junk started" in server.log(), 10, server)
    try:
        raw.send(os.urandom(256 * 1024))
    except OSError:
        pass  # the server may close as soon as it sees the garbage
    raw.close()
    game_playlist = f"http://127.0.0.1:{http}/live/game/{variants_of(master(http, 'game'))[0][1]}"
    n_game = len(segment_uris(fetch(game_playlist)))
    wait_for("stream junk ending", lambda: "stream junk ended" in server.log() or
             "stream junk failed" in server.log(), IDLE_TIMEOUT_S + 10, server)
    H.check(len(segment_uris(fetch(game_playlist))) > n_game, "game stopped adding segments meanwhile")
    code, streams, err = ffprobe_streams(f"rtmp://127.0.0.1:{rtmp}/live/game")
    H.check(code == 0 and "h264,video,960,540" in streams, f"game RTMP play after the junk stream: {streams} {err[-300:]}")
    h.log("the garbage publisher's stream ended alone; game plays on")

    server.signal(signal.SIGTERM)
    rc = h.wait_exit(server, 30, "SIGTERM")
    H.check(rc == 0, f"live-server exited with {rc} after SIGTERM:\n{H.tail(server.log())}")
    for name in expect:
        stream_dir = os.path.join(out, "live", name)
        for resolution, uri in variants_of(open(os.path.join(stream_dir, "master.m3u8")).read()):
            text = open(os.path.join(stream_dir, uri)).read()
            H.check(text.rstrip().endswith("#EXT-X-ENDLIST") or "#EXT-X-ENDLIST" in text,
                    f"{name} {resolution} playlist has no EXT-X-ENDLIST after SIGTERM")
    for p in pubs.values():
        p.kill()
    h.log("SIGTERM: every playlist ended with EXT-X-ENDLIST, exit 0")


if __name__ == "__main__":
    H.main("interop-live-server-streams", body, deadline_s=240)
