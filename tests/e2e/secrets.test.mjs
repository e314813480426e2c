// Canary secrets: keel runs with provider keys, a secret provider header and client keys that
// are all unique canaries (sk-canary-<uuid>), across every provider kind, success, failover,
// every error path, streaming, embeddings, metrics, the CLI, bad configs and refused start-ups.
// Then no canary may appear anywhere keel writes: its stderr/stdout, the SQLite file (the raw
// bytes of the database, -wal and -shm files, and every row), /metrics, or any response body or
// header a client received. The fakes do receive the upstream keys, which proves the test live.
//
// Besides each full canary, the search also looks for the last 12 hex digits of its uuid
// (masked echoes such as "sk-...abcd1234ef56" keep the tail) and for the word "canary" itself.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini } from '../fakes/fake_gemini.mjs';
import {
  startKeel, runKeel, sqliteJson, sqliteDump, parseMetrics, metricSum, waitFor, sleep,
} from './harness.mjs';

const canary = (what) => `sk-canary-${what}-${randomUUID()}`;
const C = {
  openai: canary('openai'),        // provider oa (fake requires it)
  header: canary('header'),        // provider oa: a secret extra header
  wrong: canary('wrong'),          // provider oa-wrong: the fake wants another key -> 401
  flaky: canary('flaky'),          // provider oa-flaky: failing behaviours
  anthropic: canary('anthropic'),  // provider ant (fake requires it)
  antWrong: canary('antwrong'),    // provider ant-wrong -> 401
  gemini: canary('gemini'),        // provider gem (fake requires it)
  gemWrong: canary('gemwrong'),    // provider gem-wrong -> 400 "API key not valid"
  azure: canary('azure'),          // provider az (fake requires it)
  azWrong: canary('azwrong'),      // provider az-wrong -> 401
  dead: canary('dead'),            // provider dead: nothing listens
  client: canary('client'),        // keel's api_keys: what clients must send
  client2: canary('client2'),      // a second client key
  clientWrong: canary('clientwrong'), // a key clients send that keel does not know
};
const ALL = Object.values(C);

// Every needle for one haystack: full canaries, uuid tails, the marker word.
function leaksIn(haystack) {
  const text = Buffer.isBuffer(haystack) ? haystack.toString('latin1') : String(haystack);
  const found = [];
  for (const c of ALL) {
    if (text.includes(c)) found.push(c);
    else if (text.includes(c.slice(-12))) found.push(`tail of ${c}`);
  }
  if (found.length === 0 && /canary/i.test(text)) found.push('the word "canary"');
  return found;
}

function assertClean(where, haystack) {
  const found = leaksIn(haystack);
  if (found.length === 0) return;
  const text = Buffer.isBuffer(haystack) ? haystack.toString('latin1') : String(haystack);
  const at = Math.max(0, text.search(/canary/i) - 200);
  assert.fail(`${where} leaks ${found.join(', ')}; around it:\n${JSON.stringify(text.slice(at, at + 400))}`);
}

// --- what clients received ----------------------------------------------------------------

const received = []; // {label, status, headers, body}
const pending = [];

async function drain(response) {
  // Reads whatever arrives, keeping it even when the stream is cut or aborted.
  const chunks = [];
  try {
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
  } catch { /* aborted or reset: keep what came */ }
  return Buffer.concat(chunks).toString('utf8');
}

function note(label, response, bodyPromise) {
  const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  pending.push(bodyPromise.then((body) => received.push({ label, status: response.status, headers, body })));
}

// A fetch for the SDKs that records every response (a clone, read to its end or its cut).
function recordingFetch(label) {
  return async (url, init) => {
    const res = await fetch(url, init);
    note(`${label} ${init?.method ?? 'GET'} ${new URL(String(url)).pathname}`, res, drain(res.clone()));
    return res;
  };
}

let keel;
let base;

