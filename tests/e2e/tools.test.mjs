// Tools (issue 20): `keel tools list|call` over builtin tools and MCP servers (the official
// server-everything over stdio and streamable HTTP, and servers of our own written with the SDK
// that page, fail, hang and crash), and the server-side tool loop end to end: fake OpenAI,
// Anthropic and Gemini models that call a tool and then answer with its result, driven by the
// official openai and @anthropic-ai/sdk clients sending plain chats.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startKeel, runKeel, makeClient, makeAnthropicClient, fakeProvider, anthropicProvider,
  geminiProvider, toYaml, scrapeMetrics, metricSum, waitFor, sleep, sqliteDump,
} from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini } from '../fakes/fake_gemini.mjs';
import { freePort } from '../../bench/util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const MCP_SERVER = path.join(here, 'mcp_server.mjs');
const EVERYTHING = path.join(here, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const calc = { name: 'calc', kind: 'builtin', tools: ['calculator', 'current_time'] };
const ours = (mode = 'normal', extra = {}) => ({ name: 'ours', kind: 'mcp', command: process.execPath, args: [MCP_SERVER, mode], ...extra });

function writeConfig(toolsets, extra = {}, dir = mkdtempSync(path.join(tmpdir(), 'keel-tools-'))) {
  const file = path.join(dir, `keel-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, `${toYaml({ listen: '127.0.0.1:0', state: `sqlite:${path.join(dir, 'keel.db')}`, toolsets, ...extra })}\n`);
  return file;
}

async function tools(toolsets, args, timeoutMs = 20000, dir = undefined) {
  return runKeel(['tools', ...args, '--config', writeConfig(toolsets, {}, dir)], { timeoutMs });
}

// Starts a node script that listens on a port; resolves once the port takes connections.
async function startListening(args, env = {}) {
  const port = await freePort();
  const proc = spawn(process.execPath, [...args.map((a) => (a === 'PORT' ? String(port) : a))], {
    env: { ...process.env, PORT: String(port), ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr.on('data', () => {});
  await waitFor(() => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), 15000, 100);
  return { port, url: `http://127.0.0.1:${port}/mcp`, stop: () => proc.kill('SIGKILL') };
}

describe('keel tools (CLI)', () => {
  test('builtin tools: list, calculator, bad arguments', async () => {
    const listed = await tools([calc], ['list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const names = JSON.parse(listed.stdout).map((t) => `${t.toolset}/${t.name}`);
    assert.deepEqual(names, ['calc/calculator', 'calc/current_time']);

    const called = await tools([calc], ['call', 'calculator', '--args', '{"expression":"2 * (3 + 4) ^ 2 / sqrt(16)"}']);
    assert.equal(called.code, 0, called.stderr);
    assert.equal(called.stdout.trim(), '24.5');

    const bad = await tools([calc], ['call', 'calc/calculator', '--args', '{"expr":"1"}']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /invalid arguments for calculator: arguments: missing required property "expression"/);

    const time = await tools([calc], ['call', 'current_time', '--args', '{"utc_offset_minutes":60}', '--json']);
    const out = JSON.parse(JSON.parse(time.stdout).text);
    assert.ok(Math.abs(out.unix - Date.now() / 1000) < 60);
    assert.match(out.local, /\+01:00$/);
  });

  test('config check names the toolset and the reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-tools-'));
    const cases = [
      [{ toolsets: [{ name: 'web', kind: 'builtin', tools: ['http_fetch', 'rm_rf'] }] }, /toolsets\[0\]\.tools\[1\]: toolset "web": no builtin tool named "rm_rf"/],
      [{ toolsets: [{ name: 'srv', kind: 'mcp' }] }, /toolset "srv": kind mcp needs either command \(stdio\) or url/],
      [{ toolsets: [{ name: 'a b', kind: 'builtin', tools: ['calculator'] }] }, /toolsets\[0\]\.name: must be 1-64 letters/],
      [{ toolsets: [calc, calc] }, /duplicate toolset name "calc"/],
      [{ models: [{ name: 'm', tools: ['nope'], targets: [{ provider: 'p', model: 'x' }] }], providers: [{ name: 'p', kind: 'openai', base_url: 'http://127.0.0.1:1/v1' }] }, /models\[0\]\.tools\[0\]: no toolset named "nope"/],
    ];
    for (const [config, expected] of cases) {
      const file = path.join(dir, 'bad.yaml');
      writeFileSync(file, `${toYaml(config)}\n`);
      const result = await runKeel(['config', 'check', file]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr + result.stdout, expected);
    }
  });

  test('MCP over stdio: our SDK server pages its list, errors, times out and crashes', async () => {
    const listed = await tools([ours()], ['list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const names = JSON.parse(listed.stdout).map((t) => t.name);
    assert.deepEqual(names, ['add', 'fail', 'sleep', 'crash', 'echo', 'grow', 'page_tool_1', 'page_tool_2', 'page_tool_3', 'page_tool_4', 'page_tool_5']);

    const add = await tools([ours()], ['call', 'ours/add', '--args', '{"a":2,"b":3}']);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout.trim(), '5');

    const allowed = await tools([ours('normal', { allow: ['add'] })], ['list', '--json']);
    assert.deepEqual(JSON.parse(allowed.stdout).map((t) => t.name), ['add']);

    const failed = await tools([ours()], ['call', 'fail', '--args', '{}', '--json']);
    assert.equal(failed.code, 1);
    assert.deepEqual(JSON.parse(failed.stdout), { text: 'it failed on purpose', is_error: true });

    const slow = await tools([ours('normal', { timeout_ms: 500 })], ['call', 'sleep', '--args', '{"ms":5000}']);
    assert.equal(slow.code, 1);
    assert.match(slow.stdout, /sleep did not answer within 500 ms/);

    const crash = await tools([ours()], ['call', 'crash', '--args', '{}']);
    assert.equal(crash.code, 1);
    assert.match(crash.stdout, /crash failed: the MCP server .* exited/);
  });

  test('tool pinning: a changed definition is disabled until approved', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-pins-'));
    const original = ours('normal', { allow: ['add', 'echo'] });
    const changed = ours('normal', { allow: ['add', 'echo'], env: { MCP_TEST_VARIANT: 'changed' } });
    const names = (result) => JSON.parse(result.stdout).map((t) => t.name);
    const first = await tools([original], ['list', '--json'], 20000, dir);
    assert.deepEqual(names(first), ['add', 'echo']);   // first sight: pinned
    const swapped = await tools([changed], ['list', '--json'], 20000, dir);
    assert.deepEqual(names(swapped), ['echo']);
    assert.match(swapped.stderr, /toolset ours: tool add changed its definition since it was pinned; it stays disabled until `keel tools approve ours\/add`/);
    const call = await tools([changed], ['call', 'add', '--args', '{"a":1,"b":1}'], 20000, dir);
    assert.equal(call.code, 1);
    const approved = await tools([changed], ['approve', 'ours/add'], 20000, dir);
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.stdout.trim(), 'approved ours/add');
    assert.deepEqual(names(await tools([changed], ['list', '--json'], 20000, dir)), ['add', 'echo']);
    assert.deepEqual(names(await tools([original], ['list', '--json'], 20000, dir)), ['echo']);
  });

  test('MCP: a server that never answers initialize, or speaks an unknown version', async () => {
    const started = Date.now();
    const hung = await tools([ours('hang-init', { startup_timeout_ms: 700 })], ['list']);
    assert.equal(hung.code, 1);
    assert.match(hung.stderr, /toolset ours: the MCP server did not answer initialize within 700 ms/);
    assert.ok(Date.now() - started < 10000);

    const old = await tools([ours('old-version')], ['list']);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /toolset ours: MCP: the server speaks protocol version 2023-01-01/);

    // A server that closed its stdin: keel's writes meet a closed pipe (EPIPE, not a SIGPIPE
    // that would end keel), and listing times out.
    const deaf = await tools([ours('deaf', { timeout_ms: 800 })], ['list']);
    assert.equal(deaf.signal, null);
    assert.equal(deaf.code, 1);
    assert.match(deaf.stderr, /toolset ours: tools\/list timed out/);

    const missing = await tools([{ name: 'gone', kind: 'mcp', command: '/nonexistent/mcp-server' }], ['list']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /toolset gone: cannot start \/nonexistent\/mcp-server: No such file/);
  });

  test('server-everything over stdio', async () => {
    const everything = { name: 'everything', kind: 'mcp', command: process.execPath, args: [EVERYTHING, 'stdio'] };
    const listed = await tools([everything], ['list', '--json'], 30000);
    assert.equal(listed.code, 0, listed.stderr);
    const names = JSON.parse(listed.stdout).map((t) => t.name);
    assert.ok(names.includes('echo') && names.includes('get-sum'), names.join(','));
    const echo = await tools([everything], ['call', 'everything/echo', '--args', '{"message":"hi"}'], 30000);
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout.trim(), 'Echo: hi');
  });

  test('MCP over streamable HTTP: server-everything and our SDK server', async () => {
    const everything = await startListening([EVERYTHING, 'streamableHttp']);
    const ourHttp = await startListening([MCP_SERVER, 'normal', '--http', 'PORT']);
    try {
      const sum = await tools([{ name: 'remote', kind: 'mcp', url: everything.url }], ['call', 'get-sum', '--args', '{"a":2,"b":3}'], 30000);
      assert.equal(sum.code, 0, sum.stderr);
      assert.match(sum.stdout, /5/);
      const listed = await tools([{ name: 'mine', kind: 'mcp', url: ourHttp.url, headers: { 'x-test': 'yes' } }], ['list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(JSON.parse(listed.stdout).length, 11);
      const failed = await tools([{ name: 'mine', kind: 'mcp', url: ourHttp.url }], ['call', 'fail', '--args', '{}', '--json']);
      assert.deepEqual(JSON.parse(failed.stdout), { text: 'it failed on purpose', is_error: true });
    } finally {
      everything.stop();
      ourHttp.stop();
    }
  });
});

