#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lib/ unit tests, element tests, interop
# tests against real clients/servers, browser playback, and a short fuzzing run.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
scripts/build.sh || exit 1
meson test -C build --print-errorlogs --num-processes 2 "$@"
rc=$?
# A plain closing line for humans and CI: counts from meson's JSON log.
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
print(f"tests: {passed} passed, {failed + skipped} failed")
if skipped: print(f"({skipped} of the failures were skips: a missing tool must fail the run)")
PY
[ $rc -eq 0 ] || exit $rc
exit 0