async function call(method, pathname, { body, key = C.client, headers = {}, signal } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(15000),
  });
  const text = await drain(res);
  received.push({ label: `raw ${method} ${pathname}`, status: res.status, headers: [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n'), body: text });
  return { status: res.status, text };
}

// --- fakes, keel ----------------------------------------------------------------------------

const fakes = {};
let deadPort;
let dir; // for the CLI's config files
const cliOutputs = []; // {label, stdout, stderr}

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const user = (content = 'hi') => [{ role: 'user', content }];
const model = (name, targets, opts = {}) => ({
  name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 2000, ...opts, targets,
});
const t = (provider, m) => ({ provider, model: m });

function providers() {
  return [
    // keys from the environment (${VAR}) and written inline, both
    { name: 'oa', kind: 'openai', base_url: fakes.oa.url, api_key: '${KEEL_E2E_SECRET_OA}', headers: { 'x-secret-header': C.header } },
    { name: 'oa-wrong', kind: 'openai', base_url: fakes.wrong.url, api_key: C.wrong },
    { name: 'oa-flaky', kind: 'openai', base_url: fakes.flaky.url, api_key: '${KEEL_E2E_SECRET_FLAKY}' },
    { name: 'ant', kind: 'anthropic', base_url: fakes.ant.url, api_key: C.anthropic },
    { name: 'ant-wrong', kind: 'anthropic', base_url: fakes.ant.url, api_key: C.antWrong },
    { name: 'gem', kind: 'gemini', base_url: fakes.gem.url, api_key: '${KEEL_E2E_SECRET_GEM}' },
    { name: 'gem-wrong', kind: 'gemini', base_url: fakes.gem.url, api_key: C.gemWrong },
    { name: 'az', kind: 'azure', base_url: fakes.az.origin, api_key: C.azure, api_version: '2024-10-21' },
    { name: 'az-wrong', kind: 'azure', base_url: fakes.az.origin, api_key: C.azWrong, api_version: '2024-10-21' },
    { name: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: C.dead, connect_timeout_ms: 500 },
  ];
}

const fast = { timeout_ms: 1500, first_token_timeout_ms: 300 };
const MODELS = [
  model('chat-oa', [t('oa', 'echo-s')]),
  model('chat-ant', [t('ant', 'ok-s')]),
  model('chat-gem', [t('gem', 'ok-s')]),
  model('chat-az', [t('az', 'ok-s')]),
  model('embed-oa', [t('oa', 'text-embedding-s')]),
  model('embed-az', [t('az', 'text-embedding-s')]),
  model('embed-gem', [t('gem', 'text-embedding-s')]),     // the fake has no embeddings: an upstream 404
  model('embed-ant', [t('ant', 'ok-embed-s')]),           // anthropic cannot embed: 400
  model('embed-fo', [t('oa-wrong', 'text-embedding-w'), t('oa-flaky', 'fail-500-emb'), t('oa', 'text-embedding-fo')]),
  // failover past a wrong key, a dead host, a 500, a 401 and a flaky target
  model('failover', [
    t('oa-wrong', 'ok-w'), t('dead', 'ok-d'), t('ant-wrong', 'ok-aw'), t('gem-wrong', 'ok-gw'), t('az-wrong', 'ok-zw'),
    t('oa-flaky', 'fail-500-fo'), t('oa-flaky', 'fail-401-fo'), t('oa-flaky', 'flaky-1-fo'), t('oa', 'echo-fo'),
  ], { retries: 0 }),
  model('all-fail', [
    t('oa-wrong', 'ok-w2'), t('dead', 'ok-d2'), t('ant-wrong', 'ok-aw2'), t('gem-wrong', 'ok-gw2'), t('az-wrong', 'ok-zw2'),
    t('oa-flaky', 'fail-500-af'), t('ant', 'fail-500-af'), t('gem', 'fail-500-af'), t('az', 'fail-500-af'),
  ], { retries: 1 }),
  model('only-401', [t('oa-flaky', 'fail-401-only')]),
  model('only-wrong', [t('oa-wrong', 'ok-ow')]),
  model('only-ant-wrong', [t('ant-wrong', 'ok-aow')]),
  model('only-gem-wrong', [t('gem-wrong', 'ok-gow')]),
  model('only-az-wrong', [t('az-wrong', 'ok-zow')]),
  model('only-dead', [t('dead', 'ok-od')]),
  model('rate', [t('oa-flaky', 'rate-429-ra30-r')]),
  model('rate-ant', [t('ant', 'rate-429-ra30-r')]),
  model('bad-400', [t('oa-flaky', 'fail-400-b')]),
  model('bad-400-gem', [t('gem', 'fail-400-b')]),
  model('garbage', [t('oa-flaky', 'garbage-g')]),
  model('hang', [t('oa-flaky', 'hang-h')], fast),
  model('stall', [t('oa-flaky', 'stall-st')], fast),
  model('die', [t('oa-flaky', 'die-after-2-d')]),
  model('die-ant', [t('ant', 'close-mid-stream-d')]),
  model('err-ant', [t('ant', 'error-after-text-e')]),
  model('err-gem', [t('gem', 'stream-error-e')]),
  model('slow', [t('oa', 'slow-stream-40x50-s')]),
  model('tools-oa', [t('oa', 'tools-s')]),
];

before(async () => {
  fakes.oa = await startFakeOpenAI({ apiKey: C.openai });
  fakes.wrong = await startFakeOpenAI({ apiKey: 'sk-the-right-one' });
  fakes.flaky = await startFakeOpenAI();
  fakes.ant = await startFakeAnthropic({ apiKey: C.anthropic });
  fakes.gem = await startFakeGemini({ apiKey: C.gemini });
  fakes.az = await startFakeOpenAI({ apiKey: C.azure });
  deadPort = await freePort();
  dir = mkdtempSync(path.join(tmpdir(), 'keel-secrets-'));
  keel = await startKeel({
    providers: providers(),
    models: MODELS,
    extra: { api_keys: [C.client, '${KEEL_E2E_SECRET_CLIENT2}'], log_content: true },
    env: {
      KEEL_E2E_SECRET_OA: C.openai, KEEL_E2E_SECRET_FLAKY: C.flaky, KEEL_E2E_SECRET_GEM: C.gemini, KEEL_E2E_SECRET_CLIENT2: C.client2,
      KEEL_LOG_LEVEL: 'debug',
    },
  });
  base = keel.base;
});

after(async () => {
  if (keel) await keel.stop();
  for (const f of Object.values(fakes)) await f.close();
  keel?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const openai = (key = C.client) => new OpenAI({
  baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 15000, fetch: recordingFetch('openai-sdk'),
});
const anthropic = (key = C.client) => new Anthropic({
  baseURL: base, apiKey: key, maxRetries: 0, timeout: 15000, fetch: recordingFetch('anthropic-sdk'),
});

async function collect(stream) {
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  return text;
}

// --- exercise everything ----------------------------------------------------------------------

describe('exercise keel with canary keys', () => {
  test('success on every provider kind: plain, streamed, tools, embeddings (both client keys)', async () => {
    for (const key of [C.client, C.client2]) {
      const client = openai(key);
      for (const m of ['chat-oa', 'chat-ant', 'chat-gem', 'chat-az']) {
        const r = await client.chat.completions.create({ model: m, messages: user(`plain ${m}`) });
        assert.ok(r.choices[0].message.content, m);
        const s = await client.chat.completions.create({ model: m, messages: user(`stream ${m}`), stream: true, stream_options: { include_usage: true } });
        assert.ok((await collect(s)).length > 0, m);
      }
      const tools = await client.chat.completions.create({
        model: 'tools-oa', messages: user('weather'),
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      });
      assert.equal(tools.choices[0].finish_reason, 'tool_calls');
      for (const m of ['embed-oa', 'embed-az', 'embed-fo']) {
        const e = await client.embeddings.create({ model: m, input: ['a', 'b'] });
        assert.equal(e.data.length, 2, m);
      }
    }
    const models = await openai().models.list();
    assert.ok(models.data.length >= MODELS.length);
  });

  test('/v1/messages (Anthropic SDK) over anthropic and openai backends, plain and streamed', async () => {
    const client = anthropic();
    for (const m of ['chat-ant', 'chat-oa', 'chat-gem']) {
      const r = await client.messages.create({ model: m, max_tokens: 64, messages: user(`msg ${m}`) });
      assert.equal(r.type, 'message', m);
      const s = client.messages.stream({ model: m, max_tokens: 64, messages: user(`msg stream ${m}`) });
      await s.finalMessage();
    }
    // x-api-key instead of a bearer
    const viaHeader = new Anthropic({ baseURL: base, apiKey: null, defaultHeaders: { 'x-api-key': C.client2 }, maxRetries: 0, fetch: recordingFetch('anthropic-x-api-key') });
    const r = await viaHeader.messages.create({ model: 'chat-ant', max_tokens: 16, messages: user('x-api-key') });
    assert.equal(r.type, 'message');
  });

  test('failover past wrong keys, a dead host, 500 and 401 upstreams (plain, streamed, embeddings)', async () => {
    const client = openai();
    const r = await client.chat.completions.create({ model: 'failover', messages: user('fo') });
    assert.ok(r.choices[0].message.content);
    const s = await client.chat.completions.create({ model: 'failover', messages: user('fo stream'), stream: true });
    assert.ok((await collect(s)).length > 0);
  });

  test('every upstream error path: 503, 401, 429, 400, 502, 504, cut streams', async () => {
    const client = openai();
    const expectStatus = async (m, status, stream = false) => {
      const err = await client.chat.completions.create({ model: m, messages: user(`err ${m}`), stream }).then(
        async (x) => (stream ? collect(x).then(() => null, (e) => e) : null), (e) => e);
      assert.ok(err instanceof OpenAI.APIError, `${m}: expected an APIError, got ${err}`);
      if (status !== undefined) assert.equal(err.status, status, `${m}: ${err.message}`);
    };
    for (const stream of [false, true]) {
      await expectStatus('all-fail', 503, stream);
      await expectStatus('only-dead', 503, stream);
      await expectStatus('rate', 429, stream);
      await expectStatus('rate-ant', 429, stream);
      await expectStatus('bad-400', 400, stream);
      await expectStatus('bad-400-gem', 400, stream);
      await expectStatus('garbage', 502, stream);
      await expectStatus('hang', 504, stream);
      await expectStatus('stall', 504, stream);
    }
    for (const m of ['only-401', 'only-wrong', 'only-ant-wrong', 'only-gem-wrong', 'only-az-wrong']) {
      await expectStatus(m, undefined, false); // whatever status keel maps an upstream auth failure to
      await expectStatus(m, undefined, true);
    }
    // cut after content: an error event in the stream (status undefined: it came as an event)
    for (const m of ['die', 'die-ant', 'err-ant', 'err-gem']) await expectStatus(m, undefined, true);
    // embeddings errors
    for (const m of ['embed-gem', 'embed-ant']) {
      const err = await client.embeddings.create({ model: m, input: 'x' }).then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.APIError, `${m}: ${err}`);
    }
    // Anthropic-shaped errors on /v1/messages
    const ac = anthropic();
    for (const m of ['all-fail', 'only-ant-wrong', 'rate-ant', 'hang', 'no-such-model']) {
      const err = await ac.messages.create({ model: m, max_tokens: 16, messages: user(`msg err ${m}`) }).then(() => null, (e) => e);
      assert.ok(err instanceof Anthropic.APIError, `${m}: ${err}`);
    }
    for (const m of ['die-ant', 'err-ant', 'only-wrong']) {
      const err = await ac.messages.stream({ model: m, max_tokens: 16, messages: user(`msg stream err ${m}`) }).finalMessage().then(() => null, (e) => e);
      assert.ok(err instanceof Error, `${m}: ${err}`);
    }
  });

  test('client-side errors: missing, wrong and malformed keys; bad input; 404, 405, 413, 415', async () => {
    const chat = { model: 'chat-oa', messages: user('x') };
    assert.equal((await call('POST', '/v1/chat/completions', { body: chat, key: null })).status, 401);
    assert.equal((await call('POST', '/v1/chat/completions', { body: chat, key: C.clientWrong })).status, 401);
    assert.equal((await call('POST', '/v1/chat/completions', { body: chat, key: C.client.slice(0, -1) })).status, 401);
    assert.equal((await call('POST', '/v1/chat/completions', { body: chat, key: null, headers: { 'x-api-key': C.clientWrong } })).status, 401);
    assert.equal((await call('POST', '/v1/chat/completions', { body: chat, key: null, headers: { authorization: `Basic ${C.clientWrong}` } })).status, 401);
    assert.equal((await call('POST', '/v1/messages', { body: { ...chat, max_tokens: 5 }, key: C.clientWrong })).status, 401);
    assert.equal((await call('POST', '/v1/embeddings', { body: { model: 'embed-oa', input: 'x' }, key: C.clientWrong })).status, 401);
    assert.equal((await call('GET', '/v1/models', { key: C.clientWrong })).status, 401);
    assert.equal((await call('GET', '/metrics', { key: C.clientWrong })).status, 401);
    // the SDK with a wrong key
    const wrong = await openai(C.clientWrong).chat.completions.create(chat).then(() => null, (e) => e);
    assert.equal(wrong?.status, 401);
    // bad input, with the right key
    assert.equal((await call('POST', '/v1/chat/completions', { body: '{"model": "chat-oa", "messages": [' })).status, 400);
    assert.equal((await call('POST', '/v1/chat/completions', { body: { model: 'nope', messages: user() } })).status, 404);
    assert.equal((await call('POST', '/v1/no-such-route', { body: chat })).status, 404);
    assert.equal((await call('GET', '/v1/chat/completions')).status, 405);
    assert.equal((await call('POST', '/v1/chat/completions', { body: 'x', headers: { 'content-type': 'text/plain' } })).status, 415);
    assert.equal((await call('POST', '/v1/chat/completions', { body: { ...chat, messages: user('y'.repeat(9 * 1024 * 1024)) } })).status, 413);
  });

  test('a client that aborts mid-stream', async () => {
    const cancelled = fakes.oa.stats.cancelled;
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${C.client}` },
      body: JSON.stringify({ model: 'slow', messages: user('abort'), stream: true }),
      signal: ac.signal,
    });
    note('raw abort', res, Promise.resolve(''));
    const reader = res.body.getReader();
    const first = await reader.read();
    received.push({ label: 'raw abort first chunk', status: res.status, headers: '', body: Buffer.from(first.value ?? []).toString() });
    ac.abort();
    await reader.read().catch(() => {});
    assert.ok(await waitFor(() => fakes.oa.stats.cancelled > cancelled, 2000));
  });

  test('the keel chat CLI with a good and a wrong KEEL_API_KEY', async () => {
    const ok = await runKeel(['chat', 'chat-oa', '--url', `${base}/v1`], { input: 'hello\n', env: { KEEL_API_KEY: C.client }, timeoutMs: 10000 });
    cliOutputs.push({ label: 'keel chat (good key)', ...ok });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /echo: hello/);
    const bad = await runKeel(['chat', 'chat-oa', '--url', `${base}/v1`], { input: 'hello\n', env: { KEEL_API_KEY: C.clientWrong }, timeoutMs: 10000 });
    cliOutputs.push({ label: 'keel chat (wrong key)', ...bad });
    assert.ok(!bad.timedOut);
    assert.ok(bad.stderr.length > 0, 'the 401 is reported');
  });

  test('/metrics (and keel models with the canary config)', async () => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200);
    const samples = parseMetrics(res.text);
    assert.ok(metricSum(samples, 'keel_upstream_attempts_total') > 20, 'the metrics saw the traffic');
    const models = await runKeel(['models', '--config', keel.configPath], { env: { KEEL_E2E_SECRET_OA: C.openai, KEEL_E2E_SECRET_FLAKY: C.flaky, KEEL_E2E_SECRET_GEM: C.gemini } });
    cliOutputs.push({ label: 'keel models', ...models });
    assert.equal(models.code, 0, models.stderr);
    const check = await runKeel(['config', 'check', keel.configPath], { env: { KEEL_E2E_SECRET_OA: C.openai } }); // two vars unset: warnings
    cliOutputs.push({ label: 'keel config check (the serving config, vars partly unset)', ...check });
    assert.equal(check.code, 0, check.stderr);
  });
});

// --- bad configs and refused start-ups ----------------------------------------------------------

// A config whose provider holds the canary; each case replaces a part of it with something wrong.
function configText({ providerLines = null, extraTop = '', modelLines = null, listen = '127.0.0.1:0' } = {}) {
  const prov = providerLines ?? [
    '  - name: up',
    '    kind: openai',
    '    base_url: "http://127.0.0.1:9/v1"',
    `    api_key: "${C.openai}"`,
  ];
  const models = modelLines ?? [
    '  - name: m',
    '    targets:',
    '      - {provider: up, model: x}',
  ];
  return [`listen: ${listen}`, `state: "sqlite:${path.join(dir, 'bad.db')}"`, extraTop, 'providers:', ...prov, 'models:', ...models, ''].join('\n');
}

const BAD_CONFIGS = [
  ['another key has a bad value (retries: lots)', {
    modelLines: ['  - name: m', '    retries: lots', '    targets:', '      - {provider: up, model: x}'] }],
  ['an unknown key next to api_key', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: "${C.openai}"`, '    api_kee: 1'] }],
  ['api_key misspelled as api-key', {
    providerLines: ['  - name: up', '    kind: openai', `    api-key: "${C.openai}"`] }],
  ['api_key given as a list', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: ["${C.openai}"]`] }],
  ['api_key given as a map', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: {${C.openai}: 1}`] }],
  ['a flow-map provider with the key and a bad kind', {
    providerLines: [`  - {name: up, kind: openia, api_key: "${C.openai}"}`] }],
  // keel bug: yaml-cpp takes an unterminated quote to the end of the file; keel says "ok".
  ['an unterminated double quote on the api_key line', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: "${C.openai}`] }],
  ['an unterminated single quote on the api_key line', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: '${C.openai}`] }],
  ['a plain api_key with ": " inside (invalid YAML)', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: ${C.openai}: more`] }],
  ['a bad escape inside the quoted key', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: "${C.openai}\\q"`] }],
  ['a tab-indented line after the key', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: ${C.openai}`, '\tbase_url: x'] }],
  ['a duplicate provider name, both with keys', {
    providerLines: [`  - {name: up, kind: openai, api_key: "${C.openai}"}`, `  - {name: up, kind: openai, api_key: "${C.wrong}"}`] }],
  ['a secret header with a bad header name', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: "${C.openai}"`, `    headers: {"bad header": "${C.header}"}`] }],
  ['a secret header value that is a list', {
    providerLines: ['  - name: up', '    kind: openai', `    api_key: "${C.openai}"`, `    headers: {x-secret: ["${C.header}"]}`] }],
  ['api_key on a local provider', {
    providerLines: ['  - name: up', '    kind: local', '    model: /nonexistent.gguf', `    api_key: "${C.openai}"`] }],
  // keel bug: config check does not parse base_url the way serve does; it says "ok" here.
  ['a base_url holding credentials (a second secret)', {
    providerLines: ['  - name: up', '    kind: openai', `    base_url: "http://user:${C.wrong}@127.0.0.1:9/v1"`, `    api_key: "${C.openai}"`] }],
  ['a bad base_url next to the key', {
    providerLines: ['  - name: up', '    kind: openai', '    base_url: "ftp://example"', `    api_key: "${C.openai}"`] }],
  ['client api_keys as a map', { extraTop: `api_keys: {first: "${C.client}"}` }],
  ['client api_keys holding a list', { extraTop: `api_keys: [["${C.client}"]]` }],
  ['client api_keys with a bad listen', { extraTop: `api_keys: ["${C.client}"]`, listen: 'nowhere' }],
  // keel bug: provider keys and headers refuse a line break (secret()), client api_keys do not.
  ['client api_keys with a key that holds a line break', { extraTop: `api_keys: ["${C.client}\\nx"]` }],
  ['a model naming an unknown provider', {
    modelLines: ['  - name: m', '    targets:', '      - {provider: nope, model: x}'] }],
  ['two YAML documents', { extraTop: '---\nlisten: 127.0.0.1:0' }],
];

