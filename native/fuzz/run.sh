#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the C++ core (fuzz_records, fuzz_pairs, fuzz_scgi) into native/fuzz/out/
# and runs each for SECONDS (default 60), one after the other, seeded from test/fixtures. A harness that
# fails to build or crashes counts as failed; its crash inputs are kept in native/fuzz/out/artifacts/.
# Writes "<passed> <failed>" (harnesses) to $CGIWIRE_RESULTS/fuzz when CGIWIRE_RESULTS is set.
# Usage: native/fuzz/run.sh [SECONDS]
set -u
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/native/fuzz/out"
harnesses=(records pairs scgi)

record() { if [ -n "${CGIWIRE_RESULTS:-}" ]; then echo "$1 $2" > "$CGIWIRE_RESULTS/fuzz"; fi; }

if ! command -v clang++ > /dev/null; then
  echo "fuzz: clang++ not found; install the Debian packages clang libclang-rt-14-dev libfuzzer-14-dev" >&2
  record 0 "${#harnesses[@]}"
  exit 1
fi

mkdir -p "$out/artifacts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/records" "$tmp/pairs" "$tmp/scgi"
if clang++ -std=c++17 -O1 -o "$out/seed" "$root/native/fuzz/seed.cc"; then
  "$out/seed" "$root/test/fixtures" "$tmp/records" "$tmp/pairs" "$tmp/scgi" || echo "fuzz: seeding failed; starting from empty corpora"
else
  echo "fuzz: seed tool failed to build; starting from empty corpora"
fi

passed=0
failed=0
for h in "${harnesses[@]}"; do
  bin="$out/fuzz_$h"
  if ! clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -o "$bin" "$root/native/fuzz/fuzz_$h.cc" "$root/native/fastcgi.cc" "$root/native/scgi.cc"; then
    echo "fuzz_$h: FAILED to build"
    failed=$((failed + 1))
    continue
  fi
  mkdir -p "$tmp/$h-artifacts"
  log="$out/fuzz_$h.log"
  "$bin" "$tmp/$h" -max_total_time="$seconds" -artifact_prefix="$tmp/$h-artifacts/" -print_final_stats=1 \
    -rss_limit_mb=2048 > "$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$h: ok, ${runs:-?} runs in ${seconds} s"
    passed=$((passed + 1))
  else
    echo "fuzz_$h: FAILED (exit $rc) after ${runs:-?} runs; log: $log"
    grep -E 'invariant failed|ERROR:|SUMMARY:|^ *#[0-9]+ 0x' "$log" | head -20
    for f in "$tmp/$h-artifacts"/*; do
      [ -e "$f" ] || continue
      cp "$f" "$out/artifacts/$h-$(basename "$f")"
      echo "  input kept: $out/artifacts/$h-$(basename "$f") (replay: $bin <file>)"
    done
    failed=$((failed + 1))
  fi
done

echo "fuzz: $passed passed, $failed failed"
record "$passed" "$failed"
[ "$failed" -eq 0 ]
