// The fake upstream itself, checked directly (raw fetch and the official openai SDK against
// it), so that keel's end-to-end failures are never the fake's. Needs no keel binary.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import {
  startFakeOpenAI, fakeEmbedding, behaviourOf, waitFor,
  FAKE_TEXT, FAKE_USAGE, MID_STREAM_CHUNKS, TOOL_CALLS, EMBEDDING_DIMS,
} from '../fakes/fake_openai.mjs';
import { sseData } from './harness.mjs';

let fake;
let client;

async function post(path, body, headers = {}) {
  const res = await fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-upstream', ...headers },
    body: JSON.stringify(body),
  });
  return res;
}

const chat = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

before(async () => {
  fake = await startFakeOpenAI();
  client = new OpenAI({ baseURL: fake.url, apiKey: 'sk-upstream', maxRetries: 0, timeout: 5000 });
});
after(async () => {
  await fake.close();
});

describe('fake upstream: behaviour names', () => {
  test('names map to behaviours, with parameters', () => {
    assert.equal(behaviourOf('ok').kind, 'ok');
    assert.equal(behaviourOf('whatever').kind, 'ok');
    assert.equal(behaviourOf('fail-500-b').kind, 'fail-500');
    assert.deepEqual(behaviourOf('flaky-2-x'), { kind: 'flaky', failures: 2 });
    assert.deepEqual(behaviourOf('rate-429'), { kind: 'rate-429', retryAfter: 1 });
    assert.deepEqual(behaviourOf('rate-429-ra30'), { kind: 'rate-429', retryAfter: 30 });
    assert.deepEqual(behaviourOf('slow-stream'), { kind: 'slow-stream', count: 100, intervalMs: 100 });
    assert.deepEqual(behaviourOf('slow-stream-5x20'), { kind: 'slow-stream', count: 5, intervalMs: 20 });
    assert.equal(behaviourOf('close-mid-stream-q').kind, 'close-mid-stream');
    assert.equal(behaviourOf(undefined).kind, 'ok');
  });
});

describe('fake upstream: successes, through the official SDK', () => {
  test('ok: chat.completion with usage; request recorded with headers', async () => {
    const r = await client.chat.completions.create(chat('ok'));
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.prompt_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(r.usage.completion_tokens, FAKE_USAGE.completion_tokens);
    const last = fake.lastRequest();
    assert.equal(last.path, '/v1/chat/completions');
    assert.equal(last.headers.authorization, 'Bearer sk-upstream');
    assert.equal(last.body.model, 'ok');
    assert.equal(fake.hits('ok'), 1);
  });

  test('echo: echoes the last user message (unicode intact)', async () => {
    const text = 'héllo 世界 🚀 "quoted"\nline';
    const r = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: 'x' }, { role: 'user', content: text }],
    });
    assert.equal(r.choices[0].message.content, `echo: ${text}`);
    const s = await client.chat.completions.create({ model: 'echo', stream: true, messages: [{ role: 'user', content: text }] });
    let got = '';
    for await (const c of s) got += c.choices[0]?.delta?.content ?? '';
    assert.equal(got, `echo: ${text}`);
  });

  test('ok stream: several chunks, finish stop, then [DONE]; include_usage adds a usage chunk', async () => {
    const res = await post('/chat/completions', chat('ok', { stream: true, stream_options: { include_usage: true } }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const events = sseData(await res.text());
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.length >= 5);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.total_tokens, 8);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, FAKE_TEXT);

    const s = await client.chat.completions.create(chat('ok', { stream: true }));
    const sdkChunks = [];
    for await (const c of s) sdkChunks.push(c);
    assert.ok(sdkChunks.every((c) => c.usage === undefined), 'no usage without include_usage');
  });

  test('tools: two parallel calls, plain and streamed (SDK accumulator agrees)', async () => {
    const r = await client.chat.completions.create(chat('tools', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }));
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(r.choices[0].message.tool_calls.map((c) => [c.id, c.function.name, c.function.arguments]),
      TOOL_CALLS.map((c) => [c.id, c.name, c.arguments]));
    const runner = client.chat.completions.stream(chat('tools', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }));
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(final.choices[0].message.tool_calls.map((c) => [c.id, c.function.name, c.function.arguments]),
      TOOL_CALLS.map((c) => [c.id, c.name, c.arguments]));
  });

  test('json: reports the response_format type it received', async () => {
    const r = await client.chat.completions.create(chat('json', { response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } } }));
    assert.equal(JSON.parse(r.choices[0].message.content).response_format, 'json_schema');
  });

  test('embeddings: deterministic vectors, float and base64 (SDK default)', async () => {
    const a = await client.embeddings.create({ model: 'text-embedding-fake', input: ['alpha', 'beta'], encoding_format: 'float' });
    assert.equal(a.data.length, 2);
    assert.deepEqual(a.data[0].embedding, fakeEmbedding('alpha'));
    assert.deepEqual(a.data[1].embedding, fakeEmbedding('beta'));
    assert.equal(a.data[1].index, 1);
    assert.equal(a.data[0].embedding.length, EMBEDDING_DIMS);
    assert.notDeepEqual(fakeEmbedding('alpha'), fakeEmbedding('beta'));
    const b = await client.embeddings.create({ model: 'text-embedding-fake', input: 'alpha' });
    assert.equal(fake.lastRequest().body.encoding_format, 'base64');
    assert.deepEqual(Array.from(b.data[0].embedding), fakeEmbedding('alpha'));
  });

  test('models: lists a few', async () => {
    const page = await client.models.list();
    assert.ok(page.data.length >= 3);
    assert.ok(page.data.some((m) => m.id === 'ok'));
  });

  test('flaky-2: two 500s, then ok; counted per exact name', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await post('/chat/completions', chat('flaky-2-self'));
      assert.equal(res.status, 500);
    }
    const res = await post('/chat/completions', chat('flaky-2-self'));
    assert.equal(res.status, 200);
    assert.equal(fake.hits('flaky-2-self'), 3);
  });

  test('slow-stream-NxM completes when read to the end', async () => {
    const res = await post('/chat/completions', chat('slow-stream-3x10', { stream: true }));
    const events = sseData(await res.text());
    assert.equal(events.at(-1), '[DONE]');
    const text = events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, '0 1 2 ');
  });
});

