#!/usr/bin/env bash
# The whole test suite, as CI runs it: the TypeScript suite (vitest, every test against both codecs), the C++
# core's own driver under ASan/UBSan, the packaging checks, and the fuzzers. Each part records
# "<passed> <failed>" in $results; the last line sums them: "N passed, M failed".
# CGIWIRE_FUZZ_SECONDS (default 60) sets how long each fuzzer runs; 0 skips them.
set -u
cd "$(dirname "$0")/.."
results=$(mktemp -d)
export CGIWIRE_RESULTS="$results"

run_part() { # name command...: runs a part; a part that records nothing but fails counts as one failure
  local name=$1; shift
  echo "=== $name"
  "$@"
  local rc=$?
  if [ ! -s "$results/$name" ]; then
    if [ $rc -eq 0 ]; then echo "0 0" > "$results/$name"; else echo "0 1" > "$results/$name"; fi
  elif [ $rc -ne 0 ] && [ "$(cut -d' ' -f2 "$results/$name")" = "0" ]; then
    echo "$(cut -d' ' -f1 "$results/$name") 1" > "$results/$name"
  fi
}

vitest_part() {
  local out; out=$(mktemp)
  NO_COLOR=1 npx vitest run --reporter=default 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '^\s+Tests\s' "$out" | tail -1)
  local passed failed
  passed=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
  failed=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
  echo "${passed:-0} ${failed:-0}" > "$results/vitest"
  return "$rc"
}

run_part vitest vitest_part
run_part native-core bash native/test/run.sh
run_part packaging bash test/packaging/run.sh
if [ "${CGIWIRE_FUZZ_SECONDS:-60}" != "0" ]; then
  run_part fuzz bash native/fuzz/run.sh "${CGIWIRE_FUZZ_SECONDS:-60}"
fi

passed=0; failed=0
for f in "$results"/*; do
  read -r p q < "$f"
  echo "  $(basename "$f"): $p passed, $q failed"
  passed=$((passed + p)); failed=$((failed + q))
done
rm -rf "$results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
