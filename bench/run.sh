#!/usr/bin/env bash
# keel gateway benchmark (`make bench-gateway`): keel against nginx as a plain reverse proxy and
# Portkey's gateway (@portkey-ai/gateway from npm), all in front of the same static mock upstream,
# driven by wrk; beside them keel's floor (bench/floor/floor_proxy.cpp: keel's HTTP layer
# forwarding bytes, nothing above it). See bench/README.md.
#
#   BENCH_SECONDS=10   measured seconds per run (20 runs: 2 modes x 2 connection counts x 5 targets)
#   BENCH_WARMUP=1     unmeasured seconds before each run
#   BENCH_WORKERS=1    nginx worker_processes of both nginx instances = keel server.threads
#   BENCH_PIN=0        1: the server under test (nginx proxy, keel, Portkey) on CPU 0, wrk and the
#                      mock on the other CPUs (taskset), so that the server has one core to itself
#   BENCH_ROUNDS=1     rounds per mode and connection count, the targets interleaved in each;
#                      every value reported is the median over the rounds (runs on a shared VM
#                      move by 10-15 %; 3 or 5 rounds make the ratios steadier)
#   BENCH_TARGETS="mock proxy floor keel responses shadow portkey"   which targets to measure
#                      (mock and proxy always run; responses = keel's POST /v1/responses, shadow =
#                      a model with `shadow:` mirroring to a candidate on the same mock; both are
#                      the same keel process)
#   BENCH_SHADOW_PERCENT=10   the shadow target's `percent` (DESIGN.md's example is 10)
#   BENCH_SHADOW_CONCURRENCY=4   its `max_concurrency` (keel's default is 4); past it a sampled
#                      request is not mirrored, and the report says how many were not
#                      prompt = POST /v1/prompts/{name}/run: a .prompty with a variant for the
#                      target's provider kind, rendered per request (issue 21's row)
#   BENCH_RETENTION=0  N > 0: keel's request log keeps at most N requests (log_retention:
#                      max_requests), to see what pruning costs and that the file stops growing;
#                      0: every request (not keel's default of 30 days and 10 million)
#   BENCH_SOAK=0       seconds of extra load on keel after the runs (50 connections, plain and
#                      streamed in turn, 30 s each), its RSS and request log size after each slice
#   BENCH_RECORD=1     append the result to bench/RESULTS.md (0: print only)
#   BENCH_KEEP=0       1: keep the temporary directory (configs, logs, raw wrk output)
#   BENCH_BUILD_DIR=build   where keel was built; KEEL_BIN=$BENCH_BUILD_DIR/keel overrides it;
#                      the floor is built there (target keel_floor_proxy) beside KEEL_BIN
#
# Everything listens on 127.0.0.1, on free ports chosen at start; every process started here is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-1}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}
BENCH_WORKERS=${BENCH_WORKERS:-1}
BENCH_PIN=${BENCH_PIN:-0}
BENCH_SOAK=${BENCH_SOAK:-0}
BENCH_RETENTION=${BENCH_RETENTION:-0}
BENCH_RECORD=${BENCH_RECORD:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_TARGETS=${BENCH_TARGETS:-mock proxy floor keel responses shadow prompt portkey}
BENCH_SHADOW_PERCENT=${BENCH_SHADOW_PERCENT:-10}
BENCH_SHADOW_CONCURRENCY=${BENCH_SHADOW_CONCURRENCY:-4}
BENCH_BUILD_DIR=${BENCH_BUILD_DIR:-build}
[[ $BENCH_BUILD_DIR == /* ]] || BENCH_BUILD_DIR=$ROOT/$BENCH_BUILD_DIR
KEEL_BIN=${KEEL_BIN:-$BENCH_BUILD_DIR/keel}
FLOOR_BIN=$(dirname "$KEEL_BIN")/keel_floor_proxy
PORTKEY_DIR=$ROOT/bench/portkey
PORTKEY_VERSION=1.15.2
RESULTS_FILE=$ROOT/bench/RESULTS.md
HIGH_CONNS=50
HIGH_THREADS=2

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# BENCH_PIN=1: commands that start the server under test run under PIN_SERVER, the load side
# (wrk, the mock) under PIN_LOAD; taskset execs its command, so the pid stays the server's.
PIN_SERVER=() PIN_LOAD=()
[[ $BENCH_PIN == [01] ]] || die "BENCH_PIN must be 0 or 1, got '$BENCH_PIN'"
if [[ $BENCH_PIN == 1 ]]; then
  command -v taskset >/dev/null || die "BENCH_PIN=1 needs taskset (util-linux)"
  (($(nproc) >= 2)) || die "BENCH_PIN=1 needs at least 2 CPUs"
  PIN_SERVER=(taskset -c 0)
  PIN_LOAD=(taskset -c "1-$(($(nproc) - 1))")
fi

for v in BENCH_SECONDS BENCH_WARMUP BENCH_WORKERS BENCH_ROUNDS BENCH_SOAK BENCH_RETENTION; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((BENCH_SECONDS >= 1)) || die "BENCH_SECONDS must be at least 1"
((BENCH_WORKERS >= 1)) || die "BENCH_WORKERS must be at least 1"
((BENCH_ROUNDS >= 1)) || die "BENCH_ROUNDS must be at least 1"
# The targets in a fixed order; the mock and nginx are the baselines every ratio needs.
TARGETS=(mock proxy)
for t in floor keel responses shadow prompt portkey; do
  [[ " $BENCH_TARGETS " == *" $t "* ]] && TARGETS+=("$t")
done
for t in $BENCH_TARGETS; do
  [[ $t =~ ^(mock|proxy|floor|keel|responses|shadow|prompt|portkey)$ ]] ||
    die "BENCH_TARGETS: unknown target '$t' (mock proxy floor keel responses shadow prompt portkey)"
done
has_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }
# `responses` is the same keel process answering POST /v1/responses (issue 19's row).
if has_target responses && ! has_target keel; then die "BENCH_TARGETS: responses needs keel"; fi
# `shadow` is the same keel process serving a model whose answers are mirrored (issue 22's row).
if has_target shadow && ! has_target keel; then die "BENCH_TARGETS: shadow needs keel"; fi
if has_target prompt && ! has_target keel; then die "BENCH_TARGETS: prompt needs keel"; fi
[[ $BENCH_SHADOW_PERCENT =~ ^[0-9]+$ ]] && ((BENCH_SHADOW_PERCENT <= 100)) ||
  die "BENCH_SHADOW_PERCENT must be a whole number from 0 to 100, got '$BENCH_SHADOW_PERCENT'"
[[ $BENCH_SHADOW_CONCURRENCY =~ ^[1-9][0-9]*$ ]] ||
  die "BENCH_SHADOW_CONCURRENCY must be a whole number above 0, got '$BENCH_SHADOW_CONCURRENCY'"
if has_target keel; then
  [[ -x $KEEL_BIN ]] || die "keel binary not found at $KEEL_BIN (run 'make build' first, or set KEEL_BIN)"
fi
if has_target floor; then
  # Built on demand (not part of `make build`), in the build directory keel came from, so that
  # both share compiler flags; a no-op when it is up to date.
  FLOOR_DIR=$(dirname "$FLOOR_BIN")
  [[ -f $FLOOR_DIR/CMakeCache.txt ]] ||
    die "the floor target builds in keel's CMake build directory, and $FLOOR_DIR is not one"
  log "building the floor (keel_floor_proxy) in ${FLOOR_DIR#"$ROOT"/}"
  cmake --build "$FLOOR_DIR" --target keel_floor_proxy >"${TMPDIR:-/tmp}/keel-bench-floor-build.log" 2>&1 ||
    { tail -n 20 "${TMPDIR:-/tmp}/keel-bench-floor-build.log" >&2; die "building keel_floor_proxy failed"; }
fi

# --- dependencies --------------------------------------------------------------------------------
missing=()
for pkg in nginx-light wrk curl; do
  # Any nginx flavour will do; curl is used for the correctness checks.
  if [[ $pkg == nginx-light ]] && command -v nginx >/dev/null 2>&1; then continue; fi
  if [[ $pkg == curl ]] && command -v curl >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
NGINX=$(command -v nginx || true)
[[ -n $NGINX ]] || NGINX=/usr/sbin/nginx
[[ -x $NGINX ]] || die "nginx not found after installing nginx-light"
command -v wrk >/dev/null || die "wrk not found after installing it"
if command -v python3 >/dev/null; then PORT_TOOL=python3
elif command -v node >/dev/null; then PORT_TOOL=node
else die "need python3 or node to find free ports"; fi
CLK_TCK=$(getconf CLK_TCK)
if has_target portkey; then
  command -v node >/dev/null && command -v npm >/dev/null || die "Portkey's gateway needs node and npm"
  # Installed from the checked-in package-lock.json into bench/portkey/node_modules (ignored by
  # git). Its only install script is patch-package, which has no patches to apply in the
  # published package, so scripts are skipped.
  installed=$(node -p "try { require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version } catch { '' }")
  if [[ $installed != "$PORTKEY_VERSION" ]]; then
    log "installing @portkey-ai/gateway@$PORTKEY_VERSION into bench/portkey/node_modules"
    (cd "$PORTKEY_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) ||
      die "npm ci in $PORTKEY_DIR failed"
  fi
  PORTKEY_MAIN=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
  [[ -f $PORTKEY_MAIN ]] || die "Portkey's gateway is not at $PORTKEY_MAIN"
fi

# --- temporary directory and cleanup -------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX")
# nginx workers may run as an unprivileged user when we are root: let them traverse.
chmod 755 "$WORK"
STARTED=()   # pids of processes we started (nginx masters, keel, Portkey)
CHILD=""     # the wrk running now

# Runs "$@" in the background and waits for it: a signal then interrupts `wait` at once, whereas
# bash runs a trap only after a foreground command has finished.
run_child() {
  local rc=0
  "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

exec 8>&1 9>&2   # the script's own stdout and stderr, for cleanup to report on
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  exec 1>&8 2>&9   # a signal may arrive inside a redirected command
  if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${STARTED[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ $BENCH_KEEP == 1 ]] || ((rc != 0 && rc != 130 && rc != 143)); then
    log "kept $WORK (configs, logs, raw wrk output)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'printf "bench: error: line %s: %s failed\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# --- free ports ----------------------------------------------------------------------------------
free_ports() {  # N -> N distinct free loopback ports, one per line
  if [[ $PORT_TOOL == python3 ]]; then
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks: print(s.getsockname()[1])
PY
  else
    node -e '
      const net = require("net"); const n = +process.argv[1]; const servers = []; const ports = [];
      (function next() {
        if (servers.length === n) { console.log(ports.join("\n")); servers.forEach(s => s.close()); return; }
        const s = net.createServer(); servers.push(s);
        s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); next(); });
      })();' "$1"
  fi
}
mapfile -t PORTS < <(free_ports 5)
((${#PORTS[@]} == 5)) || die "could not find free ports"
MOCK_PORT=${PORTS[0]} PROXY_PORT=${PORTS[1]} KEEL_PORT=${PORTS[2]} PORTKEY_PORT=${PORTS[3]}
FLOOR_PORT=${PORTS[4]}

# --- /proc helpers -------------------------------------------------------------------------------
cpu_ticks() {  # pids... -> sum of utime+stime (clock ticks)
  local total=0 pid line rest f
  for pid in "$@"; do
    read -r line <"/proc/$pid/stat" || die "process $pid is gone"
    rest=${line##*) }
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12]))   # fields 14 (utime) and 15 (stime)
  done
  echo "$total"
}
children_of() {  # pid -> its child pids
  local stat line rest f
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    if [[ ${f[1]} == "$1" ]]; then echo "${line%% *}"; fi
  done
}
rss_kb() {  # pids... -> sum of VmRSS in kB
  local total=0 pid kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    total=$((total + kb))
  done
  echo "$total"
}
alive() { kill -0 "$1" 2>/dev/null; }

# --- fixed payloads ------------------------------------------------------------------------------
CHAT_JSON='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}}'
chunk() {  # delta-json finish -> one SSE event, with nginx-escaped newlines
  printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}\\n\\n' "$1" "$2"
}
SSE_BODY="$(chunk '{"role":"assistant","content":""}' null)"
for word in Hello ' from' ' the' ' mock' ' upstream.'; do SSE_BODY+="$(chunk "{\"content\":\"$word\"}" null)"; done
SSE_BODY+="$(chunk '{}' '"stop"')"
SSE_BODY+='data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}}\n\n'
SSE_BODY+='data: [DONE]\n\n'
REQ_PLAIN='{"model":"bench","messages":[{"role":"user","content":"hi"}]}'
REQ_STREAM='{"model":"bench-stream","messages":[{"role":"user","content":"hi"}],"stream":true}'
# The same turn through the Responses API, not stored (the chat rows store nothing either).
REQ_RESPONSES_PLAIN='{"model":"bench","input":"hi","store":false}'
REQ_RESPONSES_STREAM='{"model":"bench-stream","input":"hi","stream":true,"store":false}'
# The chat turn to the shadowed models (keel.yaml below).
REQ_SHADOW_PLAIN='{"model":"bench-shadowed","messages":[{"role":"user","content":"hi"}]}'
REQ_SHADOW_STREAM='{"model":"bench-stream-shadowed","messages":[{"role":"user","content":"hi"}],"stream":true}'
# The prompt's inputs (keel.yaml's bench-prompt, bench-prompt-stream).
REQ_PROMPT_PLAIN='{"inputs":{"text":"hi"}}'
REQ_PROMPT_STREAM='{"inputs":{"text":"hi"},"stream":true}'
body_for() {  # target mode -> request body
  if [[ $1 == prompt ]]; then
    [[ $2 == plain ]] && echo "$REQ_PROMPT_PLAIN" || echo "$REQ_PROMPT_STREAM"
  elif [[ $1 == responses ]]; then
    [[ $2 == plain ]] && echo "$REQ_RESPONSES_PLAIN" || echo "$REQ_RESPONSES_STREAM"
  elif [[ $1 == shadow ]]; then
    [[ $2 == plain ]] && echo "$REQ_SHADOW_PLAIN" || echo "$REQ_SHADOW_STREAM"
  else
    [[ $2 == plain ]] && echo "$REQ_PLAIN" || echo "$REQ_STREAM"
  fi
}

# --- nginx instances -----------------------------------------------------------------------------
nginx_common() {  # prefix -> main-context and http-context preamble
  cat <<EOF
worker_processes $BENCH_WORKERS;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
EOF
}
start_nginx() {  # name conf-body -> sets NGINX_PID_<name>
  local name=$1 prefix=$WORK/$1 pid i
  mkdir -p "$prefix/tmp"
  { nginx_common "$prefix"; printf '%s\n}\n' "$2"; } >"$prefix/nginx.conf"
  "$NGINX" -t -q -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" 2>"$prefix/configtest.log" ||
    { cat "$prefix/configtest.log" >&2; die "nginx $name: config test failed ($prefix/nginx.conf)"; }
  local pin=("${PIN_SERVER[@]}")
  [[ $name == mock ]] && pin=("${PIN_LOAD[@]}")
  "${pin[@]}" "$NGINX" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" 2>>"$prefix/error.log" &
  pid=$!
  STARTED+=("$pid")
  printf -v "NGINX_PID_$name" '%s' "$pid"
}
wait_port() {  # port pid what
  local i
  for ((i = 0; i < 100; i++)); do
    alive "$2" || die "$3 exited during start-up (logs in $WORK)"
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$3 did not listen on port $1 within 10 s"
}
instance_pids() {  # master name -> master and its workers (checked against worker_processes)
  local master=$1 workers i
  for ((i = 0; i < 50; i++)); do
    mapfile -t workers < <(children_of "$master")
    ((${#workers[@]} >= BENCH_WORKERS)) && break
    sleep 0.1
  done
  ((${#workers[@]} == BENCH_WORKERS)) ||
    die "nginx $2 has ${#workers[@]} workers, expected $BENCH_WORKERS"
  echo "$master ${workers[*]}"
}

start_nginx mock "  server {
    listen 127.0.0.1:$MOCK_PORT;
    location = /v1/chat/completions {
      default_type application/json;
      return 200 '$CHAT_JSON';
    }
    location = /stream/v1/chat/completions {
      default_type text/event-stream;
      return 200 '$SSE_BODY';
    }
    location = /nginx_status { stub_status; }
    location / { return 404; }
  }"
start_nginx proxy "  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    proxy_http_version 1.1;
    proxy_set_header Connection \"\";
    location / { proxy_pass http://mock; }
    location /stream/ { proxy_pass http://mock; proxy_buffering off; }
  }"
wait_port "$MOCK_PORT" "$NGINX_PID_mock" "nginx mock"
wait_port "$PROXY_PORT" "$NGINX_PID_proxy" "nginx proxy"
read -r -a PIDS_mock <<<"$(instance_pids "$NGINX_PID_mock" mock)"
read -r -a PIDS_proxy <<<"$(instance_pids "$NGINX_PID_proxy" proxy)"

declare -A RSS_IDLE RSS_AFTER   # target -> kB; RSS_AFTER[target,mode]
KEEL_RSS_SERIES=()              # MiB, after each round of each mode and connection count
RSS_IDLE[proxy]=$(rss_kb "${PIDS_proxy[@]}")

# --- keel's floor --------------------------------------------------------------------------------
# keel's own server and upstream client forwarding the body and the answer byte for byte: what
# a proxy built on keel's HTTP layer costs before keel parses, translates, routes or logs.
FLOOR_PID=""
if has_target floor; then
  "${PIN_SERVER[@]}" "$FLOOR_BIN" "$FLOOR_PORT" "http://127.0.0.1:$MOCK_PORT" "$BENCH_WORKERS" \
    >"$WORK/floor.stdout" 2>"$WORK/floor.log" &
  FLOOR_PID=$!
  STARTED+=("$FLOOR_PID")
  wait_port "$FLOOR_PORT" "$FLOOR_PID" "keel's floor"
  sleep 0.5
  RSS_IDLE[floor]=$(rss_kb "$FLOOR_PID")
  PIDS_floor=("$FLOOR_PID")
fi

# --- keel ----------------------------------------------------------------------------------------
KEEL_PID=""
if has_target keel; then
  cat >"$WORK/keel.yaml" <<EOF
listen: 127.0.0.1:$KEEL_PORT
state: sqlite:$WORK/keel.db
log_retention: {days: 0, max_requests: $BENCH_RETENTION}   # 0, 0: keep every request
server:
  threads: $BENCH_WORKERS
  shutdown_grace_ms: 1000
providers:
  - name: mock
    kind: openai
    base_url: http://127.0.0.1:$MOCK_PORT/v1
    api_key: bench
  - name: mock-stream          # same mock; this path answers with a fixed SSE body
    kind: openai
    base_url: http://127.0.0.1:$MOCK_PORT/stream/v1
    api_key: bench
models:
  - name: bench
    retries: 0
    targets: [{provider: mock, model: m}]
  - name: bench-stream
    retries: 0
    targets: [{provider: mock-stream, model: m}]
  # The shadow target: the same answers, each request mirrored with probability
  # BENCH_SHADOW_PERCENT to a candidate on the same mock after the client has its answer, the
  # pair scored by the default evaluators and stored.
  - name: bench-shadowed
    retries: 0
    targets: [{provider: mock, model: m}]
    shadow: {model: bench-candidate, percent: $BENCH_SHADOW_PERCENT, max_concurrency: $BENCH_SHADOW_CONCURRENCY}
  - name: bench-stream-shadowed
    retries: 0
    targets: [{provider: mock-stream, model: m}]
    shadow: {model: bench-candidate, percent: $BENCH_SHADOW_PERCENT, max_concurrency: $BENCH_SHADOW_CONCURRENCY}
  - name: bench-candidate
    retries: 0
    targets: [{provider: mock, model: m}]
# The prompt target: a default .prompty and a variant for the targets' provider kind (openai),
# the variant rendered with its inputs for every request.
prompts:
  - {name: bench-prompt, file: $WORK/default.prompty, model: bench, variants: {openai: $WORK/openai.prompty}}
  - {name: bench-prompt-stream, file: $WORK/default.prompty, model: bench-stream, variants: {openai: $WORK/openai.prompty}}
EOF
  "$ROOT/bench/prompt_fixture.sh" "$WORK"
  "${PIN_SERVER[@]}" "$KEEL_BIN" serve --config "$WORK/keel.yaml" >"$WORK/keel.stdout" 2>"$WORK/keel.log" &
  KEEL_PID=$!
  STARTED+=("$KEEL_PID")
  for ((i = 0; i < 100; i++)); do
    alive "$KEEL_PID" || { tail -n 20 "$WORK/keel.log" >&2; die "keel exited during start-up"; }
    grep -q "listening on http://127.0.0.1:$KEEL_PORT" "$WORK/keel.log" && break
    sleep 0.1
  done
  grep -q "listening on http://127.0.0.1:$KEEL_PORT" "$WORK/keel.log" ||
    { tail -n 20 "$WORK/keel.log" >&2; die "keel did not report 'listening on http://127.0.0.1:$KEEL_PORT' within 10 s"; }
  sleep 0.5
  RSS_IDLE[keel]=$(rss_kb "$KEEL_PID")   # before any request
  PIDS_keel=("$KEEL_PID")
  PIDS_responses=("$KEEL_PID")
  PIDS_shadow=("$KEEL_PID")
  PIDS_prompt=("$KEEL_PID")
fi

# --- Portkey's gateway ---------------------------------------------------------------------------
# Node's start-server.js, in production mode (no console UI, no log stream), headless. It takes
# its upstream from request headers (x-portkey-provider, x-portkey-custom-host), set by the wrk
# script below. loopback.mjs binds it to 127.0.0.1 and refuses any connection off loopback.
PORTKEY_PID=""
if has_target portkey; then
  NODE_ENV=production "${PIN_SERVER[@]}" node --import "$PORTKEY_DIR/loopback.mjs" "$PORTKEY_MAIN" \
    --port="$PORTKEY_PORT" --headless >"$WORK/portkey.stdout" 2>"$WORK/portkey.log" &
  PORTKEY_PID=$!
  STARTED+=("$PORTKEY_PID")
  wait_port "$PORTKEY_PORT" "$PORTKEY_PID" "Portkey's gateway"
  sleep 1.5   # it prints a start-up spinner for a second; let it settle before the idle RSS
  ss -Hltn "sport = :$PORTKEY_PORT" 2>/dev/null | awk '{print $4}' | grep -qv '^127\.0\.0\.1:' &&
    die "Portkey's gateway listens beyond 127.0.0.1: $(ss -Hltn "sport = :$PORTKEY_PORT" | awk '{print $4}' | paste -sd' ')"
  RSS_IDLE[portkey]=$(rss_kb "$PORTKEY_PID")
  PIDS_portkey=("$PORTKEY_PID")
fi

log "mock nginx :$MOCK_PORT (pids ${PIDS_mock[*]}), nginx proxy :$PROXY_PORT (pids ${PIDS_proxy[*]})${FLOOR_PID:+, floor :$FLOOR_PORT (pid $FLOOR_PID)}${KEEL_PID:+, keel :$KEEL_PORT (pid $KEEL_PID)}${PORTKEY_PID:+, portkey :$PORTKEY_PORT (pid $PORTKEY_PID)}"
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN {exit !(l >= 1)}'; then
  log "warning: load average is $load1 before the runs: other work shares this machine, expect noisy numbers"
fi
log "nginx worker_processes=$BENCH_WORKERS, keel server.threads=$BENCH_WORKERS; ${BENCH_SECONDS}s per run"

# --- correctness checks before (and after) load --------------------------------------------------
mock_base() {  # mode -> the mock's OpenAI base URL for that mode
  if [[ $1 == stream ]]; then echo "http://127.0.0.1:$MOCK_PORT/stream/v1"; else echo "http://127.0.0.1:$MOCK_PORT/v1"; fi
}
url_for() {  # target mode -> URL
  local port path
  case $1 in
    mock) port=$MOCK_PORT ;; proxy) port=$PROXY_PORT ;; floor) port=$FLOOR_PORT ;;
    keel | responses | shadow | prompt) port=$KEEL_PORT ;; portkey) port=$PORTKEY_PORT ;;
  esac
  # The byte forwarders (nginx, the floor) reach the mock's stream answer by its path.
  if [[ $2 == stream && ($1 == mock || $1 == proxy || $1 == floor) ]]; then path=/stream/v1/chat/completions; else path=/v1/chat/completions; fi
  [[ $1 == responses ]] && path=/v1/responses
  if [[ $1 == prompt ]]; then
    if [[ $2 == stream ]]; then path=/v1/prompts/bench-prompt-stream/run; else path=/v1/prompts/bench-prompt/run; fi
  fi
  echo "http://127.0.0.1:$port$path"
}
headers_for() {  # target mode -> "name: value" lines beyond Content-Type
  if [[ $1 == portkey ]]; then
    printf '%s\n' "x-portkey-provider: openai" "x-portkey-custom-host: $(mock_base "$2")" "authorization: Bearer bench"
  fi
}
check() {  # target mode
  local body out status curl_headers=()
  body=$(body_for "$1" "$2")
  while IFS= read -r h; do [[ -n $h ]] && curl_headers+=(-H "$h"); done < <(headers_for "$1" "$2")
  out=$(curl -sS --max-time 5 -o "$WORK/check.body" -w '%{http_code}' -H 'content-type: application/json' \
    "${curl_headers[@]}" --data "$body" "$(url_for "$1" "$2")") || die "$1 ($2): request failed"
  status=$out
  [[ $status == 200 ]] || { cat "$WORK/check.body" >&2; die "$1 ($2): HTTP $status"; }
  if [[ $2 == plain ]]; then
    grep -q '"Hello from the mock upstream."' "$WORK/check.body" ||
      { cat "$WORK/check.body" >&2; die "$1 ($2): unexpected body"; }
  elif [[ $1 == responses ]]; then
    # A Responses stream ends with response.completed, never [DONE].
    grep -q '" upstream."' "$WORK/check.body" && grep -q '^event: response.completed' "$WORK/check.body" ||
      { cat "$WORK/check.body" >&2; die "$1 ($2): unexpected stream"; }
  else
    # Streams: the content arrives in pieces; the last event is [DONE].
    grep -q '" upstream."' "$WORK/check.body" && grep -q '^data: \[DONE\]' "$WORK/check.body" ||
      { cat "$WORK/check.body" >&2; die "$1 ($2): unexpected stream"; }
  fi
}
mock_accepts() {  # connections the mock has accepted so far (including this status request)
  curl -sS --max-time 5 "http://127.0.0.1:$MOCK_PORT/nginx_status" | awk 'NR == 3 {print $1}'
}

# --- wrk -----------------------------------------------------------------------------------------
for mode in plain stream; do
  for target in "${TARGETS[@]}"; do
    body=$(body_for "$target" "$mode")
    {
      echo 'wrk.method = "POST"'
      echo 'wrk.headers["Content-Type"] = "application/json"'
      headers_for "$target" "$mode" | while IFS= read -r h; do
        [[ -n $h ]] && printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
      done
      cat <<EOF
wrk.body = '$body'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
    } >"$WORK/$mode-$target.lua"
  done
done

RESULTS=$WORK/results.tsv   # mode conns target rps p50 p99 cpu_us_per_req upstream_conns non2xx sockerr
RUNS=$WORK/runs.tsv         # the same, one line per run (BENCH_ROUNDS lines per mode, conns, target)
: >"$RESULTS"
: >"$RUNS"
ERRORS=()

measure() {  # mode conns target
  local mode=$1 conns=$2 target=$3 threads=1 url out pidvar cpu0 cpu1 acc0 acc1 line
  ((conns > 1)) && threads=$HIGH_THREADS
  url=$(url_for "$target" "$mode")
  pidvar="PIDS_$target[@]"
  local pids=("${!pidvar}")
  local script=$WORK/$mode-$target.lua
  if ((BENCH_WARMUP > 0)); then
    run_child "${PIN_LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${BENCH_WARMUP}s" -s "$script" "$url" >"$WORK/warmup.txt" 2>&1 ||
      { cat "$WORK/warmup.txt" >&2; die "wrk warm-up against $target failed"; }
  fi
  out=$WORK/wrk-$mode-c$conns-$target.txt
  acc0=$(mock_accepts)
  cpu0=$(cpu_ticks "${pids[@]}")
  run_child "${PIN_LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${BENCH_SECONDS}s" --latency -s "$script" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk against $target failed"; }
  cpu1=$(cpu_ticks "${pids[@]}")
  acc1=$(mock_accepts)
  for pid in "${pids[@]}"; do
    alive "$pid" || { tail -n 20 "$WORK/$target.log" >&2 2>/dev/null; die "$target (pid $pid) died during the run"; }
  done
  line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no summary in wrk output"; }
  # Also report wrk's own error lines verbatim.
  if grep -qE 'Non-2xx or 3xx responses|Socket errors' "$out"; then
    ERRORS+=("$mode c=$conns $target: $(grep -E 'Non-2xx or 3xx responses|Socket errors' "$out" | sed 's/^ *//' | paste -sd ';' -)")
  fi
  local upstream=$((acc1 - acc0 - 1))   # minus the second status request itself
  [[ $target == mock ]] && upstream=-
  awk -v line="$line" -v mode="$mode" -v conns="$conns" -v target="$target" \
      -v ticks=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v upstream="$upstream" 'BEGIN {
    n = split(line, kv, " ")
    for (i = 2; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
    rps = v["requests"] / (v["duration_us"] / 1e6)
    cpu = v["requests"] > 0 ? ticks * 1e6 / hz / v["requests"] : 0
    sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
    printf "%s\t%s\t%s\t%.0f\t%d\t%d\t%.1f\t%s\t%d\t%d\n", mode, conns, target, rps, v["p50_us"], v["p99_us"], cpu, upstream, v["status"], sock
  }' >>"$RUNS"
  tail -n 1 "$RUNS" | awk -F'\t' '{printf "[bench] %-6s c=%-3s %-7s %8s req/s  p50 %6s us  p99 %6s us  cpu %6s us/req  upstream conns %s  non-2xx %s  socket errors %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}' >&2
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for mode in plain stream; do
  for target in "${TARGETS[@]}"; do check "$target" "$mode"; done
  for conns in 1 "$HIGH_CONNS"; do
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
      ((BENCH_ROUNDS > 1)) && log "$mode c=$conns: round $round of $BENCH_ROUNDS"
      for target in "${TARGETS[@]}"; do measure "$mode" "$conns" "$target"; done
      # keel's RSS after every round: it should level off, not climb with the requests served.
      if has_target keel; then
        KEEL_RSS_SERIES+=("$(awk -v k="$(rss_kb "$KEEL_PID")" 'BEGIN {printf "%.1f", k / 1024}')")
      fi
    done
  done
  for target in "${TARGETS[@]}"; do check "$target" "$mode"; done   # still correct after load
  for target in proxy floor keel portkey; do
    has_target "$target" || continue
    pidvar="PIDS_$target[@]"
    RSS_AFTER[$target,$mode]=$(rss_kb "${!pidvar}")
  done
done
# --- soak: does keel's memory level off? ---------------------------------------------------------
SOAK_NOTE=""
if ((BENCH_SOAK > 0)) && has_target keel; then
  soak_left=$BENCH_SOAK soak_requests=0 soak_series=() soak_db=() soak_cpu=() soak_mode=plain
  log "soak: ${BENCH_SOAK}s of load on keel, $HIGH_CONNS connections"
  while ((soak_left > 0)); do
    slice=$((soak_left < 30 ? soak_left : 30))
    out=$WORK/soak.txt
    ticks0=$(cpu_ticks "$KEEL_PID")
    run_child "${PIN_LOAD[@]}" wrk -t"$HIGH_THREADS" -c"$HIGH_CONNS" -d"${slice}s" -s "$WORK/$soak_mode-keel.lua" \
      "$(url_for keel "$soak_mode")" >"$out" 2>&1 || { cat "$out" >&2; die "wrk (soak) against keel failed"; }
    alive "$KEEL_PID" || { tail -n 20 "$WORK/keel.log" >&2; die "keel died during the soak"; }
    n=$(sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p' "$out")
    soak_requests=$((soak_requests + ${n:-0}))
    soak_series+=("$(awk -v k="$(rss_kb "$KEEL_PID")" 'BEGIN {printf "%.1f", k / 1024}')")
    soak_db+=("$(du -cm "$WORK"/keel.db* 2>/dev/null | awk 'END {print $1}')")
    soak_cpu+=("$(awk -v t=$(($(cpu_ticks "$KEEL_PID") - ticks0)) -v hz="$CLK_TCK" -v n="${n:-0}" \
      'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}')")
    log "soak: $soak_mode ${slice}s, ${n:-0} requests, keel RSS ${soak_series[-1]} MiB, CPU ${soak_cpu[-1]} µs/req, request log ${soak_db[-1]} MiB"
    soak_left=$((soak_left - slice))
    [[ $soak_mode == plain ]] && soak_mode=stream || soak_mode=plain
  done
  rows=""
  if command -v sqlite3 >/dev/null; then
    rows=" and $(sqlite3 "$WORK/keel.db" 'select count(*) from requests' 2>/dev/null || echo '?') requests"
  fi
  retention=""
  ((BENCH_RETENTION > 0)) && retention=", with \`log_retention: {max_requests: $BENCH_RETENTION}\` (BENCH_RETENTION)"
  SOAK_NOTE="- Soak (BENCH_SOAK=$BENCH_SOAK): after the runs, keel served $soak_requests more requests at $HIGH_CONNS connections (plain and streamed in turn, 30 s slices)$retention. After each slice: keel's RSS in MiB ${soak_series[*]}; its CPU per request in the slice, in µs, ${soak_cpu[*]}; the request log's size (keel.db and its WAL) in MiB ${soak_db[*]}. At the end the log held ${soak_db[-1]} MiB$rows."
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
# One line per mode, conns and target, in the order measured: the median of each value over the
# rounds (the upper median for an even count), the largest error counts, the upstream
# connections summed.
awk -F'\t' '
  function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return a[int(n / 2) + 1]
  }
  {
    key = $1 SUBSEP $2 SUBSEP $3
    if (!(key in seen)) { seen[key] = 1; order[++count] = key; head[key] = $1 "\t" $2 "\t" $3 }
    for (c = 4; c <= 7; c++) vals[key, c] = vals[key, c] " " $c
    up[key] = $8 == "-" ? "-" : up[key] + $8
    if ($9 > non2xx[key]) non2xx[key] = $9
    if ($10 > sock[key]) sock[key] = $10
  }
  END {
    for (i = 1; i <= count; i++) {
      key = order[i]
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", head[key], median(vals[key, 4]), median(vals[key, 5]), median(vals[key, 6]), median(vals[key, 7]), up[key], non2xx[key], sock[key]
    }
  }' "$RUNS" >"$RESULTS"
# Each server's threads and the CPU each used over the whole benchmark (start-up, checks,
# warm-ups, runs).
thread_cpu() {  # pid -> "name tid (main) 1.23 s, ..."
  local stat line tid f
  for stat in /proc/"$1"/task/*/stat; do
    read -r line <"$stat" || continue
    tid=${line%% *}
    read -r -a f <<<"${line##*) }"
    [[ $tid == "$1" ]] && tid="$tid (main)"
    printf 'thread %s %s s (user %s, system %s), ' "$tid" \
      "$(awk -v t=$((f[11] + f[12])) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')" \
      "$(awk -v t="${f[11]}" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')" \
      "$(awk -v t="${f[12]}" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')"
  done
}
KEEL_THREADS="" KEEL_LOG_WARNINGS=0 PORTKEY_THREADS="" PORTKEY_LOG_LINES=0
if has_target keel; then
  KEEL_LOG_WARNINGS=$(grep -ciE 'warn|error' "$WORK/keel.log" || true)
  KEEL_THREADS=$(thread_cpu "$KEEL_PID"); KEEL_THREADS=${KEEL_THREADS%, }
fi
# How many of the shadow target's sampled requests were mirrored: past max_concurrency a sampled
# request is dropped, which also saves its cost, so the shadow row means little without this.
SHADOW_MIRRORS=""
if has_target shadow; then
  SHADOW_MIRRORS=$(curl -s "http://127.0.0.1:$KEEL_PORT/admin/shadow/bench-shadowed" |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s).mirror; const sampled = m.mirrored + m.dropped;
      console.log(`${m.mirrored} pairs stored, ${m.dropped} dropped past max_concurrency (${sampled ? (100 * m.dropped / sampled).toFixed(0) : 0} % of those sampled), ${m.failed} candidate failures`) })' ||
    echo "unknown (/admin/shadow did not answer)")
fi
if has_target portkey; then
  PORTKEY_LOG_LINES=$(grep -c . "$WORK/portkey.log" || true)
  PORTKEY_THREADS=$(thread_cpu "$PORTKEY_PID"); PORTKEY_THREADS=${PORTKEY_THREADS%, }
fi

# --- report --------------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
[[ -n $CPU_MODEL ]] || CPU_MODEL=unknown
NPROC=$(nproc)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
WRK_VERSION=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 {print $1, $2}')   # wrk -v exits 1
NODE_VERSION=$(node --version 2>/dev/null || echo none)
KEEL_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $KEEL_COMMIT != unknown ]] && ! git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null; then
  KEEL_COMMIT+=" (the tree has uncommitted changes in src/)"
fi
KEEL_BUILT=-
has_target keel && KEEL_BUILT=$(date -u -r "$KEEL_BIN" '+%Y-%m-%d %H:%M UTC')
KEEL_BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$(dirname "$KEEL_BIN")/CMakeCache.txt" 2>/dev/null || true)
PIN_WORD="" SOAK_WORD=""
if [[ $BENCH_PIN == 1 ]]; then PIN_WORD="BENCH_PIN=1 "; fi
if ((BENCH_SOAK > 0)); then SOAK_WORD="BENCH_SOAK=$BENCH_SOAK "; fi
if ((BENCH_RETENTION > 0)); then SOAK_WORD+="BENCH_RETENTION=$BENCH_RETENTION "; fi
SHADOW_WORD=""
if has_target shadow && [[ $BENCH_SHADOW_PERCENT != 10 || $BENCH_SHADOW_CONCURRENCY != 4 ]]; then
  SHADOW_WORD="BENCH_SHADOW_PERCENT=$BENCH_SHADOW_PERCENT BENCH_SHADOW_CONCURRENCY=$BENCH_SHADOW_CONCURRENCY "
fi
COMMAND="${SHADOW_WORD}BENCH_SECONDS=$BENCH_SECONDS BENCH_WARMUP=$BENCH_WARMUP BENCH_WORKERS=$BENCH_WORKERS BENCH_ROUNDS=$BENCH_ROUNDS ${PIN_WORD}${SOAK_WORD}BENCH_TARGETS=\"${TARGETS[*]}\" KEEL_BIN=${KEEL_BIN#"$ROOT"/} bench/run.sh"

report() {
  local rss_lines="" t
  for t in proxy floor keel portkey; do
    has_target "$t" || continue
    rss_lines+="$t ${RSS_IDLE[$t]} ${RSS_AFTER[$t,plain]} ${RSS_AFTER[$t,stream]};"
  done
  awk -F'\t' -v rss="$rss_lines" -v high="$HIGH_CONNS" -v has_keel="$(has_target keel && echo 1)" -v shadow_pct="$BENCH_SHADOW_PERCENT" '
  function mib(kb) { return sprintf("%.1f MiB", kb / 1024) }
  function verdict(ok) { return ok ? "met" : "**not met**" }
  function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
  BEGIN {
    name["mock"] = "mock direct"; name["proxy"] = "nginx proxy"; name["floor"] = "keel floor"; name["keel"] = "keel"; name["responses"] = "keel /v1/responses"; name["shadow"] = "keel, shadow " shadow_pct " %"; name["prompt"] = "keel prompt (variant)"; name["portkey"] = "Portkey"
    print "| mode | conns | target | req/s | ÷ nginx | p50 µs | p99 µs | added p50 µs | CPU µs/req | ÷ nginx | upstream conns opened | non-2xx | socket errors |"
    print "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  }
  { n++; row[n] = $0; key = $1 SUBSEP $2 SUBSEP $3; rps[key] = $4; p50[key] = $5; cpu[key] = $7 }
  END {
    for (i = 1; i <= n; i++) {
      split(row[i], f, "\t")
      nk = f[1] SUBSEP f[2] SUBSEP "proxy"; mk = f[1] SUBSEP f[2] SUBSEP "mock"
      added = f[3] == "mock" ? "-" : sprintf("%+d", f[5] - p50[mk])
      r1 = f[3] == "mock" || f[3] == "proxy" ? "" : ratio(f[4], rps[nk])
      r2 = f[3] == "mock" || f[3] == "proxy" ? "" : ratio(f[7], cpu[nk])
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], name[f[3]], f[4], r1, f[5], f[6], added, f[7], r2, f[8], f[9], f[10]
    }
    print ""
    print "| RSS (VmRSS) | idle | after the plain runs | after the stream runs |"
    print "|---|---:|---:|---:|"
    m = split(rss, lines, ";")
    for (i = 1; i <= m; i++) {
      if (lines[i] == "") continue
      split(lines[i], mem, " ")
      label = mem[1] == "proxy" ? "nginx proxy (master + workers)" : name[mem[1]]
      printf "| %s | %s | %s | %s |\n", label, mib(mem[2]), mib(mem[3]), mib(mem[4])
      if (mem[1] == "keel") keel_idle = mem[2]
    }
    if (has_keel != 1) exit
    print ""
    print "| goal (keel vs nginx proxy, same run) | plain | stream |"
    print "|---|---|---|"
    line1 = "| req/s ratio at " high " connections ≥ 0.8 |"
    line2 = "| CPU/req ratio at " high " connections ≤ 1.5 |"
    line3 = "| added p50 over direct at 1 connection ≤ nginx added p50 + 30 µs |"
    for (k = 1; k <= 2; k++) {
      mode = k == 1 ? "plain" : "stream"
      r = rps[mode, high, "keel"] / rps[mode, high, "proxy"]
      c = cpu[mode, high, "proxy"] > 0 ? cpu[mode, high, "keel"] / cpu[mode, high, "proxy"] : 0
      ka = p50[mode, 1, "keel"] - p50[mode, 1, "mock"]
      na = p50[mode, 1, "proxy"] - p50[mode, 1, "mock"]
      line1 = line1 sprintf(" %.2f — %s |", r, verdict(r >= 0.8))
      line2 = line2 sprintf(" %.2f — %s |", c, verdict(c > 0 && c <= 1.5))
      line3 = line3 sprintf(" keel %+d µs vs nginx %+d µs — %s |", ka, na, verdict(ka <= na + 30))
    }
    print line1; print line2; print line3
    printf "| idle RSS ≤ 20 MiB | %s — %s | |\n", mib(keel_idle), verdict(keel_idle <= 20 * 1024)
    if (rps["plain", high, "shadow"] != "") {
      # Issue 22: the client side of the shadowed model, within noise of the same model unshadowed
      # (rounds of one run move by about 10 %).
      line5 = "| shadow " shadow_pct " %: req/s ÷ keel at " high " connections ≥ 0.9 |"
      line6 = "| shadow " shadow_pct " %: p50 ÷ keel at " high " connections ≤ 1.1 |"
      for (k = 1; k <= 2; k++) {
        mode = k == 1 ? "plain" : "stream"
        r = rps[mode, high, "keel"] > 0 ? rps[mode, high, "shadow"] / rps[mode, high, "keel"] : 0
        l = p50[mode, high, "keel"] > 0 ? p50[mode, high, "shadow"] / p50[mode, high, "keel"] : 0
        line5 = line5 sprintf(" %.2f — %s |", r, verdict(r >= 0.9))
        line6 = line6 sprintf(" %.2f — %s |", l, verdict(l > 0 && l <= 1.1))
      }
      print line5; print line6
    }
    if (cpu["plain", high, "prompt"] != "") {
      # Issue 21: what rendering a prompt variant per request costs, against plain routing.
      line7 = "| prompt variant rendering: CPU/req ÷ keel at " high " connections (reported) |"
      for (k = 1; k <= 2; k++) {
        mode = k == 1 ? "plain" : "stream"
        c = cpu[mode, high, "keel"] > 0 ? cpu[mode, high, "prompt"] / cpu[mode, high, "keel"] : 0
        line7 = line7 sprintf(" %.2f |", c)
      }
      print line7
    }
    if (cpu["plain", high, "responses"] == "") exit
    line4 = "| /v1/responses CPU/req ÷ keel chat completions at " high " connections ≤ 1.2 |"
    for (k = 1; k <= 2; k++) {
      mode = k == 1 ? "plain" : "stream"
      c = cpu[mode, high, "keel"] > 0 ? cpu[mode, high, "responses"] / cpu[mode, high, "keel"] : 0
      line4 = line4 sprintf(" %.2f — %s |", c, verdict(c > 0 && c <= 1.2))
    }
    print line4
  }' "$RESULTS"
}
TABLE=$(report)

ROUNDS_NOTE=""
if ((BENCH_ROUNDS > 1)); then
  ROUNDS_NOTE="; $BENCH_ROUNDS rounds per mode and connection count, the targets interleaved, each value the median of its $BENCH_ROUNDS runs"
fi
SHARING="wrk, the mock nginx and the server under test all share these cores, so absolute numbers are low and partly measure contention"
if [[ $BENCH_PIN == 1 ]]; then SHARING="pinned (BENCH_PIN=1): the server under test (nginx proxy, keel, Portkey) alone on CPU 0, wrk and the mock (also when measured directly) on CPUs 1-$((NPROC - 1))"; fi
NOTES="- Machine: $NPROC cores ($CPU_MODEL). $SHARING; the ratios, measured in the same run, are what to compare.
- Load average (1, 5, 15 min) at the start of the runs: $LOAD_START; at the end: $LOAD_END (the benchmark itself adds about 2). A start value well above 0 means other work shared the machine and the numbers are noisier than usual.
- nginx worker_processes = $BENCH_WORKERS for both nginx instances; keel \`server.threads: $BENCH_WORKERS\`; Portkey is one Node.js process (its event loop is one thread). 1 connection: \`wrk -t1 -c1\`; $HIGH_CONNS connections: \`wrk -t$HIGH_THREADS -c$HIGH_CONNS\`; ${BENCH_SECONDS} s measured after ${BENCH_WARMUP} s of warm-up per run${ROUNDS_NOTE}.
- \"÷ nginx\" = the target's value over the nginx proxy's at the same mode and connections; \"added p50\" = p50 minus the mock's direct p50 at the same mode and connections.
- CPU = utime+stime from /proc/PID/stat of the target (nginx: master + workers; keel and Portkey: the process, all threads) over the run ÷ requests; tick = 1/$CLK_TCK s. For \"mock direct\" it is the mock's own CPU.
- Upstream conns opened = connections the mock accepted during the run (nginx stub_status); low means the proxy reuses upstream connections.
- keel floor = \`bench/floor/floor_proxy.cpp\` (\`keel_floor_proxy\`, built in keel's build directory): keel's own HTTP server and upstream client (Beast, Asio coroutines, the keep-alive pool, keel's socket code), forwarding the body and the answer byte for byte as nginx does; no JSON, routing, request log or metrics. Against nginx it measures keel's HTTP layer; keel against it, the work keel does above that layer.
- Streams: the mock answers the stream path with one fixed SSE body (8 events + [DONE]) in one write; nginx proxies it with \`proxy_buffering off\`."
if has_target keel; then
  NOTES+=$'\n'"- keel's threads, with the CPU each used over the whole benchmark: $KEEL_THREADS. keel log lines with 'warn' or 'error' during the run: $KEEL_LOG_WARNINGS."
  if [[ -n $SHADOW_MIRRORS ]]; then
    NOTES+=$'\n'"- Shadow mirrors over the whole benchmark (both shadowed models, warm-ups included; max_concurrency $BENCH_SHADOW_CONCURRENCY): $SHADOW_MIRRORS."
  fi
  NOTES+=$'\n'"- keel's RSS after each round, in MiB ($BENCH_ROUNDS each for plain c=1, plain c=$HIGH_CONNS, stream c=1 and stream c=$HIGH_CONNS, in that order): ${KEEL_RSS_SERIES[*]}."
fi
if has_target floor && has_target keel; then
  NOTES+=$'\n'"- keel over its floor at $HIGH_CONNS connections (same run): $(awk -F'\t' -v high="$HIGH_CONNS" '
    $2 == high && ($3 == "floor" || $3 == "keel") { cpu[$1, $3] = $7; rps[$1, $3] = $4 }
    END {
      for (k = 1; k <= 2; k++) {
        m = k == 1 ? "plain" : "stream"
        if (cpu[m, "floor"] > 0 && rps[m, "floor"] > 0)
          printf "%s%s: CPU per request +%.1f µs (%.2f×), req/s %.2f×", k == 1 ? "" : "; ", m,
            cpu[m, "keel"] - cpu[m, "floor"], cpu[m, "keel"] / cpu[m, "floor"], rps[m, "keel"] / rps[m, "floor"]
      }
    }' "$RESULTS")."
fi
if [[ -n $SOAK_NOTE ]]; then NOTES+=$'\n'"$SOAK_NOTE"; fi
if has_target portkey; then
  NOTES+=$'\n'"- Portkey: \`@portkey-ai/gateway@$PORTKEY_VERSION\` (bench/portkey/package-lock.json), \`NODE_ENV=production node build/start-server.js --headless\` on Node $NODE_VERSION, bound to 127.0.0.1, configured per request by headers (\`x-portkey-provider: openai\`, \`x-portkey-custom-host: <mock>/v1\`). Its dependency \`@hono/node-server\` is pinned to 1.13.8 (package.json \`overrides\`): with the 1.19 that npm resolves for it today, every streamed answer fails (\"TypeError: immutable\" appending headers to a fetch response). Its stream relay waits 25 ms before the first chunk (its own code), which sets its stream p50."
  NOTES+=$'\n'"- Portkey's threads, with the CPU each used over the whole benchmark: $PORTKEY_THREADS. Portkey stderr lines: $PORTKEY_LOG_LINES."
fi
if ((${#ERRORS[@]})); then
  NOTES+=$'\n'"- wrk reported errors: $(printf '%s; ' "${ERRORS[@]}")"
else
  NOTES+=$'\n'"- wrk reported no non-2xx responses and no socket errors in any run."
fi

SECTION="## $(date -u '+%Y-%m-%d %H:%M UTC') — $NPROC × $CPU_MODEL

Command: \`$COMMAND\` (\`make bench-gateway\` runs \`bench/run.sh\` with the defaults). keel at $KEEL_COMMIT, ${KEEL_BUILD_TYPE:+$KEEL_BUILD_TYPE }binary built $KEEL_BUILT; $NGINX_VERSION, $WRK_VERSION.

$TABLE

$NOTES
"
printf '\n%s\n' "$SECTION"

if [[ $BENCH_RECORD == 1 ]]; then
  if [[ ! -f $RESULTS_FILE ]]; then
    cat >"$RESULTS_FILE" <<'EOF'
# keel benchmark results

Written by `bench/run.sh` (`make bench-gateway`); newest last. Each section is one run: keel, nginx
(as a reverse proxy) and Portkey's gateway in front of the same static nginx mock upstream, driven
by wrk on the same machine. See `bench/README.md` for what is measured and how.
EOF
  fi
  printf '\n%s' "$SECTION" >>"$RESULTS_FILE"
  log "appended to $RESULTS_FILE"
fi
