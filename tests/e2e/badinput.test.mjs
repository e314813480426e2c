// Bad input at keel's front door, with raw fetch and with the official SDK: every case gets the
// right status in the OpenAI error shape, never reaches an upstream, and leaves keel healthy.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import {
  startKeel, makeClient, fakeProvider, postJSON, getText, errorOf, sqliteJson, sqlLiteral,
  CLIENT_KEY, UPSTREAM_KEY,
} from './harness.mjs';

const MAX_BODY = 65536;
let fake;
let keel;
let client;
const okMessages = [{ role: 'user', content: 'hi' }];

before(async () => {
  fake = await startFakeOpenAI();
  const model = (name, target) => ({
    name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 2000, targets: [{ provider: 'up-a', model: target }],
  });
  keel = await startKeel({
    providers: [fakeProvider('up-a', fake, UPSTREAM_KEY)],
    models: [model('chat', 'echo-bi'), model('embed', 'text-embedding-bi')],
    extra: { api_keys: [CLIENT_KEY], server: { max_body_bytes: MAX_BODY, shutdown_grace_ms: 2000 } },
  });
  client = makeClient(keel);
});

after(async () => {
  if (keel) await keel.stop();
  await fake?.close();
  keel?.cleanup();
});

// Sends `body` and checks status, error shape, and that nothing reached the upstream.
async function expectRejected(path, body, status, opts = {}) {
  const before = fake.requests.length;
  const res = await postJSON(keel, path, body, opts);
  assert.equal(res.status, status, `${path} ${String(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 80)} -> ${res.status} ${res.text.slice(0, 200)}`);
  const err = errorOf(res.json);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(fake.requests.length, before, 'a rejected request never reaches the upstream');
  return err;
}

const CHAT_400 = [
  ['malformed JSON', '{"model": "chat", "messages": ['],
  ['trailing garbage after the JSON', '{"model":"chat","messages":[{"role":"user","content":"hi"}]} xyz'],
  ['empty body', ''],
  ['a JSON array', '[]'],
  ['JSON null', 'null'],
  ['a JSON string', '"hello"'],
  ['a JSON number', '42'],
  ['model missing', { messages: okMessages }],
  ['model not a string', { model: 123, messages: okMessages }],
  ['model null', { model: null, messages: okMessages }],
  ['messages missing', { model: 'chat' }],
  ['messages empty', { model: 'chat', messages: [] }],
  ['messages not an array', { model: 'chat', messages: 'hi' }],
  ['a message that is not an object', { model: 'chat', messages: ['hi'] }],
  ['a message without a role', { model: 'chat', messages: [{ content: 'hi' }] }],
  ['an unknown role', { model: 'chat', messages: [{ role: 'wizard', content: 'hi' }] }],
  ['content of the wrong type', { model: 'chat', messages: [{ role: 'user', content: 123 }] }],
  ['stream not a boolean', { model: 'chat', messages: okMessages, stream: 'yes' }],
  ['temperature not a number', { model: 'chat', messages: okMessages, temperature: 'hot' }],
  ['max_tokens not a number', { model: 'chat', messages: okMessages, max_tokens: 'ten' }],
  ['tools not an array', { model: 'chat', messages: okMessages, tools: 'get_weather' }],
  ['a raw control character inside a string', '{"model":"chat","messages":[{"role":"user","content":"a\u0001b"}]}'],
];

const EMBED_400 = [
  ['malformed JSON', '{"model": "embed", "input": '],
  ['input missing', { model: 'embed' }],
  ['input of the wrong type', { model: 'embed', input: { text: 'x' } }],
  ['model missing', { input: 'x' }],
];

