#!/usr/bin/env python3
"""RTMP fan-out benchmark: one published stream, N viewers over loopback, ours vs. nginx-rtmp.

Servers (each on its own free loopback port):
  nginx      Debian's nginx with libnginx-mod-rtmp, one worker, `live on`, chunk_size 4096,
             worker_connections 4096 (more if N needs it), own config in a temp dir
  ours       gst-launch-1.0 rtmpserversrc ! flvrelaysink on one port (element defaults, except
             max-connections-per-address=0 on both elements: every viewer comes from 127.0.0.1)
  ours-http  the same with http-port=H; the viewers play HTTP-FLV http://127.0.0.1:H/live/KEY.flv
Publisher and viewers are tests/bench/rtmp_load_client (C++, epoll): one publisher of a
synthetic H.264+AAC stream (--kbps of payload, 30 fps, keyframe every --gop-ms, ~43 AAC
frames/s) whose every frame carries its send time (CLOCK_MONOTONIC); --clients processes share
the N viewers. Per run:
  1. start the server, then the publisher; wait one GOP + 1 s (the GOP cache is full), read the
     server's RSS;
  2. start the viewers (ramp --ramp-per-s); after the warmup (which covers the ramp) read the
     server's CPU time (utime+stime of its processes, /proc) and the bytes its established
     sockets on the port(s) have had acknowledged by the viewers (`ss -tin`, bytes_acked);
     again after --window seconds, and the RSS;
  3. the load clients report latency (arrival - send time of live frames, over the same
     window), time to first frame, frames missing (sequence gaps), viewers dropped, their own
     CPU.
CPU-s per Gbit = server CPU delta / (bytes_acked delta x 8 / 1e9). Runs alternate the servers
for --rounds rounds; the summary gives medians and the ratios ours/nginx next to the goals.
--find-max steps the viewer count per server until p99 latency passes 200 ms or a viewer is
dropped.

Python 3 standard library only. Not a test: it reports figures, it does not pass or fail.
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from ingest_bench import CLK_TCK, NGINX_RTMP_MODULE, cpu_seconds, free_port, listening, rss_mib, thread_cpu

STREAM_KEY = "bench"
APP = "live"
CHUNK_SIZE = 4096
LATENCY_LIMIT_MS = 200.0  # --find-max: the most viewers held with p99 under this and none dropped
GOALS = {  # ours / nginx-rtmp, from the issue
    "cpu_per_gbit_ratio": {2700: 0.5, 530: 0.4},
    "max_viewers_ratio": 1.5,
    "ttff_p50_ms": 100.0,
    "kib_per_viewer": 64.0,
    "http_over_rtmp_cpu": 1.5,
}


def load_client_path(arg):
    if arg:
        return arg
    root = os.environ.get("LIVE_BUILD_ROOT")
    if root:
        return os.path.join(root, "tests", "bench", "rtmp_load_client")
    return ""


def check_tools(args, kinds):
    for tool in ("ss",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (iproute2)")
    if not os.access(args.client, os.X_OK):
        sys.exit(f"load client not found at '{args.client}': build it (ninja -C build tests/bench/rtmp_load_client) "
                 "and pass --client PATH or set LIVE_BUILD_ROOT=$PWD/build")
    if "nginx" in kinds and not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        sys.exit("nginx is required (scripts/install-deps.sh installs nginx and libnginx-mod-rtmp)")
    if "nginx" in kinds and not os.path.exists(NGINX_RTMP_MODULE):
        sys.exit(f"{NGINX_RTMP_MODULE} is missing (libnginx-mod-rtmp)")
    if any(k.startswith("ours") for k in kinds):
        if not shutil.which("gst-launch-1.0"):
            sys.exit("gst-launch-1.0 is required")
        probe = subprocess.run(["gst-inspect-1.0", "flvrelaysink"], capture_output=True, text=True)
        if probe.returncode != 0:
            sys.exit("flvrelaysink is not available: build the plugin (ninja -C build gst/libgstliveserver.so) and "
                     "run with GST_PLUGIN_PATH=$PWD/build/gst (GST_PLUGIN_PATH is now "
                     f"'{os.environ.get('GST_PLUGIN_PATH', '')}')")


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every process we start
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine_busy_seconds():
    """CPU seconds the whole machine spent busy (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def bytes_acked(ports):
    """Bytes the established server-side sockets on `ports` have had acknowledged (from `ss`)."""
    cond = ["("]
    for i, p in enumerate(ports):
        cond += (["or"] if i else []) + ["sport", "=", f":{p}"]
    cond += [")"]
    out = subprocess.run(["ss", "-tinH", "state", "established"] + cond,
                         capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in re.findall(r"bytes_acked:(\d+)", out))


class Server:
    def __init__(self, kind, workdir, port, http_port, viewers, ours_src_props, ours_sink_props):
        self.kind, self.port, self.http_port = kind, port, http_port
        self.log = open(os.path.join(workdir, f"{kind}.log"), "ab")
        if kind == "nginx":
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            conf = os.path.join(workdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"""load_module {NGINX_RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections {max(4096, viewers + 64)}; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size {CHUNK_SIZE};
    application {APP} {{ live on; record off; }}
  }}
}}
""")
            argv = [nginx, "-p", workdir, "-e", f"{workdir}/nginx-error.log", "-c", conf]
        else:
            src = (f"rtmpserversrc address=127.0.0.1 port={port} application={APP} stream-key={STREAM_KEY} "
                   f"max-connections-per-address=0 {ours_src_props}")
            # The sink starts first and so sets the listener's limits: lift the per-address one there too.
            sink = (f"flvrelaysink address=127.0.0.1 port={port} application={APP} stream-key={STREAM_KEY} "
                    f"max-connections-per-address=0 {ours_sink_props}")
            if http_port:
                sink += f" http-address=127.0.0.1 http-port={http_port}"
            argv = ["gst-launch-1.0", "-q"] + shlex.split(f"{src} ! {sink}")
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before listening: {shlex.join(self.argv)}")
            if listening(self.port) and (not self.http_port or listening(self.http_port)):
                time.sleep(1.0)  # every element of the pipeline has registered its mount
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} is not listening on {self.port} after {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


class ClientProcess:
    """One rtmp_load_client process; its JSON report lands in a file."""

    def __init__(self, argv, json_path, log):
        self.json_path = json_path
        self.argv = argv + ["--json", json_path]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)

    def result(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return {"error": "load client did not finish in time"}
        try:
            with open(self.json_path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            return {"error": f"no report from {shlex.join(self.argv)} (exit {self.proc.returncode}): {e}"}

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.result(timeout)


def merged_percentile(pairs, q):
    """q-quantile (ms) of merged [lower edge us, count] histograms (rtmp_load_client's buckets)."""
    total = sum(c for _, c in pairs)
    if not total:
        return None
    rank = min(max(math.ceil(q * total), 1), total)
    seen = 0
    for lower, count in sorted(pairs):
        seen += count
        if seen >= rank:
            step = 10 if lower < 1_000_000 else 1000
            return round((lower + step / 2) / 1000, 3)
    return None


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(max(math.ceil(q * len(v)), 1), len(v)) - 1], 3)


