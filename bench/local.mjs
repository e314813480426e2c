// `make bench-local`: keel's local engine against llama-server (built from the same llama.cpp
// source by scripts/llama.sh), same model and threads, in one run. Not a test: it prints the
// numbers and appends them to bench/RESULTS.md.
//
//   node bench/local.mjs                       # needs build/keel and the llama.cpp cache
//   BENCH_THREADS=2 BENCH_ROUNDS=3 node bench/local.mjs
//
// For each thread count (BENCH_THREADS: a list such as "1,2"; default every count from 1 to the
// cores) both servers are measured with that count, taking turns round by round (BENCH_ROUNDS,
// default 5), each started afresh and alone on the machine (ggml's threads spin for a while
// after each decode, and would take CPU from the other), so a machine that gets busier part-way
// hits both alike:
//   1. single-stream decode tokens/s, streamed: one answer of BENCH_TOKENS tokens (greedy,
//      ignore_eos), (tokens - 1) / (last token time - first token time);
//   2. single-stream, not streamed: completion tokens / wall time of one plain request;
//   3. aggregate tokens/s with 4 concurrent answers of BENCH_TOKENS tokens, streamed and not:
//      all tokens / wall time;
//   4. the gaps between consecutive tokens of the streamed single answers (every round pooled):
//      p50, p99, the largest, and how many exceed 5 ms;
//   5. time to first token with a shared ~1,000-token system prompt: cold (a system prompt never
//      seen before) and warm (the same system prompt, another question).
// Each measure is the median of its rounds with the spread (min–max) beside it; the ratio is of
// the medians. Both servers get the same prompt text: keel's plain transcript for a model without
// a chat template is "system\nuser", which is what llama-server's /v1/completions is sent.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, quantile, sleep } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const MODEL = process.env.BENCH_MODEL || path.resolve(root, '../shared/models/stories260K.gguf');
const KEEL = process.env.KEEL_BIN || path.join(root, 'build/keel');
const CORES = cpus().length;
const THREAD_COUNTS = (process.env.BENCH_THREADS || Array.from({ length: CORES }, (_, i) => i + 1).join(','))
  .split(',').map(Number).filter((n) => n > 0);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const TOKENS = Number(process.env.BENCH_TOKENS || 256);
const PARALLEL = 4;
const CONTEXT = 2048; // per sequence: room for the 1,000-token system prompt
const GAP_LIMIT_MS = 5;

function llamaServer() {
  if (process.env.LLAMA_SERVER) return process.env.LLAMA_SERVER;
  const cache = execFileSync('bash', [path.join(root, 'scripts/llama.sh'), '--print-dir'], { encoding: 'utf8' }).trim();
  return path.join(cache, 'build/bin/llama-server');
}