describe('400: bad input (raw fetch)', () => {
  for (const [name, body] of CHAT_400) {
    test(`chat: ${name}`, async () => {
      await expectRejected('/v1/chat/completions', body, 400);
    });
  }
  for (const [name, body] of EMBED_400) {
    test(`embeddings: ${name}`, async () => {
      await expectRejected('/v1/embeddings', body, 400);
    });
  }

  test('chat: invalid UTF-8 bytes', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"model":"chat","messages":[{"role":"user","content":"bad '),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}]}'),
    ]);
    await expectRejected('/v1/chat/completions', new Uint8Array(bytes), 400);
  });

  test('chat: 30,000 levels of nesting are refused without harm', async () => {
    const depth = 30000;
    const body = `{"model":"chat","messages":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    assert.ok(body.length < MAX_BODY);
    await expectRejected('/v1/chat/completions', body, 400);
  });
});

describe('404: unknown model and unknown path', () => {
  test('chat with an unknown model: 404 model_not_found', async () => {
    const err = await expectRejected('/v1/chat/completions', { model: 'no-such-model', messages: okMessages }, 404);
    assert.equal(err.code, 'model_not_found');
  });

  test('streamed chat with an unknown model: 404 before any stream', async () => {
    const err = await expectRejected('/v1/chat/completions', { model: 'no-such-model', messages: okMessages, stream: true }, 404);
    assert.equal(err.code, 'model_not_found');
  });

  test('embeddings with an unknown model: 404 model_not_found', async () => {
    const err = await expectRejected('/v1/embeddings', { model: 'no-such-model', input: 'x' }, 404);
    assert.equal(err.code, 'model_not_found');
  });

  test('an upstream model name is not a public name', async () => {
    await expectRejected('/v1/chat/completions', { model: 'echo-bi', messages: okMessages }, 404);
  });

  test('unknown path: 404 in the OpenAI error shape', async () => {
    await expectRejected('/v1/no-such-endpoint', { model: 'chat', messages: okMessages }, 404);
  });
});

describe('413: body too large', () => {
  const bigBody = () => JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY + 1000) }] });

  test('a Content-Length over server.max_body_bytes: 413', async () => {
    await expectRejected('/v1/chat/completions', bigBody(), 413);
  });

  test('a chunked body that grows over server.max_body_bytes: 413', async () => {
    const before = fake.requests.length;
    const body = bigBody();
    const { status, text } = await new Promise((resolve, reject) => {
      const req = http.request(`${keel.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, 'transfer-encoding': 'chunked' },
      }, (res) => {
        let data = '';
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve({ status: res.statusCode, text: data }));
        res.on('error', reject);
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 8192) req.write(body.slice(i, i + 8192));
      req.end();
    });
    assert.equal(status, 413, text);
    errorOf(JSON.parse(text));
    assert.equal(fake.requests.length, before);
  });

  test('a body just under the limit is accepted', async () => {
    const content = 'y'.repeat(MAX_BODY - 200);
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content }] });
    assert.ok(res.text.length > 0);
    assert.equal(res.status, 200, res.text.slice(0, 200));
    assert.equal(res.json.choices[0].message.content, `echo: ${content}`);
  });
});

describe('415: content type', () => {
  const body = { model: 'chat', messages: okMessages };
  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    test(`${contentType}: 415`, async () => {
      await expectRejected('/v1/chat/completions', body, 415, { contentType });
    });
  }

  test('application/json with a charset parameter is fine', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', body, { contentType: 'application/json; charset=utf-8' });
    assert.equal(res.status, 200, res.text);
  });
});

describe('401: client authentication (api_keys set)', () => {
  const body = { model: 'chat', messages: okMessages };
  test('no Authorization header', async () => {
    await expectRejected('/v1/chat/completions', body, 401, { key: null });
  });
  test('a wrong key', async () => {
    await expectRejected('/v1/chat/completions', body, 401, { key: 'sk-wrong' });
  });
  test('an empty bearer', async () => {
    await expectRejected('/v1/chat/completions', body, 401, { key: null, headers: { authorization: 'Bearer ' } });
  });
  test('another scheme', async () => {
    await expectRejected('/v1/chat/completions', body, 401, { key: null, headers: { authorization: `Basic ${Buffer.from(`u:${CLIENT_KEY}`).toString('base64')}` } });
  });
  test('a key that only starts like the real one', async () => {
    await expectRejected('/v1/chat/completions', body, 401, { key: `${CLIENT_KEY}x` });
  });
  test('embeddings without a key', async () => {
    await expectRejected('/v1/embeddings', { model: 'embed', input: 'x' }, 401, { key: null });
  });
  test('models without a key', async () => {
    const res = await getText(keel, '/v1/models', { key: null });
    assert.equal(res.status, 401);
    errorOf(JSON.parse(res.text));
  });
  test('the SDK with a wrong key gets an AuthenticationError', async () => {
    const wrong = makeClient(keel, { apiKey: 'sk-wrong' });
    await assert.rejects(wrong.chat.completions.create(body), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  });
  test('healthz needs no key', async () => {
    const res = await getText(keel, '/healthz', { key: null });
    assert.equal(res.status, 200);
  });
});

describe('the SDK sees the same errors', () => {
  test('empty messages: BadRequestError 400', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'chat', messages: [] }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && typeof e.error?.message === 'string');
  });

  test('unknown model: NotFoundError 404 with code model_not_found', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: okMessages }),
      (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: okMessages, stream: true }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    await assert.rejects(client.embeddings.create({ model: 'no-such-model', input: 'x' }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  });

  test('a wrongly typed field: BadRequestError 400', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'chat', messages: okMessages, temperature: 'hot' }),
      (e) => e instanceof OpenAI.BadRequestError);
  });
});

