#!/usr/bin/env python3
"""live-server --webrtc: a stream with B-frames played by WebRTC (WHEP) from the start page.

Everything runs inside a network namespace of the test's own with only `lo` (unshare -n as
root, else unshare -rn), as browser_whep_play does: live-server --address 127.0.0.1 (so the
WHEP sink's ICE candidates are on 127.0.0.1), ffmpeg publishing a libx264 file WITH B-frames
(checked with ffprobe), and headless chromium (--allow-loopback-in-peer-connection
--use-fake-ui-for-media-stream --disable-features=WebRtcHideLocalIpsWithMdns).

As a person would: open "/", click the stream (HLS plays), tick "low latency (WebRTC)". Then:
- within 5 s of the tick (7 s when the WebRTC video is transcoded: it starts at the source's next
  keyframe, every 2 s here) chromium's getStats() shows video frames decoded and audio packets
  received (the page's WHEP client: recvonly video + audio, POST offer, answer applied);
- /api/streams shows viewers.webrtc 1 (and webrtc_viewers, urls.whep), /metrics
  live_stream_viewers{protocol="webrtc"} 1;
- unticking DELETEs the session: /api/streams shows 0 WebRTC viewers; ticking again 7.5 s later
  (with --ladder "" the transcode for WebRTC runs only while a session exists or an offer came in
  the last 5 s: it stopped in between) plays again, within the same bound;
- the server logged how the video reaches WebRTC: --ladder "" transcodes the B-frames away
  ("transcoded once ... bframes=0"), the default ladder plays its top rung.
--baseline: the publisher sends Constrained Baseline H.264 (no B-frames) and no ladder: the log
  says it passes through, and it plays as above (a new viewer starts at the source's next
  keyframe, every 1 s here).
--check-off: a second live-server without --webrtc answers 404 on /live/NAME/whep for a live
stream and lists no whep URL.
--mislabelled: the same file with its AVC sequence header saying Baseline (profile_idc 66) but
its frames still High with B-frames: live-server passes it to whepserversink, which refuses the
B-frames with an error; WebRTC stops for that stream only (logged, no WHEP endpoint: 404), the
stream goes on (publishing, HLS segments still written) and ends cleanly at SIGINT.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

SOURCE_ROOT = os.environ.get('LIVE_SOURCE_ROOT') or sys.exit('FAIL: LIVE_SOURCE_ROOT is not set: run through meson test')
BUILD_ROOT = os.environ.get('LIVE_BUILD_ROOT') or sys.exit('FAIL: LIVE_BUILD_ROOT is not set: run through meson test')
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'interop'))
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'browser'))
import harness as H  # noqa: E402
import cdp  # noqa: E402

PLAYER_DIR = os.path.join(SOURCE_ROOT, 'examples', 'web')
SERVER_BIN = os.path.join(BUILD_ROOT, 'examples', 'live-server')
OFFER_FILE = os.path.join(SOURCE_ROOT, 'tests', 'data', 'whep', 'chromium-offer.sdp')
KEY = 'cam'
MAX_PLAY_S = 5.0
SOURCE_GOP_S = 2.0  # test_media(): 50 frames at 25 fps


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def ensure_hlsjs():
    """examples/web/node_modules/hls.js (the page needs it), installed before the namespace."""
    dist = os.path.join(PLAYER_DIR, 'node_modules', 'hls.js', 'dist', 'hls.min.js')
    if not os.path.exists(dist):
        npm = H.require_tool('npm')
        subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], cwd=PLAYER_DIR, check=True,
                       timeout=300)
    H.check(os.path.exists(dist), f'npm ci did not install {dist}')


def baseline_media():
    """Like test_media() but libx264 -profile:v baseline (no B-frames), cached in the build."""
    path = os.path.join(H.media_cache_dir(), 'whep-live-baseline-smptebars-640x360-25-60-g25.flv')
    if not os.path.exists(path):
        tmp = path + f'.tmp{os.getpid()}.flv'
        r = subprocess.run([H.require_tool('ffmpeg'), '-v', 'error', '-y', '-f', 'lavfi', '-i',
                            'smptebars=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
                            '-t', '60', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-g', '25',
                            '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', tmp],
                           capture_output=True, timeout=120)
        H.check(r.returncode == 0, f'ffmpeg could not make test media: {r.stderr.decode(errors="replace")}')
        os.replace(tmp, path)
    return path


def test_media():
    if '--baseline' in sys.argv:
        return baseline_media()
    return H.make_test_flv('whep-live', width=640, height=360, fps=25, seconds=60, pattern='smptebars', bframes=2,
                           gop=50)


def mislabelled_media(src):
    """A copy of the FLV whose avcC says profile_idc 66 (Constrained Baseline), frames unchanged."""
    out = os.path.join(os.path.dirname(src), 'mislabelled-' + os.path.basename(src))
    data = bytearray(open(src, 'rb').read())
    at = int.from_bytes(data[5:9], 'big') + 4  # FLV header, PreviousTagSize0
    while at + 11 <= len(data):
        kind, size = data[at], int.from_bytes(data[at + 1:at + 4], 'big')
        body = at + 11
        if kind == 9 and data[body] & 0x0f == 7 and data[body + 1] == 0:  # AVC sequence header
            avcc = body + 5
            H.check(data[avcc] == 1, f'{src}: no avcC version 1')
            data[avcc + 1], data[avcc + 2] = 66, 0xe0  # profile_idc, constraint_set0..2
            with open(out, 'wb') as f:
                f.write(data)
            return out
        at = body + size + 4
    raise H.TestFailure(f'{src}: no AVC sequence header')


def has_b_frames(path):
    video = H.MediaFile(path).packets['video']
    return sum(1 for a, b in zip(video, video[1:]) if b.pts < a.pts)


def request(port, method, path, body=None, headers=None):
    req = urllib.request.Request(f'http://127.0.0.1:{port}{path}', data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(errors='replace')
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors='replace')


def api_stream(port):
    status, body = request(port, 'GET', '/api/streams')
    H.check(status == 200, f'/api/streams: {status}')
    return next((s for s in json.loads(body)['streams'] if s['name'] == KEY), None)


def start_server(h, name, extra):
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn(name, [SERVER_BIN, '--address', '127.0.0.1', '--rtmp-port', str(rtmp_port),
                            '--http-port', str(http_port), '--output-dir', h.path(f'{name}-hls'),
                            '--status-interval', '0'] + extra, env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    return server, rtmp_port, http_port


def publish(h, name, rtmp_port, http_port, server, media):
    H.ffmpeg_publish(h, name, media, f'rtmp://127.0.0.1:{rtmp_port}/live/{KEY}')

    def live():
        H.check(server.alive(), f'live-server exited ({server.returncode()}):\n{H.tail(server.log())}')
        s = api_stream(http_port)
        return s if s and s['publishing'] and s['video_codec'] and s['audio_codec'] else None
    return H.wait_for(live, 20, f'stream {KEY} live in /api/streams', interval=0.1)


def start_chromium(h, url, profile):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    H.check(chromium, "required tool 'chromium' is not installed (Debian package chromium)")
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage',
             '--mute-audio', '--autoplay-policy=no-user-gesture-required',
             '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream',
             # Host candidates as IP addresses: no mDNS responder runs in the namespace.
             '--disable-features=WebRtcHideLocalIpsWithMdns',
             '--window-size=1280,1300', f'--user-data-dir={profile}', '--remote-debugging-port=0', url]
    return h.spawn('chromium', [chromium] + flags)


STATS_JS = r'''(async () => {
  const pc = window.liveWebrtc.pc();
  if (!pc) return null;
  const out = {frames: 0, audioPackets: 0, state: pc.connectionState, session: window.liveWebrtc.session(),
               status: document.getElementById('player-status').textContent};
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') { out.frames = r.framesDecoded || 0; out.width = r.frameWidth;
      out.height = r.frameHeight; }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') out.audioPackets = r.packetsReceived || 0;
  });
  return out;
})()'''


def check_off(h, media):
    """live-server without --webrtc: no WHEP endpoint for a live stream."""
    server, rtmp_port, http_port = start_server(h, 'live-server-off', ['--ladder', ''])
    stream = publish(h, 'ffmpeg-off', rtmp_port, http_port, server, media)
    H.check('whep' not in stream['urls'] and stream['viewers'].get('webrtc') == 0,
            f'without --webrtc the API lists WebRTC: {stream}')
    offer = open(OFFER_FILE, newline='').read()
    status, body = request(http_port, 'POST', f'/live/{KEY}/whep', offer.encode(), {'Content-Type': 'application/sdp'})
    H.check(status == 404, f'POST to /live/{KEY}/whep without --webrtc: {status} {body!r}')
    _, metrics = request(http_port, 'GET', '/metrics')
    H.check('protocol="webrtc"' not in metrics, 'without --webrtc /metrics has a webrtc series')
    h.log(f'without --webrtc: POST /live/{KEY}/whep -> {status}')
    return server


def mislabelled(h):
    media = mislabelled_media(test_media())
    server, rtmp_port, http_port = start_server(h, 'live-server', ['--webrtc', '--ladder', ''])
    publish(h, 'ffmpeg', rtmp_port, http_port, server, media)
    H.wait_for(lambda: 'WebRTC passes the source H.264 through' in server.log(), 5,
               'live-server takes the mislabelled H.264 for Baseline')
    H.wait_for(lambda: 'WebRTC stopped' in server.log(), 10, 'live-server logs that WebRTC stopped')
    line = next(l for l in server.log().splitlines() if 'WebRTC stopped' in l)
    h.log(f'server: {line}')
    H.check('B-frames' in line and 'go on' in line, f'the log line does not say why and what goes on: {line}')
    stream = api_stream(http_port)
    H.check(stream and 'whep' not in stream['urls'], f'the stream still lists a WHEP URL: {stream}')
    offer = open(OFFER_FILE, newline='').read()
    status, _ = request(http_port, 'POST', f'/live/{KEY}/whep', offer.encode(), {'Content-Type': 'application/sdp'})
    H.check(status == 404, f'POST to the stopped WHEP endpoint: {status}')
    segments = stream['segments']
    later = H.wait_for(lambda: (lambda s: s if s and s['publishing'] and s['segments'] >= segments + 2 else None)(
        api_stream(http_port)), 15, 'two more HLS segments after WebRTC stopped', interval=0.2)
    H.check(server.alive() and 'failed in' not in server.log(), f'the stream failed:\n{H.tail(server.log())}')
    h.log(f'stream goes on: segments {segments} -> {later["segments"]}, publishing {later["publishing"]}')
    server.signal(signal.SIGINT)
    rc = h.wait_exit(server, 20, 'SIGINT')
    H.check(rc == 0 and f'stream {KEY} ended' in server.log(), f'live-server exited with {rc} after SIGINT:\n{H.tail(server.log())}')


def body(h):
    H.check(os.path.exists(SERVER_BIN), f'{SERVER_BIN} was not built')
    if '--mislabelled' in sys.argv:
        return mislabelled(h)
    ladder = arg('--ladder', '')
    media = test_media()
    b_frames = has_b_frames(media)
    if '--baseline' in sys.argv:
        H.check(b_frames == 0, f'{media} has B-frames')
    else:
        H.check(b_frames > 0, f'{media} has no B-frames (presentation order = decode order)')
    h.log(f'test media {media}: {b_frames} frames presented before the one decoded ahead of them (B-frames)')
    off = check_off(h, media) if '--check-off' in sys.argv else None

    server, rtmp_port, http_port = start_server(h, 'live-server', ['--webrtc', '--ladder', ladder,
                                                                   '--player-dir', PLAYER_DIR])
    stream = publish(h, 'ffmpeg', rtmp_port, http_port, server, media)
    published_at = time.monotonic()
    H.check(stream['urls'].get('whep') == f'/live/{KEY}/whep', f'urls.whep in /api/streams: {stream["urls"]}')
    expected_log = ('passes the source H.264 through (constrained-baseline' if '--baseline' in sys.argv else
                    'transcoded once to H.264 without B-frames' if ladder == '' else 'WebRTC plays the')
    H.wait_for(lambda: expected_log in server.log(), 5, f'live-server logs {expected_log!r}')
    h.log('server: ' + next(l for l in server.log().splitlines() if 'WebRTC' in l and KEY in l))

    page_url = f'http://127.0.0.1:{http_port}/'
    profile = h.path('profile')
    browser = start_chromium(h, page_url, profile)
    page = cdp.Page.connect(profile, page_url, timeout=30)
    try:
        H.wait_for(lambda: page.evaluate(f'!!document.querySelector(\'[data-stream="{KEY}"] button.play\')'), 10,
                   'the page lists the stream', interval=0.1)
        card = page.evaluate(f'document.querySelector(\'[data-stream="{KEY}"]\').innerText')
        H.check(f'http://127.0.0.1:{http_port}/live/{KEY}/whep' in card and 'WebRTC 0' in card,
                f'the card does not show the WHEP URL and WebRTC viewers:\n{card}')
        page.click(f'[data-stream="{KEY}"] button.play')
        H.wait_for(lambda: page.evaluate('!document.getElementById("webrtc-label").hidden'), 5,
                   'the low latency (WebRTC) switch is shown', interval=0.1)
        # Past the source's first GOP (2 s): a transcode (--ladder "") has gone idle by then and
        # must start again for the viewer (at the next source keyframe).
        time.sleep(max(0.0, published_at + 3 - time.monotonic()))

        # A transcoded stream (--ladder "") starts a viewer at the source's next keyframe: up to
        # one GOP more.
        max_play_s = MAX_PLAY_S + (SOURCE_GOP_S if ladder == '' and '--baseline' not in sys.argv else 0)

        def tick_and_play(what):
            page.click('#webrtc')
            ticked = time.monotonic()
            last = {}

            def playing():
                nonlocal last
                last = page.evaluate(STATS_JS) or {}
                return last if last.get('frames', 0) > 0 and last.get('audioPackets', 0) > 0 else None
            try:
                got = H.wait_for(playing, max_play_s, f'{what}: chromium decodes WebRTC video frames and gets audio '
                                 f'packets', interval=0.05)
            except H.TestFailure as e:
                raise H.TestFailure(f'{e}; last getStats: {last}')
            h.log(f'{what}: WebRTC playing {time.monotonic() - ticked:.2f} s after the switch: {got}')
            return got
        got = tick_and_play('first session')
        frames = got['frames']
        more = H.wait_for(lambda: (lambda s: s if s and s['frames'] >= frames + 25 else None)(page.evaluate(STATS_JS)),
                          5, '25 more frames decoded', interval=0.1)
        h.log(f'still playing: {more}')
        one = H.wait_for(lambda: (lambda s: s if s['viewers']['webrtc'] == 1 else None)(api_stream(http_port)), 3,
                         '1 WebRTC viewer in /api/streams', interval=0.1)
        H.check(one['webrtc_viewers'] == 1, f'webrtc_viewers: {one}')
        _, metrics = request(http_port, 'GET', '/metrics')
        H.check(f'live_stream_viewers{{stream="{KEY}",protocol="webrtc"}} 1' in metrics,
                'no live_stream_viewers{protocol="webrtc"} 1 in /metrics:\n' +
                '\n'.join(l for l in metrics.splitlines() if 'viewers' in l))
        h.log(f'api: viewers {one["viewers"]}, webrtc_viewers {one["webrtc_viewers"]}')

        page.click('#webrtc')  # off: the page DELETEs its session and plays HLS again
        zero = H.wait_for(lambda: (lambda s: s if s['viewers']['webrtc'] == 0 else None)(api_stream(http_port)), 5,
                          '0 WebRTC viewers in /api/streams after the switch-off (DELETE)', interval=0.1)
        H.check(zero['webrtc_viewers'] == 0, f'webrtc_viewers: {zero}')
        H.check(page.evaluate('window.liveWebrtc.pc() === null'), 'the page still has its RTCPeerConnection')
        H.wait_for(lambda: 'webrtc viewer left' in server.log(), 3, 'live-server logs the WebRTC viewer leaving')
        joined = [l for l in server.log().splitlines() if 'webrtc viewer' in l]
        h.log('server: ' + ' | '.join(joined))
        H.check('joined (1 WebRTC viewers)' in joined[0] and '0 WebRTC viewers' in joined[-1], f'log lines: {joined}')
        session = got['session'].rsplit('/', 1)[-1]
        H.check(session not in server.log(), 'the WHEP session id (a capability) is in the log')
        H.check(server.alive(), f'live-server exited:\n{H.tail(server.log())}')
        h.log('after the switch-off: 0 WebRTC viewers in /api/streams')
        # No session and no offer for 5 s, plus a source GOP: the transcode (--ladder "") has stopped.
        time.sleep(7.5)
        again = tick_and_play('second session')
        frames = again['frames']
        H.wait_for(lambda: (lambda s: s if s and s['frames'] >= frames + 25 else None)(page.evaluate(STATS_JS)),
                   5, 'second session: 25 more frames decoded', interval=0.1)
    finally:
        page.close()
    browser.kill()
    for proc in (server, off):
        if proc is None:
            continue
        proc.signal(signal.SIGINT)
        rc = h.wait_exit(proc, 20, 'SIGINT')
        H.check(rc == 0, f'{proc.name} exited with {rc} after SIGINT:\n{H.tail(proc.log())}')


def main():
    if '--in-namespace' not in sys.argv:
        # Before the namespace (which has no network): the page's hls.js and the test media.
        ensure_hlsjs()
        test_media()
        unshare = H.require_tool('unshare')
        H.require_tool('ip')
        argv = [unshare, '-n'] if os.geteuid() == 0 else [unshare, '-r', '-n']
        r = subprocess.run(argv + ['--', sys.executable] + sys.argv + ['--in-namespace'])
        sys.exit(r.returncode)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout.splitlines()
    if len(links) != 1 or ': lo:' not in links[0]:
        sys.exit(f'FAIL: the network namespace is not lo only: {links}')
    H.main('live-server-whep', body, deadline_s=80)


if __name__ == '__main__':
    main()
