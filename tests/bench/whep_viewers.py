#!/usr/bin/env python3
"""Viewers per machine for whepserversink: one 720p30 ~2.5 Mbit/s H.264 stream (no B-frames,
passed through) to N receive-only WebRTC viewers that do not decode; N grows step by step.

Everything runs in a network namespace of the script's own with only `lo` (unshare -n as root,
else unshare -rn):

- media: 1280x720 30 fps H.264 (libx264 veryfast, no B-frames, 2 s GOP, CBR --kbps) + AAC
  128 kbit/s, 30 s, made once by ffmpeg (cached in $LIVE_BUILD_ROOT), published in a loop with
  `ffmpeg -re -stream_loop -1 -c copy -f flv rtmp://...`;
- server: tests/browser/whep_pipeline (a gst-launch-style runner that writes the element's
  `stats` to a file) with `rtmpserversrc ! rtmpchunkdemux`, video `h264parse` (passthrough),
  audio `avdec_aac ! opusenc`, into `whepserversink ice-addresses=127.0.0.1 max-viewers=0`;
- viewers: tests/bench/whep_load_client (C++, many webrtcbins per process, recvonly H.264 + Opus,
  RTP counted in a pad probe at a fakesink, no depayloading, no decoding), --clients processes
  sharing the N viewers, started --ramp-per-s per second.

Per step: the viewers start, and once every viewer has its answer (the server answers one
session after the other) a --window s window opens --settle s later, at a wall-clock instant
sent to the clients; the server's CPU (utime+stime of the server process, from
/proc/PID/stat) and every viewer's frames (RTP packets with the marker bit) are counted over
it. A step is held when every viewer got its answer (201), connected, and received >= 95% of
the frames sent in the window (30 fps x window). Then the clients DELETE their sessions and the
next step waits for 0 viewers in the element's stats. A step at 0 viewers first gives the
server's own cost (ingest, AAC -> Opus); CPU per viewer = (CPU at N - CPU at 0) / N.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench_procs import free_port, require, stop  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
KEY = 'bench'
FPS = 30
TICKS = os.sysconf('SC_CLK_TCK')


def log(*args):
    print('[whep-viewers]', *args, flush=True)


def cpu_s(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, all threads


def machine_busy_s():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / TICKS  # all but idle and iowait


def read_stats(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    out = {}
    for field in text.rstrip(';').split(', ')[1:]:
        name, _, value = field.partition('=')
        out[name.strip()] = value.split(')', 1)[-1]
    return out


def wait_until(what, predicate, timeout, procs=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                sys.exit(f'FAIL: {proc.args[0]} exited while waiting for {what}')
        time.sleep(0.1)
    sys.exit(f'FAIL: {what}: not within {timeout} s')


def make_media(build_root, kbps):
    path = os.path.join(build_root, f'bench-{kbps}k-720p30-nobframes-30s.flv')
    if os.path.exists(path):
        return path
    cmd = [require('ffmpeg', 'ffmpeg'), '-hide_banner', '-loglevel', 'error', '-y',
           '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
           '-t', '30', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '60', '-keyint_min', '60',
           '-sc_threshold', '0', '-b:v', f'{kbps}k', '-maxrate', f'{kbps}k', '-bufsize', f'{kbps}k',
           '-x264-params', 'nal-hrd=cbr', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', path + '.tmp']
    log('making the media once:', ' '.join(cmd))
    subprocess.run(cmd, check=True)
    os.rename(path + '.tmp', path)
    return path


def step(n, args, tools, http_port, server, stats_path, base_cpu_per_s):
    url = f'http://127.0.0.1:{http_port}/live/{KEY}/whep'
    clients = []
    share = [n // args.clients + (1 if i < n % args.clients else 0) for i in range(args.clients)]
    share = [s for s in share if s]
    started = time.monotonic()
    for s in share:
        # Each client ramps its share at ramp/clients per second: all N asked for in n/ramp s.
        cmd = [tools['client'], '--url', url, '--viewers', str(s), '--ramp-per-s', str(args.ramp_per_s / len(share)),
               '--window', str(args.window)] + (['--audio'] if args.audio else []) + \
        (['--bundle-only'] if args.bundle_only else [])
        clients.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True))
    # Every viewer has its answer (the server answers one session after the other): then the window.
    for c in clients:
        line = c.stdout.readline()
        if not line.startswith('ready'):
            sys.exit(f'FAIL: load client: {line!r} {c.stderr.read()[-2000:] if c.poll() is not None else ""}')
    all_answered_s = time.monotonic() - started
    start_at = time.time() + args.settle
    for c in clients:
        c.stdin.write(f'{start_at:.3f}\n')
        c.stdin.flush()
    time.sleep(max(0, start_at - time.time()))
    cpu0, busy0, t0 = cpu_s(server.pid), machine_busy_s(), time.monotonic()
    cl0 = sum(cpu_s(c.pid) for c in clients if c.poll() is None)
    stats0 = read_stats(stats_path)
    time.sleep(max(0, start_at + args.window - time.time()))
    cpu1, busy1, t1 = cpu_s(server.pid), machine_busy_s(), time.monotonic()
    cl1 = sum(cpu_s(c.pid) for c in clients if c.poll() is None)
    reports = []
    for c in clients:
        try:
            out, err = c.communicate(timeout=60 + n)
        except subprocess.TimeoutExpired:
            stop(c, wait=10)
            sys.exit(f'FAIL: a load client did not report within {60 + n} s after the window')
        if c.returncode != 0 or not out.strip():
            sys.exit(f'FAIL: load client exit {c.returncode}: {err[-2000:]}')
        reports.append(json.loads(out))
    viewers = [v for r in reports for v in r['per_viewer']]
    expected = FPS * args.window
    ratios = sorted(v['frames'] / expected for v in viewers)
    wall = t1 - t0
    server_cpu = (cpu1 - cpu0) / wall
    res = {
        'viewers': n, 'window_s': round(wall, 2),
        'server_cpu_cores': round(server_cpu, 3),
        'server_cpu_ms_per_viewer_s': round(1000 * (server_cpu - base_cpu_per_s) / n, 2) if n else None,
        'clients_cpu_cores': round((cl1 - cl0) / wall, 3),
        'machine_busy_cores': round((busy1 - busy0) / wall, 3),
        'answered': sum(1 for v in viewers if v['status'] == 201),
        'connected': sum(1 for v in viewers if v['connected']),
        'frames_ratio_min': round(ratios[0], 3), 'frames_ratio_median': round(ratios[len(ratios) // 2], 3),
        'below_95pct': sum(1 for r in ratios if r < 0.95),
        'video_mbit_per_viewer': round(sum(v['bytes'] for v in viewers) * 8 / wall / 1e6 / n, 3),
        'audio_packets_per_viewer_s': round(sum(v['audio_packets'] for v in viewers) / wall / n, 1),
        'all_answered_s': round(all_answered_s, 2),
        'server_viewers_connected_at_window': stats0 and stats0.get('viewers-connected'),
        'errors': sorted({v['error'] for v in viewers if v['error']})[:3],
    }
    res['held'] = res['answered'] == n and res['connected'] == n and res['below_95pct'] == 0
    # The next step starts with no viewer left.
    wait_until('0 viewers after the DELETEs', lambda: (lambda s: s and s.get('viewers') == '0')(read_stats(stats_path)),
               30, [server])
    return res


def baseline(args, server):
    time.sleep(2)
    cpu0, t0 = cpu_s(server.pid), time.monotonic()
    time.sleep(args.window)
    return (cpu_s(server.pid) - cpu0) / (time.monotonic() - t0)


def run(args):
    build_root = os.environ.get('LIVE_BUILD_ROOT') or os.path.join(SOURCE_ROOT, 'build')
    tools = {'client': os.path.join(build_root, 'tests', 'bench', 'whep_load_client'),
             'pipeline': os.path.join(build_root, 'tests', 'browser', 'whep_pipeline')}
    for t in tools.values():
        if not os.path.exists(t):
            sys.exit(f'FAIL: {t} is not built (ninja -C build tests/bench/whep_load_client tests/browser/whep_pipeline)')
    media = make_media(build_root, args.kbps)
    work = tempfile.mkdtemp(prefix='whep-viewers-')
    procs = []
    results = []
    try:
        rtmp_port, http_port = free_port(), free_port()
        stats_path = os.path.join(work, 'stats.txt')
        desc = (f'rtmpserversrc address=127.0.0.1 port={rtmp_port} application=live stream-key={KEY} '
                '! rtmpchunkdemux name=d d.video_0 ! queue ! h264parse ! w.video '
                + ('d.audio_0 ! queue ! avdec_aac ! audioconvert ! audioresample ! opusenc ! w.audio '
                   if args.audio else 'd.audio_0 ! queue ! fakesink sync=false async=false ')
                + f'whepserversink name=w http-address=127.0.0.1 http-port={http_port} stream-key={KEY} '
                'ice-addresses=127.0.0.1 max-viewers=0')
        log('server: whep_pipeline STATS', desc)
        server = subprocess.Popen([tools['pipeline'], stats_path] + desc.split(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(server)
        wait_until('the RTMP port', lambda: socket.socket().connect_ex(('127.0.0.1', rtmp_port)) == 0, 15, procs)
        pub = [require('ffmpeg', 'ffmpeg'), '-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1',
               '-i', media, '-c', 'copy', '-f', 'flv', f'rtmp://127.0.0.1:{rtmp_port}/live/{KEY}']
        log('publisher:', ' '.join(pub))
        publisher = subprocess.Popen(pub, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(publisher)
        # The element answers only once it has the stream's caps: one offer proves the stream is in.
        time.sleep(3)
        base = baseline(args, server)
        log(f'0 viewers: server CPU {base:.3f} cores (ingest{", AAC -> Opus" if args.audio else ""})')
        results.append({'viewers': 0, 'server_cpu_cores': round(base, 3)})
        for n in args.steps:
            r = step(n, args, tools, http_port, server, stats_path, base)
            log(f'{n} viewers: held={r["held"]} server CPU {r["server_cpu_cores"]:.3f} cores, '
                f'{r["server_cpu_ms_per_viewer_s"]} ms/s per viewer; frames min {r["frames_ratio_min"]:.3f} '
                f'median {r["frames_ratio_median"]:.3f} ({r["below_95pct"]} below 95%); answered {r["answered"]}, '
                f'connected {r["connected"]} (all answered {r["all_answered_s"]} s after the first POST); clients {r["clients_cpu_cores"]:.2f} cores, machine '
                f'{r["machine_busy_cores"]:.2f} cores busy; {r["video_mbit_per_viewer"]} Mbit/s video per viewer')
            log(json.dumps(r))
            results.append(r)
            if not r['held']:
                break
            for p in procs:
                if p.poll() is not None:
                    sys.exit(f'FAIL: {p.args[0]} exited')
        held = [r['viewers'] for r in results[1:] if r['held']]
        log(f'most viewers held: {max(held) if held else 0} (steps {args.steps})')
        return results
    finally:
        for proc in reversed(procs):
            stop(proc, signal.SIGINT if proc is procs[0] else signal.SIGTERM, wait=10)
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', default='5,10,20,40,60,80,100', help='viewer counts, in order; stops at the first not held')
    p.add_argument('--window', type=float, default=15, help='measured seconds per step')
    p.add_argument('--settle', type=float, default=5, help='seconds after the last viewer started before the window')
    p.add_argument('--ramp-per-s', type=float, default=10, help='viewers started per second')
    p.add_argument('--clients', type=int, default=2, help='load client processes sharing the viewers')
    p.add_argument('--kbps', type=int, default=2350, help='video bitrate of the media (+128 kbit/s AAC)')
    p.add_argument('--no-audio', dest='audio', action='store_false',
                   help='the server drops the audio; viewers receive video only')
    p.add_argument('--bundle-only', action='store_true',
                   help="POST webrtcbin's max-bundle offers unchanged (later sections bundle-only, port 0)")
    p.add_argument('--json')
    p.add_argument('--in-namespace', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    args.steps = [int(x) for x in args.steps.split(',')]
    if not args.in_namespace:
        unshare = require('unshare', 'util-linux')
        require('ip', 'iproute2')
        argv = [unshare, '-n'] if os.geteuid() == 0 else [unshare, '-r', '-n']
        sys.exit(subprocess.run(argv + ['--', sys.executable] + sys.argv + ['--in-namespace']).returncode)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout.splitlines()
    if len(links) != 1 or ': lo:' not in links[0]:
        sys.exit(f'FAIL: the network namespace is not lo only: {links}')
    results = run(args)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
