#!/usr/bin/env bash
# Profile-guided build of keel (`make pgo`): build-pgo/keel, compiled twice by g++.
#   1. Instrumented (-fprofile-generate), Release.
#   2. Trained: bench/run.sh's mock upstream and wrk drive it (plain and streamed answers, 1 and
#      50 connections, PGO_TRAIN_SECONDS per run, 5 by default); on exit it writes its counts.
#   3. Rebuilt with -fprofile-use: hot paths laid out together and inlined by what ran, the rest
#      optimised as usual (-fprofile-partial-training: code the training never reached, such as
#      other vendors' wire formats, is not treated as cold).
# A plain Release build and this one differ only in code layout and optimisation choices; the
# tests run against build/ (RelWithDebInfo). Measured gains: docs/dev.md ("Profile-guided build").
#
#   make pgo                                   # then: KEEL_BIN=build-pgo/keel bench/run.sh
#   PGO_BUILD_DIR=/tmp/kp PGO_CMAKE_ARGS="-DKEEL_LOCAL=OFF" scripts/pgo.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PGO_BUILD_DIR:-$ROOT/build-pgo}
PROFILE=$BUILD/profile
JOBS=${JOBS:-$(nproc)}
read -r -a extra_args <<<"${PGO_CMAKE_ARGS:-}"

log() { printf '[pgo] %s\n' "$*" >&2; }
die() { printf 'pgo: error: %s\n' "$*" >&2; exit 1; }

configure() {  # CXX flags, linker flags
  cmake -G Ninja -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${extra_args[@]}" \
    -DCMAKE_CXX_FLAGS="$1" -DCMAKE_EXE_LINKER_FLAGS="$2" >"$BUILD/configure.log" 2>&1 ||
    { tail -n 20 "$BUILD/configure.log" >&2; die "cmake configure failed ($BUILD/configure.log)"; }
}

mkdir -p "$BUILD"
rm -rf "$PROFILE"
mkdir -p "$PROFILE"

log "1/3 instrumented build in $BUILD"
# Atomic counter updates: the request log's writer thread runs beside the io thread.
configure "-fprofile-generate -fprofile-update=atomic -fprofile-dir=$PROFILE" "-fprofile-generate"
cmake --build "$BUILD" -j "$JOBS" --target keel

log "2/3 training run (bench/run.sh, ${PGO_TRAIN_SECONDS:-5} s per run; log: $BUILD/training.log)"
BENCH_SECONDS=${PGO_TRAIN_SECONDS:-5} BENCH_WARMUP=0 BENCH_ROUNDS=1 BENCH_RECORD=0 \
  BENCH_TARGETS="mock proxy keel" KEEL_BIN="$BUILD/keel" "$ROOT/bench/run.sh" >"$BUILD/training.log" 2>&1 ||
  { tail -n 20 "$BUILD/training.log" >&2; die "training run failed ($BUILD/training.log)"; }
profiles=$(find "$PROFILE" -name '*.gcda' | wc -l)
((profiles > 0)) || die "the training run wrote no profile to $PROFILE (did keel exit cleanly?)"
log "    $profiles profile files"

log "3/3 optimised build with the profile"
configure "-fprofile-use -fprofile-dir=$PROFILE -fprofile-partial-training -Wno-missing-profile" ""
cmake --build "$BUILD" -j "$JOBS" --target keel
log "done: $BUILD/keel"
