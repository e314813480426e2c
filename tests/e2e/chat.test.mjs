// keel's OpenAI front door on the happy path, driven by the official openai SDK: chat (plain,
// streamed, tools, response_format, pass-through of fields keel does not model), embeddings,
// models, healthz, metrics, and the rows it logs (with log_content: true).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  startFakeOpenAI, fakeEmbedding, FAKE_TEXT, FAKE_USAGE, TOOL_CALLS,
} from '../fakes/fake_openai.mjs';
import {
  startKeel, makeClient, fakeProvider, postJSON, getText, sseData, scrapeMetrics, metricSum,
  sqliteJson, sqliteDump, attemptsOf, UPSTREAM_KEY, UPSTREAM_KEY_2, CLIENT_KEY,
} from './harness.mjs';

let fakeA; // provider "up-a", requires sk-upstream
let fakeB; // provider "up-b", requires sk-upstream-two
let keel;
let client;

const MODELS = ['chat', 'chat-b', 'echo', 'tools', 'json', 'embed'];
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
    strict: true,
  },
};
const user = (content) => [{ role: 'user', content }];

before(async () => {
  fakeA = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
  fakeB = await startFakeOpenAI({ apiKey: UPSTREAM_KEY_2 });
  const target = (provider, model) => ({ provider, model });
  const model = (name, ...targets) => ({ name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 2000, targets });
  keel = await startKeel({
    providers: [fakeProvider('up-a', fakeA, UPSTREAM_KEY), fakeProvider('up-b', fakeB, UPSTREAM_KEY_2)],
    models: [
      model('chat', target('up-a', 'ok')),
      model('chat-b', target('up-b', 'ok')),
      model('echo', target('up-a', 'echo')),
      model('tools', target('up-a', 'tools')),
      model('json', target('up-a', 'json')),
      model('embed', target('up-a', 'text-embedding-fake')),
    ],
    extra: { api_keys: [CLIENT_KEY], log_content: true },
  });
  client = makeClient(keel);
});

after(async () => {
  if (keel) await keel.stop();
  await fakeA?.close();
  await fakeB?.close();
  keel?.cleanup();
});

describe('service endpoints', () => {
  test('GET /healthz answers 200 {"status":"ok"}', async () => {
    const res = await getText(keel, '/healthz');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.text).status, 'ok');
  });

  test('GET /v1/models lists exactly the public model names', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id).sort();
    assert.deepEqual(ids, [...MODELS].sort());
    for (const m of page.data) assert.equal(m.object, 'model');
  });

  test('GET /v1/models/{model}: one model, or 404 in OpenAI\'s shape', async () => {
    const model = await client.models.retrieve(MODELS[0]);
    assert.equal(model.id, MODELS[0]);
    assert.equal(model.object, 'model');
    await assert.rejects(client.models.retrieve('no-such-model'), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.error.type, 'invalid_request_error');
      assert.match(e.error.message, /no-such-model/);
      return true;
    });
  });
});