async function waitHealthy(url, proc, what) {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode})`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  throw new Error(`${what} did not become healthy`);
}

// POSTs `body` on a connection of its own (no keep-alive: llama-server closes idle connections,
// and a pooled one can meet that close mid-request); calls onData(text) as bytes arrive and
// resolves the status code once the answer has ended.
function post(url, body, onData) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', onData);
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// Streams one request; resolves {started, first, last, chunks, gaps, end} (ms, performance.now()).
async function stream(url, body) {
  const started = performance.now();
  let first = 0;
  let last = 0;
  let chunks = 0;
  const gaps = [];
  let buffer = '';
  const status = await post(url, { ...body, stream: true }, (text) => {
    const now = performance.now();
    buffer += text;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!frame.startsWith('data: ') || frame === 'data: [DONE]') continue;
      const data = JSON.parse(frame.slice(6));
      const choice = data.choices?.[0];
      if (choice?.delta?.content ?? choice?.text) {
        if (!first) first = now;
        else gaps.push(now - last);
        last = now;
        chunks += 1;
      }
    }
  });
  if (status !== 200) throw new Error(`${url}: status ${status} ${buffer}`);
  return { started, first, last, chunks, gaps, end: performance.now() };
}

// One plain request; resolves {tokens, wall} (ms).
async function plain(url, body) {
  const started = performance.now();
  let text = '';
  const status = await post(url, { ...body, stream: false }, (piece) => { text += piece; });
  const wall = performance.now() - started;
  if (status !== 200) throw new Error(`${url}: status ${status} ${text}`);
  return { tokens: JSON.parse(text).usage?.completion_tokens ?? 0, wall };
}


// The two servers behind one interface: the same prompt text, greedy, a fixed answer length.
function target(name, url, kind) {
  const request = (system, user, maxTokens) => {
    const common = { temperature: 0, max_tokens: maxTokens, ignore_eos: true };
    if (kind === 'keel') {
      const messages = system ? [{ role: 'system', content: system }, { role: 'user', content: user }] : [{ role: 'user', content: user }];
      return [`${url}/v1/chat/completions`, { model: 'bench', messages, ...common }];
    }
    return [`${url}/v1/completions`, { model: 'bench', prompt: system ? `${system}\n${user}` : user, ...common }];
  };
  return {
    name,
    run: (system, user, maxTokens) => stream(...request(system, user, maxTokens)),
    plain: (user, maxTokens) => plain(...request('', user, maxTokens)),
  };
}

function emptySamples() {
  return { single: [], singlePlain: [], aggregate: [], aggregatePlain: [], gaps: [], cold: [], warm: [] };
}

// One round of every measure for one server, appended to `s`.
async function round(t, s, index) {
  const r = await t.run('', 'Once upon a time', TOKENS);
  if (r.chunks < TOKENS * 0.9) throw new Error(`${t.name}: only ${r.chunks} of ${TOKENS} tokens streamed`);
  s.single.push((r.chunks - 1) / ((r.last - r.first) / 1000));
  s.gaps.push(...r.gaps);

  const p = await t.plain('Once upon a time', TOKENS);
  if (p.tokens < TOKENS * 0.9) throw new Error(`${t.name}: only ${p.tokens} of ${TOKENS} tokens answered`);
  s.singlePlain.push(p.tokens / (p.wall / 1000));

  let t0 = performance.now();
  const all = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => t.run('', `Once upon a time ${i}`, TOKENS)));
  s.aggregate.push(all.reduce((sum, x) => sum + x.chunks, 0) / ((performance.now() - t0) / 1000));

  t0 = performance.now();
  const plains = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => t.plain(`Once upon a time ${i}`, TOKENS)));
  s.aggregatePlain.push(plains.reduce((sum, x) => sum + x.tokens, 0) / ((performance.now() - t0) / 1000));

  const nonce = `${t.name}-${Date.now()}-${index}`;
  const system = `Story ${nonce}. ` + 'The little dog ran to the park and played with a red ball in the sun. '.repeat(64);
  const cold = await t.run(system, 'Tom said', 1);
  const warm = await t.run(system, 'Lily asked', 1);
  s.cold.push(cold.first - cold.started);
  s.warm.push(warm.first - warm.started);
}

// Starts one server with `threads` threads; resolves {proc, target}. One server runs at a time:
// ggml's compute threads spin for a while after each decode (its `poll`), and a server idling
// beside the one measured would take CPU from it.
async function startServer(kind, threads, dir, server) {
  const port = await freePort();
  let proc;
  if (kind === 'llama') {
    proc = spawn(server, ['-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '-t', String(threads), '-tb', String(threads),
      '-c', String(CONTEXT * PARALLEL), '-np', String(PARALLEL), '--no-webui'], { stdio: 'ignore' });
    await waitHealthy(`http://127.0.0.1:${port}/health`, proc, 'llama-server');
    return { proc, target: target('llama-server', `http://127.0.0.1:${port}`, 'llama') };
  }
  const config = path.join(dir, `keel-${threads}.yaml`);
  writeFileSync(config, [
    `listen: 127.0.0.1:${port}`,
    `state: "sqlite:${path.join(dir, `keel-${threads}.db`)}"`,
    'providers:',
    `  - {name: local, kind: local, model: "${MODEL}", threads: ${threads}, parallel: ${PARALLEL}, context: ${CONTEXT}}`,
    'models:',
    '  - {name: bench, targets: [{provider: local, model: default}]}',
    '',
  ].join('\n'));
  proc = spawn(KEEL, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KEEL_LOG_LEVEL: 'warn' } });
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, proc, 'keel');
  return { proc, target: target('keel', `http://127.0.0.1:${port}`, 'keel') };
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const spread = (xs, d = 0) => `${f(median(xs), d)} (${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)})`;

