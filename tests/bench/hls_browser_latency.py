#!/usr/bin/env python3
"""Live-edge delay seen by hls.js in headless chromium: hlsadaptivesink LL-HLS vs. nginx-rtmp HLS.

Reuses the pieces of tests/browser/hls_browser_test.py (hls.js from npm, the report page, the
chromium launcher). Per round, one of:

- ours: gst-launch-1.0 videotestsrc is-live ! x264enc tune=zerolatency (1 s GOP) !
  hlsadaptivesink (fMP4, low-latency=true, target-duration 2 s, part-duration --part-ms, built-in
  HTTP server); the page plays master.m3u8 with hls.js lowLatencyMode on;
- nginx-rtmp: Debian's nginx + libnginx-mod-rtmp (own config in a temp dir: `live on; hls on;
  hls_fragment 2s;`, other HLS settings at their defaults, the HLS directory served by the same
  nginx over http with CORS), fed by ffmpeg -re publishing a lavfi testsrc encoded with libx264
  -tune zerolatency (1 s GOP) over RTMP; the page plays stream.m3u8 with hls.js defaults
  (lowLatencyMode on too: it changes nothing for a playlist without parts).

After playback has advanced --play seconds, the figure is the median of hls.js `latency` (its
live-edge delay: playlist edge + playlist age - currentTime) over the last 3 s of reports.
Rounds alternate ours/nginx/nginx/ours...
"""
import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('hls_browser_test',
                                              os.path.join(HERE, '..', 'browser', 'hls_browser_test.py'))
bt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bt)


def log(*args):
    print('[browser-latency]', *args, flush=True)