describe('chat completions', () => {
  test('plain: chat.completion with text, finish_reason and usage', async () => {
    const r = await client.chat.completions.create({ model: 'chat', messages: user('Say hello') });
    assert.equal(r.object, 'chat.completion');
    assert.equal(typeof r.id, 'string');
    assert.equal(typeof r.created, 'number');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.prompt_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(r.usage.completion_tokens, FAKE_USAGE.completion_tokens);
    assert.equal(r.usage.total_tokens, FAKE_USAGE.total_tokens);
  });

  test('upstream gets the target model name and the provider key, never the client key', async () => {
    const before = fakeA.requests.length;
    await client.chat.completions.create({ model: 'chat', messages: user('key check') });
    const got = fakeA.requests.slice(before);
    assert.equal(got.length, 1);
    const req = got[0];
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/v1/chat/completions');
    assert.equal(req.body.model, 'ok');
    assert.equal(req.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    for (const [name, value] of Object.entries(req.headers)) {
      assert.ok(!String(value).includes(CLIENT_KEY), `client key leaked upstream in header ${name}`);
    }
    assert.ok(!req.raw.includes(CLIENT_KEY), 'client key leaked upstream in the body');
  });

  test('each provider uses its own api key', async () => {
    const r = await client.chat.completions.create({ model: 'chat-b', messages: user('hi b') });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    const req = fakeB.lastRequest();
    assert.equal(req.headers.authorization, `Bearer ${UPSTREAM_KEY_2}`);
    assert.equal(req.body.model, 'ok');
  });

  test('messages reach the upstream intact (system, multi-turn, unicode, escapes)', async () => {
    const tricky = 'héllo 世界 🚀 "quotes" \\ backslash\nnew line\ttab </script> \u2028';
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: tricky },
    ];
    const r = await client.chat.completions.create({ model: 'echo', messages });
    assert.equal(r.choices[0].message.content, `echo: ${tricky}`);
    const up = fakeA.lastRequest().body;
    assert.equal(up.model, 'echo');
    assert.deepEqual(up.messages.map((m) => [m.role, m.content]), messages.map((m) => [m.role, m.content]));
  });

  test('content given as an array of text parts reaches the upstream', async () => {
    const r = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'part one, ' }, { type: 'text', text: 'part two' }] }],
    });
    assert.equal(r.choices[0].message.content, 'echo: part one, part two');
  });
});

describe('streaming', () => {
  test('stream: chat.completion.chunk objects that add up to the text, finish stop, no usage', async () => {
    const stream = await client.chat.completions.create({ model: 'chat', messages: user('stream please'), stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 2, `only ${chunks.length} chunks`);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1, 'every chunk has the same id');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.ok(!c.usage, 'usage only when stream_options.include_usage');
    }
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, FAKE_TEXT);
    const finishes = chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean);
    assert.deepEqual(finishes, ['stop']);
    assert.equal(fakeA.lastRequest().body.stream, true);
  });

  test('stream_options.include_usage: a final chunk with empty choices carries usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'chat', messages: user('usage please'), stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.prompt_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(last.usage.completion_tokens, FAKE_USAGE.completion_tokens);
    assert.equal(last.usage.total_tokens, FAKE_USAGE.total_tokens);
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1, 'usage appears once');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), FAKE_TEXT);
  });

  test('raw SSE: text/event-stream, every event JSON, ends with data: [DONE]', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'chat', messages: user('raw'), stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    assert.ok(res.text.endsWith('data: [DONE]\n\n'), `stream ends with: ${JSON.stringify(res.text.slice(-40))}`);
    const events = sseData(res.text);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(events.filter((e) => e === '[DONE]').length, 1);
    for (const e of events.slice(0, -1)) {
      const chunk = JSON.parse(e);
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.ok(Array.isArray(chunk.choices));
    }
  });

  test('streamed echo keeps multi-byte characters whole', async () => {
    const text = '日本語のテキスト 🚀🚀🚀 ünïcödé';
    const stream = await client.chat.completions.create({ model: 'echo', messages: user(text), stream: true });
    let got = '';
    for await (const c of stream) got += c.choices[0]?.delta?.content ?? '';
    assert.equal(got, `echo: ${text}`);
  });
});

