// keel's Anthropic front door, POST /v1/messages, driven by the official @anthropic-ai/sdk, over
// an openai-kind, an anthropic-kind and a gemini-kind target (each against its fake): plain and
// streamed messages (the SDK's MessageStream and the raw event order), tools and the tool_result
// round trip, system prompts, stop_sequences, stop reasons, usage, errors in Anthropic's shape
// (400, 404, 5xx, mid-stream `error` events) and client auth by x-api-key or Bearer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI, FAKE_TEXT, FAKE_USAGE } from '../fakes/fake_openai.mjs';
import {
  startFakeAnthropic, parseEcho as parseAnthropicEcho, countTokensOf as anthropicCount, ANTHROPIC_TEXT, ANTHROPIC_USAGE,
} from '../fakes/fake_anthropic.mjs';
import {
  startFakeGemini, parseEcho as parseGeminiEcho, countTokensOf as geminiCount, GEMINI_TEXT, GEMINI_OPENAI_USAGE,
} from '../fakes/fake_gemini.mjs';
import {
  startKeel, makeAnthropicClient, fakeProvider, anthropicProvider, geminiProvider, postJSON, sseEvents, anthropicErrorOf,
  waitFor, UPSTREAM_KEY, CLIENT_KEY,
} from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';
const ERROR_TYPES = ['invalid_request_error', 'authentication_error', 'billing_error', 'permission_error', 'not_found_error',
  'rate_limit_error', 'timeout_error', 'api_error', 'overloaded_error'];
const ID_RE = /^[A-Za-z0-9_-]+$/;

let fakeO;
let fakeA;
let fakeG;
let keel;
let client; // Anthropic SDK, Bearer auth (what this SDK version does with apiKey)

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const user = (content) => [{ role: 'user', content }];

// Per backend: the provider, its fake, what its "ok" says, the usage an Anthropic client sees
// (input_tokens excludes cache reads), its tool ids (null: generated) and how to read its echo.
let B;

before(async () => {
  fakeO = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
  fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
  fakeG = await startFakeGemini({ apiKey: GEM_KEY });
  const t = (provider, model) => ({ provider, model });
  const m = (name, ...targets) => ({ name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 3000, targets });
  const models = [];
  for (const p of ['oa', 'claude', 'gem']) for (const b of ['ok', 'echo', 'tools']) models.push(m(`${p}-${b}`, t(p, b)));
  models.push(
    m('claude-max', t('claude', 'max-tokens')),
    m('claude-stopseq', t('claude', 'stop-seq')),
    m('gem-max', t('gem', 'max-tokens')),
    m('claude-400', t('claude', 'fail-400-m')),
    m('down', t('claude', 'overloaded-down'), t('gem', 'fail-503-down'), t('oa', 'fail-500-down')),
    m('claude-mid', t('claude', 'error-after-text-m')),
    m('claude-fo', t('claude', 'stream-overloaded-m'), t('gem', 'ok')),
    m('gem-safety', t('gem', 'safety')),
    m('claude-429', t('claude', 'rate-429-ra30-m')),
    { ...m('claude-hang', t('claude', 'hang-m')), first_token_timeout_ms: 300 },
    m('claude-refusal', t('claude', 'refusal')),
    m('gem-slow', t('gem', 'slow-stream-100x50')),
    m('oa-slow', t('oa', 'slow-stream-100x50')),
    m('count-mixed', t('oa', 'ok'), t('claude', 'ok-count')),
    m('count-fo', t('claude', 'overloaded-count'), t('gem', 'ok-count')),
  );
  keel = await startKeel({
    providers: [fakeProvider('oa', fakeO, UPSTREAM_KEY), anthropicProvider('claude', fakeA, ANT_KEY), geminiProvider('gem', fakeG, GEM_KEY)],
    models,
    extra: { api_keys: [CLIENT_KEY] },
  });
  client = makeAnthropicClient(keel);
  B = {
    oa: { fake: fakeO, text: FAKE_TEXT, input: FAKE_USAGE.prompt_tokens, output: FAKE_USAGE.completion_tokens, toolIds: ['call_1', 'call_2'] },
    claude: { fake: fakeA, text: ANTHROPIC_TEXT, input: ANTHROPIC_USAGE.input_tokens, output: ANTHROPIC_USAGE.output_tokens, toolIds: ['toolu_01', 'toolu_02'] },
    gem: { fake: fakeG, text: GEMINI_TEXT, input: GEMINI_OPENAI_USAGE.prompt_tokens, output: GEMINI_OPENAI_USAGE.completion_tokens, toolIds: null },
  };
});

