// keel's third front door, OpenAI's Responses API, driven by the official openai SDK over every
// provider kind (fakes of OpenAI, Anthropic, Gemini and Azure): responses.create and
// responses.stream() (whose helper checks the event order), function calls, stored responses
// (retrieve, delete, inputItems.list), previous_response_id threads that move between vendors
// with their function calls and outputs, the Conversations API, ownership by API key, and bad
// input answered as OpenAI answers it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startFakeOpenAI, FAKE_TEXT, TOOL_CALLS } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic, parseEcho as parseAnthropicEcho, ANTHROPIC_TEXT } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, parseEcho as parseGeminiEcho, GEMINI_TEXT } from '../fakes/fake_gemini.mjs';
import {
  startKeel, makeClient, fakeProvider, anthropicProvider, geminiProvider, azureProvider, postJSON, errorOf,
  sseEvents, waitFor, UPSTREAM_KEY, CLIENT_KEY, localEngineMissing,
} from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';
const AZ_KEY = 'az-upstream-key';
const OTHER_KEY = 'sk-other-client';
const STORIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/models/stories260K.gguf');
const NO_STORIES = existsSync(STORIES) ? false : `needs ${STORIES} (absent)`;
// stories260K's greedy continuation of "Once upon a time" (tests/e2e/local.test.mjs).
const GREEDY_START = ', there was a little girl named Lily';

const WEATHER_TOOL = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

let fakes;
let keel;
let client;
let other;   // the same keel, another API key

const VENDORS = [
  { p: 'oa', text: FAKE_TEXT },
  { p: 'claude', text: ANTHROPIC_TEXT },
  { p: 'gem', text: GEMINI_TEXT },
  { p: 'az', text: FAKE_TEXT },
];

before(async () => {
  fakes = {
    oa: await startFakeOpenAI({ apiKey: UPSTREAM_KEY }),
    claude: await startFakeAnthropic({ apiKey: ANT_KEY }),
    gem: await startFakeGemini({ apiKey: GEM_KEY }),
    az: await startFakeOpenAI({ apiKey: AZ_KEY }),
  };
  const m = (name, provider, model) => ({
    name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 3000, targets: [{ provider, model }],
  });
  const models = [];
  for (const { p } of VENDORS) for (const b of ['ok', 'echo', 'tools', 'schema']) models.push(m(`${p}-${b}`, p, b));
  models.push(m('claude-mid', 'claude', 'error-after-text-mid'), m('oa-slow', 'oa', 'slow-stream-40x50'));
  models.push({
    name: 'claude-fo', strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 3000,
    targets: [{ provider: 'claude', model: 'overloaded-fo' }, { provider: 'gem', model: 'ok' }],
  });
  keel = await startKeel({
    providers: [
      fakeProvider('oa', fakes.oa),
      anthropicProvider('claude', fakes.claude, ANT_KEY),
      geminiProvider('gem', fakes.gem, GEM_KEY),
      azureProvider('az', fakes.az, AZ_KEY),
    ],
    models,
    extra: { api_keys: [CLIENT_KEY, OTHER_KEY] },
  });
  client = makeClient(keel);
  other = makeClient(keel, { apiKey: OTHER_KEY });
});

after(async () => {
  await keel?.stop();
  for (const fake of Object.values(fakes ?? {})) await fake.close();
});

// The SDK's final response adds parsed / parsed_arguments (its own parse of text and arguments).
const unparsed = (items) => JSON.parse(JSON.stringify(items, (key, value) => (key === 'parsed' || key === 'parsed_arguments' ? undefined : value)));

// Checks what the stream helper does not: one response id and stable item ids from created to
// completed, sequence numbers 0, 1, 2, ..., the items' done forms in the final output.
function checkStream(events, final) {
  assert.equal(events[0].type, 'response.created');
  assert.equal(events[1].type, 'response.in_progress');
  assert.equal(events.at(-1).type, 'response.completed');
  events.forEach((event, i) => assert.equal(event.sequence_number, i, `sequence_number of ${event.type}`));
  const id = events[0].response.id;
  assert.match(id, /^resp_/);
  for (const event of events) if (event.response) assert.equal(event.response.id, id);
  assert.equal(final.id, id);
  const added = events.filter((e) => e.type === 'response.output_item.added').map((e) => e.item.id);
  const done = events.filter((e) => e.type === 'response.output_item.done').map((e) => e.item);
  assert.deepEqual(done.map((item) => item.id), added);
  assert.deepEqual(unparsed(final.output), done);
  for (const item of final.output) if (item.type === 'message') assert.ok(Array.isArray(item.content));
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return { events, final: await stream.finalResponse() };
}

