#!/bin/bash
# CPU of one live-server stream with and without --webrtc and no WebRTC viewer (why --webrtc is
# off by default, docs/operations.md): a 1280x720 30 fps libx264 (B-frames) 2.5 Mbit/s + AAC
# publish; live-server's CPU seconds (utime + stime, /proc/PID/stat) over 20 s after 5 s of
# warm-up, for --ladder "" and the default ladder, each without and with --webrtc.
# Usage (from the source root, after the build): tests/bench/live_server_webrtc_cpu.sh [BUILD]
set -euo pipefail
build=${1:-build}
work=$(mktemp -d /tmp/live-webrtc-cpu.XXXXXX)
export GST_PLUGIN_PATH=$PWD/$build/gst
ffmpeg -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 \
  -t 40 -c:v libx264 -preset veryfast -bf 2 -g 60 -b:v 2500k -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$work/src.flv"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
measure() {
  local label=$1; shift
  local rtmp http; rtmp=$(free_port); http=$(free_port)
  "$build/examples/live-server" --address 127.0.0.1 --rtmp-port "$rtmp" --http-port "$http" \
    --output-dir "$work/out" --status-interval 0 "$@" > "$work/$label.log" 2>&1 &
  local server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$rtmp") 2>/dev/null && break; sleep 0.1; done
  ffmpeg -hide_banner -loglevel error -re -i "$work/src.flv" -c copy -f flv "rtmp://127.0.0.1:$rtmp/live/cpu" &
  local publisher=$!
  sleep 5
  local tick a b; tick=$(getconf CLK_TCK)
  a=$(awk '{print $14 + $15}' /proc/$server/stat)
  sleep 20
  b=$(awk '{print $14 + $15}' /proc/$server/stat)
  awk -v l="$label" -v t="$((b - a))" -v hz="$tick" \
    'BEGIN { printf "%-16s %5.2f CPU s in 20 s (%4.1f %% of a core)\n", l, t / hz, t / hz * 5 }'
  kill "$publisher"; wait "$publisher" 2>/dev/null || true
  kill -INT "$server"; wait "$server" || true
}
measure 'ladder "" ' --ladder ''
measure 'ladder "" webrtc' --ladder '' --webrtc
measure 'ladder' 
measure 'ladder webrtc' --webrtc
rm -rf "$work"