after(async () => {
  if (keel) await keel.stop();
  await Promise.all([fakeO?.close(), fakeA?.close(), fakeG?.close()]);
  keel?.cleanup();
});

const toolUses = (msg) => msg.content.filter((b) => b.type === 'tool_use');

function assertWeatherUses(uses, expectedIds) {
  assert.equal(uses.length, 2, JSON.stringify(uses));
  assert.deepEqual(uses.map((u) => [u.name, u.input]), [['get_weather', { city: 'Paris' }], ['get_weather', { city: 'Tokyo' }]]);
  for (const u of uses) assert.match(u.id, ID_RE);
  assert.notEqual(uses[0].id, uses[1].id);
  if (expectedIds) assert.deepEqual(uses.map((u) => u.id), expectedIds);
}

// Checks the raw SSE of a streamed message: event names match data.type; message_start first;
// blocks numbered from 0, each start → deltas → stop, not interleaved; message_delta then
// message_stop last. Returns the parsed events without pings.
function assertEventOrder(text) {
  const events = sseEvents(text).map(({ event, data }) => {
    const parsed = JSON.parse(data);
    assert.equal(event, parsed.type, `event: ${event} carries data.type ${parsed.type}`);
    return parsed;
  });
  const seq = events.filter((e) => e.type !== 'ping');
  assert.equal(seq[0].type, 'message_start');
  assert.equal(seq[0].message.role, 'assistant');
  assert.deepEqual(seq[0].message.content, []);
  assert.equal(seq.at(-1).type, 'message_stop');
  assert.equal(seq.at(-2).type, 'message_delta');
  let open = -1;
  let next = 0;
  for (const e of seq.slice(1, -2)) {
    if (e.type === 'content_block_start') {
      assert.equal(open, -1, 'a block starts only after the previous one stopped');
      assert.equal(e.index, next++);
      open = e.index;
    } else if (e.type === 'content_block_delta') {
      assert.equal(e.index, open, 'deltas belong to the open block');
    } else if (e.type === 'content_block_stop') {
      assert.equal(e.index, open);
      open = -1;
    } else {
      assert.fail(`unexpected event ${e.type} inside the message`);
    }
  }
  assert.equal(open, -1, 'every block stopped');
  return seq;
}

async function rawStream(body, headers = { authorization: `Bearer ${CLIENT_KEY}` }) {
  const res = await postJSON(keel, '/v1/messages', { ...body, stream: true }, { key: null, headers: { 'anthropic-version': '2023-06-01', ...headers } });
  return res;
}