describe('responses over every vendor', () => {
  for (const { p, text } of VENDORS) {
    test(`${p}: responses.create answers with a message item and usage`, async () => {
      const response = await client.responses.create({ model: `${p}-ok`, input: 'Say hello', instructions: 'Be brief.' });
      assert.equal(response.object, 'response');
      assert.equal(response.status, 'completed');
      assert.equal(response.model, `${p}-ok`);
      assert.equal(response.output_text, text);
      assert.equal(response.output.length, 1);
      const [message] = response.output;
      assert.equal(message.type, 'message');
      assert.equal(message.role, 'assistant');
      assert.match(message.id, /^msg_/);
      assert.deepEqual(message.content, [{ type: 'output_text', text, annotations: [], logprobs: [] }]);
      assert.ok(response.usage.input_tokens > 0 && response.usage.output_tokens > 0);
      assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);
      assert.equal(response.instructions, 'Be brief.');
      assert.equal(response.store, true);
    });

    test(`${p}: responses.stream() in OpenAI's event order`, async () => {
      const { events, final } = await collect(client.responses.stream({ model: `${p}-ok`, input: 'Say hello' }));
      checkStream(events, final);
      assert.equal(final.output_text, text);
      assert.deepEqual(events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]), [
        'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
        'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
        'response.output_item.done', 'response.completed',
      ]);
      const deltas = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
      assert.equal(deltas, text);
      // The streamed response is stored as it ended.
      const stored = await client.responses.retrieve(final.id);
      assert.deepEqual(stored.output, unparsed(final.output));
      assert.equal(stored.status, 'completed');
    });

    test(`${p}: function calls, plain and streamed`, async () => {
      const plain = await client.responses.create({ model: `${p}-tools`, input: 'Weather in Paris and Tokyo?', tools: [WEATHER_TOOL] });
      const calls = plain.output.filter((item) => item.type === 'function_call');
      assert.equal(calls.length, 2);
      assert.deepEqual(calls.map((c) => [c.name, JSON.parse(c.arguments).city]), [['get_weather', 'Paris'], ['get_weather', 'Tokyo']]);
      for (const call of calls) {
        assert.match(call.id, /^fc_/);
        assert.ok(call.call_id.length > 0);
        assert.equal(call.status, 'completed');
      }
      assert.deepEqual(plain.tools.map((t) => t.name), ['get_weather']);

      const { events, final } = await collect(client.responses.stream({ model: `${p}-tools`, input: 'Weather?', tools: [WEATHER_TOOL] }));
      checkStream(events, final);
      const doneArgs = events.filter((e) => e.type === 'response.function_call_arguments.done');
      assert.equal(doneArgs.length, 2);
      for (const done of doneArgs) {
        const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta' && e.item_id === done.item_id);
        assert.equal(deltas.map((d) => d.delta).join(''), done.arguments);
        assert.equal(done.name, 'get_weather');
      }
      assert.deepEqual(final.output.filter((i) => i.type === 'function_call').map((c) => JSON.parse(c.arguments).city), ['Paris', 'Tokyo']);
    });
  }

  test('failover before the first token is invisible: claude overloaded, gemini answers', async () => {
    const response = await client.responses.create({ model: 'claude-fo', input: 'hi' });
    assert.equal(response.output_text, GEMINI_TEXT);
    const { events, final } = await collect(client.responses.stream({ model: 'claude-fo', input: 'hi' }));
    checkStream(events, final);
    assert.equal(final.output_text, GEMINI_TEXT);
  });

  test('a stream that fails after output began ends with response.failed, and the stored response says so', async () => {
    const res = await postJSON(keel, '/v1/responses', { model: 'claude-mid', input: 'hi', stream: true });
    assert.equal(res.status, 200);
    const events = sseEvents(res.text).map((e) => ({ name: e.event, data: JSON.parse(e.data) }));
    const last = events.at(-1);
    assert.equal(last.name, 'response.failed');
    assert.equal(last.data.type, 'response.failed');
    assert.equal(last.data.response.status, 'failed');
    assert.equal(last.data.response.error.code, 'server_error');
    assert.match(last.data.response.error.message, /overload/i);
    events.forEach((e, i) => assert.equal(e.data.sequence_number, i));
    const [message] = last.data.response.output;
    assert.equal(message.content[0].text, 'Hello from');
    const stored = await client.responses.retrieve(last.data.response.id);
    assert.equal(stored.status, 'failed');
    assert.equal(stored.error.code, 'server_error');
  });
});

