#!/usr/bin/env python3
"""interop-live-server-hls: the README's main job, end to end. ffmpeg publishes H.264 (B-frames,
2 s GOP) + AAC over RTMP into the live-server application (rtmpserversrc ! rtmpchunkdemux, the
source video passed through as one variant and transcoded by x264enc into a second one, audio
passed through, hlsadaptivesink with its HTTP server). Checked for fMP4 + LL-HLS and for MPEG-TS:
- the multivariant playlist is served over HTTP while live and lists both variants (+ audio);
- every media playlist ends with EXT-X-ENDLIST and no EXTINF exceeds EXT-X-TARGETDURATION;
- every segment starts with a keyframe, and segment N starts at the same PTS in both variants;
- the passed-through variant carries every input video frame (fMP4: bit-identical packets with
  the input's PTS/DTS intervals), the transcoded one as many frames, the audio every AAC frame
  after the first keyframe.
And with --hls-in-memory (fMP4 + LL-HLS, no ladder: the demuxer feeds hlsadaptivesink without
h264parse and aacparse): nothing is written to --output-dir; the same stream is
fetched over HTTP once the publisher has left (before idle-timeout ends it: in memory, the output
goes with the stream) and checked the same way, up to the segment still open then."""

import os
import re
import signal
import time
import urllib.request

import harness as H

FPS = 25
SECONDS = 12
FRAME_MS = 1000 / FPS


def parse_master(text):
    variants, media = [], []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            variants.append((dict(re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line[18:])), lines[i + 1]))
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(dict(re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line[13:])))
    return variants, media


def parse_media(text):
    """(target duration, init URI or None, [(duration, uri)], ended)"""
    target = int(re.search(r"^#EXT-X-TARGETDURATION:(\d+)$", text, re.M).group(1))
    m = re.search(r'^#EXT-X-MAP:URI="([^"]+)"', text, re.M)
    segments, duration = [], None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((duration, line))
            duration = None
    return target, (m.group(1) if m else None), segments, "#EXT-X-ENDLIST" in text