describe('each backend', () => {
  for (const backend of ['oa', 'claude', 'gem']) {
    test(`${backend}: messages.create → a Message with text, end_turn and usage`, async () => {
      const b = B[backend];
      const from = b.fake.requests.length;
      const msg = await client.messages.create({ model: `${backend}-ok`, max_tokens: 100, messages: user('Say hello') });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.match(msg.id, /^msg_/);
      assert.equal(msg.model, `${backend}-ok`);
      assert.deepEqual(msg.content.map((c) => [c.type, c.text]), [['text', b.text]]);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.input_tokens, b.input);
      assert.equal(msg.usage.output_tokens, b.output);
      if (backend === 'claude') assert.equal(msg.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
      const got = b.fake.requests.slice(from);
      assert.equal(got.length, 1);
      for (const [name, value] of Object.entries(got[0].headers)) {
        assert.ok(!String(value).includes(CLIENT_KEY), `client key leaked upstream in header ${name}`);
      }
    });

    test(`${backend}: messages.stream → finalMessage equals the plain answer; raw event order`, async () => {
      const b = B[backend];
      const stream = client.messages.stream({ model: `${backend}-ok`, max_tokens: 100, messages: user('Say hello') });
      const types = [];
      let text = '';
      stream.on('streamEvent', (e) => types.push(e.type));
      stream.on('text', (delta) => { text += delta; });
      const final = await stream.finalMessage();
      assert.equal(text, b.text);
      assert.deepEqual(final.content.map((c) => [c.type, c.text]), [['text', b.text]]);
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.input_tokens, b.input);
      assert.equal(final.usage.output_tokens, b.output);
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');

      const res = await rawStream({ model: `${backend}-ok`, max_tokens: 100, messages: user('Say hello') });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      const seq = assertEventOrder(res.text);
      assert.deepEqual(seq.map((e) => e.type).filter((x, i, a) => x !== a[i - 1]),
        ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
      assert.equal(seq.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), b.text);
      assert.equal(seq.at(-2).delta.stop_reason, 'end_turn');
    });

    test(`${backend}: tools → tool_use blocks with input objects, stop_reason tool_use (plain and streamed)`, async () => {
      const b = B[backend];
      const from = b.fake.requests.length;
      const msg = await client.messages.create({ model: `${backend}-tools`, max_tokens: 100, messages: user('Weather in Paris and Tokyo?'), tools: [WEATHER_TOOL] });
      assert.equal(msg.stop_reason, 'tool_use');
      assertWeatherUses(toolUses(msg), b.toolIds);
      const up = b.fake.requests[from].body;
      if (backend === 'oa') assert.deepEqual([up.tools[0].function.name, up.tools[0].function.parameters], ['get_weather', WEATHER_TOOL.input_schema]);
      if (backend === 'claude') assert.deepEqual([up.tools[0].name, up.tools[0].input_schema], ['get_weather', WEATHER_TOOL.input_schema]);
      if (backend === 'gem') assert.equal(up.tools[0].functionDeclarations[0].name, 'get_weather');

      const final = await client.messages.stream({ model: `${backend}-tools`, max_tokens: 100, messages: user('Weather?'), tools: [WEATHER_TOOL] }).finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      assertWeatherUses(toolUses(final), b.toolIds);

      const res = await rawStream({ model: `${backend}-tools`, max_tokens: 100, messages: user('Weather?'), tools: [WEATHER_TOOL] });
      const seq = assertEventOrder(res.text);
      const starts = seq.filter((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use');
      assert.equal(starts.length, 2);
      for (const s of starts) {
        assert.equal(s.content_block.name, 'get_weather');
        assert.deepEqual(s.content_block.input, {});
        const json = seq.filter((e) => e.type === 'content_block_delta' && e.index === s.index).map((e) => {
          assert.equal(e.delta.type, 'input_json_delta');
          return e.delta.partial_json;
        }).join('');
        assert.ok(['Paris', 'Tokyo'].includes(JSON.parse(json).city), json);
      }
    });

    test(`${backend}: tool_result round trip reaches the upstream bound to its tool_use`, async () => {
      const b = B[backend];
      const first = await client.messages.create({ model: `${backend}-tools`, max_tokens: 100, messages: user('Weather in Paris and Tokyo?'), tools: [WEATHER_TOOL] });
      const uses = toolUses(first);
      const messages = [
        ...user('Weather in Paris and Tokyo?'),
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: uses[0].id, content: 'sunny' },
            { type: 'tool_result', tool_use_id: uses[1].id, content: [{ type: 'text', text: 'rainy' }] },
            { type: 'text', text: 'Which is warmer?' },
          ],
        },
      ];
      const from = b.fake.requests.length;
      const msg = await client.messages.create({ model: `${backend}-echo`, max_tokens: 100, messages, tools: [WEATHER_TOOL] });
      const text = msg.content[0].text;
      const up = b.fake.requests[from].body;
      if (backend === 'oa') {
        assert.equal(text, 'echo: Which is warmer?');
        const assistant = up.messages.find((x) => x.role === 'assistant');
        assert.deepEqual(assistant.tool_calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]),
          [[uses[0].id, 'get_weather', { city: 'Paris' }], [uses[1].id, 'get_weather', { city: 'Tokyo' }]]);
        const tools = up.messages.filter((x) => x.role === 'tool');
        const flat = (c) => (typeof c === 'string' ? c : c.map((p) => p.text).join(''));
        assert.deepEqual(tools.map((x) => [x.tool_call_id, flat(x.content)]), [[uses[0].id, 'sunny'], [uses[1].id, 'rainy']]);
        assert.deepEqual(up.messages.at(-1), { role: 'user', content: up.messages.at(-1).content });
      } else if (backend === 'claude') {
        const echo = parseAnthropicEcho(text);
        assert.equal(echo.text, 'echo: Which is warmer?');
        assert.deepEqual(echo.toolResults.map((x) => [x.tool_use_id, x.name, x.content]),
          [['toolu_01', 'get_weather', 'sunny'], ['toolu_02', 'get_weather', 'rainy']]);
      } else {
        const echo = parseGeminiEcho(text);
        assert.equal(echo.text, 'echo: Which is warmer?');
        assert.deepEqual(echo.functionResponses.map((x) => [x.id, x.name, x.response.result]),
          [[uses[0].id, 'get_weather', 'sunny'], [uses[1].id, 'get_weather', 'rainy']]);
      }
    });

    test(`${backend}: system prompt (string and blocks) and stop_sequences reach the upstream`, async () => {
      const b = B[backend];
      for (const system of ['You are terse.', [{ type: 'text', text: 'You are ' }, { type: 'text', text: 'terse.' }]]) {
        const from = b.fake.requests.length;
        await client.messages.create({ model: `${backend}-ok`, max_tokens: 100, system, stop_sequences: ['END', 'STOP'], messages: user('hi') });
        const up = b.fake.requests[from].body;
        if (backend === 'oa') {
          const sys = up.messages.filter((x) => x.role === 'system' || x.role === 'developer');
          const flat = sys.map((x) => (typeof x.content === 'string' ? x.content : x.content.map((p) => p.text).join(''))).join('');
          assert.equal(flat, 'You are terse.');
          assert.deepEqual(up.messages.at(-1).role, 'user');
          assert.deepEqual(typeof up.stop === 'string' ? [up.stop] : up.stop, ['END', 'STOP']);
        } else if (backend === 'claude') {
          const flat = typeof up.system === 'string' ? up.system : up.system.map((x) => x.text).join('');
          assert.equal(flat, 'You are terse.');
          assert.deepEqual(up.stop_sequences, ['END', 'STOP']);
          assert.equal(up.max_tokens, 100);
        } else {
          assert.equal(up.systemInstruction.parts.map((p) => p.text).join(''), 'You are terse.');
          assert.deepEqual(up.generationConfig.stopSequences, ['END', 'STOP']);
          assert.equal(up.generationConfig.maxOutputTokens, 100);
          assert.deepEqual(up.contents.map((c) => c.role), ['user']);
        }
      }
    });
  }
});

