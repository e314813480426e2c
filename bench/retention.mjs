// The retention soak's second half: a request log cut by a lowered `log_retention` gives its
// space back while keel keeps serving (incremental vacuum in the store's writer thread). Not a
// test: it prints the numbers and appends them to bench/RESULTS.md.
//
//   node bench/retention.mjs                   # needs build/keel and the sqlite3 CLI
//   BENCH_ROWS=2000000 BENCH_KEEP=100000 node bench/retention.mjs
//
// 1. keel makes the log (its schema, auto_vacuum INCREMENTAL) and serves a few requests;
// 2. the sqlite3 CLI adds BENCH_ROWS requests with an attempt each, shaped like keel's rows
//    (what a long soak at 50 connections writes, in seconds instead of minutes);
// 3. keel restarts on it with `log_retention: {max_requests: BENCH_KEEP}` and serves chat
//    requests from BENCH_CLIENTS clients against a fake OpenAI upstream the whole time; every
//    second the script samples the log's size (keel.db and its WAL) and the latency of the
//    requests of that second, until the file stops shrinking.
// Reported: the file before and after, how long the cut took, the latency while it ran against
// after, and that no request failed.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../tests/fakes/fake_openai.mjs';
import { quantile, sleep } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const KEEL = process.env.KEEL_BIN || path.join(root, 'build/keel');
const ROWS = Number(process.env.BENCH_ROWS || 1_000_000);
const KEEP = Number(process.env.BENCH_KEEP || 50_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS || 4);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS || 600);

const mib = (bytes) => (bytes / 1048576).toFixed(1);
const sqlite = (db, sql) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
const size = (file) => (existsSync(file) ? statSync(file).size : 0);

