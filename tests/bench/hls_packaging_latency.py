#!/usr/bin/env python3
"""HLS packaging latency of hlsadaptivesink.

Runs a live multi-variant pipeline (videotestsrc is-live ! tee ! N x x264enc tune=zerolatency
! hlsadaptivesink) with gst-launch-1.0 -m for --seconds, once per format, and collects the
`packaging-latency-us` field of the sink's `hls-playlist-updated` element messages: the sink's
own monotonic time from the arrival (in its chain function) of the buffer whose processing
completed a segment or part, to right after the rename of the playlist that lists it.
Prints p50/p99/max per format; --json writes them.
"""
import argparse
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LADDER = [(640, 360, 800), (320, 180, 300), (960, 540, 1500)]
FIELD = re.compile(r'hls-playlist-updated, .*?packaging-latency-us=\(gint64\)(\d+)')


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, len(sorted_values) * q // 100)]


def run(fmt, args, work):
    out_dir = os.path.join(work, fmt)
    os.makedirs(out_dir)
    desc = (f'hlsadaptivesink name=hls location={out_dir} segment-format={fmt} '
            f'low-latency={"true" if args.low_latency else "false"} '
            f'target-duration={args.target_duration * 1000000000} part-duration={args.part_ms * 1000000} '
            'videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! tee name=raw ')
    for i in range(args.variants):
        w, h, kbps = LADDER[i]
        desc += (f'raw. ! queue ! videoscale ! video/x-raw,width={w},height={h} '
                 f'! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max=30 '
                 f'! video/x-h264,profile=baseline ! h264parse ! hls.video_{i} ')
    if args.audio:
        desc += ('audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 '
                 '! avenc_aac bitrate=96000 ! aacparse ! hls.audio_0 ')
    print('[packaging]', fmt, 'gst-launch-1.0 -e -m', desc, flush=True)
    proc = subprocess.Popen(['gst-launch-1.0', '-e', '-m'] + desc.split(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    deadline = time.monotonic() + args.seconds
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                if line:
                    lines.append(line)
        if proc.poll() is not None:
            sys.exit(f'FAIL: pipeline exited early ({proc.returncode}):\n' + ''.join(lines[-30:]))
        os.killpg(proc.pid, signal.SIGINT)  # -e: EOS, then exit
        rest, _ = proc.communicate(timeout=30)
        lines.extend(rest.splitlines(True))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    samples = sorted(int(m.group(1)) for l in lines for m in [FIELD.search(l)] if m)
    if not samples:
        sys.exit('FAIL: no packaging-latency-us in the messages:\n' + ''.join(lines[-30:]))
    return {'format': fmt, 'variants': args.variants, 'audio': args.audio, 'low_latency': args.low_latency,
            'seconds': args.seconds, 'samples': len(samples), 'p50_ms': pct(samples, 50) / 1000,
            'p99_ms': pct(samples, 99) / 1000, 'max_ms': samples[-1] / 1000}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--formats', default='fmp4,mpegts')
    p.add_argument('--variants', type=int, default=3, choices=[1, 2, 3])
    p.add_argument('--audio', action='store_true', help='add an AAC track')
    p.add_argument('--no-low-latency', dest='low_latency', action='store_false')
    p.add_argument('--target-duration', type=int, default=2, help='seconds')
    p.add_argument('--part-ms', type=int, default=500)
    p.add_argument('--seconds', type=float, default=30)
    p.add_argument('--json')
    args = p.parse_args()
    if shutil.which('gst-launch-1.0') is None:
        sys.exit('FAIL: gst-launch-1.0 not found (gstreamer1.0-tools)')
    work = tempfile.mkdtemp(prefix='hls-packaging-')
    results = []
    try:
        for fmt in args.formats.split(','):
            r = run(fmt, args, work)
            print(f'[packaging] {fmt}: {r["samples"]} playlist writes, p50 {r["p50_ms"]:.2f} ms, '
                  f'p99 {r["p99_ms"]:.2f} ms, max {r["max_ms"]:.2f} ms', flush=True)
            results.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