describe('stored responses', () => {
  test('a client that goes away mid-stream leaves its response stored as cancelled', async () => {
    const controller = new AbortController();
    const stream = client.responses.stream({ model: 'oa-slow', input: 'hi' }, { signal: controller.signal });
    let id;
    await assert.rejects((async () => {
      for await (const event of stream) {
        if (event.type === 'response.created') id = event.response.id;
        if (event.type === 'response.output_text.delta') controller.abort();
      }
    })());
    assert.match(id, /^resp_/);
    let stored;
    await waitFor(async () => {
      stored = await client.responses.retrieve(id).catch(() => null);
      return stored?.status === 'cancelled';
    }, 5000, 50);
    assert.equal(stored.status, 'cancelled');
    assert.equal(stored.output[0].status, 'incomplete');
    assert.ok(stored.output[0].content[0].text.length > 0);
  });

  test('previous_response_id carries a thread with its function calls across vendors', async () => {
    // Turn 1 on Anthropic: two function calls.
    const first = await client.responses.create({ model: 'claude-tools', input: 'Weather in Paris and Tokyo?', tools: [WEATHER_TOOL] });
    const calls = first.output.filter((item) => item.type === 'function_call');
    assert.equal(calls.length, 2);
    // Turn 2 on Gemini: only the outputs; the calls come from the stored thread.
    const second = await client.responses.create({
      model: 'gem-echo',
      previous_response_id: first.id,
      tools: [WEATHER_TOOL],
      input: calls.map((call, i) => ({ type: 'function_call_output', call_id: call.call_id, output: `sunny ${i}` })),
    });
    assert.equal(second.previous_response_id, first.id);
    const echoed = parseGeminiEcho(second.output_text);
    assert.deepEqual(echoed.functionResponses.map((r) => r.name), ['get_weather', 'get_weather']);
    assert.deepEqual(echoed.functionResponses.map((r) => JSON.stringify(r.response)).map((s) => /sunny (\d)/.exec(s)[1]), ['0', '1']);
    // Turn 3 on OpenAI: the whole thread reaches it, user turn, calls and outputs included.
    const third = await client.responses.create({ model: 'oa-echo', previous_response_id: second.id, input: 'And tomorrow?' });
    assert.equal(third.output_text, 'echo: And tomorrow?');
    const sent = fakes.oa.requests.filter((r) => r.body?.model === 'echo').at(-1).body.messages;
    assert.deepEqual(sent.map((message) => message.role), ['user', 'assistant', 'tool', 'tool', 'assistant', 'user']);
    assert.deepEqual(sent[1].tool_calls.map((c) => c.id), calls.map((c) => c.call_id));
    assert.deepEqual(sent.slice(2, 4).map((m) => m.tool_call_id), calls.map((c) => c.call_id));
    // Turn 4 back on Anthropic, streamed: the tool results reach it too.
    const { final } = await collect(client.responses.stream({ model: 'claude-echo', previous_response_id: second.id, input: 'Summary?' }));
    assert.equal(parseAnthropicEcho(final.output_text).text, 'echo: Summary?');
    const claudeSent = fakes.claude.requests.filter((r) => r.body?.model === 'echo').at(-1).body.messages;
    assert.deepEqual(claudeSent.map((message) => message.role), ['user', 'assistant', 'user', 'assistant', 'user']);

    // Its stored pieces.
    const items = await client.responses.inputItems.list(second.id);
    assert.deepEqual(items.data.map((item) => item.type), ['function_call_output', 'function_call_output']);
    const asc = await client.responses.inputItems.list(second.id, { order: 'asc', limit: 1 });
    assert.equal(asc.data.length, 1);
    assert.equal(asc.data[0].call_id, calls[0].call_id);
    assert.equal(asc.has_more, true);
    const retrieved = await client.responses.retrieve(first.id);
    assert.deepEqual(retrieved.output, first.output);
  });

  test('delete; a deleted, unknown or unstored previous_response_id is a 404 naming it', async () => {
    const response = await client.responses.create({ model: 'oa-ok', input: 'hi' });
    const deleted = await client.responses.delete(response.id);
    assert.deepEqual(deleted, { id: response.id, object: 'response', deleted: true });
    await assert.rejects(client.responses.retrieve(response.id), (err) => err.status === 404);
    await assert.rejects(
      client.responses.create({ model: 'oa-ok', input: 'again', previous_response_id: response.id }),
      (err) => err.status === 404 && err.message.includes(response.id) && err.param === 'previous_response_id',
    );
    const unstored = await client.responses.create({ model: 'oa-ok', input: 'hi', store: false });
    assert.equal(unstored.store, false);
    await assert.rejects(client.responses.retrieve(unstored.id), (err) => err.status === 404);
    await assert.rejects(
      client.responses.create({ model: 'oa-ok', input: 'again', previous_response_id: unstored.id }),
      (err) => err.status === 404 && err.message.includes(unstored.id),
    );
    await assert.rejects(client.responses.delete('resp_nope'), (err) => err.status === 404);
  });

  test('a response is visible only to the API key that made it', async () => {
    const response = await client.responses.create({ model: 'oa-ok', input: 'secret' });
    await assert.rejects(other.responses.retrieve(response.id), (err) => err.status === 404);
    await assert.rejects(other.responses.delete(response.id), (err) => err.status === 404);
    await assert.rejects(other.responses.inputItems.list(response.id), (err) => err.status === 404);
    await assert.rejects(
      other.responses.create({ model: 'oa-ok', input: 'x', previous_response_id: response.id }),
      (err) => err.status === 404,
    );
    assert.equal((await client.responses.retrieve(response.id)).id, response.id);
    // The key itself is never stored.
    const { execFileSync } = await import('node:child_process');
    const dump = execFileSync('sqlite3', [keel.dbPath, '.dump responses']).toString();
    assert.ok(dump.includes(response.id));
    assert.ok(!dump.includes(CLIENT_KEY));
  });
});