// Configs whose canary comes from the environment, with a line break or other trouble.
const ENV_CONFIGS = [
  ['api_key from ${VAR} holding a line break', { KEEL_E2E_SECRET_ENV: `${C.openai}\nsecond-line` }, [
    '  - name: up', '    kind: openai', '    api_key: "${KEEL_E2E_SECRET_ENV}"']],
  ['a header from ${VAR} holding a line break', { KEEL_E2E_SECRET_ENV: `${C.header}\r\nx-evil: 1` }, [
    '  - name: up', '    kind: openai', `    api_key: "${C.openai}"`, '    headers: {x-secret: "${KEEL_E2E_SECRET_ENV}"}']],
  ['a connect_timeout_ms from ${VAR} that is the key', { KEEL_E2E_SECRET_ENV: C.openai }, [
    '  - name: up', '    kind: openai', `    api_key: "${C.openai}"`, '    connect_timeout_ms: "${KEEL_E2E_SECRET_ENV}"']],
  ['a base_url from ${VAR} that is the key', { KEEL_E2E_SECRET_ENV: C.openai }, [
    '  - name: up', '    kind: openai', '    base_url: "${KEEL_E2E_SECRET_ENV}"', `    api_key: "${C.wrong}"`]],
];

describe('bad configs: keel config check and keel serve refuse without echoing a secret', () => {
  let n = 0;
  const write = (text) => {
    const file = path.join(dir, `bad-${n++}.yaml`);
    writeFileSync(file, text);
    return file;
  };

  for (const [name, parts] of BAD_CONFIGS) {
    test(name, async () => {
      const file = write(configText(parts));
      // All three run first, so that their outputs reach the leak checks below either way.
      const check = await runKeel(['config', 'check', file]);
      cliOutputs.push({ label: `config check: ${name}`, ...check });
      const serve = await runKeel(['serve', '--config', file], { timeoutMs: 3000 });
      cliOutputs.push({ label: `serve: ${name}`, ...serve });
      const models = await runKeel(['models', '--config', file]);
      cliOutputs.push({ label: `models: ${name}`, ...models });
      assert.equal(check.code, 1, `config check should fail: ${check.stdout}${check.stderr}`);
      assert.ok(check.stderr.includes(file), `the error names the file: ${check.stderr}`);
      assert.ok(!serve.timedOut, `serve should refuse to start: ${serve.stderr}`);
      assert.notEqual(serve.code, 0);
      assert.notEqual(models.code, 0);
    });
  }

  for (const [name, env, providerLines] of ENV_CONFIGS) {
    test(name, async () => {
      const file = write(configText({ providerLines }));
      const check = await runKeel(['config', 'check', file], { env });
      cliOutputs.push({ label: `config check: ${name}`, ...check });
      const serve = await runKeel(['serve', '--config', file], { env, timeoutMs: 3000 });
      cliOutputs.push({ label: `serve: ${name}`, ...serve });
      assert.equal(check.code, 1, `config check should fail: ${check.stdout}${check.stderr}`);
      assert.ok(!serve.timedOut, `serve should refuse to start: ${serve.stderr}`);
      assert.notEqual(serve.code, 0);
    });
  }
});

