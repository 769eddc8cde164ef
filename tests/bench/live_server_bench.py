#!/usr/bin/env python3
"""live-server (examples/live-server) vs. nginx-rtmp doing the same job, on loopback.

  ladder   one 720p30 2.5 Mbit/s H.264+AAC publish (`ffmpeg -re -c copy` of an FLV made once).
           ours: live-server with its default ladder (source + 640x360@800 + 426x240@400, LL-HLS).
           nginx: nginx-rtmp, application src with `exec ffmpeg` (source copied, the two rungs with
           libx264 superfast zerolatency, keyframes at the source's) pushing into application hls
           with `hls on` and `hls_variant` for the three renditions.
           Reports per variant the real-time factor (media seconds listed per wall second), server
           CPU (user+sys of the server's process tree from /proc: nginx's includes the ffmpeg it
           execs), peak RSS, and the publish-to-playlist latency of the source variant.
  streams  K publishers (ffmpeg -re -c copy, looped) into live-server --ladder "" vs. nginx-rtmp
           `live on; hls on`: server CPU per stream, every stream's playlist rate (>= 0.95 = real
           time); --find-max steps K up until a step fails.
  browser  hls.js in headless chromium plays live-server's /live/KEY/master.m3u8 (defaults; one
           publisher as in `ladder`) in live-server's own start page (--page live, the default: the
           page's hls.js settings, read through the DevTools protocol) or in the test player
           (--page test); reports p50/max of hls.latency.

Runs alternate ours/nginx/nginx/ours. Python 3 standard library only; not a test.
"""
import argparse
import importlib.util
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("live_server_bench_setup", os.path.join(HERE, "live_server_bench_setup.py"))
ls = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ls)
ib = ls.ib


def machine_busy():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / ib.CLK_TCK


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def hwm_mib(pid):
    total = 0
    for p in ib.process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def connected_at(port, pub, timeout=10):
    """Monotonic time an established TCP connection to 127.0.0.1:port first shows in /proc/net/tcp."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and pub.proc.poll() is None:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    return time.monotonic()
        time.sleep(0.005)
    raise RuntimeError("the publisher did not connect")


def frame_latencies(events, media_zero, w0, w1):
    """Per frame published in [w0, w1]: wall time from its publication (media_zero + its media time)
    until the playlist first listed media up to the frame's end."""
    out, i = [], 0
    frame = 1.0 / ls.FPS
    m = max(0.0, w0 - media_zero)
    while media_zero + m <= w1:
        while i < len(events) and events[i][1] < m + frame - 1e-3:
            i += 1
        if i == len(events):
            break
        out.append(events[i][0] - (media_zero + m))
        m += frame
    return out


class Meter:
    """CPU of the server, the publishers, this script and the whole machine between two marks."""

    def __init__(self, server, pubs):
        self.server, self.pubs = server, pubs

    def read(self):
        return {"t": time.monotonic(), "server": self.server.cpu(), "busy": machine_busy(), "own": own_cpu(),
                "pubs": sum(ib.cpu_seconds(p.proc.pid) for p in self.pubs),
                "threads": ib.thread_cpu(self.server.proc.pid)}

    @staticmethod
    def delta(a, b):
        wall = b["t"] - a["t"]
        server, pubs, own = b["server"] - a["server"], b["pubs"] - a["pubs"], b["own"] - a["own"]
        return {"wall_s": round(wall, 2), "server_cpu_s": round(server, 2),
                "server_cpu_percent": round(100 * server / wall, 1), "publishers_cpu_s": round(pubs, 2),
                "bench_script_cpu_s": round(own, 2),
                "other_cpu_s": round((b["busy"] - a["busy"]) - server - pubs - own, 2),
                "server_cpu_s_by_thread": dict(sorted(((k, round(v - a["threads"].get(k, 0), 2))
                                                       for k, v in b["threads"].items()
                                                       if v - a["threads"].get(k, 0) >= 0.05), key=lambda kv: -kv[1]))}


def ours_variant_playlists(stream_dir):
    """{variant dir: path} from the master playlist (video variants, then the audio rendition)."""
    text = ls.read_text(stream_dir + "/master.m3u8")
    if text is None:
        return None
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    uris += [part.split('"')[1] for line in text.splitlines() if line.startswith("#EXT-X-MEDIA")
             for part in line.split(",") if part.startswith("URI=")]
    return {u.split("/")[0]: stream_dir + "/" + u for u in uris}


