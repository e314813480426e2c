#!/usr/bin/env bash
# `make run`: starts keel on its embedded default — ./keel.yaml when present, else the built-in
# config, which serves the hosted vendors whose keys are in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
args=(serve)
[ -n "${KEEL_CONFIG:-}" ] && args+=(--config "$KEEL_CONFIG")
[ -n "${KEEL_LISTEN:-}" ] && args+=(--listen "$KEEL_LISTEN")
exec build/keel "${args[@]}"