describe('conversations', () => {
  test('create, use with responses, list, retrieve, update, delete items and the conversation', async () => {
    const conversation = await client.conversations.create({
      metadata: { topic: 'weather' },
      items: [{ type: 'message', role: 'user', content: 'My name is Ada.' }],
    });
    assert.match(conversation.id, /^conv_/);
    assert.equal(conversation.object, 'conversation');
    assert.deepEqual(conversation.metadata, { topic: 'weather' });

    const first = await client.responses.create({ model: 'claude-echo', conversation: conversation.id, input: 'Who am I?' });
    assert.deepEqual(first.conversation, { id: conversation.id });
    assert.match(parseAnthropicEcho(first.output_text).text, /Who am I\?$/);
    const claudeSent = fakes.claude.requests.filter((r) => r.body?.model === 'echo').at(-1).body.messages;
    assert.equal(JSON.stringify(claudeSent).includes('My name is Ada.'), true);

    const second = await client.responses.create({ model: 'gem-echo', conversation: { id: conversation.id }, input: 'Again?' });
    assert.equal(parseGeminiEcho(second.output_text).text, 'echo: Again?');

    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => `${i.type}:${i.role}`), [
      'message:user', 'message:user', 'message:assistant', 'message:user', 'message:assistant',
    ]);
    const desc = await client.conversations.items.list(conversation.id);
    assert.equal(desc.data[0].id, second.output[0].id);

    const added = await client.conversations.items.create(conversation.id, {
      items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'noted' }] }],
    });
    assert.equal(added.data.length, 1);
    const item = await client.conversations.items.retrieve(added.data[0].id, { conversation_id: conversation.id });
    assert.equal(item.content[0].text, 'noted');
    const after = await client.conversations.items.delete(added.data[0].id, { conversation_id: conversation.id });
    assert.equal(after.id, conversation.id);
    await assert.rejects(
      client.conversations.items.retrieve(added.data[0].id, { conversation_id: conversation.id }),
      (err) => err.status === 404,
    );

    const updated = await client.conversations.update(conversation.id, { metadata: { topic: 'names' } });
    assert.deepEqual(updated.metadata, { topic: 'names' });
    assert.deepEqual((await client.conversations.retrieve(conversation.id)).metadata, { topic: 'names' });
    await assert.rejects(other.conversations.retrieve(conversation.id), (err) => err.status === 404);
    await assert.rejects(
      other.responses.create({ model: 'oa-ok', conversation: conversation.id, input: 'x' }),
      (err) => err.status === 404,
    );

    const gone = await client.conversations.delete(conversation.id);
    assert.deepEqual(gone, { id: conversation.id, object: 'conversation.deleted', deleted: true });
    await assert.rejects(client.conversations.retrieve(conversation.id), (err) => err.status === 404);
  });
});