# ---------------------------------------------------------------------------------------------
# ladder

def run_ladder(kind, args, media, workdir):
    fmt_dur, video_dur = ls.media_durations(media)
    loops = max(0, math.ceil((args.warmup + args.seconds + 3 - video_dur) / fmt_dur))
    published = loops * fmt_dur + video_dur  # media seconds the publisher sends, then it exits
    if kind == "ours":
        server, prefix, stream_dir = ls.start_ours(workdir, args.ladder, idle_timeout=2, extra=args.ours_args.split())
        clocks, source = {}, None
    else:
        server, prefix, playlist = ls.start_nginx(workdir, "ladder")
        clocks = {v: ls.PlaylistClock(playlist("bench", v)) for v in ["src"] + [f"{h}p" for _, h, _ in ls.LADDER]}
        source = "src"
    log = open(os.path.join(workdir, f"publisher-{kind}.log"), "ab")
    pub = None
    try:
        server.wait_ready()
        rss_idle = server.rss_mib()
        pub = ls.Publisher(f"{prefix}/bench", media, log, loops)
        meter = Meter(server, [pub])
        # ffmpeg's -re clock starts once its RTMP output is open: media time 0 goes out at about
        # the moment its connection is established (polled every 5 ms), not at the spawn.
        t0 = connected_at(server.rtmp_port, pub)
        connect_delay = t0 - pub.started
        w0, w1 = t0 + args.warmup, t0 + args.warmup + args.seconds
        mark0 = mark1 = None
        peak_rss, next_rss, quiet_since, exited_at = 0.0, 0.0, None, None
        deadline = t0 + published + 30
        while time.monotonic() < deadline:
            now = time.monotonic()
            if kind == "ours" and not clocks:
                found = ours_variant_playlists(stream_dir("bench"))
                if found:
                    clocks = {v: ls.PlaylistClock(p) for v, p in found.items()}
                    source = next(iter(found))
            ends = [c.end for c in clocks.values()]
            for c in clocks.values():
                c.poll(now)
            if mark0 is None and now >= w0:
                mark0 = meter.read()
            if mark1 is None and now >= w1:
                mark1 = meter.read()
                hwm = hwm_mib(server.proc.pid)
            if now >= next_rss:
                peak_rss, next_rss = max(peak_rss, server.rss_mib()), now + 1.0
            if pub.proc.poll() is not None and exited_at is None:
                exited_at = now
            if exited_at is not None:
                changed = ends != [c.end for c in clocks.values()]
                quiet_since = now if changed or quiet_since is None else quiet_since
                if all(c.ended for c in clocks.values()) or now - quiet_since > 4:
                    break
            time.sleep(max(0.0, args.poll - (time.monotonic() - now)))
        if mark1 is None:
            raise RuntimeError("the run ended before the measurement window did")
        res = {"server": kind, "load_at_start": args.load_at_start, **Meter.delta(mark0, mark1),
               "rss_idle_mib": round(rss_idle, 1), "rss_peak_sampled_mib": round(peak_rss, 1),
               "rss_hwm_sum_mib": round(hwm, 1), "publisher_error": pub.error(),
               "publisher_connect_s": round(connect_delay, 3), "published_media_s": round(published, 3)}
        res["rtf"] = {v: (round(c.rate(w0, w1), 4) if c.rate(w0, w1) else None) for v, c in clocks.items()}
        res["listed_at_window_end_s"] = {v: round(c.end_at(w1), 2) for v, c in clocks.items()}
        res["missed_segments"] = {v: c.missed_segments() for v, c in clocks.items()}
        src = clocks[source]
        # The source variant's first listed frame: published media minus what the playlist listed
        # in all (ours starts at the first frame; nginx's exec ffmpeg joins late, from a keyframe).
        raw_offset = published - src.end
        # HLS starts at a keyframe (the source's GOP is 2 s): the nearest one, unless far from any.
        snapped = round(raw_offset / ls.GOP_S) * ls.GOP_S
        offset = snapped if abs(raw_offset - snapped) < 0.25 else raw_offset
        lat = frame_latencies(src.events, t0 + offset, w0, w1)
        edge = [w - (t0 + offset + e) for w, e in src.events if w0 <= w <= w1]
        res.update({"source_variant": source, "source_start_offset_s": round(offset, 3),
                    "source_start_offset_raw_s": round(raw_offset, 3),
                    "latency_frames": len(lat), "latency_p50_s": round(pct(lat, 50), 3) if lat else None,
                    "latency_p95_s": round(pct(lat, 95), 3) if lat else None,
                    "latency_max_s": round(max(lat), 3) if lat else None,
                    "edge_latency_p50_s": round(pct(edge, 50), 3) if edge else None})
        return res
    finally:
        if pub:
            pub.stop()
        server.stop(signal.SIGINT if kind == "ours" else signal.SIGTERM)
        log.close()