describe('stop reasons', () => {
  for (const [model, reason] of [['claude-max', 'max_tokens'], ['gem-max', 'max_tokens']]) {
    test(`${model} → ${reason} (plain and streamed)`, async () => {
      const msg = await client.messages.create({ model, max_tokens: 5, messages: user('hi') });
      assert.equal(msg.stop_reason, reason);
      const final = await client.messages.stream({ model, max_tokens: 5, messages: user('hi') }).finalMessage();
      assert.equal(final.stop_reason, reason);
    });
  }

  for (const model of ['gem-safety', 'claude-refusal']) {
    test(`${model}: a content filter → stop_reason refusal (plain and streamed)`, async () => {
      const msg = await client.messages.create({ model, max_tokens: 5, messages: user('hi') });
      assert.equal(msg.stop_reason, 'refusal');
      const final = await client.messages.stream({ model, max_tokens: 5, messages: user('hi') }).finalMessage();
      assert.equal(final.stop_reason, 'refusal');
    });
  }

  test('an anthropic upstream that stopped on a stop sequence → stop_sequence naming it (plain and streamed)', async () => {
    const params = { model: 'claude-stopseq', max_tokens: 50, stop_sequences: ['FIN', 'END'], messages: user('hi') };
    const msg = await client.messages.create(params);
    assert.equal(msg.stop_reason, 'stop_sequence');
    assert.equal(msg.stop_sequence, 'FIN');
    const streamed = await client.messages.stream(params).finalMessage();
    assert.equal(streamed.stop_reason, 'stop_sequence');
    assert.equal(streamed.stop_sequence, 'FIN');
    // Another backend cannot say which sequence matched: end_turn, stop_sequence null.
    const other = await client.messages.create({ ...params, model: 'oa-ok' });
    assert.equal(other.stop_reason, 'end_turn');
    assert.equal(other.stop_sequence, null);
  });
});