describe('keel serve start-up errors with canary keys in the config', () => {
  const good = (extraTop = '', state = `"sqlite:${path.join(dir ?? tmpdir(), 'start.db')}"`) => [
    'listen: 127.0.0.1:0', `state: ${state}`, extraTop,
    'providers:', '  - name: up', '    kind: openai', '    base_url: "http://127.0.0.1:9/v1"',
    `    api_key: "${C.openai}"`, `    headers: {x-secret: "${C.header}"}`,
    'models:', '  - {name: m, targets: [{provider: up, model: x}]}', ''].join('\n');
  const serve = async (label, text, args = [], env = {}) => {
    const file = path.join(dir, `start-${label.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, text);
    const r = await runKeel(['serve', '--config', file, ...args], { env, timeoutMs: 5000 });
    cliOutputs.push({ label: `serve start-up: ${label}`, ...r });
    assert.ok(!r.timedOut, `${label}: keel did not refuse to start`);
    assert.notEqual(r.code, 0, `${label}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${label}: says why`);
    return r;
  };

  test('the port is taken', async () => {
    const srv = net.createServer();
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
      await serve('port taken', good().replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${srv.address().port}`));
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test('the state file cannot be opened', async () => {
    await serve('state', good('', `"sqlite:${path.join(dir, 'no', 'such', 'dir', 'x.db')}"`));
  });

  test('a state file that is not a database', async () => {
    const junk = path.join(dir, 'junk.db');
    writeFileSync(junk, `not a database ${'x'.repeat(4096)}`);
    await serve('junk state', good('', `"sqlite:${junk}"`));
  });

  test('--listen on a non-loopback address without api_keys', async () => {
    await serve('non-loopback', good(), ['--listen', '0.0.0.0:0']);
  });

  test('--listen that does not parse', async () => {
    await serve('bad --listen', good(), ['--listen', 'nowhere:xyz']);
  });

  test('an unknown state scheme', async () => {
    await serve('state scheme', good('', '"postgres://localhost/db"'));
  });
});

