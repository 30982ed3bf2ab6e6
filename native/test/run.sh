#!/usr/bin/env bash
# Builds the C++ core's test driver with ASan/UBSan into native/test/out/ and runs it on test/fixtures.
# Writes "<passed> <failed>" to $CGIWIRE_RESULTS/native-core when CGIWIRE_RESULTS is set; exits non-zero on
# a build failure or any failed test.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/native/test/out"
mkdir -p "$out"

record() { if [ -n "${CGIWIRE_RESULTS:-}" ]; then echo "$1 $2" > "$CGIWIRE_RESULTS/native-core"; fi; }

if ! "${CXX:-g++}" -std=c++17 -Wall -Wextra -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1 \
    -o "$out/core_test" "$root/native/test/core_test.cc" "$root/native/fastcgi.cc" "$root/native/scgi.cc"; then
  echo "core tests: build failed"
  record 0 1
  exit 1
fi

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
log="$out/core_test.log"
run() {
  ASAN_OPTIONS="detect_leaks=$1" "$out/core_test" "$root/test/fixtures" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
run 1
rc=$?
if [ "$rc" -ne 0 ] && grep -qE "LeakSanitizer (does not work under ptrace|has encountered a fatal error)" "$log"; then
  echo "(leak detection is not supported here: running again with detect_leaks=0)"
  run 0
  rc=$?
fi

summary=$(grep -E '^core tests: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -n "$summary" ]; then
  passed=$(echo "$summary" | sed -E 's/^core tests: ([0-9]+) passed.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed$/\1/')
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # e.g. a leak reported at exit
else  # a sanitizer aborted the run: the tests done so far, plus the one that crashed
  passed=$(grep -c '^ok ' "$log")
  failed=$(( $(grep -c '^FAIL ' "$log") + 1 ))
  echo "core tests: aborted (exit $rc): $passed passed, $failed failed"
fi
record "$passed" "$failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
