// The flow executor's own cost (issue 21): flows with no model work, served by one keel
// (`POST /v1/flows/{name}/run`), one client, runs one after another. Flows, written here:
//   prompt-1, prompt-10   a chain of 1 / 10 `prompt` nodes (Jinja renders of a short string)
//   wide-10               9 `prompt` nodes side by side, then one that joins them
//   python-1, python-10   a chain of 1 / 10 `python` nodes (a trivial @tool each, pooled workers)
// Reported per flow: client-side latency p50/p99 and mean, and keel's CPU per run (utime+stime
// from /proc); then per node = (10-node - 1-node) / 9 and per run = 1-node - per node, for the
// prompt and python chains. Not a test: it prints numbers and never fails on a slow one.
//
//   node bench/flow.mjs                          # needs build/keel (with the local engine: Jinja)
//   BENCH_RUNS=2000 node bench/flow.mjs
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantile, serveKeel } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const KEEL = process.env.KEEL_BIN || path.join(here, '..', 'build/keel');
const RUNS = Number(process.env.BENCH_RUNS || 500);
const WARMUP = Math.max(20, Math.floor(RUNS / 10));

const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-flow-'));

// A flow folder with `nodes` (each {name, type, inputs, file}): prompt nodes render p.jinja2 (or
// `file`), python nodes call p.py.
function writeFlow(name, nodes, output) {
  const folder = path.join(dir, name);
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'p.jinja2'), '{{x}}.');
  writeFileSync(path.join(folder, 'j.jinja2'), Array.from({ length: 9 }, (_, i) => `{{x${i}}}`).join(''));
  writeFileSync(path.join(folder, 'p.py'),
    'from promptflow import tool\n@tool\ndef step(x: str) -> str:\n    return x + "."\n');
  const lines = ['inputs:', '  x: {type: string, default: go}', 'outputs:',
    `  out: {reference: "\${${output}.output}"}`, 'nodes:'];
  for (const node of nodes) {
    const source = node.type === 'python' ? 'p.py' : node.file || 'p.jinja2';
    const inputs = Object.entries(node.inputs).map(([k, v]) => `${k}: "${v}"`).join(', ');
    lines.push(`- {name: ${node.name}, type: ${node.type}, source: {type: code, path: ${source}}, inputs: {${inputs}}}`);
  }
  writeFileSync(path.join(folder, 'flow.dag.yaml'), `${lines.join('\n')}\n`);
  return folder;
}

function chain(type, count) {
  return Array.from({ length: count }, (_, i) => ({
    name: `n${i}`, type, inputs: { x: i === 0 ? '${inputs.x}' : `\${n${i - 1}.output}` },
  }));
}

const nine = Array.from({ length: 9 }, (_, i) => i);
const flows = {
  'prompt-1': writeFlow('prompt-1', chain('prompt', 1), 'n0'),
  'prompt-10': writeFlow('prompt-10', chain('prompt', 10), 'n9'),
  'wide-10': writeFlow('wide-10', [
    ...nine.map((i) => ({ name: `n${i}`, type: 'prompt', inputs: { x: '${inputs.x}' } })),
    { name: 'join', type: 'prompt', file: 'j.jinja2', inputs: Object.fromEntries(nine.map((i) => [`x${i}`, `\${n${i}.output}`])) },
  ], 'join'),
  'python-1': writeFlow('python-1', chain('python', 1), 'n0'),
  'python-10': writeFlow('python-10', chain('python', 10), 'n9'),
};

const config = path.join(dir, 'keel.yaml');
writeFileSync(config, [
  'listen: 127.0.0.1:0',
  `state: sqlite:${path.join(dir, 'keel.db')}`,
  'flows:',
  ...Object.entries(flows).map(([name, folder]) => `  - {name: ${name}, path: "${folder}"}`),
  '',
].join('\n'));
const { keel, base } = await serveKeel(KEEL, config);

const ticks = () => {
  const fields = readFileSync(`/proc/${keel.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
};

async function runOnce(name) {
  const res = await fetch(`${base}/v1/flows/${name}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"inputs": {"x": "go"}}',
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

const results = {};
try {
  for (const name of Object.keys(flows)) {
    for (let i = 0; i < WARMUP; i++) await runOnce(name);
    const latencies = [];
    const cpuBefore = ticks();
    const started = process.hrtime.bigint();
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      await runOnce(name);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const cpuMs = (ticks() - cpuBefore) * 10;
    results[name] = {
      p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), mean: wallMs / RUNS, cpu: cpuMs / RUNS,
    };
  }
} finally {
  keel.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

const f = (x) => x.toFixed(3);
console.log(`flow executor, ${RUNS} runs per flow after ${WARMUP} warm-up, one client; load ${loadavg()[0].toFixed(2)}`);
console.log('flow        p50 ms   p99 ms   mean ms  keel CPU ms/run');
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(10)} ${f(r.p50).padStart(8)} ${f(r.p99).padStart(8)} ${f(r.mean).padStart(8)} ${f(r.cpu).padStart(10)}`);
}
for (const kind of ['prompt', 'python']) {
  const one = results[`${kind}-1`], ten = results[`${kind}-10`];
  const node = (ten.mean - one.mean) / 9, nodeCpu = (ten.cpu - one.cpu) / 9;
  console.log(`${kind}: per node ${f(node)} ms (CPU ${f(nodeCpu)} ms); per run besides its nodes ${f(one.mean - node)} ms (CPU ${f(one.cpu - nodeCpu)} ms)`);
}