def summary_ladder(runs):
    by = {k: [r for r in runs if r.get("server") == k and "error" not in r] for k in ("ours", "nginx")}
    med = {}
    for kind, rs in by.items():
        if not rs:
            continue
        med[kind] = {"server_cpu_percent": statistics.median(r["server_cpu_percent"] for r in rs),
                     "rss_peak_mib": statistics.median(r["rss_peak_sampled_mib"] for r in rs),
                     "latency_p50_s": statistics.median(r["latency_p50_s"] for r in rs),
                     "latency_p95_s": statistics.median(r["latency_p95_s"] for r in rs),
                     "rtf_min": min(min(v for v in r["rtf"].values() if v) for r in rs)}
        print(f"  {kind}: {json.dumps(med[kind])}")
    if "ours" in med and "nginx" in med:
        print(f"  CPU ratio ours/(nginx+ffmpeg): {med['ours']['server_cpu_percent'] / med['nginx']['server_cpu_percent']:.2f}")
    return med


# ---------------------------------------------------------------------------------------------
# streams

def run_streams(kind, k, args, media, workdir):
    if kind == "ours":
        server, prefix, stream_dir = ls.start_ours(workdir, "", max_streams=k + 4, extra=args.ours_args.split())
    else:
        server, prefix, playlist = ls.start_nginx(workdir, "passthrough")
    log = open(os.path.join(workdir, f"publishers-{kind}-{k}.log"), "ab")
    pubs = []
    try:
        server.wait_ready()
        for i in range(k):
            pubs.append(ls.Publisher(f"{prefix}/s{i}", media, log))
            time.sleep(0.05)
        meter = Meter(server, pubs)
        clocks = [None] * k
        w0 = time.monotonic() + args.warmup
        w1 = w0 + args.window
        mark0 = mark1 = None
        peak_rss, next_rss = 0.0, 0.0
        while mark1 is None:
            now = time.monotonic()
            for i in range(k):
                if clocks[i] is None:
                    if kind == "nginx":
                        clocks[i] = ls.PlaylistClock(playlist(f"s{i}"))
                    else:
                        found = ours_variant_playlists(stream_dir(f"s{i}"))
                        if found:
                            clocks[i] = ls.PlaylistClock(next(iter(found.values())))
                if clocks[i] is not None:
                    clocks[i].poll(now)
            if mark0 is None and now >= w0:
                mark0 = meter.read()
            elif mark0 is not None and now >= w1:
                mark1 = meter.read()
            if now >= next_rss:
                peak_rss, next_rss = max(peak_rss, server.rss_mib()), now + 2.0
            time.sleep(max(0.0, args.poll_streams - (time.monotonic() - now)))
        rates = [c.rate(w0, w1) if c else None for c in clocks]
        res = {"server": kind, "streams": k, "load_at_start": loadavg(), **Meter.delta(mark0, mark1),
               "rss_peak_sampled_mib": round(peak_rss, 1)}
        res["server_cpu_percent_per_stream"] = round(res["server_cpu_percent"] / k, 3)
        res["publishers_cpu_percent"] = round(100 * res["publishers_cpu_s"] / res["wall_s"], 1)
        known = [r for r in rates if r is not None]
        res.update({"rate_min": round(min(known), 4) if known else None,
                    "rate_median": round(statistics.median(known), 4) if known else None,
                    "streams_without_playlist_progress": sum(1 for r in rates if r is None),
                    "streams_below_0_95": sum(1 for r in rates if r is None or r < 0.95),
                    "publishers_failed": [p.url.rsplit("/", 1)[1] + ": " + p.error() for p in pubs if p.error()]})
        res["held"] = res["streams_below_0_95"] == 0 and not res["publishers_failed"]
        if args.count_files > 0:  # after the CPU window: strace slows the server down
            res["files_created_per_stream_s"] = count_files_created(server, k, args.count_files, workdir)
        return res
    finally:
        for p in pubs:
            p.stop()
        server.stop(signal.SIGINT if kind == "ours" else signal.SIGTERM)
        log.close()


