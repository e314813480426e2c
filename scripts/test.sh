#!/usr/bin/env bash
# Every test: unit (ctest) then end to end (node's test runner, the official SDKs against the
# real build/keel). Prints one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
failed=0
(cd build && ctest -L unit --output-on-failure -j "$(nproc)") || failed=1
(cd tests/e2e && KEEL_BIN="$PWD/../../build/keel" node --test --test-concurrency=1 ./*.test.mjs) || failed=1
if [ $failed -ne 0 ]; then echo "make test: FAILED"; exit 1; fi
echo "make test: all suites passed"