def run_once(kind, args, viewers, workdir, run_id):
    port = free_port()
    http_port = free_port() if kind == "ours-http" else 0
    server = Server(kind, workdir, port, http_port, viewers, args.ours_src_props, args.ours_props)
    log = open(os.path.join(workdir, f"clients-{run_id}.log"), "ab")
    publisher, clients = None, []
    try:
        server.wait_ready()
        publisher = ClientProcess([args.client, "publish", "--port", str(port), "--app", APP, "--key", STREAM_KEY,
                                   "--kbps", str(args.kbps), "--gop-ms", str(args.gop_ms), "--duration", "0"],
                                  os.path.join(workdir, f"publisher-{run_id}.json"), log)
        time.sleep(args.gop_ms / 1000 + 1.0)
        if publisher.proc.poll() is not None:
            raise RuntimeError(f"publisher exited: {publisher.result(1)}")
        rss_before = rss_mib(server.proc.pid)

        ramp_s = viewers / args.ramp_per_s if args.ramp_per_s > 0 else 0
        warmup = max(args.warmup, ramp_s + 3)
        duration = warmup + args.window
        nclients = max(1, min(args.clients, viewers))
        for i in range(nclients):
            n = viewers // nclients + (1 if i < viewers % nclients else 0)
            argv = [args.client, "play", "--port", str(port), "--app", APP, "--key", STREAM_KEY,
                    "--viewers", str(n), "--ramp-per-s", str(args.ramp_per_s / nclients),
                    "--warmup", str(warmup), "--duration", str(duration), "--start-timeout", str(args.start_timeout)]
            if http_port:
                argv += ["--http", "--http-port", str(http_port)]
            clients.append(ClientProcess(argv, os.path.join(workdir, f"client-{run_id}-{i}.json"), log))
        t_start = time.monotonic()
        ports = [port] + ([http_port] if http_port else [])

        time.sleep(max(0.0, t_start + warmup - time.monotonic()))
        cpu0, acked0, t0 = cpu_seconds(server.proc.pid), bytes_acked(ports), time.monotonic()
        threads0 = thread_cpu(server.proc.pid)
        clients_cpu0 = sum(cpu_seconds(c.proc.pid) for c in clients)
        pub_cpu0 = cpu_seconds(publisher.proc.pid)
        busy0 = machine_busy_seconds()
        time.sleep(max(0.0, t_start + duration - 0.5 - time.monotonic()))
        cpu1, acked1, t1 = cpu_seconds(server.proc.pid), bytes_acked(ports), time.monotonic()
        threads1 = thread_cpu(server.proc.pid)
        clients_cpu1 = sum(cpu_seconds(c.proc.pid) for c in clients)
        pub_cpu1 = cpu_seconds(publisher.proc.pid)
        busy1 = machine_busy_seconds()
        rss_with = rss_mib(server.proc.pid)
        loadavg = open("/proc/loadavg").read().split()[:3]

        reports = [c.result(timeout=duration + 30) for c in clients]
        pub = publisher.stop()
        server_alive = server.proc.poll() is None
    finally:
        for c in clients:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait(5)
        if publisher and publisher.proc.poll() is None:
            publisher.proc.kill()
            publisher.proc.wait(5)
        server.stop()
        log.close()

    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        return {"server": kind, "viewers": viewers, "error": "; ".join(errors)}
    wall = t1 - t0
    cpu = cpu1 - cpu0
    bits = (acked1 - acked0) * 8
    hist = [pair for r in reports for pair in r["latency_hist_us"]]
    ttff = [v for r in reports for v in r["ttff_values_ms"]]
    s = lambda key: sum(r[key] for r in reports)  # noqa: E731
    healthy = s("viewers_healthy_at_end")
    by_thread = {k: round(v - threads0.get(k, 0), 2) for k, v in threads1.items() if v - threads0.get(k, 0) >= 0.01}
    reasons = {}
    for r in reports:
        for k, v in r["close_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v
    return {
        "server": kind, "protocol": "http-flv" if http_port else "rtmp", "viewers": viewers, "kbps": args.kbps,
        "server_cpu_s": round(cpu, 3), "window_s": round(wall, 3), "server_cpu_percent": round(100 * cpu / wall, 1),
        "gbit_delivered": round(bits / 1e9, 4), "gbit_per_s": round(bits / 1e9 / wall, 3),
        "cpu_s_per_gbit": round(cpu / (bits / 1e9), 4) if bits else None,
        "client_gbit_in_window": round(s("bytes_in_window") * 8 / 1e9, 4),
        "latency_p50_ms": merged_percentile(hist, 0.50), "latency_p99_ms": merged_percentile(hist, 0.99),
        "latency_max_ms": max(r["latency_ms"]["max"] for r in reports),
        "video_latency_p99_ms": max(r["video_latency_ms"]["p99"] for r in reports),
        "latency_samples": sum(c for _, c in hist),
        "ttff_p50_ms": percentile(ttff, 0.50), "ttff_p99_ms": percentile(ttff, 0.99),
        "first_frame_key_ratio": round(sum(r["first_frame_key_ratio"] * r["viewers_playing"] for r in reports) /
                                       max(1, s("viewers_playing")), 3),
        "viewers_connected": s("viewers_connected"), "viewers_playing": s("viewers_playing"),
        "viewers_healthy_at_end": healthy, "viewers_dropped": viewers - healthy,
        "viewers_closed_by_server": s("viewers_closed_by_server"), "viewers_failed": s("viewers_failed"),
        "close_reasons": reasons,
        "missing_video": s("missing_video"), "missing_audio": s("missing_audio"),
        "viewers_with_gaps": s("viewers_with_gaps"), "out_of_order": s("out_of_order"),
        "unstamped_messages": s("unstamped_messages"), "gop_replay_messages": s("gop_replay_messages"),
        "rss_before_viewers_mib": round(rss_before, 1), "rss_with_viewers_mib": round(rss_with, 1),
        "kib_per_viewer": round((rss_with - rss_before) * 1024 / viewers, 1),
        "load_client_cpu_s": round(clients_cpu1 - clients_cpu0, 3),
        "load_client_cpu_percent": round(100 * (clients_cpu1 - clients_cpu0) / wall, 1),
        "publisher_cpu_s": round(pub_cpu1 - pub_cpu0, 3), "publisher_max_lag_ms": pub.get("max_lag_ms"),
        "publisher_error": pub.get("error") or None,
        "other_cpu_s": round((busy1 - busy0) - cpu - (clients_cpu1 - clients_cpu0) - (pub_cpu1 - pub_cpu0), 2),
        "loadavg": loadavg, "server_alive_at_end": server_alive,
        "cpu_s_by_thread": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])),
    }


