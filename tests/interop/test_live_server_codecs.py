#!/usr/bin/env python3
"""interop-live-server-codecs: inputs that are not H.264 (Enhanced RTMP). The E-RTMP fixtures of
tests/data/flv (HEVC and VP9, 160x90, 12 frames, two GOPs; made by tests/data/flv/make_fixtures.py)
are published in a loop for ~10 s by a raw RTMP client (ffmpeg 5.1 cannot publish E-RTMP), with a
ladder of one 96x54 rung:
- HEVC passes through: the master playlist lists an hvc1 source variant (160x90) and an avc1
  96x54 rung transcoded from it; ffprobe decodes both variants; the log says nothing is lost;
- VP9, which the HLS output does not carry, is transcoded to H.264 at the source size plus the
  rung, with a log line saying so;
- with --ladder "" an H.264 publish becomes the only variant, every frame in it.""" 

import os
import re
import subprocess
import time
import urllib.request

import harness as H
import rtmp_raw

LOOPS = 25  # x 12 frames at 25 fps = 12 s of media


def publish_looped(port, key, fixture, loops=LOOPS):
    tags = rtmp_raw.read_flv_tags(os.path.join(H.test_data_dir(), "flv", fixture))
    header = [t for t in tags if t[0] == 18 or (t[0] == 9 and (t[2][0] & 0x0F) == 0)]  # metadata, SequenceStart
    frames = [t for t in tags if t[0] == 9 and (t[2][0] & 0x0F) in (1, 3)]  # CodedFrames(X)
    period = frames[-1][1] + 40
    pub = rtmp_raw.RawPublisher(port, "live", key)
    H.check(pub.accepted, f"publish of {key} not accepted")
    for type_id, ts, payload in header:
        pub.send_message(type_id, ts, payload)
    start = time.monotonic()
    for loop in range(loops):
        for type_id, ts, payload in frames:
            media_ts = loop * period + ts
            delay = start + media_ts / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pub.send_message(type_id, media_ts, payload)
    return pub


def master(http, key):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/live/{key}/master.m3u8", timeout=3) as r:
            return r.read().decode()
    except OSError:
        return None


def body(h):
    ffprobe = H.require_tool("ffprobe")
    rtmp, http = H.free_port(), H.free_port()
    out = h.path("hls")
    server = h.spawn("live-server", [os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server"),
                                     "--address", "127.0.0.1", "--rtmp-port", str(rtmp), "--http-port", str(http),
                                     "--output-dir", out, "--ladder", "96x54@100", "--playlist-length", "0"],
                     env=H.gst_env())
    h.wait_listening(rtmp, server)

    hevc = publish_looped(rtmp, "hevc", "hevc.flv")
    text = master(http, "hevc")
    H.check(text, f"no master playlist for the HEVC stream:\n{H.tail(server.log())}")
    variants = re.findall(r'CODECS="([^"]+)",RESOLUTION=(\d+x\d+)[^\n]*\n([^\n]+)', text)
    h.log(f"HEVC stream variants: {variants}")
    H.check(len(variants) == 2, f"expected the source and one rung:\n{text}")
    (src_codecs, src_res, src_uri), (rung_codecs, rung_res, rung_uri) = variants
    H.check(src_codecs.startswith("hvc1.") and src_res == "160x90", f"source variant {src_codecs} {src_res}")
    H.check(rung_codecs.startswith("avc1.") and rung_res == "96x54", f"rung {rung_codecs} {rung_res}")
    hevc.close()

    vp9 = publish_looped(rtmp, "vp9", "vp9.flv")
    text = master(http, "vp9")
    H.check(text, f"no master playlist for the VP9 stream:\n{H.tail(server.log())}")
    variants = re.findall(r'CODECS="([^"]+)",RESOLUTION=(\d+x\d+)', text)
    h.log(f"VP9 stream variants: {variants}")
    H.check([v[1] for v in variants] == ["160x90", "96x54"] and all(v[0].startswith("avc1.") for v in variants),
            f"VP9 is not transcoded to H.264 at the source size plus the rung:\n{text}")
    H.check(re.search(r"stream vp9: VP9 video cannot go into HLS as it is: transcoded to H.264", server.log()),
            f"no log line says the VP9 source is transcoded:\n{H.tail(server.log())}")
    vp9.close()
    server.signal(2)  # ENDLIST everywhere: ffprobe then reads the playlists to their end
    H.check(h.wait_exit(server, 30, "SIGINT") == 0, f"live-server did not exit cleanly:\n{H.tail(server.log())}")
    for uri, codec in ((src_uri, "hevc"), (rung_uri, "h264")):
        r = subprocess.run([ffprobe, "-v", "error", "-count_frames", "-show_entries",
                            "stream=codec_name,nb_read_frames", "-of", "csv=p=0",
                            os.path.join(out, "live", "hevc", uri)], capture_output=True, timeout=60)
        line = r.stdout.decode().strip().splitlines()[0] if r.stdout.strip() else ""
        h.log(f"ffprobe {uri}: {line}")
        H.check(r.returncode == 0 and line.startswith(codec), f"ffprobe {uri}: {line} {r.stderr.decode()[-300:]}")
        H.check(int(line.split(",")[1]) >= 100, f"{uri}: only {line} frames decoded")

    # --ladder "": the source only, nothing decoded.
    src = H.make_test_flv("codecs-h264", width=320, height=240, fps=25, seconds=6, gop=25)
    rtmp, http = H.free_port(), H.free_port()
    out = h.path("hls-source-only")
    server = h.spawn("live-server-source-only", [
        os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server"), "--address", "127.0.0.1",
        "--rtmp-port", str(rtmp), "--http-port", str(http), "--output-dir", out, "--ladder", "",
        "--playlist-length", "0"], env=H.gst_env())
    h.wait_listening(rtmp, server)
    pub = H.ffmpeg_publish(h, "ffmpeg-h264", src, f"rtmp://127.0.0.1:{rtmp}/live/plain")
    H.check(h.wait_exit(pub, 30, "publishing") == 0, f"ffmpeg failed:\n{H.tail(pub.log())}")
    text = master(http, "plain")
    H.check(text and len(re.findall("#EXT-X-STREAM-INF", text)) == 1 and "RESOLUTION=320x240" in text,
            f"--ladder '': expected the source as the only variant:\n{text}\n{H.tail(server.log())}")
    server.signal(2)
    H.check(h.wait_exit(server, 30, "SIGINT") == 0, f"live-server did not exit cleanly:\n{H.tail(server.log())}")
    uri = re.search(r"#EXT-X-STREAM-INF[^\n]*\n([^\n]+)", text).group(1)
    r = subprocess.run([ffprobe, "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries",
                        "stream=codec_name,nb_read_frames", "-of", "csv=p=0",
                        os.path.join(out, "live", "plain", uri)], capture_output=True, timeout=60)
    fields = [f for f in r.stdout.decode().replace("\n", ",").split(",") if f.strip()]
    H.check(fields[:2] == ["h264", "150"], f"source-only variant: {r.stdout.decode()!r} (want all 150 frames)")
    h.log("--ladder '': one variant, all 150 frames")


if __name__ == "__main__":
    H.main("interop-live-server-codecs", body, deadline_s=120)
