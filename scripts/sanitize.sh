#!/usr/bin/env bash
# Sanitizer builds and the tests they run (DESIGN.md "Testing"). scripts/test.sh runs each step
# as a stage of `make test`; by hand:
#
#   scripts/sanitize.sh asan            # build-asan: ASan+UBSan; unit tests, then the e2e suite
#   scripts/sanitize.sh tsan            # build-tsan: TSan; router, HTTP/SSE and store (its writer
#                                       # thread) unit tests, then the streaming e2e tests
#   scripts/sanitize.sh asan build|unit|e2e     # one step
#
# Both use g++, the compiler keel ships with (its coroutine code generation is what must be
# checked; the clang build is scripts/fuzz.sh's), and KEEL_LOCAL=OFF: llama.cpp's static
# libraries are not instrumented, and the local engine is tested in the normal build.
#
# -Wno-tsan (tsan preset): g++ 12 warns at every Asio handler that TSan does not model
# atomic_thread_fence; Asio's cross-thread hand-offs also go through its scheduler's mutex,
# which TSan does see.
#
# Reports go to files (log_path) under <build>/sanitizer-logs/, so that nothing is lost when a
# report comes from a keel that an e2e test started and stopped: a step fails when its tests
# fail or when any report file appears, and prints the reports. Suppressions, each with its
# reason, are in scripts/sanitizers/*.supp.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

kind="${1:-}"
step="${2:-all}"
case "$kind" in
  asan) build_dir=build-asan ;;
  tsan) build_dir=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [build|unit|e2e|all]" >&2; exit 2 ;;
esac
JOBS="${JOBS:-$(nproc)}"
logs="$root/$build_dir/sanitizer-logs"

# The TSan run covers what has threads and shared state: the router (breakers and statistics
# behind one mutex, attempts racing timers and cancellation), the HTTP server and client with
# SSE, and the e2e tests that stream through them while the store's writer thread records
# requests: plain and streamed chat, failover, upstream faults and cancellation, the Anthropic
# front door over every vendor kind, graceful shutdown, and shadow traffic (its mirrors run on
# the io threads, their slots counted across them, over the same router and store).
tsan_units=(unit_router unit_http unit_store)
tsan_e2e=(chat failover faults messages vendors lifecycle responses shadow)

build() {
  cmake --preset "$kind" $(scripts/ccache.sh) >/dev/null || return 1
  if [ "$kind" = asan ]; then
    cmake --build "$build_dir" -j "$JOBS" || return 1
  else
    cmake --build "$build_dir" -j "$JOBS" --target keel "${tsan_units[@]}" || return 1
  fi
  check_no_llama
}

# The presets' KEEL_LOCAL=OFF must leave llama.cpp out altogether (the option once turned itself
# back on once llama.cpp was built): keel's link line names none of its libraries, and keel says
# it has no local engine.
check_no_llama() {
  local link
  link=$(ninja -C "$build_dir" -t commands keel | tail -n 1)
  if grep -Eq 'lib(llama|ggml|cpp-httplib)[^/ ]*\.a' <<<"$link"; then
    echo "sanitize: $build_dir/keel links llama.cpp although its preset sets KEEL_LOCAL=OFF"
    return 1
  fi
  if ! "$build_dir/keel" version | grep -q 'no local engine'; then
    echo "sanitize: $build_dir/keel does not say that it has no local engine: $("$build_dir/keel" version)"
    return 1
  fi
}

sanitizer_env() {
  rm -rf "$logs"
  mkdir -p "$logs"
  local supp="$root/scripts/sanitizers"
  # halt_on_error for UB: -fno-sanitize-recover=undefined aborts at the first report anyway.
  export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan:suppressions=$supp/ubsan.supp"
  # Every race in one run rather than the first; exit status 66 when any was seen.
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$supp/tsan.supp"
}

# Fails when any sanitizer wrote a report, and shows the reports.
check_reports() {
  local reports=()
  while IFS= read -r -d '' f; do reports+=("$f"); done < <(find "$logs" -type f -print0 | sort -z)
  [ ${#reports[@]} -eq 0 ] && return 0
  echo "sanitize: ${#reports[@]} report file(s) in $logs:"
  for f in "${reports[@]}"; do
    echo "---- $f"
    head -n 60 "$f"
  done
  return 1
}

unit() {
  sanitizer_env
  local rc=0
  if [ "$kind" = asan ]; then
    (cd "$build_dir" && ctest -L unit --output-on-failure -j "$JOBS") || rc=1
  else
    for t in "${tsan_units[@]}"; do
      echo "sanitize: $build_dir/$t"
      "$build_dir/$t" --gtest_brief=1 || rc=1
    done
  fi
  check_reports || rc=1
  return $rc
}

# UBSan's runtime, linked beside ASan's, ignores log_path and reports on stderr only, where the
# e2e harness keeps keel's output to itself; with KEEL_E2E_STDERR_DIR the harness also writes each
# keel's stderr to a file (keel started by startKeel or runKeel), and check_stderr looks there.
check_stderr() {
  local pattern="runtime error:|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer"
  local found
  found="$(grep -lE "$pattern" "$build_dir"/e2e-stderr/* 2>/dev/null)"
  [ -z "$found" ] && return 0
  echo "sanitize: sanitizer reports on keel's stderr:"
  for f in $found; do
    echo "---- $f"
    grep -E -A30 "$pattern" "$f" | head -n 60
  done
  return 1
}

e2e() {
  sanitizer_env
  rm -rf "$build_dir/e2e-stderr"
  mkdir -p "$build_dir/e2e-stderr"
  local rc=0 files=()
  cd tests/e2e || return 1
  if [ "$kind" = asan ]; then
    files=(./*.test.mjs)
  else
    for t in "${tsan_e2e[@]}"; do files+=("./$t.test.mjs"); done
  fi
  # KEEL_SANITIZER: tests that measure keel's memory skip that check (ASan's quarantine and
  # TSan's shadow memory grow RSS; leaks are LeakSanitizer's job here).
  # TSan: two io threads, so that requests on different threads share the router, the metrics
  # and the store.
  local threads=1
  [ "$kind" = tsan ] && threads=2
  KEEL_E2E_SERVER_THREADS=$threads KEEL_SANITIZER="$kind" KEEL_BIN="$root/$build_dir/keel" \
    KEEL_E2E_STDERR_DIR="$root/$build_dir/e2e-stderr" \
    node --test --test-concurrency=1 "${files[@]}" || rc=1
  cd "$root" || return 1
  check_reports || rc=1
  check_stderr || rc=1
  return $rc
}

case "$step" in
  build) build ;;
  unit) unit ;;
  e2e) e2e ;;
  all)
    build || exit 1
    rc=0
    unit || rc=1
    e2e || rc=1
    exit $rc
    ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [build|unit|e2e|all]" >&2; exit 2 ;;
esac
