// `make bench-stream-gaps` (part of `make bench`): how evenly a slow-streaming upstream reaches a
// client through keel, against the same through nginx (proxy_buffering off) and directly, in one
// run. Real models stream a chunk every few milliseconds; a relay that holds chunks back or wakes
// late shows as gaps the upstream did not make. Not a test: it prints the numbers and appends them
// to bench/RESULTS.md.
//
//   node bench/stream_gaps.mjs                 # needs build/keel and nginx (installed if missing)
//   BENCH_CHUNKS=500 BENCH_INTERVAL_MS=1 BENCH_ROUNDS=5 node bench/stream_gaps.mjs
//
// The upstream (bench/slow_upstream.mjs, its own process) answers an OpenAI chat completion
// stream of BENCH_CHUNKS content chunks, one every BENCH_INTERVAL_MS. The client (this process)
// measures the gap between consecutive content chunks as they arrive; the three paths are
// interleaved round by round (BENCH_ROUNDS). Reported per path: gap p50, p99 and the largest,
// gaps over 5 ms, and the whole answer's time (median of rounds).
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, quantile, sleep } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const KEEL = process.env.KEEL_BIN || path.join(root, 'build/keel');
const CHUNKS = Number(process.env.BENCH_CHUNKS || 500);
const INTERVAL = Number(process.env.BENCH_INTERVAL_MS || 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const GAP_LIMIT_MS = 5;


async function waitPort(port, proc, what) {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited (${proc.exitCode})`);
    const ok = await new Promise((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1');
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on port ${port}`);
}

function nginxBinary() {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try { execFileSync(candidate, ['-v'], { stdio: 'ignore' }); return candidate; } catch { /* next */ }
  }
  console.error('bench-stream-gaps: installing nginx-light');
  execFileSync('bash', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || ' +
    '{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }'], { stdio: 'inherit' });
  return '/usr/sbin/nginx';
}

// One streamed request; resolves {gaps, chunks, total} (ms).
async function measure(url, model) {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  const gaps = [];
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
      if (!JSON.parse(frame.slice(6)).choices?.[0]?.delta?.content) continue;
      const now = performance.now();
      if (last) gaps.push(now - last);
      last = now;
      chunks += 1;
    }
  }
  if (chunks !== CHUNKS) throw new Error(`${url}: ${chunks} of ${CHUNKS} chunks arrived`);
  return { gaps, chunks, total: performance.now() - started };
}

const f = (x, d = 2) => x.toFixed(d);

async function main() {
  const nginx = nginxBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-bench-gaps-'));
  chmodSync(dir, 0o755);
  const procs = [];
  try {
    const upPort = await freePort();
    const up = spawn(process.execPath, [path.join(here, 'slow_upstream.mjs'), String(upPort), String(CHUNKS), String(INTERVAL)], { stdio: 'inherit' });
    procs.push(up);

    const proxyPort = await freePort();
    mkdirSync(path.join(dir, 'nginx/tmp'), { recursive: true });
    const prefix = path.join(dir, 'nginx');
    writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  upstream up { server 127.0.0.1:${upPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${proxyPort};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location / { proxy_pass http://up; proxy_buffering off; }
  }
}
`);
    const proxy = spawn(nginx, ['-p', prefix, '-e', path.join(prefix, 'error.log'), '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    procs.push(proxy);

    const keelPort = await freePort();
    writeFileSync(path.join(dir, 'keel.yaml'), [
      `listen: 127.0.0.1:${keelPort}`,
      `state: "sqlite:${path.join(dir, 'keel.db')}"`,
      'providers:',
      `  - {name: up, kind: openai, base_url: "http://127.0.0.1:${upPort}/v1", api_key: bench}`,
      'models:',
      '  - {name: bench, retries: 0, targets: [{provider: up, model: slow}]}',
      '',
    ].join('\n'));
    const keel = spawn(KEEL, ['serve', '--config', path.join(dir, 'keel.yaml')], { stdio: 'ignore', env: { ...process.env, KEEL_LOG_LEVEL: 'warn' } });
    procs.push(keel);
    await waitPort(upPort, up, 'the slow upstream');
    await waitPort(proxyPort, proxy, 'nginx');
    await waitPort(keelPort, keel, 'keel');

    const load = loadavg().map((x) => x.toFixed(2)).join(' ');
    const paths = [
      ['direct', `http://127.0.0.1:${upPort}/v1/chat/completions`, 'slow'],
      ['nginx proxy', `http://127.0.0.1:${proxyPort}/v1/chat/completions`, 'slow'],
      ['keel', `http://127.0.0.1:${keelPort}/v1/chat/completions`, 'bench'],
    ];
    const results = Object.fromEntries(paths.map(([name]) => [name, { gaps: [], totals: [] }]));
    for (const [, url, model] of paths) await measure(url, model); // warm-up: connections, pages
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, url, model] of i % 2 ? [...paths].reverse() : paths) {
        const r = await measure(url, model);
        results[name].gaps.push(...r.gaps);
        results[name].totals.push(r.total);
      }
    }
    const rows = paths.map(([name]) => {
      const { gaps, totals } = results[name];
      return `| ${name} | ${f(quantile(gaps, 0.5))} | ${f(quantile(gaps, 0.99))} | ${f(Math.max(...gaps), 1)} | ` +
        `${gaps.filter((g) => g > GAP_LIMIT_MS).length} of ${gaps.length} | ${f(quantile(totals, 0.5), 0)} |`;
    });
    const k = results.keel.gaps;
    const n = results['nginx proxy'].gaps;
    const text = `\n## Stream gaps: a slow upstream through keel and nginx (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\n` +
      `Command: \`make bench-stream-gaps\` (\`node bench/stream_gaps.mjs\`; BENCH_CHUNKS=${CHUNKS}, BENCH_INTERVAL_MS=${INTERVAL}, ` +
      `BENCH_ROUNDS=${ROUNDS}). The upstream sends one content chunk every ${INTERVAL} ms; ${cpus().length} cores; load average ` +
      `${load} at the start.\n\n` +
      '| path | gap p50 ms | gap p99 ms | gap max ms | gaps over 5 ms | answer ms (median) |\n|---|---|---|---|---|---|\n' +
      rows.join('\n') +
      `\n\nkeel ÷ nginx: gap p50 ${f(quantile(k, 0.5) / quantile(n, 0.5))}, p99 ${f(quantile(k, 0.99) / quantile(n, 0.99))}.\n`;
    console.log(text);
    if (!process.env.BENCH_NO_RECORD) appendFileSync(path.join(here, 'RESULTS.md'), text);
  } finally {
    // SIGTERM: nginx's master stops its workers on it (a SIGKILLed master leaves them running).
    for (const p of procs) p.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench-stream-gaps: ${err.message}`);
  process.exit(1);
});
