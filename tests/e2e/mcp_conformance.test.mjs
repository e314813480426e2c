// MCP conformance (issue 20): the official @modelcontextprotocol/conformance suite against keel's
// MCP client (its client scenarios: the suite's test server, keel driven by
// mcp_conformance_client.mjs) and against keel's /mcp server (its server scenarios, keel fronting
// mcp_conformance_server.mjs as a toolset); then the MCP Inspector's CLI listing and calling
// keel's /mcp tools. docs/dev.md records which scenarios pass and why the others do not apply.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKeel, runProgram, KEEL_BIN } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONFORMANCE = path.join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const INSPECTOR = path.join(here, 'node_modules/@modelcontextprotocol/inspector/cli/build/cli.js');
const CLIENT = path.join(here, 'mcp_conformance_client.mjs');
const TOOLS_SERVER = path.join(here, 'mcp_conformance_server.mjs');
const SHIM = path.join(here, 'mcp_conformance_shim.mjs');

// Runs the suite and reads back its checks (every checks.json it wrote under the output folder).
async function conformance(args) {
  const out = mkdtempSync(path.join(tmpdir(), 'keel-conformance-'));
  const result = await runProgram(process.execPath, ['--import', SHIM, CONFORMANCE, ...args, '-o', out], {
    env: { KEEL_BIN }, timeoutMs: 90000,
  });
  const checks = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name === 'checks.json') checks.push(...JSON.parse(readFileSync(full, 'utf8')));
    }
  };
  walk(out);
  return { ...result, checks };
}

// Every check that is not INFO passed: SUCCESS (no FAILURE, no WARNING), and there was one.
function assertPassed(run, what) {
  const judged = run.checks.filter((c) => c.status !== 'INFO');
  const bad = judged.filter((c) => c.status !== 'SUCCESS');
  assert.ok(judged.length > 0, `${what}: no checks\n${run.stdout}\n${run.stderr}`);
  assert.deepEqual(bad.map((c) => `${c.id}: ${c.status} ${c.errorMessage ?? ''}`), [], `${what}\n${run.stdout.slice(-3000)}`);
  assert.equal(run.code, 0, `${what}: exit ${run.code}\n${run.stdout.slice(-2000)}`);
}

describe('MCP conformance suite', () => {
  // keel's client: initialize (protocol version, client info) and tools_call (list, then call
  // add_numbers; the suite's server needs mcp_conformance_shim.mjs, see there).
  for (const scenario of ['initialize', 'tools_call']) {
    test(`client scenario ${scenario}`, async () => {
      const run = await conformance(['client', '--command', `${process.execPath} ${CLIENT}`, '--scenario', scenario, '--timeout', '60000']);
      assertPassed(run, scenario);
    });
  }

  describe('keel\'s /mcp server', () => {
    let keel;
    before(async () => {
      keel = await startKeel({
        extra: {
          toolsets: [
            { name: 'calc', kind: 'builtin', tools: ['calculator'] },
            { name: 'conformance', kind: 'mcp', command: process.execPath, args: [TOOLS_SERVER] },
          ],
        },
      });
    });
    after(async () => { await keel?.stop(); });

    const scenarios = ['server-initialize', 'ping', 'tools-list', 'tools-call-simple-text', 'tools-call-error',
      'json-schema-2020-12', 'dns-rebinding-protection'];
    for (const scenario of scenarios) {
      test(`server scenario ${scenario}`, async () => {
        // localhost: the DNS-rebinding scenario only judges servers it reaches by a local name.
        const url = `http://localhost:${new URL(keel.base).port}/mcp`;
        const run = await conformance(['server', '--url', url, '--scenario', scenario]);
        assertPassed(run, scenario);
      });
    }
  });
});

describe('MCP Inspector CLI against keel\'s /mcp', () => {
  let keel;
  before(async () => {
    keel = await startKeel({ extra: { api_keys: ['sk-test'], toolsets: [{ name: 'calc', kind: 'builtin', tools: ['calculator', 'current_time'] }] } });
  });
  after(async () => { await keel?.stop(); });

  const inspect = (args, key = 'sk-test') => runProgram(process.execPath, [INSPECTOR, '--cli', `${keel.base}/mcp`,
    '--transport', 'http', '--header', `Authorization: Bearer ${key}`, ...args], { timeoutMs: 60000 });

  test('lists and calls keel\'s tools', async () => {
    assert.ok(existsSync(INSPECTOR), `${INSPECTOR} is missing: npm install in tests/e2e`);
    const listed = await inspect(['--method', 'tools/list']);
    assert.equal(listed.code, 0, listed.stderr);
    const { tools } = JSON.parse(listed.stdout.slice(listed.stdout.indexOf('{')));
    assert.deepEqual(tools.map((t) => t.name), ['calculator', 'current_time']);
    assert.equal(tools[0].inputSchema.required[0], 'expression');

    const called = await inspect(['--method', 'tools/call', '--tool-name', 'calculator', '--tool-arg', 'expression=6*7']);
    assert.equal(called.code, 0, called.stderr);
    const result = JSON.parse(called.stdout.slice(called.stdout.indexOf('{')));
    assert.deepEqual(result.content, [{ type: 'text', text: '42' }]);

    const bad = await inspect(['--method', 'tools/call', '--tool-name', 'calculator']);
    const badResult = JSON.parse(bad.stdout.slice(bad.stdout.indexOf('{')));
    assert.equal(badResult.isError, true);
    assert.match(badResult.content[0].text, /missing required property "expression"/);
  });

  test('a wrong key is refused with a JSON-RPC error before the body is read', async () => {
    const refused = await inspect(['--method', 'tools/list'], 'wrong');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /401|missing or invalid API key/);
    const res = await fetch(`${keel.base}/mcp`, {
      method: 'POST', headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'missing or invalid API key' } });
    const get = await fetch(`${keel.base}/mcp`, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(get.status, 405);
    assert.equal((await get.json()).jsonrpc, '2.0');
  });
});
