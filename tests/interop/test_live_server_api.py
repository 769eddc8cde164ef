#!/usr/bin/env python3
"""interop-live-server-api: live-server's /api/streams and /metrics as a monitoring system reads them.

Two ffmpeg publishers on two keys at once; then an ffmpeg RTMP player on one stream and an ffmpeg
HTTP-FLV player on the other. Checked:
- /api/streams is strict JSON (no NaN, no duplicate keys) with every documented field of the right
  type; it lists the 2 streams with their resolution and codecs, and while the players run,
  exactly 1 RTMP viewer on one and 1 HTTP-FLV viewer on the other (0 elsewhere); the counts go
  back to 0 when the players leave;
- /metrics parses as Prometheus text exposition format 0.0.4 with a strict parser (HELP and TYPE
  once per family before its samples, each family's samples together, no duplicate series, valid
  names, label escapes and values) and carries the same figures."""

import json
import math
import os
import re
import signal
import urllib.request

import harness as H

STREAMS = {"cam": "testsrc2", "bars": "smptebars"}  # key -> lavfi picture
RTMP_VIEWED, FLV_VIEWED = "cam", "bars"

# ---------------------------------------------------------------------------------------------
# Prometheus text exposition format 0.0.4, strictly.

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    H.check(re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text), f"{where}: bad value {text!r}")
    return float(text)


def parse_labels(text, where):
    """'{a="x",b="y"}' -> (('a', 'x'), ('b', 'y')); label values use only \\\\, \\" and \\n escapes."""
    labels, i = [], 1
    while text[i] != "}":
        m = LABEL_NAME.match(text, i)
        H.check(m, f"{where}: bad label name at {text[i:]!r}")
        name, i = m.group(), m.end()
        H.check(text[i:i + 2] == '="', f"{where}: label {name} not followed by =\"")
        i += 2
        value = ""
        while text[i] != '"':
            if text[i] == "\\":
                escaped = {"\\": "\\", '"': '"', "n": "\n"}.get(text[i + 1])
                H.check(escaped is not None, f"{where}: bad escape \\{text[i + 1]} in label {name}")
                value, i = value + escaped, i + 2
            else:
                H.check(text[i] != "\n", f"{where}: raw newline in label {name}")
                value, i = value + text[i], i + 1
        i += 1
        H.check(name not in dict(labels), f"{where}: label {name} twice")
        labels.append((name, value))
        if text[i] == ",":
            i += 1
        else:
            H.check(text[i] == "}", f"{where}: expected , or }} after label {name}")
    return tuple(sorted(labels)), i + 1


def parse_prometheus(text):
    """{family: {"type", "help", "samples": {(sample name, labels): value}}}; fails on any deviation."""
    H.check(text.endswith("\n"), "/metrics does not end with a newline")
    families, order, current = {}, [], None

    def family_of(sample):
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample[:-len(suffix)]
            if sample.endswith(suffix) and families.get(base, {}).get("type") in ("histogram", "summary"):
                return base
        return sample

    def family(name):
        if name not in families:
            families[name] = {"type": None, "help": None, "samples": {}}
            order.append(name)
        return families[name]

    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"/metrics line {n} {line!r}"
        H.check(line.strip() == line or line.startswith("#"), f"{where}: surrounding white space")
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                H.check(METRIC_NAME.fullmatch(name), f"{where}: bad metric name")
                f = family(name)
                H.check(not f["samples"], f"{where}: {parts[1]} after the family's samples")
                key = parts[1].lower()
                H.check(f[key] is None, f"{where}: second {parts[1]} for {name}")
                value = parts[3] if len(parts) == 4 else ""
                if key == "type":
                    H.check(value in TYPES, f"{where}: unknown type {value!r}")
                else:
                    H.check(re.fullmatch(r"([^\\\n]|\\\\|\\n)*", value), f"{where}: bad escape in HELP")
                f[key] = value
            continue  # any other comment
        m = METRIC_NAME.match(line)
        H.check(m, f"{where}: not a sample")
        name, rest = m.group(), line[m.end():]
        labels = ()
        if rest.startswith("{"):
            labels, end = parse_labels(rest, where)
            rest = rest[end:]
        fields = rest.split(" ")
        H.check(fields[0] == "" and len(fields) in (2, 3), f"{where}: expected one space, value [timestamp]")
        value = parse_value(fields[1], where)
        if len(fields) == 3:
            H.check(re.fullmatch(r"-?\d+", fields[2]), f"{where}: bad timestamp")
        fam_name = family_of(name)
        f = family(fam_name)
        H.check(current == fam_name or not f["samples"],
                f"{where}: family {fam_name} continues after another family's samples")
        current = fam_name
        H.check((name, labels) not in f["samples"], f"{where}: duplicate series")
        if f["type"] == "counter":
            H.check(value >= 0, f"{where}: negative counter")
        f["samples"][(name, labels)] = value
    for name, f in families.items():
        H.check(f["type"] is not None and f["help"] is not None, f"/metrics: family {name} lacks TYPE or HELP")
    return families


