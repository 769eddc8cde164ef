#!/usr/bin/env python3
"""browser_live_server_page: live-server's start page in headless chromium, used as a person would.

live-server runs with scripts/run-server.sh's flags (--player-dir examples/web, default ladder and
LL-HLS) on free loopback ports; two ffmpeg publishers send visibly different pictures (SMPTE bars
and testsrc2) to two keys at once. chromium opens "/" under a host name that is not 127.0.0.1
(--host-resolver-rules), and the test, through the DevTools protocol, checks that:
- the page lists both streams, with HLS, HTTP-FLV and RTMP URLs on the host name it was opened with;
- a mouse click on one stream plays it: video.currentTime advances, the quality menu lists Auto
  plus each variant, the shown live-edge delay is a number, and the picture is that stream's
  (the bars' colours read back from the video frame);
- nothing was loaded from another origin (hls.js comes from the server itself).
A screenshot is kept as <build>/tests/browser/live-server-page.png.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

SOURCE_ROOT = os.environ.get('LIVE_SOURCE_ROOT') or sys.exit('FAIL: LIVE_SOURCE_ROOT is not set: run through meson test')
BUILD_ROOT = os.environ.get('LIVE_BUILD_ROOT') or sys.exit('FAIL: LIVE_BUILD_ROOT is not set: run through meson test')
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'interop'))
import harness as H  # noqa: E402
import cdp  # noqa: E402

HOST = 'live-server.test'  # mapped to 127.0.0.1 inside chromium only
PLAYER_DIR = os.path.join(SOURCE_ROOT, 'examples', 'web')
STREAMS = {'bars': 'smptebars', 'testsrc': 'testsrc2'}  # key -> lavfi picture
PLAY = 'bars'
MIN_ADVANCE_S = 6.0


def ensure_hlsjs():
    """examples/web/node_modules/hls.js, installed as scripts/run-server.sh does."""
    dist = os.path.join(PLAYER_DIR, 'node_modules', 'hls.js', 'dist', 'hls.min.js')
    if not os.path.exists(dist):
        npm = H.require_tool('npm')
        subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], cwd=PLAYER_DIR, check=True,
                       timeout=300)
    H.check(os.path.exists(dist), f'npm ci did not install {dist}')


def http_get(port, path):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=3) as r:
        return r.read()


def start_chromium(h, url, profile):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    H.check(chromium, "required tool 'chromium' is not installed (Debian package chromium)")
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--disable-extensions', '--disable-dev-shm-usage', '--mute-audio',
             '--autoplay-policy=no-user-gesture-required', f'--host-resolver-rules=MAP {HOST} 127.0.0.1',
             '--window-size=1280,1300', f'--user-data-dir={profile}', '--remote-debugging-port=0', url]
    return h.spawn('chromium', [chromium] + flags)


# The colour of the leftmost and rightmost top bars of the playing video (a canvas read-back).
BAR_COLOURS_JS = '''(() => {
  const v = document.getElementById('video');
  if (!v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const at = (fx, fy) => Array.from(g.getImageData(Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1).data.slice(0, 3));
  return {left: at(1 / 14, 0.3), right: at(13 / 14, 0.3), size: [c.width, c.height]};
})()'''

PLAYER_STATE_JS = '''(() => {
  const v = document.getElementById('video');
  return {time: v.currentTime, paused: v.paused, latency: document.getElementById('latency').textContent,
          status: document.getElementById('player-status').textContent,
          playing: document.getElementById('playing-name').textContent,
          quality: [...document.getElementById('quality').options].map(o => o.text)};
})()'''


def near(rgb, want, tolerance=45):
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, want))


def body(h):
    ensure_hlsjs()
    server_bin = os.path.join(BUILD_ROOT, 'examples', 'live-server')
    H.check(os.path.exists(server_bin), f'{server_bin} was not built')
    media = {key: H.make_test_flv(f'page-{key}', width=640, height=360, fps=25, seconds=60, pattern=pattern,
                                  tone=440 if key == 'bars' else 880, gop=25)
             for key, pattern in STREAMS.items()}
    rtmp_port, http_port = H.free_port(), H.free_port()
    server = h.spawn('live-server', [server_bin, '--address', '127.0.0.1', '--rtmp-port', str(rtmp_port),
                                     '--http-port', str(http_port), '--output-dir', h.path('hls'),
                                     '--player-dir', PLAYER_DIR], env=H.gst_env())
    h.wait_listening(rtmp_port, server)
    h.wait_listening(http_port, server)
    for key, src in media.items():
        H.ffmpeg_publish(h, f'ffmpeg-{key}', src, f'rtmp://127.0.0.1:{rtmp_port}/live/{key}')

    def both_playlists():
        H.check(server.alive(), f'live-server exited ({server.returncode()})')
        try:
            return all(b'#EXT-X-STREAM-INF' in http_get(http_port, f'/live/{k}/master.m3u8') for k in STREAMS)
        except OSError:
            return False
    H.wait_for(both_playlists, 20, 'both streams\' master playlists served', interval=0.2)

    page_url = f'http://{HOST}:{http_port}/'
    profile = h.path('profile')
    browser = start_chromium(h, page_url, profile)
    page = cdp.Page.connect(profile, page_url)
    try:
        listed = H.wait_for(lambda: page.evaluate(
            '(() => { const n = [...document.querySelectorAll("[data-stream]")].map(e => e.dataset.stream);'
            ' return n.length === 2 ? n : null; })()'), 10, 'the page lists two streams', interval=0.25)
        H.check(sorted(listed) == sorted(STREAMS), f'the page lists {listed}, expected {sorted(STREAMS)}')
        h.log(f'page lists {listed}')
        card_text = page.evaluate(f'document.querySelector(\'[data-stream="{PLAY}"]\').innerText')
        for url in (f'http://{HOST}:{http_port}/live/{PLAY}/master.m3u8', f'http://{HOST}:{http_port}/live/{PLAY}.flv',
                    f'rtmp://{HOST}:{rtmp_port}/live/{PLAY}'):
            H.check(url in card_text, f'the {PLAY} card does not show {url}:\n{card_text}')
        for label in ('H.264', 'AAC', '640×360', 'kbit/s', 'RTMP 0 · HTTP-FLV 0'):
            H.check(label in card_text, f'the {PLAY} card does not show {label!r}:\n{card_text}')

        page.click(f'[data-stream="{PLAY}"] button.play')
        started = H.wait_for(lambda: (lambda s: s if s['time'] > 0 else None)(page.evaluate(PLAYER_STATE_JS)), 30,
                             'playback starts after the click', interval=0.25)
        h.log(f'playing: {started}')
        end = time.monotonic() + 30
        state = started
        while time.monotonic() < end and state['time'] - started['time'] < MIN_ADVANCE_S:
            H.check(browser.alive(), f'chromium exited:\n{H.tail(browser.log())}')
            time.sleep(0.5)
            state = page.evaluate(PLAYER_STATE_JS)
        advance = state['time'] - started['time']
        H.check(advance >= MIN_ADVANCE_S,
                f'currentTime advanced {advance:.2f} s in 30 s, wanted {MIN_ADVANCE_S} s; state {state}')
        H.check(state['playing'] == PLAY, f'the player shows {state["playing"]!r}, clicked {PLAY!r}')
        shown = state['latency']
        try:
            latency = float(shown.split()[0])
        except ValueError:
            raise H.TestFailure(f'the shown live-edge delay {shown!r} is not a number')
        H.check(0 < latency < 10 and shown.endswith(' s'), f'the shown live-edge delay is {shown!r}')
        # Default ladder on a 640x360 source: the source (360p) and the 426x240 rung.
        H.check(state['quality'][0].startswith('Auto') and len(state['quality']) == 3 and
                any(q.startswith('360p') for q in state['quality']) and
                any(q.startswith('240p') for q in state['quality']),
                f'quality menu {state["quality"]}, expected Auto, 360p and 240p')
        bars = page.evaluate(BAR_COLOURS_JS)
        H.check(bars and near(bars['left'], (192, 192, 192)) and near(bars['right'], (0, 0, 192)),
                f'the picture is not the SMPTE bars of stream {PLAY}: {bars}')
        foreign = page.evaluate('performance.getEntriesByType("resource").map(e => e.name)'
                                '.filter(n => !n.startsWith(location.origin))')
        H.check(not foreign, f'the page loaded from other origins: {foreign}')
        shot = os.path.join(BUILD_ROOT, 'tests', 'browser', 'live-server-page.png')
        page.screenshot(shot)
        h.log(f'PASS figures: currentTime advanced {advance:.2f} s, shown live-edge delay {shown}, '
              f'quality menu {state["quality"]}, bar colours {bars["left"]} / {bars["right"]}')
        h.log(f'screenshot: {shot}')
    finally:
        page.close()
    browser.kill()
    server.signal(signal.SIGINT)
    rc = h.wait_exit(server, 20, 'SIGINT')
    H.check(rc == 0, f'live-server exited with {rc} after SIGINT:\n{H.tail(server.log())}')


if __name__ == '__main__':
    H.main('browser-live-server-page', body, deadline_s=100)
