#!/usr/bin/env bash
# Sets up everything and runs the server application on its defaults:
# RTMP ingest on port 1935 (rtmp://HOST:1935/live/<any key>), transcoded to a two-rung ladder,
# LL-HLS on http://HOST:8080/master.m3u8 with a player page at http://HOST:8080/.
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