describe('the tool loop', () => {
  let openai, anthropic, gemini, keel, everythingToolset;
  before(async () => {
    openai = await startFakeOpenAI();
    anthropic = await startFakeAnthropic();
    gemini = await startFakeGemini();
    everythingToolset = { name: 'everything', kind: 'mcp', command: process.execPath, args: [EVERYTHING, 'stdio'], allow: ['echo'] };
    const model = (name, provider, upstream, toolsets = ['calc'], extra = {}) => (
      { name, tools: toolsets, targets: [{ provider, model: upstream }], ...extra });
    keel = await startKeel({
      providers: [fakeProvider('oa', openai), anthropicProvider('an', anthropic, 'sk-upstream'), geminiProvider('ge', gemini, 'sk-upstream')],
      models: [
        model('agent', 'oa', 'toolloop'),
        model('agent-claude', 'an', 'toolloop-claude'),
        model('agent-gemini', 'ge', 'toolloop-gemini'),
        model('agent-badargs', 'oa', 'toolloop-badargs'),
        model('agent-mcp', 'oa', 'toolloop-mcp', ['everything']),
        model('agent-two', 'oa', 'toolloop-two', ['calc', 'everything'], { max_tool_rounds: 2 }),
        { name: 'plain', targets: [{ provider: 'oa', model: 'toolloop-plain' }] },
        model('agent-grow', 'oa', 'toolloop-grow', ['ours-grow']),
        model('agent-crash', 'oa', 'toolloop-crash', ['ours-crash']),
      ],
      extra: {
        toolsets: [calc, everythingToolset,
          { ...ours('normal', { allow: ['grow', 'grown'] }), name: 'ours-grow' },
          { ...ours('normal', { allow: ['echo', 'crash'] }), name: 'ours-crash' }],
      },
    });
  });
  after(async () => {
    await keel?.stop();
    await openai?.close();
    await anthropic?.close();
    await gemini?.close();
  });

  const ask = [{ role: 'user', content: 'What is 6 times 7?' }];

  test('openai client, not streamed: one answer built from the tool result', async () => {
    const before = openai.requests.length;
    const completion = await makeClient(keel).chat.completions.create({ model: 'agent', messages: ask });
    assert.equal(completion.choices[0].message.content, 'tool said: 42');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.choices[0].message.tool_calls, undefined);
    const upstream = openai.requests.slice(before).map((r) => r.body);
    assert.equal(upstream.length, 2);
    assert.deepEqual(upstream[0].tools.map((t) => t.function.name), ['calculator', 'current_time']);
    const toolMessage = upstream[1].messages.at(-1);
    assert.equal(toolMessage.role, 'tool');
    assert.match(toolMessage.tool_call_id, /^call_loop_\d+$/);
    assert.equal(toolMessage.tool_call_id, upstream[1].messages.at(-2).tool_calls[0].id);
    assert.equal(toolMessage.content, '42');
    assert.equal(upstream[1].messages.at(-2).tool_calls[0].function.name, 'calculator');
    // usage summed over both rounds
    assert.equal(completion.usage.prompt_tokens, 10);
  });

  test('openai client, streamed: the answer streams, no tool call is seen', async () => {
    const stream = await makeClient(keel).chat.completions.create({ model: 'agent', messages: ask, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finishes = [];
    let usage = null;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        text += choice.delta?.content ?? '';
        assert.equal(choice.delta?.tool_calls, undefined);
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'tool said: 42');
    assert.deepEqual(finishes, ['stop']);
    assert.equal(usage.prompt_tokens, 10);
  });

  test('anthropic client on /v1/messages, streamed and not', async () => {
    const client = makeAnthropicClient(keel);
    const message = await client.messages.create({ model: 'agent', max_tokens: 100, messages: ask });
    assert.deepEqual(message.content.map((b) => b.type), ['text']);
    assert.equal(message.content[0].text, 'tool said: 42');
    assert.equal(message.stop_reason, 'end_turn');
    const stream = client.messages.stream({ model: 'agent', max_tokens: 100, messages: ask });
    const final = await stream.finalMessage();
    assert.equal(final.content.map((b) => b.text).join(''), 'tool said: 42');
  });

  test('every provider kind: Anthropic and Gemini upstreams', async () => {
    const client = makeClient(keel);
    for (const model of ['agent-claude', 'agent-gemini']) {
      const completion = await client.chat.completions.create({ model, messages: ask });
      assert.equal(completion.choices[0].message.content, 'tool said: 42', model);
      const stream = await client.chat.completions.create({ model, messages: ask, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'tool said: 42', model);
    }
    const results = anthropic.requests.map((r) => r.body).filter((b) => b.model === 'toolloop-claude').at(-1);
    assert.equal(results.messages.at(-1).content[0].type, 'tool_result');
  });

  test('arguments that fail the schema go back to the model as a tool error', async () => {
    const completion = await makeClient(keel).chat.completions.create({ model: 'agent-badargs', messages: ask });
    assert.equal(completion.choices[0].message.content,
      'tool said: Error: invalid arguments for calculator: arguments: missing required property "expression"');
  });

  test('an MCP server\'s tool in the loop (server-everything echo)', async () => {
    const completion = await makeClient(keel).chat.completions.create({ model: 'agent-mcp', messages: ask });
    assert.equal(completion.choices[0].message.content, 'tool said: Echo: hi from the model');
  });

  test('max_tool_rounds: the last round must answer', async () => {
    const before = openai.requests.length;
    const completion = await makeClient(keel).chat.completions.create({ model: 'agent-two', messages: ask });
    const upstream = openai.requests.slice(before).map((r) => r.body);
    assert.equal(upstream.length, 2);
    assert.equal(upstream[1].tool_choice, 'none');
    assert.equal(completion.choices[0].message.content, 'tool said: 42');
  });

  test('mixed mode: the client\'s own tool goes back to the client', async () => {
    const client = makeClient(keel);
    const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    const first = await client.chat.completions.create({ model: 'agent', messages: ask, tools: [weather] });
    const call = first.choices[0].message.tool_calls;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(call.length, 1);
    assert.equal(call[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call[0].function.arguments), { city: 'Paris' });
    const second = await client.chat.completions.create({
      model: 'agent',
      tools: [weather],
      messages: [...ask, first.choices[0].message, { role: 'tool', tool_call_id: call[0].id, content: 'sunny' }],
    });
    assert.equal(second.choices[0].message.content, 'tool said: sunny | 42');
  });

  test('a model without tools: is untouched', async () => {
    const before = openai.requests.length;
    const completion = await makeClient(keel).chat.completions.create({ model: 'plain', messages: ask });
    assert.equal(completion.choices[0].message.content, 'tool said: ');
    assert.equal(openai.requests[before].body.tools, undefined);
  });

  test('notifications/tools/list_changed: the next request sees the new list', async () => {
    const client = makeClient(keel);
    const upstreamTools = () => openai.requests.filter((r) => r.body.model === 'toolloop-grow')
      .map((r) => r.body.tools.map((t) => t.function.name));
    const first = await client.chat.completions.create({ model: 'agent-grow', messages: ask });
    assert.equal(first.choices[0].message.content, 'tool said: grown');
    assert.deepEqual(upstreamTools(), [['grow'], ['grow']]);
    await client.chat.completions.create({ model: 'agent-grow', messages: ask });
    assert.deepEqual(upstreamTools().at(-1), ['grow', 'grown']);
  });

  test('a crashed stdio server is started again on a later request', async () => {
    const client = makeClient(keel);
    const first = await client.chat.completions.create({ model: 'agent-crash', messages: ask });
    assert.match(first.choices[0].message.content,
      /^tool said: echo: hi from the model \| Error: crash failed: the MCP server .* exited \(status 3\)$/);
    // Within the backoff (0.5 s) the server's tools are left out, and the model answers without.
    const down = await client.chat.completions.create({ model: 'agent-crash', messages: ask });
    assert.equal(down.choices[0].message.content, 'tool said: ');
    await sleep(700);
    const second = await client.chat.completions.create({ model: 'agent-crash', messages: ask });
    assert.match(second.choices[0].message.content, /^tool said: echo: hi from the model \| Error: crash failed/);
  });

  test('/metrics counts tool calls', async () => {
    const { samples } = await scrapeMetrics(keel);
    assert.ok(metricSum(samples, 'keel_tool_calls_total', { toolset: 'calc', tool: 'calculator', status: 'ok' }) >= 5);
    assert.ok(metricSum(samples, 'keel_tool_calls_total', { toolset: 'calc', tool: 'calculator', status: 'invalid_arguments' }) >= 1);
    assert.ok(metricSum(samples, 'keel_tool_call_duration_seconds_count', { toolset: 'everything', tool: 'echo' }) >= 1);
  });
});

const CANARY_ENV = 'canary-tool-env-5d1e7a';
const CANARY_HEADER = 'canary-tool-header-9b1c44';

describe('keel as an MCP server (POST /mcp)', () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      extra: {
        api_keys: ['sk-test'],
        toolsets: [calc, ours('normal', { allow: ['add', 'fail', 'sleep'], env: { TOOL_TOKEN: CANARY_ENV } }),
          // A remote server that is down, with a credential in its headers.
          { name: 'down', kind: 'mcp', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: `Bearer ${CANARY_HEADER}` } }],
      },
    });
  });
  after(async () => { await keel?.stop(); });

  async function connect(key = 'sk-test') {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const client = new Client({ name: 'keel-e2e', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${keel.base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    });
    await client.connect(transport);
    return client;
  }

  test('the SDK client lists and calls keel\'s tools', async () => {
    const client = await connect();
    try {
      assert.equal(client.getServerVersion().name, 'keel');
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name), ['calculator', 'current_time', 'add', 'fail', 'sleep']);
      assert.equal(tools[0].inputSchema.required[0], 'expression');
      const sum = await client.callTool({ name: 'calculator', arguments: { expression: '6*7' } });
      assert.deepEqual(sum.content, [{ type: 'text', text: '42' }]);
      assert.ok(!sum.isError);
      const viaMcp = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
      assert.equal(viaMcp.content[0].text, '5');
      const failed = await client.callTool({ name: 'fail', arguments: {} });
      assert.equal(failed.isError, true);
      assert.equal(failed.content[0].text, 'it failed on purpose');
      const bad = await client.callTool({ name: 'calculator', arguments: {} });
      assert.equal(bad.isError, true);
      assert.match(bad.content[0].text, /missing required property "expression"/);
      await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), /unknown tool: nope/);
      await client.ping();
    } finally {
      await client.close();
    }
  });

  test('replies out of order: a quick call overtakes a slow one on the same stdio server', async () => {
    const client = await connect();
    try {
      const finished = [];
      const slow = client.callTool({ name: 'sleep', arguments: { ms: 600 } }).then((r) => { finished.push('sleep'); return r; });
      await sleep(100);   // the slow call is on the pipe first
      const quick = client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }).then((r) => { finished.push('add'); return r; });
      const [slowResult, quickResult] = await Promise.all([slow, quick]);
      assert.deepEqual(finished, ['add', 'sleep']);
      assert.equal(quickResult.content[0].text, '42');
      assert.equal(slowResult.content[0].text, 'slept 600 ms');
    } finally {
      await client.close();
    }
  });

  test('keys are required; bad JSON-RPC is a JSON-RPC error', async () => {
    await assert.rejects(connect('wrong-key'), /missing or invalid API key/);
    const res = await fetch(`${keel.base}/mcp`, {
      method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0"}',
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error.code, -32700);
    assert.equal(body.id, null);
    const unknown = await fetch(`${keel.base}/mcp`, {
      method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":9,"method":"resources/list"}',
    });
    assert.deepEqual((await unknown.json()).error.code, -32601);
    const get = await fetch(`${keel.base}/mcp`, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(get.status, 405);
  });
  test('tool credentials reach no log, metric, stored row or error body', async () => {
    const client = await connect();
    let bodies = '';
    try {
      bodies += JSON.stringify(await client.listTools());
      bodies += JSON.stringify(await client.callTool({ name: 'fail', arguments: {} }));
    } finally {
      await client.close();
    }
    const { text: metrics } = await scrapeMetrics(keel);
    const stopped = await keel.stop();
    assert.equal(stopped.code, 0);
    assert.match(keel.stderr, /toolset down: .*left out/);   // the failure is logged ...
    for (const canary of [CANARY_ENV, CANARY_HEADER]) {       // ... without the credential
      assert.ok(!keel.stderr.includes(canary), 'stderr');
      assert.ok(!metrics.includes(canary), 'metrics');
      assert.ok(!bodies.includes(canary), 'bodies');
      assert.ok(!sqliteDump(keel.dbPath).includes(canary), 'database');
    }
  });
});

