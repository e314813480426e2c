#!/usr/bin/env bash
# Every test, in stages (`make test` builds build/ first):
#   unit, e2e            ctest -L unit in build/; the official SDKs against build/keel (node --test)
#   browser              the web console: web/'s type check (tsc), then tests/browser in chromium
#                        (screenshots in tests/browser/output/)
#   notices              scripts/third_party.sh --check: THIRD_PARTY.md and LICENSE.llama.cpp
#                        match what build/keel links
#   fuzz build/replay/fuzz   scripts/fuzz.sh: every libFuzzer target replays its corpus and
#                        regressions, then fuzzes for KEEL_TEST_FUZZ_SECONDS (default 5) each
#   asan build/unit/e2e  scripts/sanitize.sh asan: ASan+UBSan build; unit tests and the e2e suite
#   tsan build/unit/e2e  scripts/sanitize.sh tsan: TSan build; router, HTTP/SSE and streaming tests
# Ends with one line per stage (pass/FAIL/skipped, minutes) and exits non-zero when any failed;
# the names of failed tests follow the summary (CI shows only the tail of this output). A unit
# test that fails and then passes when run again alone is reported as flaky on its stage's line
# and does not fail the run: the name is there for the next reader to fix.
# KEEL_TEST_QUICK=1 runs unit, e2e, browser and notices only, for quick iteration; CI runs everything.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${KEEL_TEST_FUZZ_SECONDS:-5}"
QUICK="${KEEL_TEST_QUICK:-0}"
export JOBS="${KEEL_TEST_JOBS:-$(nproc)}"   # build jobs for the fuzz and sanitizer builds

names=()
results=()
times=()
failed=0
failures=()   # "stage: test name" of every failed test, printed after the summary
flaky=""      # unit tests that failed once and passed when run again

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# stage NAME COMMAND...: runs it, records pass/FAIL and its wall time.
stage() {
  local name="$1"
  shift
  echo
  echo "==== make test: $name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  names+=("$name")
  times+=("$(fmt_time $((SECONDS - start)))")
  if [ $rc -eq 0 ]; then
    results+=("pass")
  else
    results+=("FAIL")
    failed=1
  fi
  return $rc
}

skip() {
  names+=("$1")
  results+=("skipped ($2)")
  times+=("")
}

# The unit tests; the ones that fail are run once more, alone. Those that pass then are flaky:
# named on the stage's line. Those that fail again fail the stage.
unit() {
  (cd build && ctest -L unit --output-on-failure -j "$JOBS") && return 0
  local list=build/Testing/Temporary/LastTestsFailed.log
  [ -s "$list" ] || return 1
  local names_failed
  names_failed=$(cut -d: -f2- "$list" | sed 's/ .*//' | tr '\n' ' ')
  echo "==== make test: unit: running again alone: $names_failed"
  if (cd build && ctest --rerun-failed --output-on-failure -j 1); then
    flaky="$names_failed"
    return 0
  fi
  while IFS= read -r line; do failures+=("unit: ${line#*:}"); done <"$list"
  return 1
}
e2e_log=build/e2e.log
e2e() {
  local rc=0
  (cd tests/e2e && KEEL_BIN="$PWD/../../build/keel" node --test --test-concurrency=1 ./*.test.mjs) \
    2>&1 | tee "$e2e_log" || rc=$?
  if [ $rc -ne 0 ]; then
    while IFS= read -r line; do failures+=("e2e: $line"); done \
      < <(grep -E '^ *not ok ' "$e2e_log" | sed -E 's/^ *not ok [0-9]+ - //' | head -n 8)
  fi
  return $rc
}
browser() {
  (cd web && npx --no-install tsc --noEmit -p .) &&
    (cd tests/browser && KEEL_BIN="$PWD/../../build/keel" node --test --test-concurrency=1 ./*.test.mjs)
}

stage "unit" unit
[ -n "$flaky" ] && results[-1]="pass (flaky: $flaky)"
stage "e2e" e2e
stage "browser" browser
stage "notices" scripts/third_party.sh --check build

if [ "$QUICK" = "1" ]; then
  skip "fuzz" "KEEL_TEST_QUICK=1"
  skip "asan" "KEEL_TEST_QUICK=1"
  skip "tsan" "KEEL_TEST_QUICK=1"
else
  if stage "fuzz build" env FUZZ_STEPS=build scripts/fuzz.sh; then
    stage "fuzz replay" env FUZZ_STEPS=replay scripts/fuzz.sh 0
    stage "fuzz ${FUZZ_SECONDS}s/target" env FUZZ_STEPS=fuzz scripts/fuzz.sh "$FUZZ_SECONDS"
  else
    skip "fuzz replay" "build failed"
    skip "fuzz" "build failed"
  fi
  for kind in asan tsan; do
    if stage "$kind build" scripts/sanitize.sh "$kind" build; then
      stage "$kind unit" scripts/sanitize.sh "$kind" unit
      stage "$kind e2e" scripts/sanitize.sh "$kind" e2e
    else
      skip "$kind unit" "build failed"
      skip "$kind e2e" "build failed"
    fi
  done
fi

echo
echo "==== make test: summary"
for i in "${!names[@]}"; do
  printf '  %-20s %-28s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  case "${results[$i]}" in skipped\ \(build*) failed=1 ;; esac
done
echo "  total                $(fmt_time $SECONDS) (after make build)"
for f in "${failures[@]}"; do echo "  failed: $f"; done
if [ $failed -ne 0 ]; then echo "make test: FAILED"; exit 1; fi
echo "make test: all stages passed"
