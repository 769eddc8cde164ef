#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lib/ unit tests, element tests, interop
# tests against real clients and servers, browser playback, fuzz-corpus replay, a short
# libFuzzer run of every fuzz target (FUZZ_SECONDS each, default 15), then the unit, element,
# fuzz-replay and interop suites again under ASan + UBSan (scripts/run-sanitized-tests.sh).
# Arguments go to `meson test` (e.g. --suite lib); with arguments the fuzzing and sanitized runs
# are skipped. SANITIZE=0 skips the sanitized run.
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

# Then the same suites again (lib, gst, fuzz-replay, interop) built with ASan + UBSan in
# build-asan/ (docs/testing.md, "Sanitizers"). SANITIZE=0 leaves it out; with arguments it is
# left out too. A build failure counts as one failed test.
sanitized_log=""
sanitize_build_failed=0
if [ $# -eq 0 ] && [ "${SANITIZE:-1}" != 0 ]; then
  rm -f build-asan/meson-logs/testlog.json
  scripts/run-sanitized-tests.sh
  if [ -f build-asan/meson-logs/testlog.json ]; then
    sanitized_log=build-asan/meson-logs/testlog.json
  else
    sanitize_build_failed=1
  fi
fi

# The closing line: meson's results (from its JSON log) plus the fuzzing run. A skipped test
# counts as failed: a missing tool must fail the run, not hide.
python3 - build/meson-logs/testlog.json "$fuzz_passed" "$fuzz_failed" "$sanitize_build_failed" $sanitized_log <<'PY'
import json, sys
passed, failed = int(sys.argv[2]), int(sys.argv[3]) + int(sys.argv[4])
skipped = 0
def count(log):
    global passed, failed, skipped
    p = f = s = 0
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
    passed, failed, skipped = passed + p, failed + f, skipped + s
    return p, f + s
count(sys.argv[1])
if int(sys.argv[4]):
    print("sanitizer build (build-asan) failed: counted as 1 failed test")
if len(sys.argv) > 5:
    p, f = count(sys.argv[5])
    print(f"sanitized (ASan+UBSan, build-asan): {p} passed, {f} failed")
if skipped: print(f"{skipped} tests were skipped: counted as failed")
print(f"tests: {passed} passed, {failed + skipped} failed")
sys.exit(1 if failed + skipped else 0)
PY
summary_rc=$?
[ $meson_rc -eq 0 ] && [ $summary_rc -eq 0 ] || exit 1
exit 0
