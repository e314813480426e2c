#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp) in build-fuzz/, replays each target's seed
# corpus and saved regressions, then fuzzes each target for SECONDS (default 20).
#
#   scripts/fuzz.sh            # replay, then 20 s per target
#   scripts/fuzz.sh 0          # replay only (make test replays, then fuzzes 5 s per target)
#   FUZZ_TARGETS="sse_fuzz" scripts/fuzz.sh 300
#   FUZZ_STEPS="replay fuzz" scripts/fuzz.sh 5   # some of: build replay fuzz (default: all three)
#
# Exits non-zero when any input crashes, leaks, trips UBSan, times out or breaks a target's
# FUZZ_CHECK. Fuzzing writes new inputs into a scratch copy of the corpus, never into
# fuzz/corpus/; crashing inputs land in build-fuzz/artifacts/<target>/. To keep one: minimize it
# (the command is printed) and save it under fuzz/regressions/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-20}"
BUILD_DIR=build-fuzz
JOBS="${JOBS:-$(nproc)}"
STEPS=" ${FUZZ_STEPS:-build replay fuzz} "

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for src in fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

if [[ "$STEPS" == *" build "* ]]; then
# --- toolchain: clang and its libFuzzer/sanitizer runtimes -------------------------------------
missing=()
for pkg in clang libclang-rt-14-dev cmake ninja-build; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" || exit 1
fi

# --- build --------------------------------------------------------------------------------------
# -fsanitize=fuzzer-no-link,address,undefined on every TU: CMakeLists.txt instruments only the
# *_fuzz.cpp files, but the parsers live in the keel_* libraries, and libFuzzer needs their
# coverage to make progress and the sanitizers need to see their memory and arithmetic.
# -fno-sanitize=function: clang 14 cannot assemble that check's prologue data for C++20
# coroutines ("Cannot represent a difference across sections" in src/http, src/server).
# BOOST_ASIO_HAS_CO_AWAIT: Boost 1.74 enables co_await on clang only with libc++'s
# <experimental/coroutine>; with libstdc++ (Debian's default) it must be told.
# KEEL_LOCAL=OFF: no fuzz target reaches the local engine.
SAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja $(scripts/ccache.sh) \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_FUZZ=ON -DKEEL_TESTS=OFF -DKEEL_LOCAL=OFF \
  -DCMAKE_CXX_FLAGS="$SAN_FLAGS -DBOOST_ASIO_HAS_CO_AWAIT=1" >/dev/null || exit 1

echo "fuzz: building ${targets[*]}"
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}" || exit 1
fi

# UB is a finding, not a warning: stop at the first report so libFuzzer saves the input.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# Memory: ASan's own limit, checked by a background thread, ends a runaway input cleanly;
# libFuzzer's -rss_limit_mb report can deadlock in the allocator it is measuring.
export ASAN_OPTIONS="detect_leaks=1:hard_rss_limit_mb=2048:${ASAN_OPTIONS:-}"

# Per input: a hang is 25 s.
limits=(-timeout=25 -rss_limit_mb=3072)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$BUILD_DIR/logs"
failed=()

for target in "${targets[@]}"; do
  name="${target%_fuzz}"
  bin="$BUILD_DIR/$target"
  corpus="fuzz/corpus/$name"
  regressions="fuzz/regressions/$name"
  dict=()
  [ -f "fuzz/$name.dict" ] && dict=("-dict=fuzz/$name.dict")

  # Replay: every seed and every saved regression, one process per batch of files.
  inputs=()
  for dir in "$corpus" "$regressions"; do
    [ -d "$dir" ] && while IFS= read -r -d '' f; do inputs+=("$f"); done \
      < <(find "$dir" -type f -print0 | sort -z)
  done
  if [[ "$STEPS" == *" replay "* ]] && [ ${#inputs[@]} -gt 0 ]; then
    if printf '%s\0' "${inputs[@]}" | timeout -k 10 300 xargs -0 "$bin" "${limits[@]}" \
      >"$BUILD_DIR/logs/$name.replay.log" 2>&1; then
      echo "fuzz: $name: replayed ${#inputs[@]} inputs, all pass"
    else
      echo "fuzz: $name: REPLAY FAILED (log: $BUILD_DIR/logs/$name.replay.log)"
      grep -E "^(==[0-9]+==ERROR|SUMMARY|FUZZ_CHECK|Running:)|runtime error" \
        "$BUILD_DIR/logs/$name.replay.log" | tail -n 8 | sed 's/^/    /'
      failed+=("$name (replay)")   # still fuzzed below: one known bug need not hide others
    fi
  fi

  [[ "$STEPS" == *" fuzz "* ]] && [ "$SECONDS_PER_TARGET" -gt 0 ] || continue
  # The HTTP targets run FUZZ_HTTP_FACTOR (default 10) times as long: their inputs expand to
  # 64 KiB fields and more, a few dozen runs a second, and issue 15's crash took one minute to
  # find in one run and more than four in another (fuzz/README.md).
  seconds="$SECONDS_PER_TARGET"
  [[ "$name" == http_* ]] && seconds=$((SECONDS_PER_TARGET * ${FUZZ_HTTP_FACTOR:-10}))
  work="$scratch/$name"
  artifacts="$BUILD_DIR/artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
  log="$BUILD_DIR/logs/$name.fuzz.log"
  # The outer timeout backs up -timeout: libFuzzer's alarm handler can deadlock in ASan's
  # allocator when it fires inside malloc, leaving a hung input hung.
  timeout -k 10 $((seconds + 300)) "$bin" "$work" "${dict[@]}" "${limits[@]}" \
    -max_len=65536 -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts" >"$log" 2>&1
  rc=$?
  speed="$(grep -oE 'exec/s: [0-9]+' "$log" | tail -n 1)"
  runs="$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')"
  if [ $rc -eq 0 ]; then
    echo "fuzz: $name: ${seconds}s, ${runs:-?} runs, ${speed:-exec/s: ?}, no crash"
  else
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "fuzz: $name: HUNG (killed after the time limit)"
    echo "fuzz: $name: CRASH after ${runs:-?} runs (log: $log)"
    grep -E "^(==[0-9]+==ERROR|SUMMARY|FUZZ_CHECK)|runtime error|Test unit written|ALARM" "$log" \
      | head -n 6 | sed 's/^/    /'
    crash="$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | cut -d' ' -f5)"
    if [ -n "$crash" ]; then
      echo "    minimize: $bin -minimize_crash=1 -runs=100000 -exact_artifact_path=$crash.min $crash"
      echo "    then keep it: cp $crash.min fuzz/regressions/$name/"
    fi
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: all targets pass"
