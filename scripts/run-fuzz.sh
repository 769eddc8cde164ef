#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan in build-fuzz/ and runs each for a
# short time on a copy of its seed corpus. Exit status is non-zero on any crash, leak,
# sanitizer report or build failure.
#
#   scripts/run-fuzz.sh                 # every target, FUZZ_SECONDS (default 20) each
#   FUZZ_SECONDS=300 scripts/run-fuzz.sh chunk_reader
#
# Environment: FUZZ_SECONDS (per target), FUZZ_BUILD_DIR (default build-fuzz),
# FUZZ_JOBS (ninja -j, default 2). Crash inputs are kept in $FUZZ_BUILD_DIR/fuzz-artifacts/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-20}"
jobs="${FUZZ_JOBS:-2}"

# Targets: the arguments, or every fuzz_<name>.cpp in tests/fuzz.
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in "$root"/tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$f" .cpp)"
    targets+=("${name#fuzz_}")
  done
fi

if [ ! -f "$build/build.ninja" ]; then
  # Coverage instrumentation for the library too (fuzzer-no-link); the fuzz executables add
  # -fsanitize=fuzzer themselves (tests/fuzz/meson.build).
  CC=clang CXX=clang++ \
  CFLAGS="-fsanitize=fuzzer-no-link" CXXFLAGS="-fsanitize=fuzzer-no-link" \
    meson setup "$build" "$root" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debugoptimized -Dinterop=false
fi

ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("tests/fuzz/fuzz-$t"); done
ninja -C "$build" -j"$jobs" "${ninja_targets[@]}"

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

status=0
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  work="$build/fuzz-corpus/$t"
  rm -rf "$work"
  mkdir -p "$work"
  if [ -d "$seeds" ]; then cp "$seeds"/* "$work"/ 2>/dev/null || true; fi
  echo "=== fuzz-$t: ${seconds}s on $(ls "$work" | wc -l) seeds"
  log="$build/fuzz-$t.log"
  if "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/$t-" -print_final_stats=1 "$work" >"$log" 2>&1; then
    grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" | tail -3 || true
    echo "=== fuzz-$t: ok"
  else
    tail -40 "$log"
    echo "=== fuzz-$t: FAILED (log: $log, crash inputs: $artifacts/$t-*)"
    status=1
  fi
done
exit $status