describe("errors in Anthropic's shape", () => {
  const bearer = { authorization: `Bearer ${CLIENT_KEY}` };

  test('bad input → 400 invalid_request_error (missing max_tokens, missing messages, max_tokens 0, a thinking budget below 1024)', async () => {
    for (const body of [
      { model: 'oa-ok', messages: user('hi') },
      { model: 'oa-ok', max_tokens: 10 },
      { model: 'oa-ok', max_tokens: 0, messages: user('hi') },
      { model: 'oa-ok', max_tokens: 10, messages: [{ role: 'robot', content: 'hi' }] },
    ]) {
      const res = await postJSON(keel, '/v1/messages', body, { key: null, headers: bearer });
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      const e = anthropicErrorOf(res.json);
      assert.equal(e.type, 'invalid_request_error');
    }
    const res = await postJSON(keel, '/v1/messages', '{"model": "oa-ok", ', { key: null, headers: bearer });
    assert.equal(res.status, 400);
    assert.equal(anthropicErrorOf(res.json).type, 'invalid_request_error');
    await assert.rejects(
      client.messages.create({ model: 'oa-ok', max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 512 }, messages: user('hi') }),
      (e) => {
        assert.ok(e instanceof Anthropic.BadRequestError, String(e));
        assert.equal(e.error.type, 'error');
        assert.equal(e.error.error.type, 'invalid_request_error');
        assert.match(e.error.error.message, /thinking/);
        return true;
      },
    );
  });

  test('a request shaped like Claude Code\'s (beta route and header, cached system blocks, tool extras, thinking, context editing) is served by each backend', async () => {
    const body = {
      max_tokens: 32000,
      stream: true,
      system: [
        { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Answer briefly.', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }],
      tools: [{ ...WEATHER_TOOL, input_examples: [{ city: 'Paris' }], defer_loading: false, cache_control: { type: 'ephemeral' } }],
      metadata: { user_id: 'user_abc_account_def_session_ghi' },
      thinking: { type: 'adaptive' },
      context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] },
      output_config: { effort: 'high' },
      temperature: 1,
    };
    for (const model of ['claude-ok', 'oa-ok', 'gem-ok']) {
      const res = await postJSON(keel, '/v1/messages?beta=true', { ...body, model },
        { headers: { 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14', 'anthropic-version': '2023-06-01' } });
      assert.equal(res.status, 200, `${model}: ${res.text.slice(0, 300)}`);
      const types = sseEvents(res.text).map((e) => e.event);
      assert.equal(types[0], 'message_start', model);
      assert.equal(types.at(-1), 'message_stop', model);
    }
  });

  test("adaptive thinking and context editing (Claude Code sends both) are taken: thinking is relayed, context editing goes nowhere", async () => {
    const editing = { edits: [{ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 100000 } }] };
    for (const model of ['claude-ok', 'oa-ok']) {
      const msg = await client.messages.create({ model, max_tokens: 200, thinking: { type: 'adaptive' }, context_management: editing, messages: user('hi') });
      assert.equal(msg.content.at(-1).type, 'text');
      assert.equal(msg.stop_reason, 'end_turn');
      // The Anthropic fake thinks when asked (tests/e2e/reasoning.test.mjs has the rest).
      assert.equal(msg.content[0].type, model === 'claude-ok' ? 'thinking' : 'text');
    }
    assert.equal(fakeA.lastRequest().body.context_management, undefined);
    const streamed = await client.messages.stream({ model: 'claude-ok', max_tokens: 200, thinking: { type: 'adaptive' }, messages: user('hi') }).finalMessage();
    assert.deepEqual(fakeA.lastRequest().body.thinking, { type: 'adaptive' });
    assert.equal(streamed.content.at(-1).text, ANTHROPIC_TEXT);
  });

  test('unknown model → 404 not_found_error (plain and streamed)', async () => {
    await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 10, messages: user('hi') }), (e) => {
      assert.ok(e instanceof Anthropic.NotFoundError, String(e));
      assert.equal(e.error.error.type, 'not_found_error');
      assert.match(e.error.error.message, /no-such-model/);
      return true;
    });
    const res = await rawStream({ model: 'no-such-model', max_tokens: 10, messages: user('hi') });
    assert.equal(res.status, 404);
    assert.equal(anthropicErrorOf(res.json).type, 'not_found_error');
  });

  test("an upstream 400 → 400 invalid_request_error with the vendor's message", async () => {
    await assert.rejects(client.messages.create({ model: 'claude-400', max_tokens: 10, messages: user('hi') }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.error.error.type, 'invalid_request_error');
      assert.match(e.error.error.message, /the fake says no/);
      return true;
    });
  });

  test('all targets down → 5xx with an Anthropic error type (plain and streamed)', async () => {
    await assert.rejects(client.messages.create({ model: 'down', max_tokens: 10, messages: user('hi') }), (e) => {
      assert.ok(e instanceof Anthropic.APIError, String(e));
      assert.ok(e.status >= 500 && e.status < 600, `status ${e.status}`);
      assert.equal(e.error.type, 'error');
      assert.ok(ERROR_TYPES.includes(e.error.error.type), e.error.error.type);
      assert.ok(['overloaded_error', 'api_error'].includes(e.error.error.type), e.error.error.type);
      return true;
    });
    await assert.rejects(client.messages.stream({ model: 'down', max_tokens: 10, messages: user('hi') }).finalMessage(), (e) => {
      assert.ok(e instanceof Anthropic.APIError, String(e));
      assert.ok(e.status >= 500 && e.status < 600, `status ${e.status}`);
      return true;
    });
    const res = await rawStream({ model: 'down', max_tokens: 10, messages: user('hi') });
    assert.ok(res.status >= 500, `${res.status}`);
    assert.ok(ERROR_TYPES.includes(anthropicErrorOf(res.json).type));
  });

  test('upstream 429 → 429 rate_limit_error with retry-after; a hung upstream → 504 timeout_error', async () => {
    for (const stream of [false, true]) {
      const res = await postJSON(keel, '/v1/messages', { model: 'claude-429', max_tokens: 10, stream, messages: user('hi') }, { key: null, headers: bearer });
      assert.equal(res.status, 429);
      assert.equal(anthropicErrorOf(res.json).type, 'rate_limit_error');
      assert.equal(res.headers.get('retry-after'), '30');
    }
    await assert.rejects(client.messages.create({ model: 'claude-hang', max_tokens: 10, messages: user('hi') }), (e) => {
      assert.equal(e.status, 504);
      assert.equal(e.error.error.type, 'timeout_error');
      return true;
    });
  });

  // The server answers 413 before routing; it still takes the route's (Anthropic) shape.
  test('a body over the size limit → 413 in Anthropic shape (messages and count_tokens)', async () => {
    for (const route of ['/v1/messages', '/v1/messages/count_tokens?beta=true']) {
      const res = await postJSON(keel, route, { model: 'oa-ok', max_tokens: 10, messages: user('x'.repeat(8.5 * 1024 * 1024)) }, { key: null, headers: bearer });
      assert.equal(res.status, 413, route);
      const e = anthropicErrorOf(res.json);
      assert.equal(e.type, 'invalid_request_error');
    }
  });

  test('an overloaded upstream before any content → invisible failover in a stream', async () => {
    const final = await client.messages.stream({ model: 'claude-fo', max_tokens: 10, messages: user('hi') }).finalMessage();
    assert.equal(final.content[0].text, GEMINI_TEXT);
  });

  test('an upstream failure after content → an `error` event ends the stream', async () => {
    const res = await rawStream({ model: 'claude-mid', max_tokens: 10, messages: user('hi') });
    assert.equal(res.status, 200);
    const events = sseEvents(res.text);
    const last = events.at(-1);
    assert.equal(last.event, 'error', res.text);
    const body = JSON.parse(last.data);
    assert.equal(body.type, 'error');
    assert.ok(ERROR_TYPES.includes(body.error.type), body.error.type);
    assert.ok(!events.some((e) => e.event === 'message_stop'), 'no message_stop after an error');
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.text).join('');
    assert.equal(text, 'Hello from');

    const stream = client.messages.stream({ model: 'claude-mid', max_tokens: 10, messages: user('hi') });
    let seen = '';
    stream.on('text', (d) => { seen += d; });
    await assert.rejects(stream.finalMessage(), (e) => {
      assert.ok(e instanceof Anthropic.APIError, String(e));
      assert.ok(ERROR_TYPES.includes(e.error?.error?.type), JSON.stringify(e.error));
      return true;
    });
    assert.equal(seen, 'Hello from');
  });
});