# What a file created by a server is, from its name (ours writes NAME.tmp and renames it,
# nginx-rtmp its playlists as NAME.bak).
FILE_KINDS = (("master playlist", re.compile(r"/master\.m3u8(\.tmp)?$")),
              ("media playlist", re.compile(r"\.m3u8(\.tmp|\.bak)?$")),
              ("part", re.compile(r"\.part\d+\.[a-z0-9]+(\.tmp)?$")),
              ("init", re.compile(r"/init\.mp4(\.tmp)?$")),
              ("segment", re.compile(r"\.(m4s|ts|mp4)(\.tmp)?$")))


def count_files_created(server, k, seconds, workdir):
    """Files the server's processes create (openat with O_CREAT) over `seconds`, per stream and
    second, by kind; from `strace -f` attached to every process of the server's tree."""
    if not shutil.which("strace"):
        raise RuntimeError("--count-files needs strace (scripts/install-deps.sh installs it)")
    trace = os.path.join(workdir, f"strace-{server.kind}.txt")
    argv = ["strace", "-f", "-qq", "-e", "trace=openat", "-o", trace]
    for pid in ib.process_tree(server.proc.pid):
        argv += ["-p", str(pid)]
    tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(10)
    counts = {name: 0 for name, _ in FILE_KINDS}
    counts["other"] = 0
    with open(trace, errors="replace") as f:
        for line in f:
            m = re.search(r'openat\([^,]*, "([^"]*)", [^)]*O_CREAT', line)
            if not m:
                continue
            kind = next((name for name, rx in FILE_KINDS if rx.search(m.group(1))), "other")
            counts[kind] += 1
    per = {name: round(n / (k * seconds), 2) for name, n in counts.items()}
    per["all"] = round(sum(counts.values()) / (k * seconds), 2)
    return per


# ---------------------------------------------------------------------------------------------
# browser

BENCH_MASTER = "/live/bench/master.m3u8"


def publish_bench_stream(server, prefix, media, log, bt):
    """The publisher of key 'bench', once the server is up; returns when its master playlist is served (+3 s)."""
    server.wait_ready()
    pub = ls.Publisher(f"{prefix}/bench", media, log)
    if not bt.wait_for_url(server.http_port, BENCH_MASTER, 30, server.proc):
        pub.stop()
        raise RuntimeError(f"{BENCH_MASTER} not served within 30 s")
    time.sleep(3)  # a few segments, so that the player starts as a viewer of a running stream would
    return pub


# What live-server's start page (examples/web/index.html) shows, read through the DevTools protocol.
LIVE_PAGE_STATE_JS = """(() => {
  const v = document.getElementById('video');
  if (!v || typeof hls === 'undefined') return {currentTime: 0, at: Date.now() / 1000};  // still loading
  return {currentTime: v.currentTime, latency: hls ? hls.latency : null, targetLatency: hls ? hls.targetLatency : null,
          playbackRate: v.playbackRate, at: Date.now() / 1000};
})()"""


def run_browser_live_page(args, media, workdir, bt):
    """hls.js as live-server's own start page configures it: the page opened at /#bench plays that stream."""
    cdp_spec = importlib.util.spec_from_file_location("cdp", os.path.join(HERE, "..", "browser", "cdp.py"))
    cdp = importlib.util.module_from_spec(cdp_spec)
    cdp_spec.loader.exec_module(cdp)
    player_dir = os.path.join(HERE, "..", "..", "examples", "web")
    if not os.path.exists(os.path.join(player_dir, "node_modules", "hls.js", "dist", "hls.min.js")):
        raise RuntimeError("examples/web/node_modules/hls.js missing: run (cd examples/web && npm ci)")
    server, prefix, _ = ls.start_ours(workdir, args.ladder, extra=["--player-dir", player_dir, *args.ours_args.split()])
    log = open(os.path.join(workdir, "publisher-browser.log"), "ab")
    pub = browser = None
    try:
        pub = publish_bench_stream(server, prefix, media, log, bt)
        page_url = f"http://127.0.0.1:{server.http_port}/"
        profile = os.path.join(workdir, "chromium-profile")
        browser = bt.start_chromium(page_url + "#bench", profile)
        page = cdp.Page.connect(profile, page_url)
        deadline = time.monotonic() + args.settle + args.play + 60
        samples, start = [], None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if server.proc.poll() is not None or pub.proc.poll() is not None:
                raise RuntimeError("live-server or the publisher exited")
            state = page.evaluate(LIVE_PAGE_STATE_JS)
            if state["currentTime"] > 0 and start is None:
                start = state
            if start is None:
                continue
            samples.append(state)
            if state["currentTime"] - start["currentTime"] >= args.settle + args.play:
                t_from = start["at"] + args.settle
                lat = [r["latency"] for r in samples if r["at"] >= t_from and isinstance(r.get("latency"), (int, float))]
                rates = sorted({r["playbackRate"] for r in samples})
                return {"page": "live-server", "latency_p50_s": round(statistics.median(lat), 3),
                        "latency_max_s": round(max(lat), 3), "latency_min_s": round(min(lat), 3),
                        "reports": len(lat), "target_latency_s": samples[-1].get("targetLatency"),
                        "playback_rates_seen": rates,
                        "played_s": round(state["currentTime"] - start["currentTime"], 1),
                        "wall_s": round(state["at"] - start["at"], 1), "load_at_start": args.load_at_start}
        raise RuntimeError(f"playback did not advance; last state {json.dumps(samples[-1:] or None)}")
    finally:
        bt.stop(browser, "chromium")
        if pub:
            pub.stop()
        server.stop(signal.SIGINT)
        log.close()


