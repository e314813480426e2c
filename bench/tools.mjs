// Tools (issue 20): keel's overhead per tool round, against calling the same MCP server directly
// with the npm SDK's client, in one run; and importing the largest spec in ../shared/specs.
// Sequential requests (one at a time, so the numbers are latencies, not queueing), rounds
// interleaved. Not a test.
//
//   direct   the SDK's Client -> tests/e2e/mcp_server.mjs over stdio: tools/call echo
//   /mcp     the SDK's Client -> keel's POST /mcp -> the same server (keel's own stdio client)
//   plain    a chat through keel, one upstream round (fake OpenAI `toolloop-plain`: no tools)
//   loop     a chat through keel whose fake model calls echo once, then answers: two upstream
//            rounds and one tool call
// Reported: p50 and p99 of each; keel's /mcp over the direct call; and keel's overhead per tool
// round as (loop - plain) - direct: what a round adds beyond the tool's own time, i.e. keel's
// loop bookkeeping plus one more upstream round trip. The fake upstream answers at once, so that
// round trip is keel's gateway cost (bench/RESULTS.md) plus loopback, not model time.
//
//   node bench/tools.mjs                       # needs build/keel and tests/e2e/node_modules
//   BENCH_CALLS=300 BENCH_ROUNDS=3 node bench/tools.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../tests/fakes/fake_openai.mjs';
import { median, quantile, serveKeelWithFake } from './util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const KEEL = process.env.KEEL_BIN || path.join(here, '..', 'build/keel');
const CALLS = Number(process.env.BENCH_CALLS || 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const SDK = path.join(here, '../tests/e2e/node_modules/@modelcontextprotocol/sdk/dist/esm');
const SERVER = path.join(here, '../tests/e2e/mcp_server.mjs');
const SPECS = path.resolve(here, '../../shared/specs');

const { Client } = await import(`${SDK}/client/index.js`);
const { StdioClientTransport } = await import(`${SDK}/client/stdio.js`);
const { StreamableHTTPClientTransport } = await import(`${SDK}/client/streamableHttp.js`);

const fake = await startFakeOpenAI();
const { keel, base, dir } = await serveKeelWithFake(KEEL, fake.url, [
  'models:',
  '  - {name: plain, targets: [{provider: fake, model: toolloop-plain}]}',
  '  - {name: loop, tools: [ours], targets: [{provider: fake, model: toolloop-bench}]}',
  'toolsets:',
  `  - {name: ours, kind: mcp, command: "${process.execPath}", args: ["${SERVER}", normal], allow: [echo]}`,
], 'keel-bench-tools-');

const direct = new Client({ name: 'bench-direct', version: '1' });
await direct.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER, 'normal'], stderr: 'ignore' }));
const viaKeel = new Client({ name: 'bench-keel', version: '1' });
await viaKeel.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));

async function chat(model) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'say hi' }] }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${model}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

const kinds = {
  direct: () => direct.callTool({ name: 'echo', arguments: { message: 'hi from the model' } }),
  mcp: () => viaKeel.callTool({ name: 'echo', arguments: { message: 'hi from the model' } }),
  plain: () => chat('plain'),
  loop: async () => {
    const body = await chat('loop');
    if (!/hi from the model/.test(body.choices[0].message.content)) throw new Error(`no tool result: ${JSON.stringify(body)}`);
  },
};
const times = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (const run of Object.values(kinds)) for (let i = 0; i < 20; i++) await run();   // warm up
for (let round = 0; round < ROUNDS; round++) {
  for (const [kind, run] of Object.entries(kinds)) {
    for (let i = 0; i < CALLS; i++) {
      const t0 = process.hrtime.bigint();
      await run();
      times[kind].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
}
const ms = (x) => `${x.toFixed(3)} ms`;
console.log(`tool rounds, ${ROUNDS} x ${CALLS} sequential calls each (p50, p99):`);
for (const [kind, xs] of Object.entries(times)) console.log(`  ${kind.padEnd(7)} ${ms(median(xs))}  ${ms(quantile(xs, 0.99))}`);
const p = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, median(xs)]));
console.log(`keel /mcp over calling the server directly: +${ms(p.mcp - p.direct)} per call (${(p.mcp / p.direct).toFixed(2)}x)`);
console.log(`keel's overhead per tool round, (loop - plain) - direct: ${ms(p.loop - p.plain - p.direct)}`);
console.log(`  (one more upstream round through keel is about plain: ${ms(p.plain)}; loop / (2 x plain + direct) = ${(p.loop / (2 * p.plain + p.direct)).toFixed(2)})`);

await direct.close();
await viaKeel.close();
keel.kill('SIGTERM');
await fake.close();

// Importing the largest published spec: `keel config check` with it, less one without it.
if (existsSync(SPECS)) {
  const largest = ['openai-openapi.yaml', 'jira.openapi.json', 'sap-business-partner.openapi.json']
    .map((f) => path.join(SPECS, f)).sort((a, b) => statSync(b).size - statSync(a).size);
  const check = (toolsets) => {
    const file = path.join(dir, `check-${Math.random().toString(16).slice(2)}.yaml`);
    writeFileSync(file, `${toolsets}\n`);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(KEEL, ['config', 'check', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (const spec of largest) {
    const yaml = `toolsets:\n  - {name: big, kind: openapi, spec: "${spec}", base_url: "https://example.com"}`;
    const empty = [];
    const full = [];
    for (let i = 0; i < 3; i++) { empty.push(check('{}')); full.push(check(yaml)); }
    const mb = statSync(spec).size / (1 << 20);
    console.log(`import ${path.basename(spec)} (${mb.toFixed(1)} MiB): ${ms(median(full) - median(empty))} (config check ${ms(median(full))}, without it ${ms(median(empty))})`);
  }
}
rmSync(dir, { recursive: true, force: true });
