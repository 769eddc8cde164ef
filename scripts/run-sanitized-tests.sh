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
# Environment: SANITIZE_BUILD_DIR (default build-asan). Expects scripts/install-deps.sh to have run.
set -uo pipefail
cd "$(dirname "$0")/.."
build="${SANITIZE_BUILD_DIR:-build-asan}"

if [ ! -f "$build/build.ninja" ]; then
  # -fno-sanitize-recover: UBSan stops at the first report (as ASan does), so it fails the test.
  # b_lundef=false: the plugin is a shared module whose ASan symbols come from the executable.
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dcpp_args='-fno-sanitize-recover=undefined -fno-omit-frame-pointer' || exit 1
fi
ninja -C "$build" || exit 1

if [ $# -gt 0 ]; then
  exec meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
fi
# Every test of these suites (browser and bench are left out on purpose: docs/testing.md).
exec meson test -C "$build" --print-errorlogs --num-processes 2 \
  --suite lib --suite gst --suite fuzz-replay --suite interop
