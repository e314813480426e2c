// Small helpers the Node.js benchmarks share (and tests/e2e/local.test.mjs, for freePort).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

// A TCP port free on 127.0.0.1 right now (the OS picks it; it is released before returning).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The q-quantile (0..1) of xs by the nearest rank below; NaN for none.
export function quantile(xs, q) {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
export const median = (xs) => quantile(xs, 0.5);

// `keel serve --config CONFIG` (with `listen: 127.0.0.1:0`); resolves once it listens, with the
// process and its base URL.
export async function serveKeel(bin, config) {
  const keel = spawn(bin, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const base = await new Promise((resolve, reject) => {
    let text = '';
    keel.stderr.on('data', (d) => {
      text += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolve(m[1]);
    });
    keel.on('exit', () => reject(new Error(`keel exited:\n${text}`)));
  });
  return { keel, base };
}

// serveKeel on a config of the given lines (state in a fresh temporary folder, `listen:` on an
// ephemeral loopback port), with a fake OpenAI upstream as provider `fake` first. Resolves
// {keel (the child process), base (its URL), dir}.
export async function serveKeelWithFake(keelBin, fakeUrl, lines, prefix = 'keel-bench-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const config = path.join(dir, 'keel.yaml');
  writeFileSync(config, [
    'listen: 127.0.0.1:0',
    `state: sqlite:${path.join(dir, 'keel.db')}`,
    'providers:',
    `  - {name: fake, kind: openai, base_url: "${fakeUrl}", api_key: sk-bench}`,
    ...lines,
    '',
  ].join('\n'));
  return { ...(await serveKeel(keelBin, config)), dir };
}
