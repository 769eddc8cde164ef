#!/usr/bin/env python3
"""Headless-browser HLS playback test.

Starts a live GStreamer pipeline that writes HLS (hlsadaptivesink with its built-in HTTP server,
or stock hlssink2 served by hls_serve_dir as a baseline), serves a page with hls.js (installed
from npm with the committed package-lock.json) from a tiny Python HTTP server, opens it in
Debian's chromium --headless, and reads the page's reports (POSTed to /report). Passes when
video.currentTime advances by at least --min-advance seconds with no fatal hls.js error, and
prints the live-edge delay (hls.js `latency`) the player settles at.
"""
import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(*args):
    print('[browser-test]', *args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ensure_hlsjs():
    dist = os.path.join(HERE, 'node_modules', 'hls.js', 'dist', 'hls.min.js')
    if not os.path.exists(dist):
        npm = shutil.which('npm')
        if npm is None:
            sys.exit('FAIL: npm not found (Debian packages nodejs npm; scripts/install-deps.sh)')
        log('installing hls.js with npm ci in', HERE)
        subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=HERE, check=True, timeout=600)
    if not os.path.exists(dist):
        sys.exit('FAIL: npm ci did not install ' + dist)
    return dist


class Reports:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, item):
        item['at'] = time.monotonic()
        with self.lock:
            self.items.append(item)

    def snapshot(self):
        with self.lock:
            return list(self.items)


def start_page_server(hlsjs_path, reports):
    page = open(os.path.join(HERE, 'player_test.html'), 'rb').read()
    script = open(hlsjs_path, 'rb').read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = self.path.split('?')[0]
            if path == '/player.html':
                body, ctype = page, 'text/html; charset=utf-8'
            elif path == '/hls.min.js':
                body, ctype = script, 'text/javascript'
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = min(int(self.headers.get('Content-Length', '0')), 1 << 20)
            data = self.rfile.read(length)
            try:
                reports.add(json.loads(data))
            except ValueError:
                pass
            self.send_response(204)
            self.end_headers()

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


LADDER = [(640, 360, 800), (320, 180, 300), (960, 540, 1500)]


def encoder(width, height, kbps):
    # Key frames every second so segments (and the variants' boundaries) can be cut at 1 s.
    return (f'videoscale ! video/x-raw,width={width},height={height} '
            f'! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max=30 '
            f'! video/x-h264,profile=baseline ! h264parse')


def video_branch(args):
    return 'videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=30/1 ! ' + encoder(*LADDER[0])


def audio_branch():
    return ('audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 '
            '! avenc_aac bitrate=96000 ! aacparse')