# ---------------------------------------------------------------------------------------------
# /api/streams, strictly

STREAM_FIELDS = {"name": str, "since": int, "publishing": bool, "video_codec": str, "audio_codec": str,
                 "width": int, "height": int, "bitrate_in": int, "bytes_in": int, "bytes_out_relay": int,
                 "viewers": dict, "dropped_frames": int, "segments": int, "variants": list,
                 "push_targets": list, "recording": str, "urls": dict}


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    H.check(len(keys) == len(set(keys)), f"/api/streams: duplicate keys in an object: {keys}")
    return dict(pairs)


def reject_constant(name):
    raise H.TestFailure(f"/api/streams: {name} is not JSON")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def api_streams(port):
    status, ctype, raw = get(port, "/api/streams")
    H.check(status == 200 and ctype.startswith("application/json"), f"/api/streams: {status} {ctype}")
    doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=reject_constant)
    H.check(isinstance(doc.get("streams"), list), f"/api/streams: no streams list: {doc}")
    out = {}
    for s in doc["streams"]:
        for field, kind in STREAM_FIELDS.items():
            H.check(field in s, f"/api/streams: stream lacks {field}: {s}")
            H.check(isinstance(s[field], kind) and (kind is bool or not isinstance(s[field], bool)),
                    f"/api/streams: {field} is {s[field]!r}, expected {kind.__name__}")
        H.check(set(s["viewers"]) >= {"rtmp", "http_flv"} and set(s["urls"]) >= {"hls", "http_flv", "rtmp"},
                f"/api/streams: viewers/urls incomplete: {s}")
        H.check(s["name"] not in out, f"/api/streams: {s['name']} listed twice")
        out[s["name"]] = s
    return out


def viewers(streams):
    return {name: (s["viewers"]["rtmp"], s["viewers"]["http_flv"]) for name, s in streams.items()}


def metrics(port):
    status, ctype, raw = get(port, "/metrics")
    H.check(status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype,
            f"/metrics: {status} {ctype}")
    return parse_prometheus(raw.decode("utf-8"))


def sample(families, name, **labels):
    f = families.get(name)
    H.check(f, f"/metrics has no family {name}")
    key = (name, tuple(sorted(labels.items())))
    H.check(key in f["samples"], f"/metrics has no {name}{labels}: {sorted(f['samples'])}")
    return f["samples"][key]


