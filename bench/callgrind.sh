#!/usr/bin/env bash
# Instructions per request on each of keel's threads, under callgrind (bench/README.md,
# "Profiling keel"): deterministic where wrk's CPU column moves with the machine's load, so two
# builds can be compared on a busy machine. A node mock answers as bench/run.sh's nginx mock does
# (but chunked, as real vendors answer), keel runs under valgrind with instrumentation off during a
# warm-up, then `wrk -c1` drives it for SECONDS with instrumentation on; each thread's total is
# divided by wrk's request count.
#
#   bench/callgrind.sh KEEL_BIN [plain|stream|responses|responses-stream|shadow|shadow-stream|prompt] [SECONDS]
#                                       # e.g. A/B: run it for each binary
#   CG_KEEP=DIR bench/callgrind.sh ...  # also copy callgrind's output files to DIR, for
#                                       # callgrind_annotate
#
# Needs valgrind, wrk, curl and node. Prints one line per thread (the io thread is usually -01,
# the request log's writer -02).
set -euo pipefail
BIN=${1:?usage: bench/callgrind.sh KEEL_BIN [plain|stream|responses|responses-stream|shadow|shadow-stream|prompt] [SECONDS]}
MODE=${2:-plain}
SECS=${3:-8}
W=$(mktemp -d)
trap 'kill "${KEEL:-}" "${MOCK:-}" 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
MP=$(free_port); KP=$(free_port)
node "$(dirname "${BASH_SOURCE[0]}")/chat_mock.mjs" "$MP" & MOCK=$!
cat >"$W/keel.yaml" <<YAML
listen: 127.0.0.1:$KP
state: sqlite:$W/keel.db
log_retention: {days: 0, max_requests: 0}
server: {threads: 1, shutdown_grace_ms: 1000}
providers:
  - {name: mock, kind: openai, base_url: "http://127.0.0.1:$MP/v1", api_key: bench}
  - {name: mock-stream, kind: openai, base_url: "http://127.0.0.1:$MP/stream/v1", api_key: bench}
models:
  - {name: bench, retries: 0, targets: [{provider: mock, model: m}]}
  - {name: bench-stream, retries: 0, targets: [{provider: mock-stream, model: m}]}
  # shadow mode: every answer mirrored to a candidate on the same mock (percent 100, so that
  # a mirror's cost is whole in the per-request numbers).
  - name: bench-shadowed
    retries: 0
    targets: [{provider: mock, model: m}]
    shadow: {model: bench-candidate, percent: 100}
  - name: bench-stream-shadowed
    retries: 0
    targets: [{provider: mock-stream, model: m}]
    shadow: {model: bench-candidate, percent: 100}
  - {name: bench-candidate, retries: 0, targets: [{provider: mock, model: m}]}
# prompt mode: bench/run.sh's prompt target, a default .prompty and a variant for the target's
# provider kind (openai), rendered with the request's inputs for every request.
prompts:
  - {name: bench-prompt, file: $W/default.prompty, model: bench, variants: {openai: $W/openai.prompty}}
YAML
"$(dirname "${BASH_SOURCE[0]}")/prompt_fixture.sh" "$W"
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file="$W/cg.out" "$BIN" serve --config "$W/keel.yaml" >"$W/keel.log" 2>&1 &
KEEL=$!
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$KP/healthz" && break; sleep 0.3; done
URL="http://127.0.0.1:$KP/v1/chat/completions"
case $MODE in
  plain) BODY='{"model":"bench","messages":[{"role":"user","content":"hi"}]}' ;;
  stream) BODY='{"model":"bench-stream","messages":[{"role":"user","content":"hi"}],"stream":true}' ;;
  # bench/run.sh's Responses row: the same turn, not stored.
  shadow) BODY='{"model":"bench-shadowed","messages":[{"role":"user","content":"hi"}]}' ;;
  shadow-stream)
    BODY='{"model":"bench-stream-shadowed","messages":[{"role":"user","content":"hi"}],"stream":true}'
    ;;
  prompt) BODY='{"inputs":{"text":"hi"}}' URL="http://127.0.0.1:$KP/v1/prompts/bench-prompt/run" ;;
  responses) BODY='{"model":"bench","input":"hi","store":false}' URL="http://127.0.0.1:$KP/v1/responses" ;;
  responses-stream)
    BODY='{"model":"bench-stream","input":"hi","stream":true,"store":false}'
    URL="http://127.0.0.1:$KP/v1/responses"
    ;;
  *) echo "callgrind.sh: unknown mode '$MODE'" >&2; exit 2 ;;
esac
printf 'wrk.method = "POST"; wrk.body = %s; wrk.headers["Content-Type"] = "application/json"\n' \
  "'$BODY'" >"$W/post.lua"
wrk -t1 -c1 -d3s -s "$W/post.lua" "$URL" >/dev/null
callgrind_control -i on "$KEEL" >/dev/null
wrk -t1 -c1 -d"${SECS}s" -s "$W/post.lua" "$URL" >"$W/wrk.txt"
callgrind_control -i off "$KEEL" >/dev/null
N=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
kill -INT "$KEEL"; wait "$KEEL" || true
echo "$MODE: $N requests"
if [[ -n ${CG_KEEP:-} ]]; then mkdir -p "$CG_KEEP" && cp "$W"/cg.out-* "$CG_KEEP"/; fi
for f in "$W"/cg.out-*; do
  per=$(($(awk '/^totals:/ {print $2}' "$f") / N))
  if ((per > 0)); then echo "  thread ${f##*-}: $per instructions per request"; fi
done