describe('kind: openapi against fake Trello and Jira', () => {
  const SPECS = path.resolve(here, '../../../shared/specs');
  let server;
  const seen = [];
  before(async () => {
    // Checks what Trello and Jira document: Trello's key and token in the query, its inputs in
    // the query too; Jira's basic auth and a JSON body.
    server = http.createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      const url = new URL(req.url, 'http://x');
      seen.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), auth: req.headers.authorization ?? null, type: req.headers['content-type'] ?? null, body });
      const json = (status, value) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (url.pathname.startsWith('/1/')) {
        if (url.searchParams.get('key') !== 'trello-key' || url.searchParams.get('token') !== 'trello-token') return json(401, { message: 'invalid key' });
        if (req.method === 'GET' && url.pathname === '/1/boards/b1') return json(200, { id: 'b1', name: 'Roadmap' });
        if (req.method === 'POST' && url.pathname === '/1/cards' && url.searchParams.get('idList')) return json(200, { id: 'c9', name: url.searchParams.get('name') });
        return json(404, { message: 'not found' });
      }
      if (req.headers.authorization !== `Basic ${Buffer.from('me@example.com:jira-token').toString('base64')}`) return json(401, { errorMessages: ['unauthorized'] });
      if (req.method === 'POST' && url.pathname === '/rest/api/3/issue') {
        const issue = JSON.parse(body);
        if (!issue.fields?.summary) return json(400, { errors: { summary: 'required' } });
        return json(201, { id: '10001', key: 'KEEL-1' });
      }
      return json(404, { errorMessages: ['not found'] });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => server?.close());

  const base = () => `http://127.0.0.1:${server.address().port}`;
  const trello = () => ({
    name: 'trello', kind: 'openapi', spec: path.join(SPECS, 'trello.openapi.json'), base_url: `${base()}/1`,
    operations: ['get-boards-id', 'post-cards'], allow_hosts: ['127.0.0.1'],
    auth: { type: 'api_key', in: 'query', values: { key: 'trello-key', token: 'trello-token' } },
  });
  const jira = () => ({
    name: 'jira', kind: 'openapi', spec: path.join(SPECS, 'jira.openapi.json'), base_url: base(),
    operations: ['createIssue'], allow_hosts: ['127.0.0.1'],
    auth: { type: 'basic', username: 'me@example.com', password: 'jira-token' },
  });

  test('Trello: key and token in the query, path and query inputs placed as the spec says', async (t) => {
    if (!existsSync(SPECS)) return t.skip(`${SPECS} is absent`);
    const listed = await tools([trello()], ['list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).map((x) => x.name), ['get-boards-id', 'post-cards']);
    const board = await tools([trello()], ['call', 'get-boards-id', '--args', '{"id":"b1","fields":"name"}']);
    assert.equal(board.code, 0, board.stdout);
    assert.match(board.stdout, /^HTTP 200\n\n\{"id":"b1","name":"Roadmap"\}/);
    const card = await tools([trello()], ['call', 'post-cards', '--args', '{"idList":"l1","name":"Ship it"}']);
    assert.equal(card.code, 0, card.stdout);
    const posted = seen.find((s) => s.method === 'POST' && s.path === '/1/cards');
    assert.deepEqual(posted.query, { idList: 'l1', name: 'Ship it', key: 'trello-key', token: 'trello-token' });
    assert.ok(!card.stdout.includes('trello-token') && !card.stderr.includes('trello-token'));
  });

  test('Jira: basic auth and a JSON body; the API\'s 400 is a tool error', async (t) => {
    if (!existsSync(SPECS)) return t.skip(`${SPECS} is absent`);
    const created = await tools([jira()], ['call', 'createIssue', '--args', JSON.stringify({ body: { fields: { summary: 'Broken build', project: { key: 'KEEL' } } } })]);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    assert.match(created.stdout, /^HTTP 201\n\n\{"id":"10001","key":"KEEL-1"\}/);
    const post = seen.find((s) => s.path === '/rest/api/3/issue');
    assert.equal(post.type, 'application/json');
    assert.deepEqual(JSON.parse(post.body).fields.summary, 'Broken build');
    const bad = await tools([jira()], ['call', 'createIssue', '--args', '{"body":{"fields":{}}}']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^HTTP 400/);
  });

  test('a spec that does not parse is a config check error naming the toolset and file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-openapi-'));
    const spec = path.join(dir, 'broken.json');
    writeFileSync(spec, '{"openapi": "3.0.0", "paths": ');
    const file = path.join(dir, 'keel.yaml');
    writeFileSync(file, `${toYaml({ toolsets: [{ name: 'broken', kind: 'openapi', spec, base_url: 'https://example.com' }] })}\n`);
    const result = await runKeel(['config', 'check', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /toolset broken: .*broken\.json: not valid JSON/);
  });

  test('the egress guard applies to OpenAPI calls', async (t) => {
    if (!existsSync(SPECS)) return t.skip(`${SPECS} is absent`);
    const before = seen.length;
    const guarded = await tools([{ ...trello(), allow_hosts: [] }], ['call', 'get-boards-id', '--args', '{"id":"b1"}']);
    assert.equal(guarded.code, 1);
    assert.match(guarded.stdout, /127\.0\.0\.1 is loopback/);
    assert.equal(seen.length, before);
  });
});