describe('count_tokens', () => {
  const params = {
    system: 'Answer in one word.',
    messages: [...user('Weather in Paris?'), { role: 'assistant', content: 'Sunny.' }, ...user('And Tokyo?')],
    tools: [WEATHER_TOOL],
  };

  test('an anthropic target counts upstream: the MessageCountTokensParams fields only', async () => {
    const counted = await client.messages.countTokens({ model: 'claude-ok', ...params });
    const up = fakeA.lastRequest();
    assert.equal(up.path, '/v1/messages/count_tokens');
    assert.deepEqual(Object.keys(up.body).sort(), ['messages', 'model', 'system', 'tools']);
    assert.equal(up.body.model, 'ok');
    assert.deepEqual(counted, { input_tokens: anthropicCount(up.body) });
  });

  test('a gemini target counts with countTokens over the whole generateContent request', async () => {
    const counted = await client.messages.countTokens({ model: 'gem-ok', ...params });
    const up = fakeG.lastRequest();
    assert.equal(up.action, 'countTokens');
    const request = up.body.generateContentRequest;
    assert.equal(request.model, 'models/ok');
    assert.equal(request.systemInstruction.parts[0].text, 'Answer in one word.');
    assert.equal(request.tools[0].functionDeclarations[0].name, 'get_weather');
    assert.deepEqual(counted, { input_tokens: geminiCount(request) });
  });

  test('an OpenAI-compatible target cannot count: 400 in Anthropic shape, never a made-up number', async () => {
    const res = await postJSON(keel, '/v1/messages/count_tokens', { model: 'oa-ok', ...params });
    assert.equal(res.status, 400);
    const error = anthropicErrorOf(res.json);
    assert.equal(error.type, 'invalid_request_error');
    assert.match(error.message, /'oa-ok' has no target that can count tokens/);
  });

  test('targets that cannot count are passed over; an overloaded one fails over', async () => {
    const hits = fakeO.requests.length;
    const mixed = await client.messages.countTokens({ model: 'count-mixed', ...params });
    assert.equal(fakeO.requests.length, hits, 'the OpenAI target was asked');
    assert.deepEqual(mixed, { input_tokens: anthropicCount(fakeA.lastRequest().body) });
    const fo = await client.messages.countTokens({ model: 'count-fo', ...params });
    assert.deepEqual(fo, { input_tokens: geminiCount(fakeG.lastRequest().body.generateContentRequest) });
  });

  test('the beta route (?beta=true, what Claude Code calls) and bad input', async () => {
    const beta = await client.beta.messages.countTokens({ model: 'claude-ok', ...params });
    assert.equal(fakeA.lastRequest().path, '/v1/messages/count_tokens');
    assert.equal(beta.input_tokens, anthropicCount(fakeA.lastRequest().body));
    await assert.rejects(client.messages.countTokens({ model: 'claude-ok' }),
      (e) => e.status === 400 && e.error?.error?.type === 'invalid_request_error');
    await assert.rejects(client.messages.countTokens({ model: 'nope', ...params }), (e) => e.status === 404);
  });
});