describe('tools', () => {
  const expected = TOOL_CALLS.map((c) => ({ id: c.id, name: c.name, args: JSON.parse(c.arguments) }));

  test('plain: two parallel tool calls, finish_reason tool_calls; tools reach upstream', async () => {
    const r = await client.chat.completions.create({
      model: 'tools', messages: user('Weather in Paris and Tokyo?'), tools: [WEATHER_TOOL], tool_choice: 'auto',
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.ok(choice.message.content === null || choice.message.content === undefined || choice.message.content === '');
    assert.deepEqual(
      choice.message.tool_calls.map((c) => ({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments) })),
      expected,
    );
    for (const c of choice.message.tool_calls) assert.equal(c.type, 'function');
    const up = fakeA.lastRequest().body;
    assert.equal(up.model, 'tools');
    assert.deepEqual(up.tools, [WEATHER_TOOL]);
    assert.equal(up.tool_choice, 'auto');
  });

  test('streamed: the first delta of each call has id, type and name; arguments arrive in pieces', async () => {
    const stream = await client.chat.completions.create({
      model: 'tools', messages: user('Weather?'), tools: [WEATHER_TOOL], stream: true,
    });
    const calls = new Map();
    let finish = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      for (const tc of choice.delta?.tool_calls ?? []) {
        assert.equal(typeof tc.index, 'number');
        if (!calls.has(tc.index)) {
          assert.equal(typeof tc.id, 'string', 'the first delta of a call carries its id');
          assert.equal(tc.type, 'function');
          assert.equal(typeof tc.function?.name, 'string');
          calls.set(tc.index, { id: tc.id, name: tc.function.name, args: tc.function.arguments ?? '' });
        } else {
          calls.get(tc.index).args += tc.function?.arguments ?? '';
        }
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(
      [...calls.keys()].sort().map((i) => ({ id: calls.get(i).id, name: calls.get(i).name, args: JSON.parse(calls.get(i).args) })),
      expected,
    );
  });

  test('streamed: the SDK stream helper accumulates the same final completion', async () => {
    const runner = client.chat.completions.stream({ model: 'tools', messages: user('Weather?'), tools: [WEATHER_TOOL] });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(
      final.choices[0].message.tool_calls.map((c) => ({ id: c.id, name: c.function.name, args: JSON.parse(c.function.arguments) })),
      expected,
    );
  });

  test('named tool_choice and parallel_tool_calls pass through', async () => {
    const toolChoice = { type: 'function', function: { name: 'get_weather' } };
    await client.chat.completions.create({
      model: 'tools', messages: user('Weather?'), tools: [WEATHER_TOOL], tool_choice: toolChoice, parallel_tool_calls: false,
    });
    const up = fakeA.lastRequest().body;
    assert.deepEqual(up.tool_choice, toolChoice);
    assert.equal(up.parallel_tool_calls, false);
    for (const choice of ['none', 'required']) {
      await client.chat.completions.create({ model: 'tools', messages: user('Weather?'), tools: [WEATHER_TOOL], tool_choice: choice });
      assert.equal(fakeA.lastRequest().body.tool_choice, choice);
    }
  });

  test('tool results: assistant tool_calls and tool messages reach upstream intact', async () => {
    const messages = [
      { role: 'user', content: 'Weather in Paris and Tokyo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: TOOL_CALLS.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":21}' },
      { role: 'tool', tool_call_id: 'call_2', content: '{"temp_c":17}' },
    ];
    const r = await client.chat.completions.create({ model: 'echo', messages, tools: [WEATHER_TOOL] });
    assert.equal(r.choices[0].message.content, 'echo: Weather in Paris and Tokyo?');
    const up = fakeA.lastRequest().body.messages;
    assert.equal(up.length, 4);
    assert.deepEqual(
      up[1].tool_calls.map((c) => [c.id, c.type, c.function.name, JSON.parse(c.function.arguments)]),
      TOOL_CALLS.map((c) => [c.id, 'function', c.name, JSON.parse(c.arguments)]),
    );
    assert.deepEqual(up.slice(2).map((m) => [m.role, m.tool_call_id, m.content]),
      [['tool', 'call_1', '{"temp_c":21}'], ['tool', 'call_2', '{"temp_c":17}']]);
  });
});

describe('request fields', () => {
  test('response_format json_schema passes through', async () => {
    const responseFormat = {
      type: 'json_schema',
      json_schema: {
        name: 'weather',
        strict: true,
        schema: {
          type: 'object',
          properties: { city: { type: 'string' }, temperature_c: { type: 'number' }, response_format: { type: ['string', 'null'] } },
          required: ['city', 'temperature_c', 'response_format'],
          additionalProperties: false,
        },
      },
    };
    const r = await client.chat.completions.create({ model: 'json', messages: user('JSON please'), response_format: responseFormat });
    const parsed = JSON.parse(r.choices[0].message.content);
    assert.equal(parsed.response_format, 'json_schema');
    assert.equal(parsed.city, 'Paris');
    assert.deepEqual(fakeA.lastRequest().body.response_format, responseFormat);
  });

  test('response_format json_object passes through', async () => {
    await client.chat.completions.create({ model: 'json', messages: user('JSON please'), response_format: { type: 'json_object' } });
    assert.deepEqual(fakeA.lastRequest().body.response_format, { type: 'json_object' });
  });

  test('sampling and unknown fields reach the upstream unchanged', async () => {
    const fields = {
      temperature: 0.3,
      top_p: 0.9,
      max_completion_tokens: 64,
      stop: ['\n\n', 'END'],
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.25,
      logit_bias: { 50256: -100, 15339: 5 },
      metadata: { team: 'e2e', ticket: 'KEEL-1' },
      user: 'user-1234',
      logprobs: true,
      top_logprobs: 2,
      x_keel_unknown_field: { nested: [1, 'two', { three: null }], flag: true },
    };
    const r = await client.chat.completions.create({ model: 'chat', messages: user('fields'), ...fields });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    const up = fakeA.lastRequest().body;
    const expectedLogitBias = { 50256: -100, 15339: 5 };
    for (const [k, v] of Object.entries(fields)) {
      if (k === 'logit_bias') assert.deepEqual(up.logit_bias, JSON.parse(JSON.stringify(expectedLogitBias)));
      else assert.deepEqual(up[k], v, `field ${k}`);
    }
  });
});

describe('embeddings', () => {
  test('the SDK default (base64) decodes to the upstream vectors; keel asks upstream for floats', async () => {
    const r = await client.embeddings.create({ model: 'embed', input: 'The quick brown fox' });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 1);
    assert.equal(r.data[0].object, 'embedding');
    assert.equal(r.data[0].index, 0);
    assert.deepEqual(Array.from(r.data[0].embedding), fakeEmbedding('The quick brown fox'));
    const up = fakeA.lastRequest();
    assert.equal(up.path, '/v1/embeddings');
    assert.equal(up.body.model, 'text-embedding-fake');
    assert.equal(up.body.encoding_format, 'float');
    assert.equal(up.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  });

  test('encoding_format float; several inputs keep their order and index', async () => {
    const inputs = ['alpha', 'beta', 'gamma 🚀'];
    const r = await client.embeddings.create({ model: 'embed', input: inputs, encoding_format: 'float' });
    assert.equal(r.data.length, 3);
    r.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.deepEqual(d.embedding, fakeEmbedding(inputs[i]));
    });
    assert.ok(r.usage === undefined || typeof r.usage.prompt_tokens === 'number');
    assert.deepEqual(fakeA.lastRequest().body.input, inputs);
  });
});