describe('fake upstream: failures', () => {
  test('fail-500 and rate-429 send OpenAI error bodies; 429 has Retry-After', async () => {
    let res = await post('/chat/completions', chat('fail-500'));
    assert.equal(res.status, 500);
    let body = await res.json();
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    res = await post('/chat/completions', chat('rate-429'));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '1');
    body = await res.json();
    assert.equal(body.error.code, 'rate_limit_exceeded');
    res = await post('/embeddings', { model: 'rate-429-ra30', input: 'x' });
    assert.equal(res.headers.get('retry-after'), '30');
    await assert.rejects(client.chat.completions.create(chat('fail-500')), (e) => e instanceof OpenAI.APIError && e.status === 500);
  });

  test('a tool message with other than text parts: 400 naming the part, as the API does', async () => {
    const messages = [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
    ];
    const res = await post('/chat/completions', { model: 'ok', messages });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.param, 'messages[2].content[1].type');
    messages[2].content.pop();
    assert.equal((await post('/chat/completions', { model: 'ok', messages })).status, 200);
  });

  test('garbage: not JSON, plain and streamed', async () => {
    let res = await post('/chat/completions', chat('garbage'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(await res.text(), 'this is not json{{{');
    res = await post('/chat/completions', chat('garbage', { stream: true }));
    assert.match(res.headers.get('content-type'), /event-stream/);
    assert.equal(await res.text(), 'data: not-json\n\n');
  });

  test('close-before-first: stream gets headers then a dead socket; non-stream a dead socket', async () => {
    const res = await post('/chat/completions', chat('close-before-first', { stream: true }));
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    await assert.rejects(post('/chat/completions', chat('close-before-first')));
  });

  test('close-mid-stream: two content chunks, then a dead socket without [DONE]', async () => {
    const res = await post('/chat/completions', chat('close-mid-stream', { stream: true }));
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    await assert.rejects(async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
      }
    });
    const events = sseData(text);
    assert.ok(!events.includes('[DONE]'));
    const content = events.map((e) => JSON.parse(e).choices[0].delta.content ?? '').join('');
    assert.equal(content, MID_STREAM_CHUNKS.join(''));
    await assert.rejects(post('/chat/completions', chat('close-mid-stream')).then((r) => r.text()));
  });

  test('hang: no answer; a client that gives up counts as cancelled', async () => {
    const before = fake.stats.cancelled;
    const sock = net.connect(fake.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    const body = JSON.stringify(chat('hang-raw'));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    assert.ok(await waitFor(() => fake.hits('hang-raw') === 1, 1000));
    sock.destroy();
    assert.ok(await waitFor(() => fake.stats.cancelled === before + 1, 1000), 'cancel counted');
  });

  test('stall: a stream that sends the role chunk and then nothing', async () => {
    const ac = new AbortController();
    const res = await fetch(`${fake.url}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('stall', { stream: true })), signal: ac.signal,
    });
    const reader = res.body.getReader();
    const first = await reader.read();
    const events = sseData(new TextDecoder().decode(first.value));
    assert.equal(JSON.parse(events[0]).choices[0].delta.role, 'assistant');
    const next = await Promise.race([reader.read().then(() => 'data'), new Promise((r) => setTimeout(() => r('silence'), 200))]);
    assert.equal(next, 'silence');
    ac.abort();
  });

  test('slow-stream: aborting mid-stream counts as cancelled within a moment', async () => {
    const before = fake.stats.cancelled;
    const s = await client.chat.completions.create(chat('slow-stream', { stream: true }));
    let n = 0;
    for await (const c of s) {
      if (c.choices[0]?.delta?.content) n++;
      if (n === 3) break; // breaking aborts the request in the SDK
    }
    assert.ok(await waitFor(() => fake.stats.cancelled === before + 1, 1000), 'cancel counted');
  });

  test('an api key, when required, is checked', async () => {
    const strict = await startFakeOpenAI({ apiKey: 'sk-right' });
    try {
      let res = await fetch(`${strict.url}/models`, { headers: { authorization: 'Bearer sk-wrong' } });
      assert.equal(res.status, 401);
      res = await fetch(`${strict.url}/models`, { headers: { authorization: 'Bearer sk-right' } });
      assert.equal(res.status, 200);
    } finally {
      await strict.close();
    }
  });

  test('unknown path: 404 in the OpenAI error shape', async () => {
    const res = await fetch(`${fake.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(typeof (await res.json()).error.message, 'string');
  });
});