describe('models, for an Anthropic client', () => {
  test('models.list and models.retrieve give ModelInfo pages; an unknown one is 404 in Anthropic\'s shape', async () => {
    const names = [];
    for await (const model of client.models.list()) {
      assert.equal(model.type, 'model');
      assert.equal(model.display_name, model.id);
      assert.ok(!Number.isNaN(Date.parse(model.created_at)), model.created_at);
      names.push(model.id);
    }
    assert.ok(names.includes('claude-ok') && names.includes('gem-ok') && names.includes('count-mixed'), names.join(' '));
    const one = await client.models.retrieve('claude-ok');
    assert.equal(one.id, 'claude-ok');
    assert.equal(one.type, 'model');
    await assert.rejects(client.models.retrieve('no-such-model'), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.error.error.type, 'not_found_error');
      return true;
    });
  });
});

describe('auth', () => {
  test('x-api-key with a good key → 200; a bad one → 401 authentication_error', async () => {
    const good = makeAnthropicClient(keel, { apiKey: null, defaultHeaders: { 'x-api-key': CLIENT_KEY } });
    const msg = await good.messages.create({ model: 'claude-ok', max_tokens: 10, messages: user('hi') });
    assert.equal(msg.content[0].text, ANTHROPIC_TEXT);
    const up = fakeA.lastRequest();
    assert.equal(up.headers['x-api-key'], ANT_KEY, 'the upstream gets its own key, not the client key');

    const bad = makeAnthropicClient(keel, { apiKey: null, defaultHeaders: { 'x-api-key': 'sk-wrong' } });
    await assert.rejects(bad.messages.create({ model: 'claude-ok', max_tokens: 10, messages: user('hi') }), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
      assert.equal(e.error.error.type, 'authentication_error');
      return true;
    });
  });

  test('no key at all → 401 authentication_error in Anthropic shape', async () => {
    const res = await postJSON(keel, '/v1/messages', { model: 'oa-ok', max_tokens: 10, messages: user('hi') }, { key: null, headers: { 'anthropic-version': '2023-06-01' } });
    assert.equal(res.status, 401);
    assert.equal(anthropicErrorOf(res.json).type, 'authentication_error');
  });

  test('Bearer (what this SDK sends for apiKey) is accepted too', async () => {
    const msg = await client.messages.create({ model: 'gem-ok', max_tokens: 10, messages: user('hi') });
    assert.equal(msg.content[0].text, GEMINI_TEXT);
  });
});

