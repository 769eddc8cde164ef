#!/usr/bin/env python3
"""whepserversink tests, with the plugin just built and a real WHEP client.

--case play: a network namespace of the test's own with only `lo` (unshare -n as root, else
  unshare -rn), the pipeline (videotestsrc ! x264enc bframes=0 ! w.video, audiotestsrc ! opusenc
  ! w.audio, whepserversink ice-addresses=127.0.0.1) and headless chromium inside it. The page
  (driven over DevTools, cdp.py) makes an RTCPeerConnection with recvonly video and audio, POSTs
  its offer across origins (CORS preflight), applies the answer; within 5 s getStats() must show
  frames decoded and audio packets received; DELETE ends the session and the element's stats say
  0 viewers. Around it, the HTTP answers: malformed SDP 400, wrong Content-Type 415, an offer
  without H.264 406, unknown session 404 (and a repeated DELETE), unknown stream 404, PATCH 405,
  GET 405, OPTIONS 204 with CORS, a 100 KiB body 413.
--case bframes: x264enc with B-frames into the element: the pipeline stops with an error that
  says B-frames and how to transcode.
--case ice-tcp: in a namespace with only `lo` as well, a GStreamer WHEP viewer
  (tests/bench/whep_load_client, webrtcbin) with UDP off in its ICE agent offers TCP candidates
  only; the answer must carry the element's passive TCP candidates, ICE must connect and video
  (30 fps) and audio must arrive over it for 3 s; DELETE ends the session.
--case sessions: 200 sessions opened (POST of a chromium offer) and closed (DELETE) in a row:
  the pipeline's thread count back where it was after the first 20 and VmRSS within 8 MiB of it.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import time

SOURCE_ROOT = os.environ.get('LIVE_SOURCE_ROOT') or sys.exit('FAIL: LIVE_SOURCE_ROOT is not set: run through meson test')
BUILD_ROOT = os.environ.get('LIVE_BUILD_ROOT') or sys.exit('FAIL: LIVE_BUILD_ROOT is not set: run through meson test')
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'interop'))
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests', 'browser'))
import harness as H  # noqa: E402
import cdp  # noqa: E402

PIPELINE_TOOL = os.path.join(BUILD_ROOT, 'tests', 'browser', 'whep_pipeline')
LOAD_CLIENT = os.path.join(BUILD_ROOT, 'tests', 'bench', 'whep_load_client')
OFFER_FILE = os.path.join(SOURCE_ROOT, 'tests', 'data', 'whep', 'chromium-offer.sdp')
KEY = 'cam'
MAX_PLAY_S = 5.0
SESSIONS = 200
WARMUP = 20
RSS_BOUND_KIB = 8 * 1024


def av_pipeline(port, bframes=0, audio=True, extra=''):
    p = (f'videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! '
         f'x264enc tune=zerolatency bframes={bframes} key-int-max=60 speed-preset=ultrafast ! w.video ')
    if bframes:
        p = p.replace('tune=zerolatency ', '')  # zerolatency turns B-frames off
    if audio:
        p += 'audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! opusenc ! w.audio '
    return p + (f'whepserversink name=w http-address=127.0.0.1 http-port={port} stream-key={KEY} '
                f'ice-addresses=127.0.0.1 {extra}')


def start_pipeline(h, name, pipeline):
    H.check(os.path.exists(PIPELINE_TOOL), f'{PIPELINE_TOOL} is not built')
    stats = h.path(f'{name}-stats.txt')
    # Under ASan (build-asan) leak reports are off for this process: webrtcbin, libnice and the
    # DTLS library keep allocations for the process lifetime that LeakSanitizer would report as
    # ours. ASan errors still fail the test; the sessions case checks memory by VmRSS.
    proc = h.spawn(name, [PIPELINE_TOOL, stats] + pipeline.split(), env=H.gst_env(hosts_our_code=False))
    return proc, stats


def read_stats(path):
    """The element's stats structure as a dict of the fields we use."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    out = {}
    for field in text.rstrip(';').split(', ')[1:]:
        name, _, value = field.partition('=')
        value = value.split(')', 1)[-1]
        out[name.strip()] = value
    return out


