// Shadow traffic's cost to the client: the same load on a model without `shadow:` and on one
// that mirrors every answered request (percent 100) to a candidate, in alternating rounds in
// one run, through one keel. Reported: client-side req/s and latency p50/p99 of each, and the
// shadowed/plain ratios. The candidate is a fake that answers slowly (BENCH_CANDIDATE, default
// slow-stream-5x40: 200 ms), so mirrors overlap the client's next requests. Not a test.
//
//   node bench/shadow.mjs                      # needs build/keel
//   BENCH_CLIENTS=50 BENCH_SECONDS=10 BENCH_ROUNDS=3 node bench/shadow.mjs
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../tests/fakes/fake_openai.mjs';
import { quantile, serveKeelWithFake } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const KEEL = process.env.KEEL_BIN || path.join(here, '..', 'build/keel');
const CLIENTS = Number(process.env.BENCH_CLIENTS || 20);
const SECONDS = Number(process.env.BENCH_SECONDS || 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const CANDIDATE = process.env.BENCH_CANDIDATE || 'slow-stream-5x40';

const fake = await startFakeOpenAI();
const { keel, base, dir } = await serveKeelWithFake(KEEL, fake.url, [
  'models:',
  '  - {name: plain, targets: [{provider: fake, model: ok}]}',
  '  - name: shadowed',
  '    targets: [{provider: fake, model: ok}]',
  `    shadow: {model: cand, percent: 100, max_concurrency: ${CLIENTS}}`,
  `  - {name: cand, targets: [{provider: fake, model: ${CANDIDATE}}]}`,
], 'keel-bench-shadow-');

async function round(model) {
  const latencies = [];
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < end) {
      const start = performance.now();
      const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.text();
      if (res.status !== 200) failed++;
      latencies.push(performance.now() - start);
    }
  }));
  return { rps: latencies.length / SECONDS, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), failed };
}

const results = { plain: [], shadowed: [] };
await round('plain');  // warm-up
for (let i = 0; i < ROUNDS; i++) {
  for (const model of i % 2 ? ['shadowed', 'plain'] : ['plain', 'shadowed']) results[model].push(await round(model));
}
const mean = (xs, key) => xs.reduce((s, x) => s + x[key], 0) / xs.length;
const mirrored = fake.stats.hits[CANDIDATE] ?? 0;
console.log(`shadow bench: ${CLIENTS} clients, ${ROUNDS} rounds of ${SECONDS} s per model, candidate ${CANDIDATE}, load ${loadavg()[0].toFixed(2)}`);
for (const model of ['plain', 'shadowed']) {
  const r = results[model];
  console.log(`  ${model.padEnd(8)} ${mean(r, 'rps').toFixed(0)} req/s, p50 ${mean(r, 'p50').toFixed(2)} ms, p99 ${mean(r, 'p99').toFixed(2)} ms, failed ${r.reduce((s, x) => s + x.failed, 0)}`);
}
console.log(`  shadowed/plain: req/s ${(mean(results.shadowed, 'rps') / mean(results.plain, 'rps')).toFixed(3)}, p50 ${(mean(results.shadowed, 'p50') / mean(results.plain, 'p50')).toFixed(3)}, p99 ${(mean(results.shadowed, 'p99') / mean(results.plain, 'p99')).toFixed(3)}; mirrors sent ${mirrored}`);
const admin = await (await fetch(`${base}/admin/shadow/shadowed`)).json();
console.log(`  mirror: ${JSON.stringify(admin.mirror)}`);
keel.kill('SIGTERM');
await new Promise((resolve) => keel.on('exit', resolve));
await fake.close();
rmSync(dir, { recursive: true, force: true });