describe('request shapes across backends', () => {
  const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const withImages = [{
    role: 'user',
    content: [
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ],
  }];

  test('images (base64 and URL) reach each backend in its own form', async () => {
    await client.messages.create({ model: 'oa-ok', max_tokens: 10, messages: withImages });
    assert.deepEqual(fakeO.lastRequest().body.messages[0].content.filter((p) => p.type === 'image_url').map((p) => p.image_url.url),
      [`data:image/png;base64,${PNG}`, 'https://example.com/cat.jpg']);
    await client.messages.create({ model: 'claude-ok', max_tokens: 10, messages: withImages });
    assert.deepEqual(fakeA.lastRequest().body.messages[0].content.filter((b) => b.type === 'image').map((b) => b.source),
      [withImages[0].content[1].source, withImages[0].content[2].source]);
    await client.messages.create({ model: 'gem-ok', max_tokens: 10, messages: withImages });
    const parts = fakeG.lastRequest().body.contents[0].parts;
    assert.deepEqual(parts[1], { inlineData: { mimeType: 'image/png', data: PNG } });
    assert.equal(parts[2].fileData.fileUri, 'https://example.com/cat.jpg');
  });

  test('tool_choice any / tool (with disable_parallel_tool_use) map to each backend', async () => {
    await client.messages.create({ model: 'oa-ok', max_tokens: 10, messages: user('w'), tools: [WEATHER_TOOL], tool_choice: { type: 'any', disable_parallel_tool_use: true } });
    assert.equal(fakeO.lastRequest().body.tool_choice, 'required');
    assert.equal(fakeO.lastRequest().body.parallel_tool_calls, false);
    await client.messages.create({ model: 'claude-ok', max_tokens: 10, messages: user('w'), tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'get_weather' } });
    assert.deepEqual(fakeA.lastRequest().body.tool_choice, { type: 'tool', name: 'get_weather' });
    await client.messages.create({ model: 'gem-ok', max_tokens: 10, messages: user('w'), tools: [WEATHER_TOOL], tool_choice: { type: 'tool', name: 'get_weather' } });
    assert.deepEqual(fakeG.lastRequest().body.toolConfig.functionCallingConfig, { mode: 'ANY', allowedFunctionNames: ['get_weather'] });
  });

  test('tool_result is_error reaches each backend: Anthropic the flag, Gemini an error response, OpenAI an error text', async () => {
    const messages = [
      ...user('w'),
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_9', name: 'get_weather', input: { city: 'X' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', is_error: true, content: 'boom' }] },
    ];
    await client.messages.create({ model: 'oa-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    const tool = fakeO.lastRequest().body.messages.find((m) => m.role === 'tool');
    assert.equal(tool.tool_call_id, 'toolu_9');
    const text = typeof tool.content === 'string' ? tool.content : tool.content.map((p) => p.text).join('');
    assert.match(text, /error/i);
    assert.match(text, /boom/);
    await client.messages.create({ model: 'claude-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    assert.deepEqual(fakeA.lastRequest().body.messages[2].content, [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'boom', is_error: true }]);
    await client.messages.create({ model: 'gem-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    assert.deepEqual(fakeG.lastRequest().body.contents[2].parts[0].functionResponse.response, { error: 'boom' });
  });

  test('images in a tool_result reach each backend (OpenAI: a user message after the tool turn)', async () => {
    const shot = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } };
    const messages = [
      ...user('Screenshot the page'),
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_7', name: 'get_weather', input: { city: 'X' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_7', content: [{ type: 'text', text: 'the page' }, shot] }, { type: 'text', text: 'What does it show?' }] },
    ];
    // OpenAI's tool messages take text only (its fake answers 400 otherwise, as the API does).
    await client.messages.create({ model: 'oa-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    const up = fakeO.lastRequest().body.messages;
    assert.deepEqual(up.slice(2).map((m) => m.role), ['tool', 'user', 'user']);
    assert.deepEqual(up[2].content, [{ type: 'text', text: 'the page' }]);
    assert.deepEqual(up[3].content, [
      { type: 'text', text: 'Image(s) returned by tool call toolu_7:' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
    ]);
    // Gemini: the function response's own parts.
    await client.messages.create({ model: 'gem-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    const response = fakeG.lastRequest().body.contents[2].parts[0].functionResponse;
    assert.deepEqual(response.response, { result: 'the page' });
    assert.deepEqual(response.parts, [{ inlineData: { mimeType: 'image/png', data: PNG } }]);
    // Anthropic: as sent.
    await client.messages.create({ model: 'claude-echo', max_tokens: 10, messages, tools: [WEATHER_TOOL] });
    const result = fakeA.lastRequest().body.messages[2].content[0];
    assert.deepEqual(result.content, [{ type: 'text', text: 'the page' }, shot]);
  });

  for (const [model, fake] of [['gem-slow', () => fakeG], ['oa-slow', () => fakeO]]) {
    test(`${model}: a client that goes away cancels the upstream stream`, async () => {
      const before = fake().stats.cancelled;
      const stream = client.messages.stream({ model, max_tokens: 10, messages: user('hi') });
      let n = 0;
      stream.on('text', () => { if (++n === 2) stream.abort(); });
      await stream.done().catch(() => {});
      assert.ok(n >= 2);
      assert.ok(await waitFor(() => fake().stats.cancelled > before, 2000), 'upstream cancelled');
    });
  }
});