async function startKeel(dir, retention, upstream) {
  const config = path.join(dir, 'keel.yaml');
  writeFileSync(config, [
    'listen: 127.0.0.1:0',
    `state: sqlite:${path.join(dir, 'keel.db')}`,
    `log_retention: {days: 0, max_requests: ${retention}}`,
    'providers:',
    `  - {name: up, kind: openai, base_url: "${upstream}", api_key: bench}`,
    'models:',
    '  - {name: m, retries: 0, targets: [{provider: up, model: ok}]}',
    '',
  ].join('\n'));
  const proc = spawn(KEEL, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  for (let i = 0; i < 200 && !/listening on http:\/\/127\.0\.0\.1:\d+/.test(stderr); i++) {
    if (proc.exitCode !== null) throw new Error(`keel exited: ${stderr}`);
    await sleep(50);
  }
  const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
  if (!port) throw new Error(`keel did not start: ${stderr}`);
  const stop = async () => {
    proc.kill('SIGTERM');
    if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
  };
  return { url: `http://127.0.0.1:${port}/v1/chat/completions`, stderr: () => stderr, stop };
}

async function chat(url) {
  const started = process.hrtime.bigint();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return { ok: res.status === 200, us: Number(process.hrtime.bigint() - started) / 1000 };
}

const pct = (xs, q) => (xs.length ? quantile(xs, q) : 0);  // a second with no request: 0

async function main() {
  if (!existsSync(KEEL)) throw new Error(`no keel at ${KEEL}: make build`);
  const fake = await startFakeOpenAI();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-retention-'));
  const db = path.join(dir, 'keel.db');
  const logSize = () => size(db) + size(`${db}-wal`);
  try {
    // 1. keel's own schema, and a few of its rows to copy the shape of.
    const first = await startKeel(dir, 0, fake.url);
    for (let i = 0; i < 10; i++) if (!(await chat(first.url)).ok) throw new Error('first keel failed a request');
    await first.stop();
    // 2. BENCH_ROWS more, as a long soak would have left them (ids as keel's are unique and
    // time-ordered; the other columns copied from a real row).
    const t0 = Date.now();
    sqlite(db, `
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
      INSERT INTO requests SELECT printf('req_bench%012d', i), started_ms + i, endpoint, model, stream,
        status, error_class, latency_ms, ttft_ms, prompt_tokens, completion_tokens, content
        FROM n, (SELECT * FROM requests LIMIT 1);
      INSERT INTO attempts SELECT r.id, 0, r.started_ms, a.provider, a.target_model, a.status,
        a.error_class, a.error_message, a.latency_ms, a.ttft_ms, a.prompt_tokens, a.completion_tokens
        FROM requests r, (SELECT * FROM attempts LIMIT 1) a WHERE r.id LIKE 'req_bench%';
      PRAGMA wal_checkpoint(TRUNCATE);`);
    const before = logSize();
    const mode = sqlite(db, 'PRAGMA auto_vacuum');
    console.error(`[bench] log filled: ${ROWS} requests, ${mib(before)} MiB (auto_vacuum ${mode}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // 3. The cut, under load.
    const keel = await startKeel(dir, KEEP, fake.url);
    const start = Date.now();
    let stop = false;
    let failed = 0;
    let window = [];
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (!stop) {
        const r = await chat(keel.url);
        if (!r.ok) failed++;
        window.push(r.us);
      }
    });
    const seconds = [];   // {t, mib, n, p50, p99}
    let smallest = logSize();
    let steady = 0;
    while ((Date.now() - start) / 1000 < MAX_SECONDS) {
      await sleep(1000);
      const lat = window;  // pct sorts a copy
      window = [];
      fake.requests.length = 0;   // the fake keeps every request; not needed here
      const now = logSize();
      seconds.push({ t: Math.round((Date.now() - start) / 1000), mib: mib(now), n: lat.length, p50: pct(lat, 0.5), p99: pct(lat, 0.99) });
      console.error(`[bench] ${seconds.at(-1).t}s: log ${seconds.at(-1).mib} MiB, ${lat.length} req/s, p50 ${pct(lat, 0.5).toFixed(0)} us, p99 ${pct(lat, 0.99).toFixed(0)} us`);
      // Done once the file has not shrunk for 5 s after the pass and its vacuum said so.
      if (now < smallest) { smallest = now; steady = 0; } else steady++;
      if (steady >= 5 && /gave back/.test(keel.stderr())) break;
    }
    stop = true;
    await Promise.all(clients);
    await keel.stop();
    const after = logSize();
    const kept = sqlite(db, 'SELECT count(*) FROM requests');
    // keel's own timeline, from its log lines' timestamps: start, the pass's end, the vacuum's.
    const at = (re) => {
      const line = keel.stderr().split('\n').find((l) => re.test(l));
      return line ? Date.parse(line.split(' ')[0]) : NaN;
    };
    const keelStart = at(/listening on/);
    const pruned = /log_retention deleted (\d+) requests/.exec(keel.stderr())?.[1];
    const gaveBack = /gave back (\d+) KiB/.exec(keel.stderr())?.[1];
    const passS = (at(/log_retention deleted/) - keelStart) / 1000;
    const vacuumS = (at(/gave back/) - at(/log_retention deleted/)) / 1000;
    // Seconds sampled until the vacuum's end, and after.
    const cut = Math.ceil(passS + vacuumS);
    const shrinking = seconds.filter((s) => s.t <= cut);
    const settled = seconds.filter((s) => s.t > cut);
    const row = (xs) => `${pct(xs.map((s) => s.n), 0.5)} req/s, p50 ${pct(xs.map((s) => s.p50), 0.5).toFixed(0)} us, p99 ${pct(xs.map((s) => s.p99), 0.5).toFixed(0)} us`;
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const text = [
      '',
      `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: retention cut (bench/retention.mjs), keel ${commit}`,
      '',
      `- Log of ${ROWS + 10} requests, ${mib(before)} MiB (keel.db and WAL, auto_vacuum ${mode}); keel restarted with \`log_retention: {max_requests: ${KEEP}}\`, ${CLIENTS} clients sending chat requests to a fake upstream throughout; load average ${loadavg()[0].toFixed(2)} at the end.`,
      `- keel's pass at start deleted ${pruned ?? '?'} requests in ${passS.toFixed(1)} s (5,000 per transaction), then its incremental vacuum gave back ${gaveBack ?? '?'} KiB in ${vacuumS.toFixed(1)} s; the log (keel.db and WAL) went from ${mib(before)} MiB to ${seconds.at(-1).mib} MiB while keel served, ${mib(after)} MiB once it stopped (no WAL), keeping ${kept} requests; ${failed} requests failed.`,
      `- Medians per second until the vacuum ended: ${row(shrinking)}; after: ${row(settled)}.`,
      `- Log size each second (MiB): ${seconds.map((s) => s.mib).join(' ')}`,
      '',
    ].join('\n');
    process.stdout.write(text);
    if (process.env.BENCH_RECORD !== '0') appendFileSync(path.join(here, 'RESULTS.md'), text);
    if (failed) process.exitCode = 1;
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