// A 400's row in the request log names the model the body asked for, when it named one, so an
// operator can tell which model's clients send bad requests. Checked once keel has stopped.
const LOGGED_400 = [
  ['/v1/chat/completions', { model: 'log400-chat', messages: [] }, 'log400-chat'],
  ['/v1/embeddings', { model: 'log400-embed' }, 'log400-embed'],
  ['/v1/messages', { model: 'log400-messages', max_tokens: 8, messages: 'hi' }, 'log400-messages'],
  ['/v1/messages/count_tokens', { model: 'log400-count', messages: 'hi' }, 'log400-count'],
  ['/v1/chat/completions', { model: 'log400-stream', messages: okMessages, stream: 'yes' }, 'log400-stream'],
  // No model to name: a body that is not JSON, and one whose model is not a string.
  ['/v1/chat/completions', '{"model": "log400-broken", "messages": [', ''],
  ['/v1/chat/completions', { model: 123, messages: okMessages }, ''],
];
const logged400 = [];   // [request id, endpoint, model expected]

describe('400s in the request log', () => {
  test('each 400 answers with its request id', async () => {
    for (const [endpoint, body, model] of LOGGED_400) {
      const res = await postJSON(keel, endpoint, body);
      assert.equal(res.status, 400, `${endpoint} ${res.text}`);
      const id = res.headers.get('x-request-id');
      assert.match(id ?? '', /^req_/);
      logged400.push([id, endpoint, model]);
    }
  });
});

describe('keel after all that', () => {
  test('valid input that looks odd is accepted: escaped NUL, empty content', async () => {
    const r = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'a\u0000b' }] });
    assert.equal(r.choices[0].message.content, 'echo: a\u0000b');
    const r2 = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: '' }] });
    assert.equal(r2.choices[0].message.content, 'echo: ');
  });

  test('still healthy and serving', async () => {
    assert.ok(keel.alive(), `keel died; stderr:\n${keel.stderr}`);
    const health = await getText(keel, '/healthz');
    assert.equal(health.status, 200);
    const r = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'still here?' }] });
    assert.equal(r.choices[0].message.content, 'echo: still here?');
    const e = await client.embeddings.create({ model: 'embed', input: 'still here?', encoding_format: 'float' });
    assert.equal(e.data[0].embedding.length, 8);
  });

  test('SIGTERM: exits 0', async () => {
    const { code, signal } = await keel.stop();
    assert.equal(signal, null, keel.stderr);
    assert.equal(code, 0, keel.stderr);
  });
});

describe('the request log after shutdown', () => {
  test('a 400 from the parser names the model when the body named one', () => {
    assert.equal(logged400.length, LOGGED_400.length);
    for (const [id, endpoint, model] of logged400) {
      const rows = sqliteJson(keel.dbPath, `select * from requests where id = ${sqlLiteral(id)}`);
      assert.equal(rows.length, 1, `no row for ${id}`);
      assert.equal(rows[0].status, 400);
      assert.equal(rows[0].error_class, 'invalid_argument');
      assert.equal(rows[0].endpoint, endpoint);
      assert.equal(rows[0].model, model, `${endpoint} ${id}`);
    }
  });
});
