// `make bench-local`: keel's local engine against llama-server (built from the same llama.cpp
// source by scripts/llama.sh), same model and threads, in one run. Not a test: it prints the
// numbers and appends them to bench/RESULTS.md.
//
//   node bench/local.mjs                       # needs build/keel and the llama.cpp cache
//   BENCH_THREADS=1 BENCH_TOKENS=128 node bench/local.mjs
//
// Measures, for each server:
//   1. single-stream decode tokens/s: one streamed answer of BENCH_TOKENS tokens (ignore_eos,
//      greedy), (tokens - 1) / (last token time - first token time), median of 3;
//   2. aggregate tokens/s with 4 concurrent streams of BENCH_TOKENS tokens: all tokens / wall time;
//   3. time to first token with a shared ~1,000-token system prompt: cold (a system prompt never
//      seen before) and warm (the same system prompt, another question), median of 3 pairs.
// Both servers get the same prompt text: keel's plain transcript for a model without a chat
// template is "system\nuser", which is what llama-server's /v1/completions is sent.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const MODEL = process.env.BENCH_MODEL || path.resolve(root, '../shared/models/stories260K.gguf');
const KEEL = process.env.KEEL_BIN || path.join(root, 'build/keel');
const THREADS = Number(process.env.BENCH_THREADS || cpus().length);
const TOKENS = Number(process.env.BENCH_TOKENS || 256);
const PARALLEL = 4;
const CONTEXT = 2048; // per sequence: room for the 1,000-token system prompt

function llamaServer() {
  if (process.env.LLAMA_SERVER) return process.env.LLAMA_SERVER;
  const cache = execFileSync('bash', [path.join(root, 'scripts/llama.sh'), '--print-dir'], { encoding: 'utf8' }).trim();
  return path.join(cache, 'build/bin/llama-server');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

// Streams one request; resolves {first, last, chunks, end} (ms, performance.now()).
async function stream(url, body) {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  let first = 0;
  let last = 0;
  let chunks = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!frame.startsWith('data: ') || frame === 'data: [DONE]') continue;
      const data = JSON.parse(frame.slice(6));
      const choice = data.choices?.[0];
      const text = choice?.delta?.content ?? choice?.text ?? '';
      if (text) {
        const now = performance.now();
        if (!first) first = now;
        last = now;
        chunks += 1;
      }
    }
  }
  return { started, first, last, chunks, end: performance.now() };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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
  return { name, run: (system, user, maxTokens) => stream(...request(system, user, maxTokens)) };
}

async function measure(t) {
  // Warm-up (also loads pages of the model).
  await t.run('', 'Once upon a time', 16);
  const rates = [];
  for (let i = 0; i < 3; i++) {
    const r = await t.run('', 'Once upon a time', TOKENS);
    if (r.chunks < TOKENS * 0.9) throw new Error(`${t.name}: only ${r.chunks} of ${TOKENS} tokens streamed`);
    rates.push((r.chunks - 1) / ((r.last - r.first) / 1000));
  }
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => t.run('', `Once upon a time ${i}`, TOKENS)));
  const wall = (performance.now() - t0) / 1000;
  const aggregate = all.reduce((s, r) => s + r.chunks, 0) / wall;
  const colds = [];
  const warms = [];
  for (let i = 0; i < 3; i++) {
    const nonce = `${t.name}-${Date.now()}-${i}`;
    const system = `Story ${nonce}. ` + 'The little dog ran to the park and played with a red ball in the sun. '.repeat(64);
    const cold = await t.run(system, 'Tom said', 1);
    const warm = await t.run(system, 'Lily asked', 1);
    colds.push(cold.first - cold.started);
    warms.push(warm.first - warm.started);
  }
  return { single: median(rates), aggregate, cold: median(colds), warm: median(warms) };
}

async function main() {
  const server = llamaServer();
  for (const [what, file] of [['model', MODEL], ['keel', KEEL], ['llama-server', server]]) {
    if (!existsSync(file)) throw new Error(`${what} not found at ${file}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-local-'));
  const procs = [];
  try {
    const llamaPort = await freePort();
    const llama = spawn(server, ['-m', MODEL, '--host', '127.0.0.1', '--port', String(llamaPort), '-t', String(THREADS), '-tb', String(THREADS),
      '-c', String(CONTEXT * PARALLEL), '-np', String(PARALLEL), '--no-webui'], { stdio: 'ignore' });
    procs.push(llama);
    const keelPort = await freePort();
    writeFileSync(path.join(dir, 'keel.yaml'), [
      `listen: 127.0.0.1:${keelPort}`,
      `state: "sqlite:${path.join(dir, 'keel.db')}"`,
      'providers:',
      `  - {name: local, kind: local, model: "${MODEL}", threads: ${THREADS}, parallel: ${PARALLEL}, context: ${CONTEXT}}`,
      'models:',
      '  - {name: bench, targets: [{provider: local, model: default}]}',
      '',
    ].join('\n'));
    const keel = spawn(KEEL, ['serve', '--config', path.join(dir, 'keel.yaml')], { stdio: 'ignore', env: { ...process.env, KEEL_LOG_LEVEL: 'warn' } });
    procs.push(keel);
    await waitHealthy(`http://127.0.0.1:${llamaPort}/health`, llama, 'llama-server');
    await waitHealthy(`http://127.0.0.1:${keelPort}/healthz`, keel, 'keel');

    const load = loadavg()[0].toFixed(2);
    const results = {};
    for (const t of [target('llama-server', `http://127.0.0.1:${llamaPort}`, 'llama'), target('keel', `http://127.0.0.1:${keelPort}`, 'keel')]) {
      results[t.name] = await measure(t);
    }
    const k = results.keel;
    const l = results['llama-server'];
    const f = (x, d = 0) => x.toFixed(d);
    const rows = [
      ['single-stream decode, tokens/s', f(l.single), f(k.single), f(k.single / l.single, 2), '≥ 0.95'],
      [`aggregate, ${PARALLEL} streams, tokens/s`, f(l.aggregate), f(k.aggregate), f(k.aggregate / l.aggregate, 2), '≥ 1.0'],
      ['TTFT cold, ~1,000-token system prompt, ms', f(l.cold, 1), f(k.cold, 1), f(k.cold / l.cold, 2), ''],
      ['TTFT warm (same system prompt), ms', f(l.warm, 1), f(k.warm, 1), f(k.warm / l.warm, 2), ''],
      ['warm / cold', f(l.warm / l.cold, 3), f(k.warm / k.cold, 3), '', 'keel ≤ 0.2'],
    ];
    const table = [
      '| measure | llama-server | keel | keel / llama-server | goal |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
    const header = `\n## Local engine vs llama-server (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\n` +
      `Command: \`make bench-local\` (\`node bench/local.mjs\`; BENCH_THREADS=${THREADS}, BENCH_TOKENS=${TOKENS}). ` +
      `Model ${path.basename(MODEL)}, ${THREADS} thread(s) each, ${PARALLEL} sequences of ${CONTEXT} tokens each; ` +
      `${cpus().length} cores, 1-min load average ${load} at the start.\n\n`;
    console.log(header + table);
    if (!process.env.BENCH_NO_RECORD) appendFileSync(path.join(here, 'RESULTS.md'), `${header}${table}\n`);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench-local: ${err.message}`);
  process.exit(1);
});
