#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer (gcc) in build-asan/ and
# runs the sanitized suites: lib unit tests, element tests, fuzz-corpus replay and the interop
# tests (our elements inside gst-launch-1.0 and live-server, driven by real clients). Any ASan,
# LeakSanitizer or UBSan report fails its test; the only suppressions are the reviewed ones in
# tests/sanitizers/. Browser tests and benchmarks are not run here (docs/testing.md, "Sanitizers").
#
#   scripts/run-sanitized-tests.sh                       # build + every sanitized suite
#   scripts/run-sanitized-tests.sh lib-rtmp interop-ffmpeg-publish   # arguments go to meson test
#
# Environment: SANITIZE_BUILD_DIR (default build-asan), SANITIZE_INTEROP=all. Expects scripts/install-deps.sh to have run.
set -uo pipefail
cd "$(dirname "$0")/.."
build="${SANITIZE_BUILD_DIR:-build-asan}"

if [ ! -f "$build/build.ninja" ]; then
  # -fno-sanitize-recover: UBSan stops at the first report (as ASan does), so it fails the test.
  # b_lundef=false: the plugin is a shared module whose ASan symbols come from the executable.
  # -O1: the usual optimisation for sanitizer builds, and a quicker build than -O2 (CI time).
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 \
    -Dcpp_args='-fno-sanitize-recover=undefined -fno-omit-frame-pointer' || exit 1
fi
ninja -C "$build" || exit 1

# Sanitized code runs 2-5x slower: every test's own timeout is stretched.
run=(meson test -C "$build" --print-errorlogs --num-processes 2 --timeout-multiplier 3)
if [ $# -gt 0 ]; then
  exec "${run[@]}" "$@"
fi
# Every unit, element and fuzz-replay test; of the interop tests (about 1000 s sanitized) the
# ones that fit CI's 45 min: each element of ours in gst-launch-1.0 (ingest plain and TLS,
# relay + HLS on one port, GOP-cache play) and live-server (start-up errors, abandoned publish).
# SANITIZE_INTEROP=all runs every interop test. Browser and bench: never (docs/testing.md).
interop=(interop-ffmpeg-publish interop-rtmps-publish interop-relay-http-flv-and-hls
         interop-relay-first-frame interop-live-server-config interop-live-server-abandoned)
if [ "${SANITIZE_INTEROP:-}" = all ]; then interop=(); suites=(--suite interop); else suites=(); fi
# Test names (meson test takes either names or suites, and intersects the two).
# Left out: tests that bound the process's memory (ASan keeps freed memory in quarantine, 256 MiB
# by default, and adds its shadow): gst-whep-sessions here, interop-relay-slow-viewer above.
mapfile -t names < <(meson test -C "$build" --list --no-rebuild --suite lib --suite gst --suite fuzz-replay \
  "${suites[@]}" 2>/dev/null | sed 's|.* / ||' | grep -vx 'gst-whep-sessions')
exec "${run[@]}" "${names[@]}" "${interop[@]}"