// --- the checks -------------------------------------------------------------------------------

describe('no canary anywhere keel wrote', () => {
  let rawWhileRunning = [];

  test('the fakes did receive the upstream keys (the test is live)', () => {
    const hdrs = (fake) => fake.requests.map((r) => r.headers);
    assert.ok(hdrs(fakes.oa).some((h) => h.authorization === `Bearer ${C.openai}` && h['x-secret-header'] === C.header), 'oa: bearer + secret header');
    assert.ok(hdrs(fakes.wrong).some((h) => h.authorization === `Bearer ${C.wrong}`), 'oa-wrong: its (wrong) key');
    assert.ok(hdrs(fakes.flaky).some((h) => h.authorization === `Bearer ${C.flaky}`), 'oa-flaky');
    assert.ok(hdrs(fakes.ant).some((h) => h['x-api-key'] === C.anthropic), 'ant: x-api-key');
    assert.ok(hdrs(fakes.ant).some((h) => h['x-api-key'] === C.antWrong), 'ant-wrong');
    assert.ok(hdrs(fakes.gem).some((h) => h['x-goog-api-key'] === C.gemini), 'gem: x-goog-api-key');
    assert.ok(hdrs(fakes.gem).some((h) => h['x-goog-api-key'] === C.gemWrong), 'gem-wrong');
    assert.ok(hdrs(fakes.az).some((h) => h['api-key'] === C.azure), 'az: api-key');
    assert.ok(hdrs(fakes.az).some((h) => h['api-key'] === C.azWrong), 'az-wrong');
    // and never the client's key
    for (const f of Object.values(fakes)) {
      for (const r of f.requests) {
        const all = JSON.stringify(r.headers) + r.raw;
        assert.ok(!all.includes(C.client) && !all.includes(C.client2) && !all.includes(C.clientWrong), 'a client key reached an upstream');
      }
    }
  });

  test('the raw database files while keel runs (db, -wal, -shm)', async () => {
    await sleep(300); // let the writer commit
    for (const suffix of ['', '-wal', '-shm']) {
      const f = `${keel.dbPath}${suffix}`;
      if (existsSync(f)) rawWhileRunning.push([f, readFileSync(f)]);
    }
    assert.ok(rawWhileRunning.length >= 1);
    for (const [f, bytes] of rawWhileRunning) assertClean(`${path.basename(f)} (keel running)`, bytes);
  });

  test('keel stops cleanly; its stderr and stdout', async () => {
    const { code } = await keel.stop();
    assert.equal(code, 0, keel.stderr);
    assert.ok(keel.stderr.includes('listening'), 'stderr was captured');
    assertClean('keel stderr', keel.stderr);
    assertClean('keel stdout', keel.stdout);
  });

  test('the database after shutdown: raw bytes and every row', () => {
    let files = 0;
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      const f = `${keel.dbPath}${suffix}`;
      if (!existsSync(f)) continue;
      files++;
      assertClean(path.basename(f), readFileSync(f));
    }
    assert.ok(files >= 1);
    const dump = sqliteDump(keel.dbPath);
    assertClean('sqlite .dump', dump);
    const rows = sqliteJson(keel.dbPath, 'select count(*) as n from requests where content is not null')[0].n;
    assert.ok(rows > 30, `log_content stored ${rows} bodies: the database is not empty`);
    const failed = sqliteJson(keel.dbPath, "select count(*) as n from attempts where error_message is not null and error_message != ''")[0].n;
    assert.ok(failed > 20, `${failed} failed attempts with messages`);
  });

  test('every response body and header any client received', async () => {
    await Promise.all(pending);
    assert.ok(received.length > 80, `${received.length} responses recorded`);
    const statuses = new Set(received.map((r) => r.status));
    for (const s of [200, 400, 401, 404, 405, 413, 415, 429, 502, 503, 504]) assert.ok(statuses.has(s), `no ${s} was seen: ${[...statuses]}`);
    for (const r of received) {
      assertClean(`${r.label} (${r.status}) headers`, r.headers);
      assertClean(`${r.label} (${r.status}) body`, r.body);
    }
  });

  test('the CLI: config check, models, chat, refused serves', () => {
    assert.ok(cliOutputs.length > 40);
    for (const o of cliOutputs) {
      assertClean(`${o.label}: stdout`, o.stdout);
      assertClean(`${o.label}: stderr`, o.stderr);
    }
  });
});
