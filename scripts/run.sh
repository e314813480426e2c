#!/usr/bin/env bash
# `make run`: starts keel on its embedded default — ./keel.yaml when present, else the built-in
# config: the hosted vendors whose keys are in the environment, or with none the local engine
# (KEEL_MODEL, else a small instruct model pulled once, else a generated fixture; README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
args=(serve)
[ -n "${KEEL_CONFIG:-}" ] && args+=(--config "$KEEL_CONFIG")
[ -n "${KEEL_LISTEN:-}" ] && args+=(--listen "$KEEL_LISTEN")
exec build/keel "${args[@]}"