def body(h):
    server_bin = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(server_bin), f"{server_bin} was not built")
    ffmpeg = H.require_tool("ffmpeg")
    # 320x240: below every default rung, so the streams are passed through (little CPU).
    media = {key: H.make_test_flv(f"api-{key}", width=320, height=240, fps=25, seconds=40, pattern=pattern, gop=25)
             for key, pattern in STREAMS.items()}
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn("live-server", [server_bin, "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
                                     "--http-port", str(http_port), "--output-dir", h.path("hls")], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)

    empty = api_streams(http_port)
    H.check(empty == {}, f"/api/streams before any publisher: {empty}")
    families = metrics(http_port)
    H.check(sample(families, "live_streams") == 0, "live_streams is not 0 before any publisher")

    for key, src in media.items():
        H.ffmpeg_publish(h, f"ffmpeg-{key}", src, f"rtmp://127.0.0.1:{rtmp_port}/live/{key}")

    def both_live():
        H.check(server.alive(), f"live-server exited ({server.returncode()})")
        s = api_streams(http_port)
        return s if len(s) == 2 and all(x["publishing"] and x["width"] and x["bitrate_in"] for x in s.values()) else None
    streams = H.wait_for(both_live, 15, "/api/streams lists 2 publishing streams with size and bitrate", interval=0.2)
    H.check(sorted(streams) == sorted(STREAMS), f"/api/streams names {sorted(streams)}")
    for name, s in streams.items():
        H.check((s["width"], s["height"], s["video_codec"], s["audio_codec"]) == (320, 240, "H.264", "AAC"),
                f"/api/streams {name}: {s['width']}x{s['height']} {s['video_codec']} {s['audio_codec']}")
        H.check(s["urls"]["hls"] == f"/live/{name}/master.m3u8" and s["urls"]["http_flv"] == f"/live/{name}.flv",
                f"/api/streams {name}: urls {s['urls']}")
    H.check(viewers(streams) == {n: (0, 0) for n in STREAMS}, f"viewers before any player: {viewers(streams)}")

    rtmp_player = h.spawn("ffmpeg-rtmp-player", [ffmpeg, "-nostdin", "-hide_banner", "-i",
                                                 f"rtmp://127.0.0.1:{rtmp_port}/live/{RTMP_VIEWED}",
                                                 "-c", "copy", "-f", "null", "-"])
    flv_player = h.spawn("ffmpeg-flv-player", [ffmpeg, "-nostdin", "-hide_banner", "-i",
                                               f"http://127.0.0.1:{http_port}/live/{FLV_VIEWED}.flv",
                                               "-c", "copy", "-f", "null", "-"])
    want = {RTMP_VIEWED: (1, 0), FLV_VIEWED: (0, 1)}

    def counted():
        for p in (rtmp_player, flv_player):
            H.check(p.alive(), f"{p.name} exited:\n{H.tail(p.log())}")
        s = api_streams(http_port)
        return s if viewers(s) == want else None
    streams = H.wait_for(counted, 10, f"/api/streams viewers {want} (rtmp, http_flv)", interval=0.2)
    h.log(f"/api/streams viewers with the players: {viewers(streams)}")

    families = metrics(http_port)
    H.check(sample(families, "live_streams") == 2, "live_streams is not 2")
    H.check(sample(families, "live_publishers") == 2, "live_publishers is not 2")
    H.check(sample(families, "live_rtmp_connections") >= 3, "live_rtmp_connections: 2 publishers + 1 player expected")
    for name, (rtmp, flv) in want.items():
        H.check(sample(families, "live_stream_viewers", stream=name, protocol="rtmp") == rtmp,
                f"/metrics rtmp viewers of {name}")
        H.check(sample(families, "live_stream_viewers", stream=name, protocol="http-flv") == flv,
                f"/metrics http-flv viewers of {name}")
        H.check(sample(families, "live_stream_bytes_in_total", stream=name) > 0, f"/metrics bytes in of {name}")
        H.check(sample(families, "live_stream_bitrate_in_bits_per_second", stream=name) > 0,
                f"/metrics bitrate in of {name}")
    for name in STREAMS:  # every per-stream family has this stream's series
        for fam, f in families.items():
            if fam.startswith("live_stream_"):
                H.check(any(dict(labels).get("stream") == name for _, labels in f["samples"]),
                        f"/metrics {fam} has no series for stream {name}")
    h.log(f"/metrics: {len(families)} families, {sum(len(f['samples']) for f in families.values())} series, "
          "parsed strictly")

    for p in (rtmp_player, flv_player):
        p.kill()
    streams = H.wait_for(lambda: (lambda s: s if viewers(s) == {n: (0, 0) for n in STREAMS} else None)(
        api_streams(http_port)), 10, "viewer counts back to 0 after the players left", interval=0.2)
    h.log(f"after the players left: {viewers(streams)}")

    server.signal(signal.SIGINT)
    rc = h.wait_exit(server, 20, "SIGINT")
    H.check(rc == 0, f"live-server exited with {rc} after SIGINT:\n{H.tail(server.log())}")


if __name__ == "__main__":
    H.main("live-server-api", body, deadline_s=90)
