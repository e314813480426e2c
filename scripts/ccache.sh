#!/usr/bin/env bash
# Prints the CMake argument that compiles keel through ccache (scripts/setup.sh installs it), or
# nothing when ccache is absent. Every keel build (make build, scripts/fuzz.sh,
# scripts/sanitize.sh) configures with it, sharing the default cache in ~/.cache/ccache.
#
#   cmake --preset asan $(scripts/ccache.sh)
#
# base_dir and hash_dir=false let another checkout of the same commit (CI's fresh clone) hit the
# cache: paths under the checkout are hashed relative to it. The price: an object's debug info
# may name the directory of the checkout that first compiled it.
set -euo pipefail
command -v ccache >/dev/null || exit 0
root="$(cd "$(dirname "$0")/.." && pwd)"
echo "-DCMAKE_CXX_COMPILER_LAUNCHER=env;CCACHE_BASEDIR=$root;CCACHE_NOHASHDIR=1;ccache"