def start_nginx(work, port):
    """Debian's nginx as an HTTP origin: WebDAV PUT/DELETE in, GET out with CORS."""
    nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
    if nginx is None:
        sys.exit('FAIL: nginx not found (Debian package nginx)')
    root = os.path.join(work, 'nginx')
    os.makedirs(os.path.join(root, 'www'))
    os.makedirs(os.path.join(root, 'tmp'))
    conf = os.path.join(root, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f'''daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {root}/tmp/body; proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi; uwsgi_temp_path {root}/tmp/uwsgi; scgi_temp_path {root}/tmp/scgi;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/iso.segment m4s; video/mp4 mp4; }}
  server {{
    listen 127.0.0.1:{port};
    root {root}/www;
    location / {{
      dav_methods PUT DELETE;
      create_full_put_path on;
      client_max_body_size 64m;
      add_header Access-Control-Allow-Origin * always;
      add_header Cache-Control no-cache always;
    }}
  }}
}}
''')
    proc = subprocess.Popen([nginx, '-p', root + '/', '-c', conf, '-e', os.path.join(root, 'error.log')],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit('FAIL: nginx exited: ' + proc.stderr.read())
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return proc, os.path.join(root, 'access.log')
        except OSError:
            time.sleep(0.1)
    sys.exit('FAIL: nginx did not start')


def start_pipeline(args, out_dir, http_port):
    gst_launch = shutil.which('gst-launch-1.0')
    if gst_launch is None:
        sys.exit('FAIL: gst-launch-1.0 not found (gstreamer1.0-tools)')
    if args.source == 'hlssink2':
        desc = (f'{video_branch(args)} ! hlssink2 location={out_dir}/seg%05d.ts '
                f'playlist-location={out_dir}/index.m3u8 target-duration={args.target_duration} '
                f'playlist-length=6 max-files=12')
    else:
        fmt = 'fmp4' if args.format == 'fmp4' else 'mpegts'
        # Uploading: a short window so old segments get deleted on the origin during the test.
        sink_output = (f'upload-location=http://127.0.0.1:{args.upload_port}/live/ playlist-length=3 max-files=1 '
                       if args.upload_port
                       else f'http-address=127.0.0.1 http-port={http_port} ')
        desc = (f'hlsadaptivesink name=hls location={out_dir} {sink_output}'
                f'segment-format={fmt} target-duration={args.target_duration * 1000000000} '
                f'low-latency={"true" if args.low_latency else "false"} '
                'videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 '
                '! tee name=raw ')
        for index in range(args.variants):
            desc += f'raw. ! queue ! {encoder(*LADDER[index])} ! hls.video_{index} '
        if args.audio:
            desc += f'{audio_branch()} ! hls.audio_0 '
    log('pipeline:', desc)
    return subprocess.Popen([gst_launch, '-e', '-q'] + desc.split(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def start_chromium(url, profile_dir):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium is None:
        sys.exit('FAIL: chromium not found (Debian package chromium)')
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--disable-extensions', '--disable-dev-shm-usage', '--mute-audio', '--autoplay-policy=no-user-gesture-required',
             f'--user-data-dir={profile_dir}', '--remote-debugging-port=0', url]
    log('chromium', url)
    return subprocess.Popen([chromium] + flags, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def stop(proc, name, sig=signal.SIGTERM, wait=5):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def wait_for_url(port, path, timeout, pipeline):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pipeline.poll() is None:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
                if s.recv(16).startswith(b'HTTP/1.1 200'):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--source', choices=['hlsadaptivesink', 'hlssink2'], default='hlsadaptivesink')
    p.add_argument('--format', choices=['mpegts', 'fmp4'], default='mpegts')
    p.add_argument('--low-latency', action='store_true')
    p.add_argument('--audio', action='store_true')
    p.add_argument('--variants', type=int, default=1, choices=[1, 2, 3], help='video variants (hlsadaptivesink)')
    p.add_argument('--upload', action='store_true',
                   help='hlsadaptivesink PUTs to a local nginx WebDAV origin; the player reads from nginx')
    p.add_argument('--min-blocking-reloads', type=int, default=0,
                   help='fail unless hls.js made at least this many _HLS_msn playlist requests')
    p.add_argument('--serve-dir', help='hls_serve_dir binary (for --source hlssink2)')
    p.add_argument('--target-duration', type=int, default=2, help='seconds')
    p.add_argument('--min-advance', type=float, default=8.0, help='seconds of playback required')
    p.add_argument('--timeout', type=float, default=60.0)
    p.add_argument('--max-latency', type=float, default=0.0, help='fail above this live-edge delay (0: print only)')
    args = p.parse_args()

    hlsjs = ensure_hlsjs()
    work = tempfile.mkdtemp(prefix='hls-browser-')
    out_dir = os.path.join(work, 'hls')
    os.makedirs(out_dir)
    reports = Reports()
    page_server = start_page_server(hlsjs, reports)
    pipeline = serve = browser = nginx = None
    args.upload_port = 0
    ok = False
    try:
        http_port = free_port()
        if args.upload:
            args.upload_port = free_port()
            nginx, access_log = start_nginx(work, args.upload_port)
        pipeline = start_pipeline(args, out_dir, http_port)
        if args.upload:
            http_port = args.upload_port
            playlist = '/live/master.m3u8'
        elif args.source == 'hlssink2':
            serve = subprocess.Popen([args.serve_dir, out_dir, '0'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            line = serve.stdout.readline().split()
            if len(line) != 2 or line[0] != 'PORT':
                sys.exit('FAIL: hls_serve_dir did not start')
            http_port = int(line[1])
            playlist = '/index.m3u8'
        else:
            playlist = '/master.m3u8'  # hlsadaptivesink's multivariant playlist (playlist-name default)
        if not wait_for_url(http_port, playlist, 30, pipeline):
            out = ''
            if pipeline.poll() is not None:
                out = pipeline.stdout.read()
            sys.exit(f'FAIL: {playlist} not served on port {http_port} within 30 s (pipeline exit {pipeline.poll()})\n{out}')
        # Let a couple of segments exist so the player starts on a live window.
        time.sleep(args.target_duration * 1.5)
        src = f'http://127.0.0.1:{http_port}{playlist}'
        url = f'http://127.0.0.1:{page_server.server_address[1]}/player.html?src={src}&ll={"1" if args.low_latency else "0"}'
        browser = start_chromium(url, os.path.join(work, 'profile'))

        deadline = time.monotonic() + args.timeout
        start_time = None
        advance = 0.0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if pipeline.poll() is not None:
                sys.exit('FAIL: pipeline exited:\n' + pipeline.stdout.read())
            if browser.poll() is not None:
                sys.exit('FAIL: chromium exited:\n' + browser.stderr.read()[-3000:])
            items = reports.snapshot()
            if not items:
                continue
            last = items[-1]
            if last.get('fatal'):
                sys.exit(f'FAIL: fatal player error: {last["fatal"]}; errors: {last.get("errors")}')
            playing = [r for r in items if r.get('currentTime', 0) > 0]
            if playing and start_time is None:
                start_time = playing[0]['currentTime']
                log(f'playback started at currentTime {start_time:.2f} '
                    f'({playing[0]["at"] - items[0]["at"]:.1f} s after the first report); hls.js {last.get("hlsVersion")}')
            if start_time is not None:
                advance = last['currentTime'] - start_time
                if advance >= args.min_advance:
                    ok = True
                    break
        items = reports.snapshot()
        events = [e for r in items for e in r.get('events', [])]
        last = items[-1] if items else {}
        log('player events:', events)
        log('non-fatal errors:', last.get('errors'))
        if not ok:
            sys.exit(f'FAIL: currentTime advanced {advance:.2f} s, wanted {args.min_advance} s within {args.timeout} s; '
                     f'last report: {json.dumps(last)}')
        latencies = [r['latency'] for r in items[-6:] if isinstance(r.get('latency'), (int, float))]
        behind_edge = [r['liveSyncPosition'] - r['currentTime'] for r in items[-6:]
                       if isinstance(r.get('liveSyncPosition'), (int, float))]
        latency = statistics.median(latencies) if latencies else float('nan')
        log(f'PASS: currentTime advanced {advance:.2f} s; live-edge delay (hls.latency) {latency:.2f} s; '
            f'liveSyncPosition - currentTime {statistics.median(behind_edge) if behind_edge else float("nan"):.2f} s; '
            f'target latency {last.get("targetLatency")}; low-latency mode {last.get("lowLatencyMode")}; '
            f'levels {last.get("levels")}; blocking reloads {last.get("blockingReloads")}')
        if not latencies:
            sys.exit('FAIL: hls.js reported no latency figure')
        expected_levels = args.variants if args.source == 'hlsadaptivesink' else 1
        if last.get('levels') != expected_levels:
            sys.exit(f'FAIL: hls.js sees {last.get("levels")} levels, expected {expected_levels}')
        blocking = (last.get('blockingReloads') or {}).get('count', 0)
        if blocking < args.min_blocking_reloads:
            sys.exit(f'FAIL: {blocking} blocking playlist reloads (_HLS_msn), wanted >= {args.min_blocking_reloads}')
        if args.upload:
            # The uploader's ordering, seen from the origin: no GET of a file that was not there.
            with open(access_log) as f:
                lines = f.read().splitlines()
            gets = [l for l in lines if '"GET ' in l and 'Chrome' in l]  # the player's, not our polling
            missing = [l for l in gets if '" 404 ' in l]
            puts = [l for l in lines if '"PUT ' in l]
            deletes = [l for l in lines if '"DELETE ' in l]
            log(f'origin: {len(puts)} PUTs, {len(deletes)} DELETEs, {len(gets)} GETs, {len(missing)} GETs answered 404')
            if missing:
                sys.exit('FAIL: player asked the origin for files that were not uploaded:\n' + '\n'.join(missing[:10]))
            if not deletes:
                sys.exit('FAIL: no DELETE of old segments reached the origin')
        if args.max_latency > 0 and latency > args.max_latency:
            sys.exit(f'FAIL: live-edge delay {latency:.2f} s above {args.max_latency} s')
    finally:
        stop(browser, 'chromium')
        if serve is not None and serve.poll() is None:
            serve.stdin.close()
            serve.wait(timeout=5)
        stop(pipeline, 'pipeline', signal.SIGINT)
        stop(nginx, 'nginx')
        page_server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
