#!/usr/bin/env python3
"""interop-relay-http-flv-and-hls: HTTP-FLV and HLS of one stream from ONE HTTP port. One pipeline:
rtmpserversrc ! tee, one branch to flvrelaysink http-port=H, the other through rtmpchunkdemux
into hlsadaptivesink http-port=H (the same port; default http-prefix, so the playlists are at
/master.m3u8 next to /live/KEY.flv). ffmpeg publishes an 8 s H.264 (B-frames, 1 s GOP) + AAC file
in real time. While it is live, from port H:
- GET /master.m3u8: 200, an HLS multivariant playlist naming a media playlist, which is served
  too (200, #EXTM3U with at least one #EXTINF segment) and whose first segment is served;
- ffmpeg records 3 s of http://127.0.0.1:H/live/KEY.flv: H.264 + AAC with the source's codec
  configuration, one contiguous run of the source's packets starting at a keyframe;
- the element messages report one HTTP-FLV viewer (rtmp-play-start, protocol http-flv)."""

import urllib.error
import urllib.request

import harness as H

SECONDS = 8


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read()


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("relay", seconds=SECONDS)
    expected = H.MediaFile(src)
    port, http_port, key = H.free_port(), H.free_port(), "relay-both"
    q = "queue max-size-time=0 max-size-buffers=0 max-size-bytes=0"
    gst = h.gst_launch("gst", f"rtmpserversrc address=127.0.0.1 port={port} stream-key={key} "
                              f"idle-timeout={H.IDLE_TIMEOUT_S} ! tee name=t "
                              f"t. ! {q} ! flvrelaysink address=127.0.0.1 port={port} stream-key={key} "
                              f"http-address=127.0.0.1 http-port={http_port} "
                              f"t. ! {q} ! rtmpchunkdemux name=d "
                              f"d.video_0 ! {q} ! hls.video_0 d.audio_0 ! {q} ! hls.audio_0 "
                              f"hlsadaptivesink name=hls location={h.path('hls')} target-duration=1000000000 "
                              f"playlist-length=0 http-address=127.0.0.1 http-port={http_port}")
    h.wait_listening(port, gst)
    h.wait_listening(http_port, gst)
    pub = H.ffmpeg_publish(h, "publisher", src, f"rtmp://127.0.0.1:{port}/live/{key}")
    H.wait_bus_messages(gst, "rtmp-publish-start", 1, 15)

    base = f"http://127.0.0.1:{http_port}"

    def master():
        try:
            status, headers, text = get(base + "/master.m3u8")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None  # no segment yet
            raise H.TestFailure(f"GET /master.m3u8: HTTP {e.code}")
        except OSError as e:
            raise H.TestFailure(f"GET /master.m3u8 on the shared port failed: {e}")
        return status, text.decode()
    status, text = H.wait_for(master, 10, "GET /master.m3u8 never answered 200 while live", interval=0.2)
    H.check(text.startswith("#EXTM3U") and "#EXT-X-STREAM-INF" in text, f"/master.m3u8 is no multivariant "
                                                                        f"playlist:\n{text}")
    media_uri = next(line for line in text.splitlines() if line and not line.startswith("#"))
    h.log(f"GET /master.m3u8: {status}, media playlist {media_uri}")

    def media():
        status, _, body_ = get(f"{base}/{media_uri}")
        playlist = body_.decode()
        return playlist if "#EXTINF" in playlist else None
    playlist = H.wait_for(media, 10, f"{media_uri} lists no segment while live", interval=0.2)
    H.check(playlist.startswith("#EXTM3U"), f"{media_uri} is no playlist:\n{playlist}")
    segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    seg_url = f"{base}/{media_uri.rsplit('/', 1)[0] + '/' if '/' in media_uri else ''}{segment}"
    status, _, seg = get(seg_url)
    H.check(status == 200 and len(seg) > 1000, f"GET {seg_url}: {status}, {len(seg)} bytes")
    h.log(f"GET {media_uri}: segment {segment} served ({len(seg)} bytes)")

    ffmpeg = H.require_tool("ffmpeg")
    flv = h.path("http.flv")
    rc, log = h.run("ffmpeg-http-flv", [ffmpeg, "-hide_banner", "-nostdin", "-rw_timeout", "10000000",
                                        "-i", f"{base}/live/{key}.flv", "-c", "copy", "-t", "3", "-f", "flv", flv],
                    timeout=30)
    H.check(rc == 0, f"ffmpeg could not read HTTP-FLV from the shared port (exit {rc}):\n{H.tail(log)}")
    got = H.MediaFile(flv)
    start, offset = H.check_relayed_run(expected, got, "HTTP-FLV on the shared port", to_end=False)
    h.log(f"HTTP-FLV: {got.summary()}; source video packets {start}.. identical")
    H.check(len(got.packets["video"]) >= 50, f"only {len(got.packets['video'])} video packets in 3 s of HTTP-FLV")

    starts = [line for line in H.bus_messages(gst.log(), "rtmp-play-start") if "http-flv" in line]
    H.check(len(starts) == 1, f"expected one rtmp-play-start for HTTP-FLV, got {len(starts)}")
    rc = h.wait_exit(pub, SECONDS + 20, "publishing in real time")
    H.check(rc == 0, f"ffmpeg failed to publish (exit {rc}):\n{H.tail(pub.log())}")


if __name__ == "__main__":
    H.main("interop-relay-http-flv-and-hls", body, deadline_s=90)
