#!/usr/bin/env bash
# Fetches and builds llama.cpp for keel's local engine, cached outside keel's build tree so that
# keel rebuilds (and `rm -rf build`) never rebuild it. Used by scripts/setup.sh; quick (one stamp
# comparison) when the cache is complete. See DESIGN.md "Local engine".
#
#   scripts/llama.sh               build if needed, then print the cache directory
#   scripts/llama.sh --print-dir   print the cache directory only (cmake/llama.cmake uses this)
#
# Source: llama.cpp 0.4.0 as shipped by the npm package node-llama-cpp@3.21.1 in
# llama/gitRelease.bundle (a git bundle; this machine reaches npm but not GitHub). No llama.cpp
# code is committed to keel.
#
# Environment:
#   KEEL_CACHE      cache root (default ~/.cache/keel)
#   LLAMA_CPP_DIR   build this llama.cpp checkout instead; cached by its path and commit (a tree
#                   with uncommitted changes, or one that is not a git checkout, is rebuilt
#                   incrementally on every run)
#   LLAMA_JOBS      parallel build jobs (default: nproc)
#
# Cache layout, <cache> = $KEEL_CACHE/llama.cpp-0.4.0 (or llama.cpp-custom-<path hash>-<commit>):
#   <cache>/src/               git clone of the bundle (absent with LLAMA_CPP_DIR)
#   <cache>/build/             cmake build tree: static libs + bin/llama-server
#   <cache>/build.log          output of the last configure/build
#   <cache>/keel-llama.cmake   stamp, written last: paths and options, included by cmake/llama.cmake
set -euo pipefail

NODE_LLAMA_CPP_VERSION=3.21.1
LLAMA_CPP_VERSION=0.4.0
# The one commit in node-llama-cpp@3.21.1's bundle (its llama.cpp.info.json says tag v0.4.0).
LLAMA_CPP_COMMIT=80fb11ac73e66d89eae2c6a91d8a77428fa733ed

# Static, CPU-only, portable (AVX2 baseline rather than -march=native), no OpenMP (ggml's own
# thread pool: nothing extra to link), no network code (no prebuilt web UI download, no HTTPS).
CMAKE_ARGS=(
  -G Ninja
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=OFF
  -DGGML_OPENMP=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_COMMON=ON
  -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
)
# llama-common is llama.cpp's `common` library (chat templates, json-schema-to-grammar, sampling).
TARGETS=(llama llama-common ggml llama-server)

cache_root="${KEEL_CACHE:-$HOME/.cache/keel}"
mode=build
case "${1:-}" in
  --print-dir) mode=print ;;
  "") ;;
  *) echo "usage: $0 [--print-dir]" >&2; exit 2 ;;
esac

custom=""
dirty=0
if [ -n "${LLAMA_CPP_DIR:-}" ]; then
  custom="$(cd "$LLAMA_CPP_DIR" 2>/dev/null && pwd -P)" || { echo "llama.sh: LLAMA_CPP_DIR=$LLAMA_CPP_DIR: no such directory" >&2; exit 1; }
  [ -f "$custom/include/llama.h" ] || { echo "llama.sh: $custom is not a llama.cpp checkout (no include/llama.h)" >&2; exit 1; }
  if commit="$(git -C "$custom" rev-parse HEAD 2>/dev/null)"; then
    [ -z "$(git -C "$custom" status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=1
  else
    commit=nogit
    dirty=1
  fi
  path_hash="$(printf '%s' "$custom" | sha256sum | cut -c1-12)"
  dir="$cache_root/llama.cpp-custom-$path_hash-${commit:0:12}"
  src="$custom"
  version="$(sed -n 's/^set(LLAMA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/p' "$custom/CMakeLists.txt" | paste -sd.)"
else
  version="$LLAMA_CPP_VERSION"
  commit="$LLAMA_CPP_COMMIT"
  dir="$cache_root/llama.cpp-$LLAMA_CPP_VERSION"
  src="$dir/src"
fi

if [ "$mode" = print ]; then
  echo "$dir"
  exit 0
fi

stamp="$dir/keel-llama.cmake"
# Everything that decides the build's output: a change to any of it rebuilds.
fingerprint="source=${custom:-node-llama-cpp@$NODE_LLAMA_CPP_VERSION} commit=$commit args=${CMAKE_ARGS[*]} targets=${TARGETS[*]}"

stamp_ok() {
  [ -f "$stamp" ] && [ "$dirty" = 0 ] && grep -qxF "# fingerprint: $fingerprint" "$stamp"
}

if stamp_ok; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir"
# One build at a time per cache directory (two `make` runs at once wait for each other).
exec 9>"$dir/.lock"
flock -n 9 || { echo "llama.sh: waiting for another llama.cpp build in $dir" >&2; flock 9; }
if stamp_ok; then
  echo "$dir"
  exit 0
fi
rm -f "$stamp"
start=$(date +%s)

# 1. Source: unpack the npm package and clone its bundle (only when src/ is missing or wrong).
if [ -z "$custom" ] && [ "$(git -C "$src" rev-parse HEAD 2>/dev/null)" != "$LLAMA_CPP_COMMIT" ]; then
  echo "llama.sh: fetching llama.cpp $LLAMA_CPP_VERSION from npm node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
  command -v npm >/dev/null || { echo "llama.sh: npm is required (scripts/setup.sh installs it)" >&2; exit 1; }
  tmp="$(mktemp -d "$dir/fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" --silent --loglevel=error >/dev/null)
  tar -xzf "$tmp/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" -C "$tmp" package/llama/gitRelease.bundle
  git -c advice.detachedHead=false clone --quiet "$tmp/package/llama/gitRelease.bundle" "$tmp/src"
  got="$(git -C "$tmp/src" rev-parse HEAD)"
  if [ "$got" != "$LLAMA_CPP_COMMIT" ]; then
    echo "llama.sh: the bundle holds commit $got, expected $LLAMA_CPP_COMMIT" >&2
    exit 1
  fi
  rm -rf "$src" "$dir/build"
  mv "$tmp/src" "$src"
  rm -rf "$tmp"
  trap - EXIT
fi

# 2. Build (incremental when build/ exists). The log is kept; its tail is shown on failure.
jobs="${LLAMA_JOBS:-$(nproc)}"
echo "llama.sh: building llama.cpp ($src) in $dir/build with $jobs jobs; log in $dir/build.log" >&2
if ! { cmake -S "$src" -B "$dir/build" "${CMAKE_ARGS[@]}" &&
       cmake --build "$dir/build" --target "${TARGETS[@]}" -j "$jobs"; } >"$dir/build.log" 2>&1; then
  tail -n 40 "$dir/build.log" >&2
  echo "llama.sh: llama.cpp build failed; full log: $dir/build.log" >&2
  exit 1
fi

# 3. Stamp, last: its presence means the cache is complete.
cat >"$stamp.tmp" <<EOF
# Written by keel's scripts/llama.sh; included by cmake/llama.cmake. Do not edit.
# fingerprint: $fingerprint
set(KEEL_LLAMA_VERSION "$version")
set(KEEL_LLAMA_COMMIT "$commit")
set(KEEL_LLAMA_SOURCE_DIR "$src")
set(KEEL_LLAMA_BUILD_DIR "$dir/build")
set(KEEL_LLAMA_SERVER "$dir/build/bin/llama-server")
EOF
mv "$stamp.tmp" "$stamp"
echo "llama.sh: llama.cpp built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