def probe_segments(h, playlist_path, ended_expected=True):
    """Per segment: the MediaFile of (init +) segment, in playlist order."""
    base = os.path.dirname(playlist_path)
    target, init, segments, ended = parse_media(open(playlist_path).read())
    H.check(ended or not ended_expected, f"{playlist_path} has no EXT-X-ENDLIST after the publisher left")
    H.check(segments, f"{playlist_path} lists no segments")
    init_bytes = open(os.path.join(base, init), "rb").read() if init else b""
    files = []
    for n, (duration, uri) in enumerate(segments):
        H.check(round(duration) <= target,
                f"{playlist_path}: segment {uri} lasts {duration} s, above EXT-X-TARGETDURATION {target}")
        probe_path = h.path(f"probe-{abs(hash(playlist_path))}-{n}" + (".mp4" if init else ".ts"))
        with open(probe_path, "wb") as f:
            f.write(init_bytes)
            f.write(open(os.path.join(base, uri), "rb").read())
        files.append(H.MediaFile(probe_path))
    return files


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def mirror_over_http(h, base_url, into):
    """The multivariant playlist, every media playlist and the files they list, fetched from the
    server into a folder of the same layout."""
    def save(relative):
        data = http_get(f"{base_url}/{relative}")
        path = os.path.join(into, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return data.decode(errors="replace")
    variants, media = parse_master(save("master.m3u8"))
    for uri in [u for _, u in variants] + [m["URI"].strip('"') for m in media if "URI" in m]:
        _, init, segments, _ = parse_media(save(uri))
        folder = os.path.dirname(uri)
        for name in ([init] if init else []) + [s for _, s in segments]:
            save(os.path.join(folder, name))


def run_format(h, fmt, low_latency, src, expected, in_memory=False, ladder=True):
    server_bin = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(server_bin), f"{server_bin} was not built")
    rtmp_port, http_port = H.free_port(), H.free_port()
    out = h.path(f"hls-{fmt}" + ("-in-memory" if in_memory else ""))
    argv = [server_bin, "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port), "--http-port", str(http_port),
            "--output-dir", out, "--segment-format", fmt, "--playlist-length", "0",
            "--ladder", "320x180@300" if ladder else ""]
    if not low_latency:
        argv.append("--no-low-latency")
    if in_memory:
        argv.append("--hls-in-memory")
    server = h.spawn(f"live-server-{fmt}" + ("-in-memory" if in_memory else ""), argv, env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    pub = H.ffmpeg_publish(h, f"ffmpeg-{fmt}", src, f"rtmp://127.0.0.1:{rtmp_port}/live/show")

    # While live: the multivariant playlist comes from the built-in HTTP server.
    master_live = None
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/live/show/master.m3u8", timeout=2) as r:
                H.check(r.headers.get("Content-Type", "").startswith("application/vnd.apple.mpegurl"),
                        f"master playlist served as {r.headers.get('Content-Type')}")
                master_live = r.read().decode()
                break
        except OSError:
            if not pub.alive():
                break
            time.sleep(0.2)  # no segment yet
    H.check(master_live is not None, "master.m3u8 was never served over HTTP while the publisher was live")

    rc = h.wait_exit(pub, SECONDS + 30, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")
    # Stop only once the server has seen the publisher leave and had a moment to pass on what
    # it received: SIGINT is an EOS from the application, which ends the stream where it is.
    deadline = time.monotonic() + 15
    while not re.search(r"stream show: publisher \S+ stopped", server.log()) and time.monotonic() < deadline:
        time.sleep(0.1)
    H.check(re.search(r"stream show: publisher \S+ stopped", server.log()),
            f"live-server never reported the publisher's end:\n{H.tail(server.log())}")
    time.sleep(1.5)
    if in_memory:
        mirror = h.path("hls-in-memory-mirror")
        mirror_over_http(h, f"http://127.0.0.1:{http_port}/live/show", mirror)
        written = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files]
        H.check(not written, f"--hls-in-memory wrote {len(written)} files, e.g. {written[:3]}")
    server.signal(signal.SIGINT)  # EOS: final segments and EXT-X-ENDLIST
    rc = h.wait_exit(server, 30, "SIGINT")
    H.check(rc == 0, f"live-server exited with {rc}:\n{H.tail(server.log())}")

    out = mirror if in_memory else os.path.join(out, "live", "show")  # one folder per stream
    variants, media = parse_master(open(os.path.join(out, "master.m3u8")).read())
    resolutions = sorted(v[0].get("RESOLUTION") for v in variants)
    want = ["320x180", "640x360"] if ladder else ["640x360"]
    H.check(resolutions == want, f"variants {resolutions}, expected {want}")
    for attrs, uri in variants:
        # The source's frame rate: from h264parse, or without a parser (passthrough alone) from
        # the demuxer's caps (onMetaData, else the SPS).
        if attrs["RESOLUTION"] == "640x360":
            H.check(attrs.get("FRAME-RATE") == f"{FPS:.3f}", f"variant {uri} FRAME-RATE {attrs.get('FRAME-RATE')}")
        H.check(attrs.get("CODECS", "").startswith('"avc1.'), f"variant {uri} CODECS {attrs.get('CODECS')}")
        H.check("mp4a.40.2" in attrs.get("CODECS", ""), f"variant {uri} lacks AAC in CODECS")
        H.check(int(attrs["BANDWIDTH"]) > 0, f"variant {uri} BANDWIDTH {attrs['BANDWIDTH']}")

    per_variant = {}
    for attrs, uri in variants:
        per_variant[attrs["RESOLUTION"]] = probe_segments(h, os.path.join(out, uri), not in_memory)
    source = per_variant["640x360"]
    scaled = per_variant["320x180"] if ladder else source
    H.check(len(source) == len(scaled), f"{len(source)} segments in the source variant, {len(scaled)} in the scaled one")
    H.check(len(source) >= SECONDS // 2 - 1, f"only {len(source)} segments for {SECONDS} s")
    for n, (a, b) in enumerate(zip(source, scaled)):
        for name, seg in (("source", a), ("scaled", b)):
            H.check(seg.packets["video"], f"{name} segment {n} has no video")
            H.check(seg.packets["video"][0].key, f"{name} segment {n} does not start with a keyframe")
        pa, pb = a.packets["video"][0].pts, b.packets["video"][0].pts
        H.check(abs(pa - pb) <= FRAME_MS, f"segment {n} starts at {pa} ms in the source variant, {pb} ms in the scaled one")

    got_source = [p for seg in source for p in seg.packets["video"]]
    got_scaled = [p for seg in scaled for p in seg.packets["video"]]
    exp_video = expected.packets["video"]
    # In memory the stream is read while its last segment is still open: at most one GOP is missing.
    exp_video = exp_video[:len(got_source)] if in_memory and len(exp_video) - 2 * FPS <= len(got_source) else exp_video
    H.check(len(got_source) == len(exp_video), f"source variant has {len(got_source)} frames, input {len(exp_video)}")
    H.check(len(got_scaled) == len(exp_video), f"scaled variant has {len(got_scaled)} frames, input {len(exp_video)}")
    offset = got_source[0].dts - exp_video[0].dts
    for i, (g, e) in enumerate(zip(got_source, exp_video)):
        H.check(g.pts - offset == e.pts and g.dts - offset == e.dts,
                f"source variant frame {i}: pts/dts {g.pts}/{g.dts}, input {e.pts}/{e.dts} (offset {offset})")
        if fmt == "fmp4":  # same AVCC bytes as the input (MPEG-TS carries Annex B instead)
            H.check(g.hash == e.hash and g.size == e.size, f"source variant frame {i} bytes differ from the input's")

    if fmt == "fmp4":
        H.check(media and media[0].get("TYPE") == "AUDIO", f"fMP4 output has no audio rendition: {media}")
        audio = probe_segments(h, os.path.join(out, media[0]["URI"].strip('"')), not in_memory)
        got_audio = [p for seg in audio for p in seg.packets["audio"]]
    else:
        got_audio = [p for seg in source for p in seg.packets["audio"]]
    exp_audio = expected.packets["audio"]
    if in_memory:  # up to where the video read ends (the audio segments are cut at the same times)
        video_end = max(p.pts for p in exp_video) + FRAME_MS
        exp_audio = [p for p in exp_audio if p.pts < video_end]
    H.check(len(exp_audio) - 2 <= len(got_audio) <= len(exp_audio) + (2 if in_memory else 0),
            f"{len(got_audio)} AAC frames in the output, input has {len(exp_audio)}")
    h.log(f"{fmt}: {len(source)} aligned segments per variant, {len(got_source)}/{len(got_scaled)} video frames, "
          f"{len(got_audio)}/{len(exp_audio)} audio frames")


def body(h):
    for tool in ("ffmpeg", "ffprobe"):
        H.require_tool(tool)
    src = H.make_test_flv("ladder", width=640, height=360, fps=FPS, seconds=SECONDS, gop=2 * FPS)
    expected = H.MediaFile(src)
    h.log(f"input {src}: {expected.summary()}")
    run_format(h, "fmp4", True, src, expected)
    run_format(h, "mpegts", False, src, expected)
    # Passthrough alone (live-server links no parsers then), as the many-streams benchmark runs.
    run_format(h, "fmp4", True, src, expected, in_memory=True, ladder=False)


if __name__ == "__main__":
    H.main("interop-live-server-hls", body, deadline_s=200)
