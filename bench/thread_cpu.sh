#!/usr/bin/env bash
# CPU per request on each of keel's threads, user and system apart, from /proc/PID/task/*/stat:
# callgrind (bench/callgrind.sh) counts instructions but not the kernel's share or the cost of
# waking threads, which is where a mirrored request's extra went (docs/dev.md, "Shadow pair").
# bench/chat_mock.mjs answers, as for callgrind.sh; keel serves `bench` and `bench-shadowed`
# (every answer mirrored at BENCH_SHADOW_PERCENT, default 100, to a candidate on the same mock,
# at most BENCH_SHADOW_CONCURRENCY at once, default 4 as keel's);
# wrk drives each model for SECONDS after a 2 s warm-up. Not a test; one run, ticks of 10 ms.
#
#   bench/thread_cpu.sh KEEL_BIN [SECONDS] [CONNECTIONS]      # e.g. build/keel 5 1
#
# Needs wrk, curl and node.
set -euo pipefail
BIN=${1:?usage: bench/thread_cpu.sh KEEL_BIN [SECONDS] [CONNECTIONS]}
SECS=${2:-5}
CONNS=${3:-1}
W=$(mktemp -d)
trap 'kill "${KEEL:-}" "${MOCK:-}" 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
MP=$(free_port)
KP=$(free_port)
node "$(dirname "${BASH_SOURCE[0]}")/chat_mock.mjs" "$MP" &
MOCK=$!
cat >"$W/keel.yaml" <<YAML
listen: 127.0.0.1:$KP
state: sqlite:$W/keel.db
log_retention: {days: 0, max_requests: 0}
server: {threads: 1, shutdown_grace_ms: 1000}
providers:
  - {name: mock, kind: openai, base_url: "http://127.0.0.1:$MP/v1", api_key: bench}
models:
  - {name: bench, retries: 0, targets: [{provider: mock, model: m}]}
  - name: bench-shadowed
    retries: 0
    targets: [{provider: mock, model: m}]
    shadow: {model: bench-candidate, percent: ${BENCH_SHADOW_PERCENT:-100}, max_concurrency: ${BENCH_SHADOW_CONCURRENCY:-4}}
  - {name: bench-candidate, retries: 0, targets: [{provider: mock, model: m}]}
YAML
"$BIN" serve --config "$W/keel.yaml" >"$W/keel.log" 2>&1 &
KEEL=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$KP/healthz" && break; sleep 0.2; done
ticks() {  # "TID UTIME STIME" per thread of keel
  for t in /proc/"$KEEL"/task/*; do
    read -ra f <"$t/stat"
    echo "${t##*/} ${f[13]} ${f[14]}"
  done
}
for model in bench bench-shadowed; do
  printf 'wrk.method = "POST"; wrk.body = %s; wrk.headers["Content-Type"] = "application/json"\n' \
    "'{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'" >"$W/post.lua"
  wrk -t1 -c"$CONNS" -d2s -s "$W/post.lua" "http://127.0.0.1:$KP/v1/chat/completions" >/dev/null
  sleep 1  # mirrors of the warm-up finish
  ticks >"$W/before"
  wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$W/post.lua" "http://127.0.0.1:$KP/v1/chat/completions" >"$W/wrk.txt"
  sleep 1  # and those of the run, which are its cost
  ticks >"$W/after"
  n=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
  # Mirrors since start (warm-ups included): mirrored, dropped past max_concurrency, failed.
  mirrors=$(curl -s "http://127.0.0.1:$KP/admin/shadow/bench-shadowed" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).mirror;console.log(`${m.mirrored} mirrored, ${m.dropped} dropped, ${m.failed} failed`)})')
  echo "$model: $n requests, wrk -c$CONNS ${SECS}s; mirrors so far: $mirrors"
  # ticks are 10 ms = 10000 µs
  awk -v n="$n" 'NR == FNR { u[$1] = $2; s[$1] = $3; next }
    { du = $2 - u[$1]; ds = $3 - s[$1]
      if (du + ds > 0) printf "  thread %s: user %.1f µs, system %.1f µs per request\n", $1, du * 10000 / n, ds * 10000 / n }' \
    "$W/before" "$W/after"
done