def short(res):
    if "error" in res:
        return f"{res['server']} x{res['viewers']}: ERROR {res['error']}"
    return (f"{res['server']} x{res['viewers']} ({res['protocol']}): {res['cpu_s_per_gbit']} CPU-s/Gbit "
            f"({res['gbit_per_s']} Gbit/s, {res['server_cpu_percent']}% core), latency p50/p99 "
            f"{res['latency_p50_ms']}/{res['latency_p99_ms']} ms, TTFF p50 {res['ttff_p50_ms']} ms "
            f"(key first {res['first_frame_key_ratio']}), dropped {res['viewers_dropped']}, missing frames "
            f"{res['missing_video']}v/{res['missing_audio']}a, {res['kib_per_viewer']} KiB/viewer, load client "
            f"{res['load_client_cpu_percent']}% core, other load {res['other_cpu_s']} CPU-s")


def held(res):
    return ("error" not in res and res["viewers_dropped"] == 0 and res["latency_p99_ms"] is not None
            and res["latency_p99_ms"] < LATENCY_LIMIT_MS)


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(vals), 4) if vals else None


def summarize(runs, kinds, kbps):
    print("\nsummary (median over rounds):")
    med = {}
    for kind in kinds:
        ok = [r for r in runs if r["server"] == kind and "error" not in r]
        if not ok:
            print(f"  {kind}: no complete run")
            continue
        med[kind] = {k: median_of(ok, k) for k in ("cpu_s_per_gbit", "latency_p50_ms", "latency_p99_ms", "ttff_p50_ms",
                                                   "kib_per_viewer", "viewers_dropped", "load_client_cpu_percent",
                                                   "gbit_per_s", "server_cpu_percent")}
        m = med[kind]
        print(f"  {kind}: {m['cpu_s_per_gbit']} CPU-s per Gbit delivered ({m['gbit_per_s']} Gbit/s, "
              f"{m['server_cpu_percent']}% of one core), latency p50 {m['latency_p50_ms']} ms p99 {m['latency_p99_ms']} ms, "
              f"TTFF p50 {m['ttff_p50_ms']} ms, dropped {m['viewers_dropped']}, {m['kib_per_viewer']} KiB per viewer, "
              f"load client {m['load_client_cpu_percent']}% of one core "
              f"(runs: {[r['cpu_s_per_gbit'] for r in ok]})")
    n, o, h = med.get("nginx"), med.get("ours"), med.get("ours-http")
    if n and o and n["cpu_s_per_gbit"] and o["cpu_s_per_gbit"]:
        goal = GOALS["cpu_per_gbit_ratio"].get(kbps)
        print(f"  ratio ours/nginx CPU per Gbit: {o['cpu_s_per_gbit'] / n['cpu_s_per_gbit']:.2f}"
              + (f" (goal: <= {goal})" if goal else ""))
        print(f"  p99 latency ours {o['latency_p99_ms']} ms vs nginx {n['latency_p99_ms']} ms (goal: no worse)")
    if o:
        print(f"  ours TTFF p50 {o['ttff_p50_ms']} ms (goal: < {GOALS['ttff_p50_ms']:.0f} ms); "
              f"memory per viewer {o['kib_per_viewer']} KiB (goal: < {GOALS['kib_per_viewer']:.0f} KiB beyond the GOP cache)")
    if o and h and o["cpu_s_per_gbit"] and h["cpu_s_per_gbit"]:
        print(f"  HTTP-FLV/RTMP CPU per Gbit (ours): {h['cpu_s_per_gbit'] / o['cpu_s_per_gbit']:.2f} "
              f"(goal: <= {GOALS['http_over_rtmp_cpu']})")
    return med