function table(threads, l, k) {
  const ratio = (a, b) => f(median(a) / median(b), 2);
  const rows = [
    ['single-stream decode, streamed, tokens/s', spread(l.single), spread(k.single), ratio(k.single, l.single), '≥ 1.1'],
    ['single-stream decode, not streamed, tokens/s', spread(l.singlePlain), spread(k.singlePlain), ratio(k.singlePlain, l.singlePlain), '≥ 1.1'],
    [`aggregate, ${PARALLEL} streams, streamed, tokens/s`, spread(l.aggregate), spread(k.aggregate), ratio(k.aggregate, l.aggregate), '≥ 1.2'],
    [`aggregate, ${PARALLEL} answers, not streamed, tokens/s`, spread(l.aggregatePlain), spread(k.aggregatePlain), ratio(k.aggregatePlain, l.aggregatePlain), '≥ 1.2'],
    ['inter-token gap p50 / p99 / max, ms', `${f(median(l.gaps), 2)} / ${f(quantile(l.gaps, 0.99), 2)} / ${f(Math.max(...l.gaps), 1)}`,
      `${f(median(k.gaps), 2)} / ${f(quantile(k.gaps, 0.99), 2)} / ${f(Math.max(...k.gaps), 1)}`, '', ''],
    [`gaps over ${GAP_LIMIT_MS} ms (of ${k.gaps.length})`, String(l.gaps.filter((g) => g > GAP_LIMIT_MS).length),
      String(k.gaps.filter((g) => g > GAP_LIMIT_MS).length), '', 'none that llama-server lacks'],
    ['TTFT cold, ~1,000-token system prompt, ms', spread(l.cold, 1), spread(k.cold, 1), ratio(k.cold, l.cold), ''],
    ['TTFT warm (same system prompt), ms', spread(l.warm, 1), spread(k.warm, 1), ratio(k.warm, l.warm), ''],
    ['warm / cold', f(median(l.warm) / median(l.cold), 3), f(median(k.warm) / median(k.cold), 3), '', 'keel ≤ 0.2'],
  ];
  return [
    `### ${threads} thread${threads === 1 ? '' : 's'}`,
    '',
    '| measure | llama-server | keel | keel / llama-server | goal |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

async function main() {
  const server = llamaServer();
  for (const [what, file] of [['model', MODEL], ['keel', KEEL], ['llama-server', server]]) {
    if (!existsSync(file)) throw new Error(`${what} not found at ${file}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-local-'));
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const sections = [];
  let procs = [];
  try {
    for (const threads of THREAD_COUNTS) {
      const samples = { 'llama-server': emptySamples(), keel: emptySamples() };
      for (let i = 0; i < ROUNDS; i++) {
        // The servers take turns, each alone on the machine; the first alternates.
        for (const kind of i % 2 ? ['keel', 'llama'] : ['llama', 'keel']) {
          const { proc, target: t } = await startServer(kind, threads, dir, server);
          procs = [proc];
          await t.run('', 'Once upon a time', 16); // warm-up (also loads pages of the model)
          await round(t, samples[t.name], i).catch((err) => {
            const exited = (proc.exitCode ?? proc.signalCode) !== null ? `; it exited (${proc.exitCode ?? proc.signalCode})` : '';
            throw new Error(`${t.name}, round ${i + 1}, ${threads} thread(s): ${err.message}${err.cause ? ` (${err.cause.message})` : ''}${exited}`);
          });
          await stop(proc);
          procs = [];
        }
      }
      const section = table(threads, samples['llama-server'], samples.keel);
      console.log(`${section}\n`);
      sections.push(section);
    }
    const header = `\n## Local engine vs llama-server (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\n` +
      `Command: \`make bench-local\` (\`node bench/local.mjs\`; BENCH_THREADS=${THREAD_COUNTS.join(',')}, BENCH_ROUNDS=${ROUNDS}, BENCH_TOKENS=${TOKENS}). ` +
      `Model ${path.basename(MODEL)}, ${PARALLEL} sequences of ${CONTEXT} tokens each; ${CORES} cores; ` +
      `load average (1, 5, 15 min) ${load} at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end. ` +
      `Each cell: median of ${ROUNDS} rounds (min–max); ratios of medians.\n\n`;
    const text = header + sections.join('\n\n');
    if (!process.env.BENCH_NO_RECORD) appendFileSync(path.join(here, 'RESULTS.md'), `${text}\n`);
    console.log(process.env.BENCH_NO_RECORD ? '(not recorded: BENCH_NO_RECORD)' : 'recorded in bench/RESULTS.md');
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench-local: ${err.message}`);
  process.exit(1);
});