describe('bad input, as OpenAI answers it', () => {
  const bad = async (body, status = 400) => {
    const res = await postJSON(keel, '/v1/responses', body);
    assert.equal(res.status, status, res.text);
    return errorOf(res.json);
  };

  test('without a valid key every Responses route is a 401', async () => {
    for (const [method, route] of [['POST', '/v1/responses'], ['GET', '/v1/responses/resp_1'], ['DELETE', '/v1/responses/resp_1'],
      ['GET', '/v1/responses/resp_1/input_items'], ['POST', '/v1/conversations'], ['GET', '/v1/conversations/conv_1/items']]) {
      const res = await fetch(`${keel.base}${route}`, { method, headers: { authorization: 'Bearer sk-wrong', 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      assert.equal(res.status, 401, `${method} ${route}`);
      assert.equal(errorOf(await res.json()).code, 'invalid_api_key');
    }
  });

  test('a wrong method is a 405 naming the allowed ones', async () => {
    const res = await fetch(`${keel.base}/v1/responses/resp_1`, { method: 'PUT', headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, DELETE');
  });

  test('reasoning.effort reaches an OpenAI-compatible upstream as reasoning_effort', async () => {
    const response = await client.responses.create({ model: 'oa-ok', input: 'x', reasoning: { effort: 'low' } });
    assert.deepEqual(response.reasoning, { effort: 'low' });
    assert.equal(fakes.oa.requests.at(-1).body.reasoning_effort, 'low');
  });

  test('previous_response_id with conversation is a 400', async () => {
    const error = await bad({ model: 'oa-ok', input: 'x', previous_response_id: 'resp_1', conversation: 'conv_1' });
    assert.match(error.message, /previous_response_id and conversation/);
  });

  test('an item type keel does not know is a 400 naming it', async () => {
    const error = await bad({ model: 'oa-ok', input: [{ type: 'image_generation_call', id: 'ig_1' }] });
    assert.match(error.message, /image_generation_call/);
    assert.equal(error.param, 'input[0].type');
  });

  test('a hosted tool type is a 400 naming it, never dropped', async () => {
    const error = await bad({ model: 'oa-ok', input: 'x', tools: [{ type: 'web_search' }] });
    assert.match(error.message, /web_search/);
  });

  test('unknown model, missing model, wrong types', async () => {
    assert.match((await bad({ model: 'nope', input: 'x' }, 404)).message, /nope/);
    assert.equal((await bad({ input: 'x' })).param, 'model');
    assert.equal((await bad({ model: 'oa-ok', input: 5 })).param, 'input');
    assert.equal((await bad({ model: 'oa-ok', input: 'x', temperature: 7 })).param, 'temperature');
    assert.equal((await bad({ model: 'oa-ok', input: 'x', text: { format: { type: 'json_schema' } } })).param, 'text.format.name');
  });

  test('a custom tool is offered as a function, its call comes back as custom_tool_call', async () => {
    const tools = [{ type: 'custom', name: 'apply_patch', description: 'Apply a patch', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } }];
    const response = await client.responses.create({ model: 'oa-schema', input: 'x', tools, tool_choice: { type: 'custom', name: 'apply_patch' } });
    const sent = fakes.oa.requests.at(-1).body;
    assert.equal(sent.tools[0].function.name, 'apply_patch');
    assert.match(sent.tools[0].function.parameters.properties.input.description, /lark grammar/);
    assert.deepEqual(sent.tool_choice, { type: 'function', function: { name: 'apply_patch' } });
    const [call] = response.output;
    assert.equal(call.type, 'custom_tool_call');
    assert.equal(call.name, 'apply_patch');
    assert.equal(typeof call.input, 'string');
    assert.equal(call.call_id, 'call_schema_1');
    // Streamed: the input arrives whole in custom_tool_call_input events.
    const { events, final } = await collect(client.responses.stream({ model: 'oa-schema', input: 'x', tools, tool_choice: { type: 'custom', name: 'apply_patch' } }));
    checkStream(events, final);
    const done = events.find((e) => e.type === 'response.custom_tool_call_input.done');
    assert.equal(done.input, call.input);
    // Its output goes back as a tool result.
    await client.responses.create({
      model: 'oa-echo', previous_response_id: response.id, tools,
      input: [{ type: 'custom_tool_call_output', call_id: call.call_id, output: 'patched' }],
    });
    const back = fakes.oa.requests.at(-1).body.messages;
    assert.deepEqual(back.at(-1), { role: 'tool', content: 'patched', tool_call_id: 'call_schema_1' });
    assert.deepEqual(JSON.parse(back.at(-2).tool_calls[0].function.arguments), { input: call.input });
  });

  test('text.format json_schema reaches the upstream as a response format', async () => {
    await client.responses.create({
      model: 'oa-ok',
      input: 'x',
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } } } },
      max_output_tokens: 50,
      temperature: 0.5,
    });
    const body = fakes.oa.requests.at(-1).body;
    assert.equal(body.response_format.type, 'json_schema');
    assert.equal(body.response_format.json_schema.name, 'answer');
    assert.equal(body.max_tokens ?? body.max_completion_tokens, 50);
    assert.equal(body.temperature, 0.5);
  });
});