describe('under load', () => {
  test('24 concurrent requests, half streamed, all succeed', async () => {
    const jobs = Array.from({ length: 24 }, async (_, i) => {
      if (i % 2 === 0) {
        const r = await client.chat.completions.create({ model: 'echo', messages: user(`n${i}`) });
        return r.choices[0].message.content;
      }
      const s = await client.chat.completions.create({ model: 'echo', messages: user(`n${i}`), stream: true });
      let text = '';
      for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
      return text;
    });
    const got = await Promise.all(jobs);
    got.forEach((text, i) => assert.equal(text, `echo: n${i}`));
  });
});

describe('metrics', () => {
  test('GET /metrics: Prometheus text with the contract series', async () => {
    // One error, so that error series exist.
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: user('x') }),
      (e) => e instanceof OpenAI.APIError && e.status === 404);
    const { text, samples, contentType } = await scrapeMetrics(keel);
    assert.match(contentType ?? '', /^text\/plain/);
    for (const name of ['keel_requests_total', 'keel_upstream_attempts_total', 'keel_request_duration_seconds_bucket',
      'keel_time_to_first_token_seconds_bucket', 'keel_tokens_total', 'keel_breaker_state', 'keel_errors_total']) {
      assert.ok(text.includes(name), `metrics lack ${name}`);
    }
    assert.ok(metricSum(samples, 'keel_requests_total') >= 20, 'requests counted');
    assert.equal(
      metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-a', model: 'ok', outcome: 'ok' }),
      fakeA.hits('ok'),
      'one ok attempt per upstream request to up-a/ok',
    );
    assert.equal(
      metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-b', model: 'ok', outcome: 'ok' }),
      fakeB.hits('ok'),
    );
    assert.equal(metricSum(samples, 'keel_upstream_attempts_total', { outcome: 'error' }), 0);
    const inf = samples.filter((s) => s.name === 'keel_request_duration_seconds_bucket' && s.labels.le === '+Inf');
    assert.ok(inf.length > 0 && inf.reduce((a, s) => a + s.value, 0) >= 20, 'request durations observed');
    const ttft = samples.filter((s) => s.name === 'keel_time_to_first_token_seconds_bucket' && s.labels.le === '+Inf');
    assert.ok(ttft.reduce((a, s) => a + s.value, 0) >= 1, 'time to first token observed');
    assert.ok(metricSum(samples, 'keel_tokens_total') > 0, 'tokens counted');
    assert.ok(!text.includes(UPSTREAM_KEY) && !text.includes(CLIENT_KEY), 'no keys in metrics');
  });

  test('model names a client makes up are not labels: they share model=""', async () => {
    const before = (await scrapeMetrics(keel)).samples.filter((s) => s.name === 'keel_requests_total').length;
    await Promise.all(Array.from({ length: 50 }, (_, i) => assert.rejects(
      client.chat.completions.create({ model: `made-up-${i}`, messages: user('x') }), (e) => e.status === 404)));
    const { text, samples } = await scrapeMetrics(keel);
    assert.ok(!text.includes('made-up-'), 'a made-up model name became a label');
    assert.ok(samples.filter((s) => s.name === 'keel_requests_total').length <= before + 1);
    assert.ok(metricSum(samples, 'keel_requests_total', { model: '', status: '404' }) >= 51);
  });
});

