#!/usr/bin/env python3
"""HLS serving: hlsadaptivesink's built-in HTTP server vs. Debian's nginx, same files, same run.

One live pipeline (videotestsrc is-live ! tee ! 2 x x264enc ! hlsadaptivesink, LL-HLS fMP4,
built-in server on a loopback port) writes into a temp directory while an nginx (own config,
one worker, sendfile on, like Debian's stock nginx.conf) serves the same directory on another
port. wrk (Debian package wrk) then plays --connections HLS clients (keep-alive connections),
every other request a playlist (multivariant or media playlist: they change every part) and
every other one a segment or part listed in the playlists when the round starts (max-files is
large, so they stay on disk during the round). Two load shapes:

- paced: each connection waits --interval ms (+-50% random) between requests, like a player
  reloading a playlist and fetching a part; latency excludes the wait; --paced-connections
  clients (default --connections; e.g. 2000 for the "paced p99 at 2000 clients" goal);
- saturated: no wait, closed loop: requests/s the server sustains on this machine.

Rounds alternate ours/nginx/nginx/ours... so load from other processes hits both alike.
Prints p50/p99 latency, requests/s and errors per round, medians per server and the ratios.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

LADDER = [(640, 360, 800), (320, 180, 300)]


def log(*args):
    print('[http-bench]', *args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f'FAIL: {what} exited ({proc.returncode})')
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f'FAIL: {what} did not listen on {port}')


def start_pipeline(out_dir, port, args):
    desc = (f'hlsadaptivesink name=hls location={out_dir} http-address=127.0.0.1 http-port={port} '
            f'segment-format=fmp4 low-latency=true target-duration=2000000000 part-duration=500000000 '
            f'playlist-length=6 max-files=1000 '
            'videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! tee name=raw ')
    for i, (w, h, kbps) in enumerate(LADDER[:args.variants]):
        desc += (f'raw. ! queue ! videoscale ! video/x-raw,width={w},height={h} '
                 f'! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max=30 '
                 f'! video/x-h264,profile=baseline ! h264parse ! hls.video_{i} ')
    log('pipeline: gst-launch-1.0 -e', desc)
    return subprocess.Popen(['gst-launch-1.0', '-e', '-q'] + desc.split(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def start_nginx(work, root_dir, port, workers, keepalive):
    nginx = shutil.which('nginx') or '/usr/sbin/nginx'
    if not os.path.exists(nginx):
        sys.exit('FAIL: nginx not found (Debian package nginx)')
    d = os.path.join(work, 'nginx')
    os.makedirs(os.path.join(d, 'tmp'))
    conf = os.path.join(d, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f'''daemon off;
worker_processes {workers};
worker_rlimit_nofile 8192;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000; keepalive_timeout {75 if keepalive else 0};
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/iso.segment m4s; video/mp4 mp4; }}
  server {{
    listen 127.0.0.1:{port} backlog=1024;
    root {root_dir};
    location / {{ add_header Access-Control-Allow-Origin * always; }}
    location ~ \\.m3u8$ {{ add_header Cache-Control no-cache always; add_header Access-Control-Allow-Origin * always; }}
  }}
}}
''')
    proc = subprocess.Popen([nginx, '-p', d + '/', '-c', conf, '-e', os.path.join(d, 'error.log')],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_port(port, proc, 'nginx')
    return proc


def listed_paths(out_dir):
    """Playlists and the media URIs they list now, as URL paths."""
    playlists, media = ['/master.m3u8'], []
    for name in sorted(os.listdir(out_dir)):
        pl = os.path.join(out_dir, name, 'index.m3u8')
        if not os.path.exists(pl):
            continue
        playlists.append(f'/{name}/index.m3u8')
        text = open(pl).read()
        for line in text.splitlines():
            if line and not line.startswith('#'):
                media.append(f'/{name}/{line}')
            for uri in re.findall(r'#EXT-X-PART:.*URI="([^"]+)"', line):
                media.append(f'/{name}/{uri}')
    return playlists, media


def lua_script(path, playlists, media, interval_ms):
    q = lambda items: '{' + ','.join(f'"{p}"' for p in items) + '}'
    with open(path, 'w') as f:
        f.write(f'''local playlists = {q(playlists)}
local media = {q(media)}
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then return wrk.format("GET", playlists[math.random(#playlists)]) end
  return wrk.format("GET", media[math.random(#media)])
end
''')
        if interval_ms > 0:
            f.write(f'delay = function() return math.random({interval_ms // 2}, {interval_ms * 3 // 2}) end\n')


def to_ms(value, unit):
    return float(value) * {'us': 0.001, 'ms': 1.0, 's': 1000.0, 'm': 60000.0}[unit]


def run_wrk(port, script, connections, args):
    cmd = ['wrk', '-t', str(args.threads), '-c', str(connections), '-d', f'{args.duration}s',
           '--timeout', '10s', '--latency', '-s', script, f'http://127.0.0.1:{port}']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60).stdout
    res = {}
    for q in ('50', '75', '90', '99'):
        m = re.search(rf'^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$', out, re.M)
        res[f'p{q}_ms'] = to_ms(*m.groups()) if m else None
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    res['rps'] = float(m.group(1)) if m else None
    m = re.search(r'(\d+) requests in', out)
    res['requests'] = int(m.group(1)) if m else 0
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    res['non_2xx'] = int(m.group(1)) if m else 0
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    res['socket_errors'] = sum(map(int, m.groups())) if m else 0
    res['socket_errors_detail'] = m.group(0) if m else ''
    m = re.search(r'Transfer/sec:\s+([\d.]+)(\w+)', out)
    res['transfer_per_s'] = m.group(1) + m.group(2) if m else None
    if res['rps'] is None or res['p99_ms'] is None:
        sys.exit('FAIL: could not parse wrk output:\n' + out)
    return res


def stop(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--connections', type=int, default=500)
    p.add_argument('--paced-connections', type=int, help='clients of the paced shape (default: --connections)')
    p.add_argument('--threads', type=int, default=2, help='wrk threads')
    p.add_argument('--duration', type=int, default=15, help='seconds per round')
    p.add_argument('--rounds', type=int, default=2, help='rounds per server and load shape')
    p.add_argument('--interval', type=int, default=500, help='paced: ms between requests per connection')
    p.add_argument('--modes', default='paced,saturated')
    p.add_argument('--variants', type=int, default=2, choices=[1, 2])
    p.add_argument('--nginx-workers', type=int, default=1)
    p.add_argument('--nginx-no-keepalive', action='store_true',
                   help='nginx closes after every response (keepalive_timeout 0), for a connection-per-request comparison')
    p.add_argument('--json')
    args = p.parse_args()
    for tool in ('wrk', 'gst-launch-1.0'):
        if shutil.which(tool) is None:
            sys.exit(f'FAIL: {tool} not found (scripts/install-deps.sh)')
    work = tempfile.mkdtemp(prefix='hls-http-bench-')
    os.chmod(work, 0o755)  # nginx's workers run as another user
    out_dir = os.path.join(work, 'hls')
    os.makedirs(out_dir)
    pipeline = nginx = None
    results = []
    try:
        ours_port, nginx_port = free_port(), free_port()
        pipeline = start_pipeline(out_dir, ours_port, args)
        nginx = start_nginx(work, out_dir, nginx_port, args.nginx_workers, not args.nginx_no_keepalive)
        wait_port(ours_port, pipeline, 'pipeline')
        time.sleep(8)  # a few segments in the window
        ports = {'ours': ours_port, 'nginx': nginx_port}
        for mode in args.modes.split(','):
            order = []
            for i in range(args.rounds):
                order += ['ours', 'nginx'] if i % 2 == 0 else ['nginx', 'ours']
            for server in order:
                if pipeline.poll() is not None:
                    sys.exit('FAIL: pipeline exited:\n' + pipeline.stderr.read())
                playlists, media = listed_paths(out_dir)
                script = os.path.join(work, 'clients.lua')
                lua_script(script, playlists, media, args.interval if mode == 'paced' else 0)
                connections = args.paced_connections or args.connections if mode == 'paced' else args.connections
                r = run_wrk(ports[server], script, connections, args)
                r.update(server=server, mode=mode, connections=connections, playlists=len(playlists), media=len(media))
                if r['non_2xx'] > r['requests'] // 100:  # e.g. files the server cannot read: not comparable
                    sys.exit(f'FAIL: {server} answered {r["non_2xx"]} of {r["requests"]} requests with non-2xx')
                log(f'{mode:9} {server:5} ({connections} clients): p50 {r["p50_ms"]:.2f} ms, p99 {r["p99_ms"]:.2f} ms, '
                    f'{r["rps"]:.0f} req/s ({r["transfer_per_s"]}/s), non-2xx {r["non_2xx"]}, '
                    f'{r["socket_errors_detail"] or "no socket errors"}')
                results.append(r)
        log('summary (median over rounds):')
        for mode in args.modes.split(','):
            med = {}
            for server in ('ours', 'nginx'):
                rows = [r for r in results if r['mode'] == mode and r['server'] == server]
                med[server] = {k: statistics.median(r[k] for r in rows) for k in ('p50_ms', 'p99_ms', 'rps')}
            o, n = med['ours'], med['nginx']
            log(f'{mode:9} ours  p50 {o["p50_ms"]:.2f} ms p99 {o["p99_ms"]:.2f} ms {o["rps"]:.0f} req/s | '
                f'nginx p50 {n["p50_ms"]:.2f} ms p99 {n["p99_ms"]:.2f} ms {n["rps"]:.0f} req/s | '
                f'ours/nginx p50 {o["p50_ms"] / n["p50_ms"]:.2f} p99 {o["p99_ms"] / n["p99_ms"]:.2f} '
                f'req/s {o["rps"] / n["rps"]:.2f}')
    finally:
        stop(nginx)
        stop(pipeline, signal.SIGINT)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