def start_ours(work, port, args):
    out_dir = os.path.join(work, 'ours')
    os.makedirs(out_dir)
    desc = (f'hlsadaptivesink name=hls location={out_dir} http-address=127.0.0.1 http-port={port} '
            f'segment-format=fmp4 low-latency=true target-duration=2000000000 '
            f'part-duration={args.part_ms * 1000000} '
            'videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 '
            '! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=30 '
            '! video/x-h264,profile=baseline ! h264parse ! hls.video_0')
    log('ours: gst-launch-1.0 -e', desc)
    proc = subprocess.Popen(['gst-launch-1.0', '-e', '-q'] + desc.split(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return [proc], '/master.m3u8'


def start_nginx_rtmp(work, port, args):
    nginx = shutil.which('nginx') or '/usr/sbin/nginx'
    module = '/usr/lib/nginx/modules/ngx_rtmp_module.so'
    for path, pkg in ((nginx, 'nginx'), (module, 'libnginx-mod-rtmp')):
        if not os.path.exists(path):
            sys.exit(f'FAIL: {path} not found (Debian package {pkg})')
    if shutil.which('ffmpeg') is None:
        sys.exit('FAIL: ffmpeg not found')
    d = os.path.join(work, 'nginx')
    hls_dir = os.path.join(d, 'hls')
    os.makedirs(hls_dir)
    os.makedirs(os.path.join(d, 'tmp'))
    rtmp_port = bt.free_port()
    conf = os.path.join(d, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f'''load_module {module};
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp_port};
    application live {{ live on; record off; hls on; hls_path {hls_dir}; hls_fragment {args.nginx_fragment}; }}
  }}
}}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
  server {{
    listen 127.0.0.1:{port};
    root {hls_dir};
    location / {{ add_header Access-Control-Allow-Origin * always; add_header Cache-Control no-cache always; }}
  }}
}}
''')
    server = subprocess.Popen([nginx, '-p', d + '/', '-c', conf, '-e', os.path.join(d, 'error.log')],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        if server.poll() is not None:
            sys.exit('FAIL: nginx exited: ' + server.stderr.read())
        try:
            socket.create_connection(('127.0.0.1', rtmp_port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit('FAIL: nginx-rtmp did not listen')
            time.sleep(0.1)
    cmd = ['ffmpeg', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi',
           '-i', 'testsrc=size=640x360:rate=30', '-c:v', 'libx264', '-tune', 'zerolatency', '-preset', 'ultrafast',
           '-b:v', '800k', '-g', '30', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
           '-f', 'flv', f'rtmp://127.0.0.1:{rtmp_port}/live/stream']
    log('nginx-rtmp:', ' '.join(cmd))
    publisher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
    return [publisher, server], '/stream.m3u8'


def measure(kind, args, hlsjs, work):
    reports = bt.Reports()
    page_server = bt.start_page_server(hlsjs, reports)
    port = bt.free_port()
    procs, playlist = (start_ours if kind == 'ours' else start_nginx_rtmp)(work, port, args)
    browser = None
    try:
        if not bt.wait_for_url(port, playlist, 30, procs[-1]):
            sys.exit(f'FAIL: {kind}: {playlist} not served within 30 s')
        time.sleep(3)  # a couple of segments, as the browser test does
        src = f'http://127.0.0.1:{port}{playlist}'
        url = f'http://127.0.0.1:{page_server.server_address[1]}/player.html?src={src}&ll=1'
        browser = bt.start_chromium(url, os.path.join(work, 'profile-' + kind))
        deadline = time.monotonic() + args.timeout
        start = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            for proc in procs:
                if proc.poll() is not None:
                    sys.exit(f'FAIL: {kind}: a process exited: {proc.args}\n{proc.stderr.read()[-2000:]}')
            items = reports.snapshot()
            if not items:
                continue
            if items[-1].get('fatal'):
                sys.exit(f'FAIL: {kind}: fatal player error {items[-1]["fatal"]}')
            playing = [r for r in items if r.get('currentTime', 0) > 0]
            if playing and start is None:
                start = playing[0]['currentTime']
            if start is not None and items[-1]['currentTime'] - start >= args.play:
                last6 = items[-6:]
                lat = [r['latency'] for r in last6 if isinstance(r.get('latency'), (int, float))]
                if not lat:
                    sys.exit(f'FAIL: {kind}: hls.js reported no latency')
                return {'server': kind, 'latency_s': statistics.median(lat), 'latency_min_s': min(lat),
                        'latency_max_s': max(lat), 'target_latency_s': items[-1].get('targetLatency'),
                        'played_s': items[-1]['currentTime'] - start,
                        'errors': items[-1].get('errors')}
        sys.exit(f'FAIL: {kind}: playback did not advance {args.play} s within {args.timeout} s; '
                 f'last report {json.dumps(reports.snapshot()[-1:] or None)}')
    finally:
        bt.stop(browser, 'chromium')
        for proc in procs:
            bt.stop(proc, 'server', signal.SIGINT if kind == 'ours' else signal.SIGTERM)
        page_server.shutdown()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rounds', type=int, default=2, help='rounds per server (alternating)')
    p.add_argument('--play', type=float, default=20, help='seconds of playback before reading the delay')
    p.add_argument('--timeout', type=float, default=90)
    p.add_argument('--part-ms', type=int, default=500, help='ours: LL-HLS part duration')
    p.add_argument('--nginx-fragment', default='2s', help='nginx-rtmp hls_fragment')
    p.add_argument('--json')
    args = p.parse_args()
    hlsjs = bt.ensure_hlsjs()
    results = []
    order = []
    for i in range(args.rounds):
        order += ['ours', 'nginx-rtmp'] if i % 2 == 0 else ['nginx-rtmp', 'ours']
    for kind in order:
        work = tempfile.mkdtemp(prefix='hls-latency-')
        try:
            r = measure(kind, args, hlsjs, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f'{kind:10}: hls.js latency {r["latency_s"]:.2f} s (min {r["latency_min_s"]:.2f}, max '
            f'{r["latency_max_s"]:.2f}), target latency {r["target_latency_s"]}, played {r["played_s"]:.1f} s, '
            f'errors {r["errors"]}')
        results.append(r)
    for kind in ('ours', 'nginx-rtmp'):
        vals = [r['latency_s'] for r in results if r['server'] == kind]
        log(f'{kind:10}: median live-edge delay {statistics.median(vals):.2f} s over {len(vals)} rounds {vals}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
