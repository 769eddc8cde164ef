#!/usr/bin/env python3
"""Publish-to-display latency in headless chromium: whepserversink (WebRTC) and, with --hls,
hlsadaptivesink LL-HLS played by hls.js, measured the same way on the same published stream.

Everything runs in a network namespace of the script's own with only `lo` (unshare -n as root,
else unshare -rn):

- publisher: this script draws 1280x720 I420 frames at 30 fps; each carries in its top band a
  32-bit marker, the wall-clock time (CLOCK_REALTIME, ms mod 2^32) at which the frame was made,
  as 32 blocks of 40x40 px (white = 1) and below them the inverted blocks (a check). The frames
  go raw into `ffmpeg` (stdin) which encodes them with libx264 -tune zerolatency (no B-frames,
  2 s GOP, --kbps) with AAC from a sine and publishes FLV over RTMP, as a streaming tool does;
- server: one `gst-launch-1.0` with the real path: `rtmpserversrc ! rtmpchunkdemux`, video
  `h264parse` (passthrough) and audio `avdec_aac ! opusenc` into `whepserversink
  ice-addresses=127.0.0.1`; with --hls also the same H.264 and AAC into `hlsadaptivesink`
  (fMP4, low-latency, target 2 s, parts --part-ms, live-server's defaults), same HTTP port;
- page (served by this script on loopback, driven over DevTools): WHEP (RTCPeerConnection,
  recvonly video + audio, POST, answer) or hls.js (lowLatencyMode) into a muted <video>. For every
  presented frame (requestVideoFrameCallback) the band is drawn on a 32x2 canvas and the marker
  read; latency = performance.timeOrigin + expectedDisplayTime - marker (the page and the
  publisher read the same machine's wall clock). For WebRTC the callback's receiveTime also gives
  publish-to-receive.

After --warmup s of playback, --seconds s of frames; p50/p95/max over the distinct frames read
(a frame whose check blocks do not match is counted as unreadable, not measured).
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

from bench_procs import free_port, require, stop  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, '..', 'browser')
sys.path.insert(0, BROWSER_DIR)
import cdp  # noqa: E402

W, H, FPS = 1280, 720, 30
BITS, BLOCK = 32, 40
KEY = 'bench'




def log(*args):
    print('[whep-latency]', *args, flush=True)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


class Publisher:
    """Marker frames drawn at 30 fps into ffmpeg's stdin."""

    def __init__(self, rtmp_url, kbps, audio=True, interleave_us=10000000):
        self.y_rest = bytes([128]) * (W * (H - 2 * BLOCK))
        self.chroma = bytes([128]) * (W * H // 2)
        self.white = bytes([235]) * BLOCK
        self.black = bytes([16]) * BLOCK
        # -thread_queue_size 1: with two inputs ffmpeg reads each in a thread of its own into a
        # queue (8 packets by default), room for up to 267 ms of raw frames on the publisher's
        # side. (Runs with 1 still showed the offset described in docs/benchmarks.md.)
        cmd = [require('ffmpeg', 'ffmpeg'), '-hide_banner', '-loglevel', 'error',
               '-thread_queue_size', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', f'{W}x{H}', '-r', str(FPS), '-i', 'pipe:0',
               # Audio not -re: ffmpeg reads it up to the video's timestamps, so the paced video
               # never waits in ffmpeg's input queue for audio (which would add a fixed delay).
               *(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'] if audio else []),
               '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0',
               '-g', str(2 * FPS), '-b:v', f'{kbps}k', '-maxrate', f'{kbps}k', '-bufsize', f'{kbps}k',
               '-pix_fmt', 'yuv420p', *(['-c:a', 'aac', '-b:a', '128k'] if audio else []), '-max_interleave_delta', str(interleave_us), '-f', 'flv', rtmp_url]
        log('publisher: marker frames |', ' '.join(cmd))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.stopped = False
        self.frames = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def frame(self, ms):
        row_bits = b''.join(self.white if (ms >> (BITS - 1 - i)) & 1 else self.black for i in range(BITS))
        row_check = b''.join(self.black if (ms >> (BITS - 1 - i)) & 1 else self.white for i in range(BITS))
        return row_bits * BLOCK + row_check * BLOCK + self.y_rest + self.chroma

    def run(self):
        start = time.monotonic()
        n = 0
        try:
            while not self.stopped:
                due = start + n / FPS
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -2 / FPS:  # behind (ffmpeg starting): go on from now, no burst
                    start = time.monotonic() - n / FPS
                ms = int(time.time() * 1000) & 0xffffffff
                self.proc.stdin.write(self.frame(ms))
                self.proc.stdin.flush()
                n += 1
                self.frames = n
        except (BrokenPipeError, ValueError):
            pass

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=2)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        stop(self.proc)


class Probe:
    """--probe: ffmpeg plays the server's RTMP relay of the stream (no buffering, one decoder
    thread) and hands the top band of each frame to this script, which reads the marker:
    publish-to-server-relay latency, next to the page's figures."""

    def __init__(self, url):
        cmd = [require('ffmpeg', 'ffmpeg'), '-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer',
               '-flags', 'low_delay', '-probesize', '32768', '-analyzeduration', '0', '-threads', '1', '-i', url,
               '-map', '0:v:0', '-vf', f'crop={W}:{2 * BLOCK}:0:0,format=gray', '-f', 'rawvideo', 'pipe:1']
        log('probe:', ' '.join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.samples = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        size = W * 2 * BLOCK
        while True:
            band = self.proc.stdout.read(size)
            if len(band) < size:
                return
            now = time.time() * 1000
            value, ok = 0, True
            for i in range(BITS):
                a = band[W * (BLOCK // 2) + i * BLOCK + BLOCK // 2]
                b = band[W * (BLOCK * 3 // 2) + i * BLOCK + BLOCK // 2]
                if abs(a - b) < 100:
                    ok = False
                    break
                value = value * 2 + (1 if a > b else 0)
            if ok:
                d = (int(now) % 4294967296 - value) % 4294967296 + now % 1
                self.samples.append(d - 4294967296 if d >= 2147483648 else d)


PAGE = r'''<!doctype html><meta charset="utf-8"><title>latency</title>
<script src="/hls.min.js"></script>
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script>
const BITS = 32, BLOCK = 40;
window.samples = []; window.unreadable = 0; window.log = [];
// Drawn 1:1 and read at the blocks' centres (a downscaling drawImage filters across blocks).
const canvas = document.createElement('canvas'); canvas.width = BITS * BLOCK; canvas.height = 2 * BLOCK;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
const video = document.getElementById('v');
function onFrame(now, meta) {
  try {
    ctx.drawImage(video, 0, 0, BITS * BLOCK, 2 * BLOCK, 0, 0, BITS * BLOCK, 2 * BLOCK);
    const top = ctx.getImageData(0, BLOCK / 2, BITS * BLOCK, 1).data;
    const bottom = ctx.getImageData(0, BLOCK * 3 / 2, BITS * BLOCK, 1).data;
    const px = [];
    for (let i = 0; i < BITS; i++) px.push(top[4 * (i * BLOCK + BLOCK / 2)]);
    for (let i = 0; i < BITS; i++) px.push(bottom[4 * (i * BLOCK + BLOCK / 2)]);
    let value = 0, ok = true;
    for (let i = 0; i < BITS; i++) {
      const a = px[i], b = px[BITS + i];
      if (Math.abs(a - b) < 100) { ok = false; break; }
      value = value * 2 + (a > b ? 1 : 0);
    }
    const wall = (t) => performance.timeOrigin + t;
    if (ok) {
      // Marker and clock mod 2^32 ms; signed, so a sample before its marker shows as negative.
      const lat = (t) => { const d = ((Math.floor(wall(t)) % 4294967296) - value + 4294967296) % 4294967296 + (wall(t) % 1);
                           return d >= 2147483648 ? d - 4294967296 : d; };
      const s = {marker: value, display_ms: lat(meta.expectedDisplayTime), callback_ms: lat(now),
                 presented: meta.presentedFrames};
      if (meta.receiveTime !== undefined) s.receive_ms = lat(meta.receiveTime);
      window.samples.push(s);
    } else {
      if (window.unreadable++ % 300 == 0) window.log.push('unreadable: ' + px.join(','));
    }
  } catch (e) { window.log.push(String(e)); }
  video.requestVideoFrameCallback(onFrame);
}
video.requestVideoFrameCallback(onFrame);
window.clockSkew = () => Date.now() - (performance.timeOrigin + performance.now());
window.startWhep = async (url) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.ontrack = (e) => { if (e.track.kind === 'video') { video.srcObject = new MediaStream([e.track]); video.play(); } };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') done();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') done(); });
    setTimeout(done, 2000);
  });
  const res = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  const text = await res.text();
  if (res.status !== 201) return {status: res.status, text};
  await pc.setRemoteDescription({type: 'answer', sdp: text});
  return {status: res.status};
};
window.startHls = (url) => {
  const hls = new Hls({lowLatencyMode: true});
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (e, d) => { window.log.push(d.type + ' ' + d.details + (d.fatal ? ' fatal' : '')); });
  hls.loadSource(url); hls.attachMedia(video);
  video.play().catch(e => window.log.push(String(e)));
  return {status: 'started'};
};
window.webrtcStats = async () => {
  const out = {};
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(out, {framesDecoded: r.framesDecoded,
      framesDropped: r.framesDropped, packetsLost: r.packetsLost, jitterBufferDelay: r.jitterBufferDelay,
      jitterBufferEmittedCount: r.jitterBufferEmittedCount, freezeCount: r.freezeCount});
  });
  return out;
};
</script>
'''


def start_page_server(hlsjs):
    page = PAGE.encode()
    script = open(hlsjs, 'rb').read() if hlsjs else b''

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            path = self.path.split('?')[0]
            body, ctype = {'/latency.html': (page, 'text/html; charset=utf-8'),
                           '/hls.min.js': (script, 'text/javascript')}.get(path, (None, None))
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def server_pipeline(rtmp_port, http_port, args, hls_dir):
    relay = ''
    if args.probe:
        # The same FLV relayed (RTMP) to the probe: what reached the server, before whepserversink.
        relay = (f'! tee name=flv flv. ! queue ! flvrelaysink address=127.0.0.1 port={rtmp_port} application=live '
                 f'stream-key={KEY} sync=false flv. ')
    p = (f'rtmpserversrc address=127.0.0.1 port={rtmp_port} application=live stream-key={KEY} {args.server_props} '
         f'{relay}! rtmpchunkdemux name=d '
         'd.video_0 ! h264parse ! tee name=vt '
         'vt. ! queue ! w.video ')
    if not args.no_audio:
        p += ('d.audio_0 ! aacparse ! tee name=at '
              'at. ! queue ! avdec_aac ! audioconvert ! audioresample ! opusenc ! w.audio ')
    p += (f'whepserversink name=w http-address=127.0.0.1 http-port={http_port} stream-key={KEY} '
          'ice-addresses=127.0.0.1 ')
    if hls_dir:
        p += ('vt. ! queue ! hls.video_0 ' + ('' if args.no_audio else 'at. ! queue ! hls.audio_0 ') +
              f'hlsadaptivesink name=hls location={hls_dir} http-address=127.0.0.1 http-port={http_port} '
              f'http-prefix=/live/{KEY} segment-format=fmp4 low-latency=true target-duration=2000000000 '
              f'part-duration={args.part_ms * 1000000}')
    return p


def wait_until(what, predicate, timeout, procs=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                err = proc.stderr.read()[-3000:] if proc.stderr else ''
                sys.exit(f'FAIL: {proc.args[0]} exited while waiting for {what}: {err}')
        time.sleep(0.1)
    sys.exit(f'FAIL: {what}: not within {timeout} s')


def http_ok(port, path):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
            s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
            return s.recv(16).startswith(b'HTTP/1.1 200')
    except OSError:
        return False


def listening(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


def measure(page, kind, url, args, procs):
    page.evaluate('window.samples = []; window.unreadable = 0; 0')
    result = page.evaluate(f'startWhep({json.dumps(url)})' if kind == 'whep' else f'startHls({json.dumps(url)})')
    if kind == 'whep' and result.get('status') != 201:
        sys.exit(f'FAIL: WHEP POST: {result}')
    end = time.monotonic() + 30
    while page.evaluate('window.samples.length') == 0:
        if time.monotonic() > end:
            diag = page.evaluate('({unreadable: window.unreadable, log: window.log, width: video.videoWidth, '
                                 'currentTime: video.currentTime, readyState: video.readyState, '
                                 'ice: window.pc && pc.iceConnectionState})')
            sys.exit(f'FAIL: {kind}: no frame with a marker within 30 s: {diag}')
        time.sleep(0.2)
    time.sleep(args.warmup)
    first = page.evaluate('window.samples.length')
    unreadable0 = page.evaluate('window.unreadable')
    time.sleep(args.seconds)
    samples = page.evaluate(f'window.samples.slice({first})')
    unreadable = page.evaluate('window.unreadable') - unreadable0
    extra = page.evaluate('webrtcStats()') if kind == 'whep' else {
        'hls_latency_s': page.evaluate('hls.latency'), 'hls_target_latency_s': page.evaluate('hls.targetLatency')}
    errors = page.evaluate('window.log')
    # Distinct frames (a frame presented twice is counted once, at its first presentation).
    seen = {}
    for s in samples:
        seen.setdefault(s['marker'], s)
    frames = list(seen.values())
    if len(frames) < 100:
        sys.exit(f'FAIL: {kind}: only {len(frames)} frames read in {args.seconds} s ({unreadable} unreadable); '
                 f'page log {errors[-5:]}')
    out = {'path': kind, 'frames': len(frames), 'unreadable': unreadable,
           'frames_per_s': len(frames) / args.seconds, 'page_errors': errors[-5:], **extra}
    for field in ('display_ms', 'receive_ms', 'callback_ms'):
        vals = [f[field] for f in frames if field in f]
        if vals:
            out[field] = {'p50': percentile(vals, 50), 'p95': percentile(vals, 95), 'max': max(vals),
                          'min': min(vals)}
    return out


def run(args):
    gst = require('gst-launch-1.0', 'gstreamer1.0-tools')
    chromium = shutil.which('chromium') or shutil.which('chromium-browser') or sys.exit(
        'FAIL: chromium not found (Debian package chromium)')
    hlsjs = None
    if args.hls:
        hlsjs = os.path.join(BROWSER_DIR, 'node_modules', 'hls.js', 'dist', 'hls.min.js')
        if not os.path.exists(hlsjs):
            sys.exit(f'FAIL: {hlsjs} missing: run `npm ci` in tests/browser (needs npm) before entering the namespace')
    work = tempfile.mkdtemp(prefix='whep-latency-')
    procs = []
    publisher = None
    results = []
    try:
        rtmp_port, http_port = free_port(), free_port()
        hls_dir = os.path.join(work, 'hls') if args.hls else None
        desc = server_pipeline(rtmp_port, http_port, args, hls_dir)
        log('server: gst-launch-1.0 -e', desc)
        server = subprocess.Popen([gst, '-e', '-q'] + desc.split(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(server)
        wait_until('the RTMP port listening', lambda: listening(rtmp_port), 15, procs)
        publisher = Publisher(f'rtmp://127.0.0.1:{rtmp_port}/live/{KEY}', args.kbps, not args.no_audio, args.max_interleave_delta)
        procs.append(publisher.proc)
        probe = None
        if args.probe:
            time.sleep(2)
            probe = Probe(f'rtmp://127.0.0.1:{rtmp_port}/live/{KEY}')
            procs.append(probe.proc)
        if args.hls:
            wait_until('the LL-HLS playlist', lambda: http_ok(http_port, f'/live/{KEY}/master.m3u8'), 30, procs)
        page_server = start_page_server(hlsjs)
        page_url = f'http://127.0.0.1:{page_server.server_address[1]}/latency.html'
        flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage',
                 '--mute-audio', '--autoplay-policy=no-user-gesture-required',
                 '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream',
                 '--disable-features=WebRtcHideLocalIpsWithMdns', '--remote-debugging-port=0', page_url]
        browser = page = None

        def start_browser(n):
            profile = os.path.join(work, f'profile-{n}')
            proc = subprocess.Popen([chromium, f'--user-data-dir={profile}'] + flags, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(proc)
            return proc, cdp.Page.connect(profile, page_url, timeout=30)
        order = []
        for i in range(args.rounds):
            kinds = ['whep', 'hls'] if args.hls else ['whep']
            order += kinds if i % 2 == 0 else kinds[::-1]
        for n, kind in enumerate(order):
            if n == 0 or args.fresh_browser:
                if browser:
                    page.close()
                    procs.remove(browser)
                    stop(browser)
                browser, page = start_browser(n)
            else:  # a fresh page (and peer connection / player) per round
                page.call('Page.navigate', url=page_url)
                time.sleep(1)

            def page_ready():
                try:
                    return page.evaluate('typeof window.startWhep') == 'function'
                except cdp.CdpError:
                    return False
            wait_until('the page', page_ready, 15, procs)
            url = (f'http://127.0.0.1:{http_port}/live/{KEY}/whep' if kind == 'whep'
                   else f'http://127.0.0.1:{http_port}/live/{KEY}/master.m3u8')
            skew = page.evaluate('clockSkew()')
            probe_first = len(probe.samples) if probe else 0
            r = measure(page, kind, url, args, procs)
            if probe:
                vals = probe.samples[probe_first:]
                if vals:
                    r['probe_relay_ms'] = {'p50': percentile(vals, 50), 'p95': percentile(vals, 95), 'max': max(vals),
                                           'min': min(vals), 'frames': len(vals)}
                    log(f'probe (publish to the server\'s RTMP relay, decoded by ffmpeg): p50 '
                        f'{r["probe_relay_ms"]["p50"]:.0f} ms, p95 {r["probe_relay_ms"]["p95"]:.0f} ms over {len(vals)} frames')
            r['page_clock_skew_ms'] = [skew, page.evaluate('clockSkew()')]
            d = r['display_ms']
            log(f'{kind}: {r["frames"]} frames, publish-to-display p50 {d["p50"]:.0f} ms, p95 {d["p95"]:.0f} ms, '
                f'max {d["max"]:.0f} ms (min {d["min"]:.0f})'
                + (f'; publish-to-receive p50 {r["receive_ms"]["p50"]:.0f} ms' if 'receive_ms' in r else '')
                + f'; {r["unreadable"]} unreadable; Date.now()-timeOrigin-now() {r["page_clock_skew_ms"]} ms')
            log(json.dumps(r))
            results.append(r)
        page.close()
        return results
    finally:
        if publisher:
            publisher.stop()
        for proc in reversed(procs):
            stop(proc, signal.SIGINT if proc.args[0] == gst else signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seconds', type=float, default=20, help='measured seconds per round')
    p.add_argument('--warmup', type=float, default=5, help='seconds of playback before measuring')
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--kbps', type=int, default=2500, help='publisher video bitrate')
    p.add_argument('--hls', action='store_true', help='also LL-HLS (hls.js) on the same stream')
    p.add_argument('--part-ms', type=int, default=333, help='LL-HLS part duration (live-server default 333)')
    p.add_argument('--max-interleave-delta', type=int, default=0,
                   help='ffmpeg -max_interleave_delta (us) of the publisher (ffmpeg default 10000000; 0 = the runs in docs/benchmarks.md)')
    p.add_argument('--probe', action='store_true',
                   help='also read the marker from the server\'s RTMP relay (flvrelaysink) with ffmpeg: where the time goes')
    p.add_argument('--fresh-browser', action='store_true', help='a new chromium process per round (else a new page)')
    p.add_argument('--no-audio', action='store_true', help='video only (publisher and server)')
    p.add_argument('--server-props', default='', help='more rtmpserversrc properties, e.g. read-interval=0')
    p.add_argument('--json')
    p.add_argument('--in-namespace', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
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
    for kind in ('whep', 'hls'):
        rs = [r for r in results if r['path'] == kind]
        if rs:
            log(f'{kind}: p50 ' + ', '.join(f'{r["display_ms"]["p50"]:.0f}' for r in rs) + ' ms; p95 '
                + ', '.join(f'{r["display_ms"]["p95"]:.0f}' for r in rs) + ' ms; max '
                + ', '.join(f'{r["display_ms"]["max"]:.0f}' for r in rs) + ' ms (per round)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