def find_max(args, kinds, steps, workdir):
    runs, best = [], {}
    for kind in kinds:
        best[kind] = 0
        for n in steps:
            try:
                res = run_once(kind, args, n, workdir, f"{kind}-max-{n}")
            except Exception as e:  # noqa: BLE001
                res = {"server": kind, "viewers": n, "error": str(e)}
            res["find_max"] = True
            runs.append(res)
            print(json.dumps(res), flush=True)
            print("  " + short(res), flush=True)
            if not held(res):
                break
            best[kind] = n
            time.sleep(1)
    print(f"\nmost viewers held (p99 < {LATENCY_LIMIT_MS:.0f} ms, none dropped), steps {steps}:")
    for kind in kinds:
        print(f"  {kind}: {best[kind]}" + (" (every step held)" if best[kind] == steps[-1] else ""))
    if best.get("nginx") and "ours" in best:
        print(f"  ratio ours/nginx: {best['ours'] / best['nginx']:.2f} (goal: >= {GOALS['max_viewers_ratio']})")
    return runs, best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="nginx,ours", help="comma list of nginx,ours,ours-http")
    ap.add_argument("--http", action="store_true", help="also run ours with HTTP-FLV viewers (ours-http)")
    ap.add_argument("--kbps", type=int, default=2700, help="stream payload bitrate (the two cases: 2700, 530)")
    ap.add_argument("--gop-ms", type=int, default=2000)
    ap.add_argument("--viewers", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=2, help="load client processes sharing the viewers")
    ap.add_argument("--ramp-per-s", type=float, default=250, help="viewers started per second (all clients)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds after the first viewer, not measured (covers the ramp)")
    ap.add_argument("--window", type=float, default=20.0, help="measured seconds per run")
    ap.add_argument("--start-timeout", type=float, default=15.0, help="a viewer without video by then counts as dropped")
    ap.add_argument("--find-max", action="store_true", help="step the viewers per server until p99 > 200 ms or drops")
    ap.add_argument("--steps", default="500,1000,1500,2000,2500,3000", help="--find-max viewer counts")
    ap.add_argument("--ours-props", default="", help="extra flvrelaysink properties")
    ap.add_argument("--ours-src-props", default="", help="extra rtmpserversrc properties")
    ap.add_argument("--client", default=None, help="rtmp_load_client binary (default: $LIVE_BUILD_ROOT/tests/bench/rtmp_load_client)")
    ap.add_argument("--json", default=None, help="also write every run's figures here")
    args = ap.parse_args()
    args.client = load_client_path(args.client)

    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if args.http and "ours-http" not in kinds:
        kinds.append("ours-http")
    bad = [k for k in kinds if k not in ("nginx", "ours", "ours-http")]
    if bad:
        sys.exit(f"unknown server(s) {bad}")
    check_tools(args, kinds)
    nofile = raise_fd_limit()
    if nofile < args.viewers + 200:
        sys.exit(f"open files limit {nofile} is too low for {args.viewers} viewers")

    print(f"stream: {args.kbps} kbit/s payload, GOP {args.gop_ms} ms; viewers: {args.viewers} over {args.clients} "
          f"load client process(es), ramp {args.ramp_per_s}/s; window {args.window} s")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, "
          f"load average {open('/proc/loadavg').read().split()[:3]}")
    workdir = tempfile.mkdtemp(prefix="relay-bench-")
    out = {"args": vars(args)}
    if args.find_max:
        steps = [int(x) for x in args.steps.split(",")]
        runs, best = find_max(args, kinds, steps, workdir)
        out.update(runs=runs, max_viewers=best)
    else:
        runs = []
        for rnd in range(args.rounds):
            order = kinds if rnd % 2 == 0 else list(reversed(kinds))
            for kind in order:
                try:
                    res = run_once(kind, args, args.viewers, workdir, f"{kind}-{rnd}")
                except Exception as e:  # noqa: BLE001
                    res = {"server": kind, "viewers": args.viewers, "error": str(e)}
                res["round"] = rnd
                runs.append(res)
                print(json.dumps(res), flush=True)
                print("  " + short(res), flush=True)
                time.sleep(1)
        out.update(runs=runs, medians=summarize(runs, kinds, args.kbps))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if all("error" not in r for r in out["runs"]):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")


if __name__ == "__main__":
    main()
