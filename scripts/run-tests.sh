#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lib/ unit tests, element tests, interop
# tests against real clients and servers, browser playback, fuzz-corpus replay, and a short
# libFuzzer run of every fuzz target (FUZZ_SECONDS each, default 15).
# Arguments go to `meson test` (e.g. --suite lib); with arguments the fuzzing run is skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
scripts/build.sh || exit 1

meson test -C build --print-errorlogs --num-processes 2 "$@"
meson_rc=$?

fuzz_passed=0 fuzz_failed=0
if [ $# -eq 0 ]; then
  if FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/run-fuzz.sh; then fuzz_passed=1; else fuzz_failed=1; fi
fi

# The closing line: meson's results (from its JSON log) plus the fuzzing run. A skipped test
# counts as failed: a missing tool must fail the run, not hide.
python3 - build/meson-logs/testlog.json "$fuzz_passed" "$fuzz_failed" <<'PY'
import json, sys
passed, failed = int(sys.argv[2]), int(sys.argv[3])
skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): passed += 1
    elif r == "SKIP": skipped += 1
    else: failed += 1
if skipped: print(f"{skipped} tests were skipped: counted as failed")
print(f"tests: {passed} passed, {failed + skipped} failed")
sys.exit(1 if failed + skipped else 0)
PY
summary_rc=$?
[ $meson_rc -eq 0 ] && [ $summary_rc -eq 0 ] || exit 1
exit 0