describe('shutdown and logged rows', () => {
  test('SIGTERM: keel exits 0', async () => {
    const { code, signal } = await keel.stop();
    assert.equal(signal, null, `killed by ${signal}; stderr:\n${keel.stderr}`);
    assert.equal(code, 0, `stderr:\n${keel.stderr}`);
  });

  test('requests and attempts rows, with content (log_content: true)', () => {
    const reqs = sqliteJson(keel.dbPath, "select * from requests where model = 'chat' order by started_ms");
    assert.ok(reqs.length >= 5, `${reqs.length} chat rows`);
    for (const r of reqs) {
      assert.equal(r.status, 200);
      assert.match(String(r.endpoint), /chat/);
      assert.ok(r.latency_ms >= 0);
      assert.ok(r.content !== null && r.content !== '', 'content logged when log_content is true');
    }
    const first = reqs[0];
    assert.equal(first.stream, 0);
    assert.equal(first.prompt_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(first.completion_tokens, FAKE_USAGE.completion_tokens);
    assert.ok(String(first.content).includes('Say hello') || String(first.content).includes(FAKE_TEXT));

    const attempts = attemptsOf(keel.dbPath, first.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0].provider, 'up-a');
    assert.equal(attempts[0].target_model, 'ok');
    assert.equal(attempts[0].status, 200);
    assert.ok(!attempts[0].error_class, 'no error class on success');
    assert.equal(attempts[0].prompt_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(attempts[0].completion_tokens, FAKE_USAGE.completion_tokens);

    const streamed = sqliteJson(keel.dbPath, "select * from requests where model = 'chat' and stream = 1");
    assert.ok(streamed.length >= 3, 'streamed requests logged with stream = 1');
    for (const r of streamed) assert.ok(r.ttft_ms !== null && r.ttft_ms >= 0, 'ttft_ms logged for streams');

    const embeds = sqliteJson(keel.dbPath, "select * from requests where model = 'embed'");
    assert.equal(embeds.length, 2);
    for (const r of embeds) assert.match(String(r.endpoint), /embed/);

    const missing = sqliteJson(keel.dbPath, "select * from requests where model = 'no-such-model'");
    for (const r of missing) assert.equal(r.status, 404);
  });

  test('no row holds an api key', () => {
    const dump = sqliteDump(keel.dbPath);
    assert.ok(dump.includes('CREATE TABLE'), 'the dump has the schema');
    for (const key of [UPSTREAM_KEY, UPSTREAM_KEY_2, CLIENT_KEY]) assert.ok(!dump.includes(key), `${key} stored in the database`);
  });
});