def wait_for(what, predicate, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise H.TestFailure(f'{proc.name} exited while waiting for {what}:\n{H.tail(proc.log())}')
        time.sleep(0.05)
    raise H.TestFailure(f'{what}: not within {timeout} s')


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode(errors='replace')
    finally:
        conn.close()


def post_offer(port, sdp, path=f'/live/{KEY}/whep', content_type='application/sdp'):
    return request(port, 'POST', path, sdp.encode(), {'Content-Type': content_type})


def check_http_answers(h, port):
    offer = open(OFFER_FILE, newline='').read()
    endpoint = f'/live/{KEY}/whep'
    status, _, body = post_offer(port, 'v=0\r\nthis is not SDP\r\n')
    H.check(status == 400 and 'malformed SDP' in body, f'malformed SDP: {status} {body!r}')
    status, _, body = post_offer(port, offer, content_type='text/plain')
    H.check(status == 415 and 'application/sdp' in body, f'wrong Content-Type: {status} {body!r}')
    vp8 = '\r\n'.join(l for l in offer.split('\r\n') if 'H264' not in l)
    status, _, body = post_offer(port, vp8)
    H.check(status == 406 and 'H.264' in body, f'offer without H.264: {status} {body!r}')
    status, _, body = post_offer(port, offer, path=f'/live/other/whep')
    H.check(status == 404, f'offer for an unknown stream: {status} {body!r}')
    unknown = f'{endpoint}/{"0" * 32}'
    for _ in range(2):
        status, _, body = request(port, 'DELETE', unknown)
        H.check(status == 404, f'DELETE of an unknown session: {status} {body!r}')
    status, _, _ = request(port, 'DELETE', f'{endpoint}/not-a-session')
    H.check(status == 404, f'DELETE of a malformed session id: {status}')
    status, headers, _ = request(port, 'GET', endpoint)
    H.check(status == 405 and 'POST' in headers.get('allow', ''), f'GET of the endpoint: {status} {headers}')
    status, headers, _ = request(port, 'OPTIONS', endpoint, headers={
        'Origin': 'http://elsewhere.test', 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type'})
    H.check(status == 204 and headers.get('access-control-allow-origin') == '*'
            and 'POST' in headers.get('access-control-allow-methods', '')
            and 'content-type' in headers.get('access-control-allow-headers', '').lower(),
            f'OPTIONS preflight: {status} {headers}')
    status, _, _ = post_offer(port, 'v=0\r\n' + 'a=x\r\n' * 25000)
    H.check(status == 413, f'a 100 KiB offer: {status}')
    # A real session: Location, then PATCH 405, DELETE 200, again 404.
    status, headers, answer = post_offer(port, offer)
    H.check(status == 201, f'POST of chromium\'s offer: {status} {answer!r}')
    H.check(headers.get('content-type', '').startswith('application/sdp'), f'answer type: {headers}')
    location = headers.get('location', '')
    H.check(location.startswith(endpoint + '/') and len(location) == len(endpoint) + 33, f'Location: {location!r}')
    H.check(headers.get('access-control-allow-origin') == '*' and 'Location' in headers.get('access-control-expose-headers', ''),
            f'CORS headers of the answer: {headers}')
    candidates = [l for l in answer.splitlines() if l.startswith('a=candidate:')]
    H.check(candidates and all(' 127.0.0.1 ' in l for l in candidates),
            f'the answer holds candidates, on 127.0.0.1 only (ice-addresses):\n{answer}')
    video_pt = next(l.split()[3] for l in answer.splitlines() if l.startswith('m=video'))

    def fmtp(sdp, pt):
        line = next((l for l in sdp.splitlines() if l.startswith(f'a=fmtp:{pt} ')), '')
        return set(line.split(' ', 1)[1].split(';')) if line else set()
    H.check(fmtp(offer, video_pt) <= fmtp(answer, video_pt) and any('profile-level-id' in p for p in fmtp(answer, video_pt)),
            f'the answer keeps the offer\'s fmtp (profile-level-id) of payload type {video_pt}:\n{answer}')
    H.check('a=sendonly' in answer, 'the answer is send-only')
    status, _, _ = request(port, 'PATCH', location, b'a=candidate:x', {'Content-Type': 'application/trickle-ice-sdpfrag'})
    H.check(status == 405, f'PATCH: {status}')
    status, _, _ = request(port, 'DELETE', location)
    H.check(status == 200, f'DELETE of the session: {status}')
    status, _, _ = request(port, 'DELETE', location)
    H.check(status == 404, f'repeated DELETE: {status}')
    h.log('HTTP answers: 400 415 406 404 404 405 204 413 201 405 200 404 as expected')


PAGE_JS = r'''
window.whep = async (url) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === 'complete') done();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') done(); });
    setTimeout(done, 2000);
  });
  const res = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  const text = await res.text();
  if (res.status !== 201) return {status: res.status, text};
  window.session = new URL(res.headers.get('Location'), url).href;
  await pc.setRemoteDescription({type: 'answer', sdp: text});
  window.answered = performance.now();
  return {status: res.status, session: window.session};
};
window.playStats = async () => {
  const out = {frames: 0, audioPackets: 0, state: pc.connectionState, ice: pc.iceConnectionState,
               ms: Math.round(performance.now() - window.answered)};
  (await pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') { out.frames = r.framesDecoded || 0; out.width = r.frameWidth;
      out.videoPackets = r.packetsReceived; out.framesReceived = r.framesReceived; out.pli = r.pliCount; out.nack = r.nackCount; }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') out.audioPackets = r.packetsReceived || 0;
    if (r.type === 'transport') { out.transportBytes = r.bytesReceived; out.dtls = r.dtlsState; }
  });
  return out;
};
window.sdps = () => ({offer: pc.localDescription.sdp, answer: pc.remoteDescription.sdp});
'''


def case_play(h):
    port = H.free_port()
    gst, stats_path = start_pipeline(h, 'pipeline', av_pipeline(port))
    h.wait_listening(port, gst)
    check_http_answers(h, port)
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    H.check(chromium, "required tool 'chromium' is not installed (Debian package chromium)")
    profile = h.path('chromium-profile')
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage',
             '--mute-audio', '--autoplay-policy=no-user-gesture-required',
             '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream',
             # Host candidates as IP addresses: chromium hides them behind mDNS names otherwise,
             # and no mDNS responder runs in the namespace (the offer would have no candidate).
             '--disable-features=WebRtcHideLocalIpsWithMdns',
             f'--user-data-dir={profile}', '--remote-debugging-port=0', 'about:blank']
    h.spawn('chromium', [chromium] + flags)
    page = cdp.Page.connect(profile, 'about:blank', timeout=30)
    page.evaluate(PAGE_JS)
    url = f'http://127.0.0.1:{port}/live/{KEY}/whep'
    result = page.evaluate(f'whep({json.dumps(url)})')
    H.check(result and result.get('status') == 201, f'the page\'s WHEP POST: {result}')
    h.log(f'session {result["session"]}')
    h.log('answer: ' + ' | '.join(l for l in page.evaluate('sdps()')['answer'].splitlines()
                                 if l.startswith(('m=', 'a=ssrc', 'a=fmtp'))))
    started = time.monotonic()
    last = {}

    def playing():
        nonlocal last
        last = page.evaluate('playStats()')
        return last if last['frames'] > 0 and last['audioPackets'] > 0 else None
    try:
        got = wait_for('video frames decoded and audio packets received in chromium', playing, MAX_PLAY_S, gst)
    except H.TestFailure as e:
        sdps = page.evaluate('sdps()')
        raise H.TestFailure(f'{e}; last getStats: {last}; element stats: {read_stats(stats_path)}\n'
                            f'offer:\n{sdps["offer"]}\nanswer:\n{sdps["answer"]}')
    h.log(f'playing {time.monotonic() - started:.2f} s after the answer: {got}')
    wait_for('1 connected viewer in the element stats',
             lambda: (lambda s: s and s['viewers'] == '1' and s['viewers-connected'] == '1')(read_stats(stats_path)), 2, gst)
    # Keep playing a little: frames keep coming.
    frames = got['frames']
    more = wait_for('more frames', lambda: (lambda s: s if s['frames'] >= frames + 30 else None)(page.evaluate('playStats()')),
                    5, gst)
    h.log(f'still playing: {more}')
    status = page.evaluate('fetch(window.session, {method: "DELETE"}).then(r => r.status)')
    H.check(status == 200, f'DELETE from the page: {status}')
    done = wait_for('0 viewers in the element stats after DELETE',
                    lambda: (lambda s: s if s and s['viewers'] == '0' else None)(read_stats(stats_path)), 5, gst)
    h.log(f'element stats after DELETE: {done}')
    H.check(int(done['sessions-created']) == 2 and int(done['sessions-ended']) == 2, f'sessions counted: {done}')
    H.check(int(done['key-units-forwarded']) >= 1, f'a key unit was asked for the new viewer: {done}')
    H.check(gst.alive(), f'the pipeline still runs:\n{H.tail(gst.log())}')
    page.close()


def case_bframes(h):
    port = H.free_port()
    gst, _ = start_pipeline(h, 'pipeline', av_pipeline(port, bframes=2, audio=False))
    rc = gst.wait(20)
    H.check(rc is not None, f'the pipeline with B-frames still runs after 20 s:\n{H.tail(gst.log())}')
    log = gst.log()
    errors = [l for l in log.splitlines() if l.startswith('ERROR from w:')]
    H.check(rc == 1 and errors, f'exit {rc}, no error from whepserversink:\n{H.tail(log)}')
    H.check('B-frames' in errors[0] and 'bframes=0' in errors[0], f'the error does not say what is wrong: {errors[0]}')
    h.log(f'refused: {errors[0]}')


def case_ice_tcp(h):
    H.check(os.path.exists(LOAD_CLIENT), f'{LOAD_CLIENT} is not built')
    port = H.free_port()
    gst, stats_path = start_pipeline(h, 'pipeline', av_pipeline(port))
    h.wait_listening(port, gst)
    window = 3.0
    client = h.spawn('viewer', [LOAD_CLIENT, '--url', f'http://127.0.0.1:{port}/live/{KEY}/whep', '--viewers', '1',
                                '--audio', '--ice-tcp-only', '--ice-address', '127.0.0.1',
                                '--start-at', f'{time.time() + 4:.3f}', '--window', str(window)],
                     env=H.gst_env(hosts_our_code=False))
    rc = client.wait(40)
    H.check(rc == 0, f'the WHEP viewer exited with {rc}:\n{H.tail(client.log())}')
    lines = [l for l in client.log().splitlines() if l.startswith('{"viewers"')]
    H.check(lines, f'no report from the WHEP viewer:\n{H.tail(client.log())}')
    viewer = json.loads(lines[-1])['per_viewer'][0]
    h.log(f'viewer: {viewer}')
    H.check(viewer['status'] == 201, f'POST answered {viewer["status"]}: {viewer["error"]}')
    H.check(viewer['offer_udp'] == 0 and viewer['offer_tcp'] > 0,
            f'the viewer was to offer TCP candidates only: {viewer}')
    H.check(viewer['answer_tcp'] > 0, f'the answer carries no TCP candidate: {viewer}')
    H.check(viewer['connected'], 'ICE did not connect over TCP')
    # 30 fps video and 20 ms Opus frames: most of them within the window, over TCP only.
    H.check(viewer['frames'] >= 0.8 * 30 * window, f'{viewer["frames"]} video frames in {window} s over ICE-TCP')
    H.check(viewer['audio_packets'] >= 0.8 * 50 * window,
            f'{viewer["audio_packets"]} audio packets in {window} s over ICE-TCP')
    wait_for('0 viewers after the DELETE', lambda: (lambda s: s and s['viewers'] == '0')(read_stats(stats_path)), 5, gst)


def proc_status(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            name, _, value = line.partition(':')
            out[name] = value.strip()
    return int(out['VmRSS'].split()[0]), int(out['Threads'])


def case_sessions(h):
    port = H.free_port()
    gst, stats_path = start_pipeline(h, 'pipeline', av_pipeline(port, extra='max-viewers=2'))
    h.wait_listening(port, gst)
    offer = open(OFFER_FILE, newline='').read()
    endpoint = f'/live/{KEY}/whep'
    # max-viewers: the third at once gets 503.
    held = []
    for _ in range(2):
        status, headers, body = post_offer(port, offer)
        H.check(status == 201, f'POST: {status} {body!r}')
        held.append(headers['location'])
    status, _, body = post_offer(port, offer)
    H.check(status == 503 and 'maximum' in body, f'over max-viewers: {status} {body!r}')
    for location in held:
        H.check(request(port, 'DELETE', location)[0] == 200, 'DELETE')
    baseline = None
    started = time.monotonic()
    for i in range(SESSIONS):
        status, headers, body = post_offer(port, offer)
        H.check(status == 201, f'session {i}: POST {status} {body!r}')
        status, _, _ = request(port, 'DELETE', headers['location'])
        H.check(status == 200, f'session {i}: DELETE {status}')
        if i + 1 == WARMUP:
            wait_for('0 viewers', lambda: (lambda s: s and s['viewers'] == '0')(read_stats(stats_path)), 5, gst)
            baseline = proc_status(gst.pid)
            h.log(f'after {WARMUP} sessions: VmRSS {baseline[0]} KiB, {baseline[1]} threads')
    elapsed = time.monotonic() - started
    # Threads of ended sessions may take a moment to go.
    end_rss, end_threads = baseline

    def settled():
        nonlocal end_rss, end_threads
        end_rss, end_threads = proc_status(gst.pid)
        return end_threads <= baseline[1]
    try:
        wait_for('threads back to the baseline', settled, 10, gst)
    except H.TestFailure:
        raise H.TestFailure(f'{end_threads} threads after {SESSIONS} sessions, {baseline[1]} after {WARMUP}')
    h.log(f'after {SESSIONS} sessions in {elapsed:.1f} s: VmRSS {end_rss} KiB ({end_rss - baseline[0]:+d}), '
          f'{end_threads} threads')
    H.check(end_rss - baseline[0] <= RSS_BOUND_KIB,
            f'VmRSS grew {end_rss - baseline[0]} KiB over {SESSIONS - WARMUP} sessions (bound {RSS_BOUND_KIB} KiB)')
    stats = wait_for(f'0 viewers and {SESSIONS + 2} sessions in the element stats',
                     lambda: (lambda s: s if s and s['viewers'] == '0' and int(s['sessions-created']) == SESSIONS + 2
                              else None)(read_stats(stats_path)), 3, gst)
    H.check(int(stats['sessions-ended']) == SESSIONS + 2 and int(stats['viewers-refused']) == 1, f'stats: {stats}')


CASES = {'play': (case_play, 120), 'bframes': (case_bframes, 60), 'sessions': (case_sessions, 240),
         'ice-tcp': (case_ice_tcp, 60)}
IN_NAMESPACE = ('play', 'ice-tcp')  # a network namespace of their own with only lo


def main():
    case = sys.argv[sys.argv.index('--case') + 1]
    if case in IN_NAMESPACE and '--in-namespace' not in sys.argv:
        # Everything (pipeline, chromium, HTTP) in a network namespace with only lo.
        unshare = H.require_tool('unshare')
        H.require_tool('ip')
        argv = [unshare, '-n'] if os.geteuid() == 0 else [unshare, '-r', '-n']
        r = subprocess.run(argv + ['--', sys.executable] + sys.argv + ['--in-namespace'])
        sys.exit(r.returncode)
    if case in IN_NAMESPACE:
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        links = subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout.splitlines()
        if len(links) != 1 or ': lo:' not in links[0]:
            sys.exit(f'FAIL: the network namespace is not lo only: {links}')
    body, deadline = CASES[case]
    H.main(f'whep-{case}', body, deadline)


if __name__ == '__main__':
    main()
