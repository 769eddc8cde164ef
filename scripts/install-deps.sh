#!/usr/bin/env bash
# Installs every Debian package the build, the server and the test suite need. Idempotent:
# does nothing when all are present. Runs apt-get as root (directly or through sudo).
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config g++ clang libclang-rt-14-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libsoup-3.0-dev libglib2.0-dev libssl-dev libgtest-dev libgmock-dev
  # runtime: GStreamer, TLS for GIO, encoders/parsers used by pipelines and tests
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav glib-networking openssl
  # WebRTC (whepserversink): libnice's ICE elements for webrtcbin
  gstreamer1.0-nice
  # interop peers and baselines
  ffmpeg rtmpdump nginx libnginx-mod-rtmp python3 procps psmisc iproute2
  # file creations per stream (tests/bench/live_server_bench.py --count-files)
  strace
  # browser playback test
  chromium nodejs npm
  # HTTP load generator (tests/bench/hls_http_bench.py)
  wrk
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
# A machine may already have node/npm from elsewhere; Debian's packages are only needed if not.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian may start its nginx service on install (port 80). It is left alone: it may be the
# user's own web server, and our tests and benchmarks start their own nginx instances on free
# loopback ports and stop them by PID.