// The local engine (llama.cpp in keel's process) behind the same front door: a stored thread
// that starts on a hosted vendor continues on the local model.
describe('responses over the local engine', { skip: NO_STORIES || localEngineMissing() || false }, () => {
  let local;
  let localClient;
  before(async () => {
    local = await startKeel({
      providers: [{ name: 'stories', kind: 'local', model: STORIES, threads: 1, parallel: 2, context: 512 }, fakeProvider('oa', fakes.oa)],
      models: [
        { name: 'stories', retries: 0, timeout_ms: 20000, first_token_timeout_ms: 15000, targets: [{ provider: 'stories', model: 'default' }] },
        { name: 'oa-ok', retries: 0, timeout_ms: 5000, targets: [{ provider: 'oa', model: 'ok' }] },
      ],
      readyTimeoutMs: 30000,
    });
    localClient = makeClient(local, { timeout: 30000 });
  });
  after(async () => {
    await local?.stop();
    local?.cleanup?.();
  });

  test('create and stream on the local model, greedy and cut at max_output_tokens', async () => {
    const response = await localClient.responses.create({ model: 'stories', input: 'Once upon a time', temperature: 0, max_output_tokens: 16 });
    assert.ok(response.output_text.startsWith(GREEDY_START), response.output_text);
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(response.usage.output_tokens, 16);
    const stream = localClient.responses.stream({ model: 'stories', input: 'Once upon a time', temperature: 0, max_output_tokens: 16 });
    const events = [];
    for await (const event of stream) events.push(event);
    assert.equal(events.at(-1).type, 'response.incomplete');
    events.forEach((event, i) => assert.equal(event.sequence_number, i));
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(text, response.output_text);
  });

  test('a thread stored from a hosted vendor continues on the local model', async () => {
    const first = await localClient.responses.create({ model: 'oa-ok', input: 'Once upon a time' });
    const second = await localClient.responses.create({ model: 'stories', previous_response_id: first.id, input: 'Then', temperature: 0, max_output_tokens: 8 });
    assert.equal(second.previous_response_id, first.id);
    assert.equal(second.usage.output_tokens, 8);
    // The local model saw the whole thread: more prompt than the new turn alone.
    const alone = await localClient.responses.create({ model: 'stories', input: 'Then', temperature: 0, max_output_tokens: 8, store: false });
    assert.ok(second.usage.input_tokens > alone.usage.input_tokens, `${second.usage.input_tokens} vs ${alone.usage.input_tokens}`);
  });
});
