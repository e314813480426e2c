// /admin/... (src/server/admin.h): the console's JSON reads of the request log and the models,
// who may read them (admin_keys; open only on a keyless loopback keel), their errors in OpenAI's
// shape, and that no key ever appears in them. Also "/" and /console/* (the console's files).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, fakeProvider, UPSTREAM_KEY, UPSTREAM_KEY_2, waitFor } from './harness.mjs';

const ADMIN_KEY = 'sk-admin-e2e';
const CLIENT = 'sk-client-e2e';

async function admin(keel, pathname, key) {
  const response = await fetch(`${keel.base}${pathname}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : null };
}

let fake;
before(async () => {
  fake = await startFakeOpenAI();
});
after(async () => fake?.close());

describe('an open keel', () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [fakeProvider('primary', fake), fakeProvider('secondary', fake, UPSTREAM_KEY_2)],
      models: [
        {
          name: 'smart',
          retries: 0,
          targets: [
            { provider: 'primary', model: 'fail-500-admin' },
            { provider: 'secondary', model: 'ok-admin' },
          ],
        },
        { name: 'echo', targets: [{ provider: 'primary', model: 'echo-admin' }] },
      ],
      extra: { log_content: true },
    });
    const client = makeClient(keel, { apiKey: 'unused' });
    await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'one' }] });
    const stream = await client.chat.completions.create({
      model: 'echo', messages: [{ role: 'user', content: 'two' }], stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) void chunk;
    await client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch(() => {});
  });
  after(async () => keel?.stop());

  test('GET /admin/requests lists the log newest first, filtered and paged', async () => {
    let page;
    await waitFor(async () => {
      page = await admin(keel, '/admin/requests');
      return page.json.data.length === 3;
    }, 3000, 50);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.deepEqual(page.json.data.map((r) => [r.model, r.status]), [['nope', 404], ['echo', 200], ['smart', 200]]);
    assert.equal(page.json.has_more, false);
    const smart = page.json.data[2];
    assert.equal(smart.endpoint, '/v1/chat/completions');
    assert.equal(smart.prompt_tokens, 5);
    assert.equal(smart.completion_tokens, 3);
    assert.equal(smart.content, undefined, 'pages carry no bodies');

    const echo = await admin(keel, '/admin/requests?model=echo');
    assert.deepEqual(echo.json.data.map((r) => r.model), ['echo']);
    assert.equal(echo.json.data[0].stream, true);
    const errors = await admin(keel, '/admin/requests?status=error');
    assert.deepEqual(errors.json.data.map((r) => r.model), ['nope']);
    const first = await admin(keel, '/admin/requests?limit=1');
    assert.equal(first.json.data.length, 1);
    assert.equal(first.json.has_more, true);
    const future = await admin(keel, `/admin/requests?since=${Date.now() + 60000}`);
    assert.deepEqual(future.json.data, []);
  });

  test('GET /admin/requests/{id}: attempts, and bodies because log_content is on', async () => {
    const list = await admin(keel, '/admin/requests?model=smart');
    const detail = await admin(keel, `/admin/requests/${list.json.data[0].id}`);
    assert.equal(detail.status, 200);
    assert.deepEqual(detail.json.attempts.map((a) => [a.provider, a.target_model, a.status]),
      [['primary', 'fail-500-admin', 500], ['secondary', 'ok-admin', 200]]);
    assert.equal(detail.json.content.request.messages[0].content, 'one');
    assert.equal(detail.json.content.response.choices[0].message.content, 'Hello from fake');
    const missing = await admin(keel, '/admin/requests/req_nothing');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error.message, /no request 'req_nothing'/);
  });

  test('GET /admin/models: targets, breakers and the last hour, with no provider key', async () => {
    const report = await admin(keel, '/admin/models');
    assert.equal(report.status, 200);
    assert.equal(report.json.window_ms, 3600000);
    const smart = report.json.models.find((m) => m.name === 'smart');
    assert.equal(smart.strategy, 'failover');
    assert.deepEqual(smart.targets.map((t) => [t.provider, t.model, t.kind, t.attempts, t.errors]),
      [['primary', 'fail-500-admin', 'openai', 1, 1], ['secondary', 'ok-admin', 'openai', 1, 0]]);
    assert.equal(smart.targets[1].breaker, 'closed');
    assert.equal(smart.window.requests, 1);
    assert.equal(smart.window.errors, 0);
    assert.equal(smart.buckets.length, 60);
    assert.equal(smart.buckets.reduce((sum, b) => sum + b.requests, 0), 1);
    assert.ok(smart.window.latency_p50_ms >= 0);
    // A name clients asked for that keel does not serve shows as not configured.
    assert.equal(report.json.models.find((m) => m.name === 'nope').configured, false);
    for (const secret of [UPSTREAM_KEY, UPSTREAM_KEY_2, fake.url]) {
      assert.ok(!report.text.includes(secret), `/admin/models shows ${secret}`);
    }
  });

  test('bad queries and methods are errors in OpenAI\'s shape', async () => {
    const bad = await admin(keel, '/admin/requests?limit=9999');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.message, "'limit' must be a whole number from 1 to 500");
    const unknown = await admin(keel, '/admin/requests?key=sk-x');
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error.message, /unknown query parameter 'key'/);
    const route = await admin(keel, '/admin/nothing');
    assert.equal(route.status, 404);
    const post = await fetch(`${keel.base}/admin/requests`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  test('/ and /console/* serve the console with its security headers', async () => {
    const index = await fetch(`${keel.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-security-policy'), /^default-src 'none'; script-src 'self'/);
    assert.equal(index.headers.get('x-frame-options'), 'DENY');
    const script = await fetch(`${keel.base}/console/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type'), /^text\/javascript/);
    assert.ok((await script.text()).length > 1000);
    assert.equal((await fetch(`${keel.base}/console/nothing.js`)).status, 404);
    assert.equal((await fetch(`${keel.base}/`, { method: 'POST' })).status, 405);
  });
});

describe('who may read /admin', () => {
  test('admin_keys: only an admin key, never a client key; the log names client keys by id', async () => {
    const keel = await startKeel({
      providers: [fakeProvider('primary', fake)],
      models: [{ name: 'echo', targets: [{ provider: 'primary', model: 'echo-keys' }] }],
      extra: { api_keys: [CLIENT, 'sk-other-client'], admin_keys: [ADMIN_KEY] },
    });
    try {
      await makeClient(keel, { apiKey: CLIENT }).chat.completions.create({
        model: 'echo', messages: [{ role: 'user', content: 'whose?' }],
      });
      await makeClient(keel, { apiKey: 'sk-other-client' }).chat.completions.create({
        model: 'echo', messages: [{ role: 'user', content: 'other' }],
      });
      // The log's writer commits within a few ms of each request's end.
      await waitFor(async () => (await admin(keel, '/admin/requests', ADMIN_KEY)).json.data.length === 2, 3000, 20);
      // key_ + the first 8 hex digits of the key's SHA-256: the log never holds the key.
      const keyId = `key_${createHash('sha256').update(CLIENT).digest('hex').slice(0, 8)}`;
      const mine = await admin(keel, `/admin/requests?key_id=${keyId}`, ADMIN_KEY);
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.json.data.map((r) => r.key_id), [keyId]);
      // log_content is off here: the detail has the attempts but no bodies.
      const detail = await admin(keel, `/admin/requests/${mine.json.data[0].id}`, ADMIN_KEY);
      assert.equal(detail.json.content, null);
      assert.equal(detail.json.attempts.length, 1);
      const all = await admin(keel, '/admin/requests', ADMIN_KEY);
      assert.equal(all.json.data.length, 2);
      assert.ok(!all.text.includes(CLIENT) && !all.text.includes('sk-other-client'), 'a client key in /admin');
      const none = await admin(keel, '/admin/models');
      assert.equal(none.status, 401);
      assert.equal(none.json.error.code, 'invalid_api_key');
      assert.equal((await admin(keel, '/admin/models', CLIENT)).status, 401);
      assert.equal((await admin(keel, '/admin/models', ADMIN_KEY)).status, 200);
      // ... and an admin key is no client key.
      assert.equal((await admin(keel, '/v1/models', ADMIN_KEY)).status, 401);
      // The console's files need no key: the page asks for one.
      assert.equal((await fetch(`${keel.base}/`)).status, 200);
    } finally {
      await keel.stop();
    }
  });

  test('api_keys without admin_keys: /admin is off', async () => {
    const keel = await startKeel({ extra: { api_keys: [CLIENT] } });
    try {
      const off = await admin(keel, '/admin/requests', CLIENT);
      assert.equal(off.status, 403);
      assert.match(off.json.error.message, /set admin_keys/);
    } finally {
      await keel.stop();
    }
  });
});