def run_browser(args, media, workdir, bt):
    if args.page == "live" and not args.gst_launch_part_ms:
        return run_browser_live_page(args, media, workdir, bt)
    reports = bt.Reports()
    page = bt.start_page_server(bt.ensure_hlsjs(), reports)
    if args.gst_launch_part_ms:
        server, prefix = ls.start_printed_pipeline(workdir, args.ladder, args.gst_launch_part_ms)
    else:
        server, prefix, _ = ls.start_ours(workdir, args.ladder, extra=args.ours_args.split())
    log = open(os.path.join(workdir, "publisher-browser.log"), "ab")
    pub = browser = None
    try:
        pub = publish_bench_stream(server, prefix, media, log, bt)
        src = f"http://127.0.0.1:{server.http_port}{BENCH_MASTER}"
        url = f"http://127.0.0.1:{page.server_address[1]}/player.html?src={src}&ll=1"
        browser = bt.start_chromium(url, os.path.join(workdir, "chromium-profile"))
        deadline = time.monotonic() + args.settle + args.play + 60
        start = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if server.proc.poll() is not None or pub.proc.poll() is not None:
                raise RuntimeError("live-server or the publisher exited")
            items = reports.snapshot()
            if items and items[-1].get("fatal"):
                raise RuntimeError(f"hls.js fatal error {items[-1]['fatal']}")
            playing = [r for r in items if r.get("currentTime", 0) > 0]
            if playing and start is None:
                start = playing[0]
            if start and items[-1]["currentTime"] - start["currentTime"] >= args.settle + args.play:
                t_from = start["at"] + args.settle
                lat = [r["latency"] for r in items if r["at"] >= t_from and isinstance(r.get("latency"), (int, float))]
                return {"latency_p50_s": round(statistics.median(lat), 3), "latency_max_s": round(max(lat), 3),
                        "latency_min_s": round(min(lat), 3), "reports": len(lat),
                        "target_latency_s": items[-1].get("targetLatency"), "errors": items[-1].get("errors"),
                        "played_s": round(items[-1]["currentTime"] - start["currentTime"], 1),
                        "load_at_start": args.load_at_start}
        raise RuntimeError(f"playback did not advance; last report {json.dumps(reports.snapshot()[-1:] or None)}")
    finally:
        bt.stop(browser, "chromium")
        if pub:
            pub.stop()
        server.stop(signal.SIGINT)
        page.shutdown()
        log.close()


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("ladder", "streams", "browser"))
    ap.add_argument("--servers", default="ours,nginx", help="comma list of ours,nginx (ladder, streams)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--ladder", default="640x360@800,426x240@400", help="ours: --ladder (ladder, browser)")
    ap.add_argument("--ours-args", default="", help="more live-server flags, e.g. --no-low-latency")
    ap.add_argument("--seconds", type=float, default=60, help="ladder: measured seconds")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before the measurement window (ladder 10; streams 60: both servers' steady state, "
                         "past the first ~40 s in which ours fills its in-memory HLS window)")
    ap.add_argument("--poll", type=float, default=0.05, help="ladder: playlist poll interval")
    ap.add_argument("--streams", type=int, default=20, help="streams: publishers")
    ap.add_argument("--window", type=float, default=30, help="streams: measured seconds")
    ap.add_argument("--poll-streams", type=float, default=0.25, help="streams: poll interval (all playlists)")
    ap.add_argument("--count-files", type=float, default=0,
                    help="streams: after the window, count the files each server creates over this many "
                         "seconds (strace), per stream and second")
    ap.add_argument("--find-max", action="store_true", help="streams: step K up per server until a step fails")
    ap.add_argument("--steps", default="20,30,40,50,60,80", help="streams --find-max: K per step")
    ap.add_argument("--budget", type=float, default=480, help="streams --find-max: seconds per server at most")
    ap.add_argument("--gst-launch-part-ms", type=int, default=0,
                    help="browser: instead of live-server, gst-launch-1.0 of its --print-pipeline with this part-duration")
    ap.add_argument("--page", choices=("live", "test"), default="live",
                    help="browser: live-server's own start page (its hls.js settings) or tests/browser/player_test.html"
                         " (hls.js defaults + lowLatencyMode)")
    ap.add_argument("--settle", type=float, default=10, help="browser: seconds of playback before sampling")
    ap.add_argument("--play", type=float, default=20, help="browser: seconds of playback sampled")
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = 60 if args.mode == "streams" and not args.find_max else 10

    ls.require("ffmpeg", "ffprobe")
    media = ls.make_media(os.environ.get("LIVE_BUILD_ROOT", tempfile.gettempdir()))
    cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].splitlines()[0].strip()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {cpu}; load {loadavg()}; media {media}", flush=True)
    kinds = [k for k in args.servers.split(",") if k]
    runs = []

    def record(res):
        runs.append(res)
        print(json.dumps(res), flush=True)

    def one(fn, kind, *extra):
        workdir = tempfile.mkdtemp(prefix=f"ls-bench-{args.mode}-{kind}-")
        args.load_at_start = loadavg()
        try:
            res = fn(kind, *extra, args, media, workdir) if kind else fn(args, media, workdir, *extra)
            shutil.rmtree(workdir, ignore_errors=True)
        except Exception as e:  # noqa: BLE001 - report it, keep the logs
            res = {"server": kind, "error": str(e), "logs": workdir}
        return res

    if args.mode == "ladder":
        for rnd in range(args.rounds):
            for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                record({**one(run_ladder, kind), "round": rnd})
        print("summary (median over rounds):")
        summary = summary_ladder(runs)
    elif args.mode == "streams" and not args.find_max:
        for rnd in range(args.rounds):
            for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                record({**one(run_streams, kind, args.streams), "round": rnd})
        summary = {}
        for kind in kinds:
            ok = [r for r in runs if r["server"] == kind and "error" not in r]
            if ok:
                summary[kind] = statistics.median(r["server_cpu_percent_per_stream"] for r in ok)
                print(f"  {kind}: {summary[kind]:.2f} % of one core per stream (median), held: "
                      f"{[r['held'] for r in ok]}, rate min {[r['rate_min'] for r in ok]}")
        if len(summary) == 2:
            print(f"  CPU per stream ours/nginx: {summary['ours'] / summary['nginx']:.2f} (goal <= 1.0)")
    elif args.mode == "streams":
        summary = {}
        for kind in kinds:
            started, most = time.monotonic(), None
            for k in [int(s) for s in args.steps.split(",")]:
                if time.monotonic() - started + args.warmup + args.window + 15 > args.budget:
                    print(f"  {kind}: budget of {args.budget} s used up before K={k}")
                    break
                res = one(run_streams, kind, k)
                record(res)
                if not res.get("held"):
                    break
                most = k
            summary[kind] = most
            print(f"  {kind}: most streams held in real time: {most}", flush=True)
    else:
        spec = importlib.util.spec_from_file_location("hls_browser_test", os.path.join(HERE, "..", "browser", "hls_browser_test.py"))
        bt = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bt)
        for rnd in range(args.rounds):
            record({**one(run_browser, None, bt), "round": rnd})
        ok = [r for r in runs if "error" not in r]
        summary = {"latency_p50_s": statistics.median(r["latency_p50_s"] for r in ok) if ok else None,
                   "latency_max_s": max(r["latency_max_s"] for r in ok) if ok else None}
        print(f"  hls.latency over rounds: p50 {summary['latency_p50_s']} s, max {summary['latency_max_s']} s (goal <= 1.5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
