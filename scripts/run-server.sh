#!/usr/bin/env bash
# Sets up everything and runs the server application on its defaults: any number of streams
# published to rtmp://HOST:1935/live/<key>, each transcoded to a ladder and served as LL-HLS
# (http://HOST:8080/live/<key>/master.m3u8), RTMP and HTTP-FLV; http://HOST:8080/ lists them.
# Extra arguments go to live-server (see build/examples/live-server --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# hls.js for the player page, from npm at the version pinned in examples/web/package-lock.json.
if [ ! -f examples/web/node_modules/hls.js/dist/hls.min.js ]; then
  (cd examples/web && npm ci --no-audit --no-fund --loglevel=error)
fi
export GST_PLUGIN_PATH="$PWD/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec build/examples/live-server --player-dir examples/web "$@"
