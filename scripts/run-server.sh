#!/usr/bin/env bash
# Sets up everything and runs the server application on its defaults:
# RTMP ingest on port 1935 (rtmp://HOST:1935/live/<any key>), HLS/LL-HLS on http://HOST:8080/.
# Extra arguments go to live-server (see build/examples/live-server --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export GST_PLUGIN_PATH="$PWD/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec build/examples/live-server "$@"
