// keel's router against upstreams that fail on purpose: failover on every failure before the
// first token, retries with backoff, Retry-After, circuit breakers, timeouts, failures after
// content has reached the client, client cancellation, and the rows logged for all of it.
//
// Every test names its own upstream models (e.g. "fail-500-fo"), so that hit counters and the
// per-target breakers of one test never touch another's.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startFakeOpenAI, fakeEmbedding, FAKE_TEXT, MID_STREAM_CHUNKS } from '../fakes/fake_openai.mjs';
import {
  startKeel, makeClient, fakeProvider, postJSON, getText, sseData, scrapeMetrics, metricSum,
  sqliteJson, sqliteDump, attemptsOf, requestsOf, waitFor, sleep, UPSTREAM_KEY, UPSTREAM_KEY_2,
} from './harness.mjs';

let fakeA; // provider up-a
let fakeB; // provider up-b
let keel;
let client;

const BREAKER_COOLDOWN_MS = 1500;
const user = (content = 'hi') => [{ role: 'user', content }];
const isStatus = (status) => (e) => {
  assert.ok(e instanceof OpenAI.APIError, `expected an APIError, got ${e}`);
  assert.equal(e.status, status, `status ${e.status}: ${e.message}`);
  return true;
};

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function collect(stream) {
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  return text;
}

before(async () => {
  fakeA = await startFakeOpenAI();
  fakeB = await startFakeOpenAI();
  const deadPort = await freePort(); // nothing listens there: connect errors
  const a = (model) => ({ provider: 'up-a', model });
  const b = (model) => ({ provider: 'up-b', model });
  const model = (name, targets, opts = {}) => ({
    name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 2000, ...opts, targets,
  });
  const fast = { timeout_ms: 1000, first_token_timeout_ms: 300 };
  keel = await startKeel({
    providers: [
      fakeProvider('up-a', fakeA, UPSTREAM_KEY),
      fakeProvider('up-b', fakeB, UPSTREAM_KEY_2),
      { name: 'dead', kind: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: 'sk-dead' },
    ],
    models: [
      model('fo-500', [a('fail-500-fo'), b('ok-fo')], { retries: 1 }),
      model('fo-429', [a('rate-429-fo'), b('ok-429')], { retries: 1 }),
      model('fo-429-long', [a('rate-429-ra30-fo'), b('ok-429-long')], { retries: 1 }),
      model('fo-connect', [{ provider: 'dead', model: 'ok-dead' }, b('ok-connect')], { retries: 1 }),
      model('fo-close-first', [a('close-before-first-fo'), b('ok-close-first')]),
      model('fo-close-first-stream', [a('close-before-first-fos'), b('ok-close-first-stream')]),
      model('fo-garbage', [a('garbage-fo'), b('ok-garbage')]),
      model('fo-garbage-stream', [a('garbage-fos'), b('ok-garbage-stream')]),
      model('fo-hang', [a('hang-fo'), b('ok-hang')], fast),
      model('fo-midstream-plain', [a('close-mid-stream-plain'), b('ok-midstream-plain')]),
      model('only-garbage', [a('garbage-only')]),
      model('all-fail', [a('fail-500-allA'), b('fail-500-allB')]),
      model('retry-flaky', [a('flaky-2-retry')], { retries: 2 }),
      model('retry-exhaust', [a('fail-500-exhaust')], { retries: 1 }),
      model('only-hang', [a('hang-only')], fast),
      model('only-hang-stream', [a('hang-only-stream')], fast),
      model('only-stall', [a('stall-only')], fast),
      model('total-timeout', [a('slow-stream-total')], { timeout_ms: 800, first_token_timeout_ms: 300 }),
      model('midstream', [a('close-mid-stream-m'), b('ok-midstream')], { retries: 1 }),
      model('midstream-raw', [a('close-mid-stream-r'), b('ok-midstream-raw')], { retries: 1 }),
      model('cancel', [a('slow-stream-cancel')]),
      model('cancel-raw', [a('slow-stream-cancel-raw')]),
      model('breaker', [a('fail-500-brk'), b('ok-brk')]),
      model('breaker-all', [a('fail-500-brkall')]),
      model('embed-fo', [a('fail-500-emb'), b('text-embedding-fo')]),
    ],
    extra: {
      router: { backoff_base_ms: 10, backoff_max_ms: 50, retry_after_cap_ms: 2000, breaker_failures: 5, breaker_cooldown_ms: BREAKER_COOLDOWN_MS },
    },
  });
  client = makeClient(keel);
});

after(async () => {
  if (keel) await keel.stop();
  await fakeA?.close();
  await fakeB?.close();
  keel?.cleanup();
});

describe('failover before the first token', () => {
  test('500: retried once on the same target (retries: 1), then the next target answers', async () => {
    const r = await client.chat.completions.create({ model: 'fo-500', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('fail-500-fo'), 2);
    assert.equal(fakeB.hits('ok-fo'), 1);
  });

  test('429 with Retry-After: 1 is waited out before the retry, then fails over', async () => {
    const t0 = Date.now();
    const r = await client.chat.completions.create({ model: 'fo-429', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('rate-429-fo'), 2);
    assert.equal(fakeB.hits('ok-429'), 1);
    const [first, second] = fakeA.requestsFor('rate-429-fo');
    assert.ok(second.at - first.at >= 900, `retried after ${second.at - first.at} ms, Retry-After was 1 s`);
    assert.ok(Date.now() - t0 < 4000);
  });

  test('429 with a Retry-After over the cap: fails over at once instead of waiting', async () => {
    const t0 = Date.now();
    const r = await client.chat.completions.create({ model: 'fo-429-long', messages: user() });
    const elapsed = Date.now() - t0;
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('rate-429-ra30-fo'), 1, 'no retry on a target that asked for 30 s');
    assert.equal(fakeB.hits('ok-429-long'), 1);
    assert.ok(elapsed < 1500, `took ${elapsed} ms`);
  });

  test('connect error (nothing listening): fails over', async () => {
    const r = await client.chat.completions.create({ model: 'fo-connect', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeB.hits('ok-connect'), 1);
  });

  test('upstream closes before answering (non-stream): fails over', async () => {
    const r = await client.chat.completions.create({ model: 'fo-close-first', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('close-before-first-fo'), 1);
    assert.equal(fakeB.hits('ok-close-first'), 1);
  });

  test('upstream stream closes before the first chunk: fails over invisibly', async () => {
    const s = await client.chat.completions.create({ model: 'fo-close-first-stream', messages: user(), stream: true });
    assert.equal(await collect(s), FAKE_TEXT);
    assert.equal(fakeA.hits('close-before-first-fos'), 1);
    assert.equal(fakeB.hits('ok-close-first-stream'), 1);
  });

  test('garbage (non-JSON) answer: fails over', async () => {
    const r = await client.chat.completions.create({ model: 'fo-garbage', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('garbage-fo'), 1);
  });

  test('garbage SSE event before the first token: fails over invisibly', async () => {
    const s = await client.chat.completions.create({ model: 'fo-garbage-stream', messages: user(), stream: true });
    assert.equal(await collect(s), FAKE_TEXT);
    assert.equal(fakeA.hits('garbage-fos'), 1);
    assert.equal(fakeB.hits('ok-garbage-stream'), 1);
  });

  test('first-token timeout: fails over and abandons the hung upstream', async () => {
    const cancelledBefore = fakeA.stats.cancelled;
    const t0 = Date.now();
    const r = await client.chat.completions.create({ model: 'fo-hang', messages: user() });
    const elapsed = Date.now() - t0;
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.ok(elapsed >= 250 && elapsed < 900, `took ${elapsed} ms with first_token_timeout_ms 300 (timeout_ms 1000)`);
    assert.ok(await waitFor(() => fakeA.stats.cancelled > cancelledBefore, 1000), 'hung upstream connection closed');
  });

  test('non-stream: an upstream body cut in half fails over (nothing had reached the client)', async () => {
    const r = await client.chat.completions.create({ model: 'fo-midstream-plain', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('close-mid-stream-plain'), 1);
    assert.equal(fakeB.hits('ok-midstream-plain'), 1);
  });

  test('embeddings fail over too', async () => {
    const r = await client.embeddings.create({ model: 'embed-fo', input: 'vector me', encoding_format: 'float' });
    assert.deepEqual(r.data[0].embedding, fakeEmbedding('vector me'));
    assert.equal(fakeA.hits('fail-500-emb'), 1);
    assert.equal(fakeB.hits('text-embedding-fo'), 1);
  });
});

describe('when no target can answer', () => {
  test('the only target sends garbage: 502 (plain and stream)', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'only-garbage', messages: user() }), isStatus(502));
    await assert.rejects(
      client.chat.completions.create({ model: 'only-garbage', messages: user(), stream: true }).then(collect),
      isStatus(502),
    );
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'only-garbage', messages: user() });
    assert.equal(res.status, 502);
    assert.equal(typeof res.json?.error?.message, 'string');
  });

  test('every target fails: 503 naming each provider and model', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'all-fail', messages: user() });
    assert.equal(res.status, 503);
    const msg = res.json?.error?.message ?? '';
    for (const part of ['up-a', 'fail-500-allA', 'up-b', 'fail-500-allB']) assert.ok(msg.includes(part), `"${msg}" lacks ${part}`);
    await assert.rejects(client.chat.completions.create({ model: 'all-fail', messages: user() }), isStatus(503));
    await assert.rejects(
      client.chat.completions.create({ model: 'all-fail', messages: user(), stream: true }).then(collect),
      isStatus(503),
    );
  });

  test('the only target hangs: 504 after first_token_timeout_ms, upstream abandoned', async () => {
    const cancelledBefore = fakeA.stats.cancelled;
    const t0 = Date.now();
    await assert.rejects(client.chat.completions.create({ model: 'only-hang', messages: user() }), isStatus(504));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 900, `504 after ${elapsed} ms (first_token_timeout_ms 300, timeout_ms 1000)`);
    assert.ok(await waitFor(() => fakeA.stats.cancelled > cancelledBefore, 1000), 'hung upstream connection closed');
  });

  test('the only target hangs, streaming: 504 before any byte', async () => {
    const t0 = Date.now();
    await assert.rejects(
      client.chat.completions.create({ model: 'only-hang-stream', messages: user(), stream: true }).then(collect),
      isStatus(504),
    );
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 900, `504 after ${elapsed} ms (first_token_timeout_ms 300, timeout_ms 1000)`);
  });

  test('the only target sends headers and a role chunk, then stalls: 504', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'only-stall', messages: user(), stream: true }).then(collect),
      isStatus(504),
    );
  });
});

describe('retries on the same target', () => {
  test('retries: 2 rides out two 500s on a flaky target', async () => {
    const r = await client.chat.completions.create({ model: 'retry-flaky', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('flaky-2-retry'), 3);
    const [t1, t2, t3] = fakeA.requestsFor('flaky-2-retry').map((q) => q.at);
    assert.ok(t3 - t1 < 1000, 'backoff stays within backoff_max_ms');
    assert.ok(t2 >= t1 && t3 >= t2);
  });

  test('retries: 1 on a single failing target makes 2 attempts, then 503', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'retry-exhaust', messages: user() }), isStatus(503));
    assert.equal(fakeA.hits('fail-500-exhaust'), 2);
  });
});

describe('circuit breaker', () => {
  test('opens after 5 consecutive failures, skips the target, probes again after the cooldown', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await client.chat.completions.create({ model: 'breaker', messages: user() });
      assert.equal(r.choices[0].message.content, FAKE_TEXT);
    }
    assert.equal(fakeA.hits('fail-500-brk'), 5);
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model: 'breaker', messages: user() });
      assert.equal(r.choices[0].message.content, FAKE_TEXT);
    }
    assert.equal(fakeA.hits('fail-500-brk'), 5, 'an open breaker skips its target');
    assert.equal(fakeB.hits('ok-brk'), 8);

    const { samples } = await scrapeMetrics(keel);
    const open = samples.filter((s) => s.name === 'keel_breaker_state' && s.labels.provider === 'up-a' && s.labels.model === 'fail-500-brk');
    assert.equal(open.length, 1, 'a keel_breaker_state series for up-a/fail-500-brk');
    assert.ok(open[0].value > 0, 'the breaker reads as not closed');

    await sleep(BREAKER_COOLDOWN_MS + 200);
    const r = await client.chat.completions.create({ model: 'breaker', messages: user() });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
    assert.equal(fakeA.hits('fail-500-brk'), 6, 'half-open: one probe after the cooldown');
    await client.chat.completions.create({ model: 'breaker', messages: user() });
    assert.equal(fakeA.hits('fail-500-brk'), 6, 'the failed probe opened the breaker again');
  });

  test('when every target is open, keel still tries rather than failing fast', async () => {
    for (let i = 0; i < 7; i++) {
      await assert.rejects(client.chat.completions.create({ model: 'breaker-all', messages: user() }), isStatus(503));
    }
    assert.equal(fakeA.hits('fail-500-brkall'), 7);
  });
});

describe('after content has reached the client', () => {
  test('close mid-stream: the SDK throws after the 2 chunks; no retry, no failover', async () => {
    const stream = await client.chat.completions.create({ model: 'midstream', messages: user(), stream: true });
    let text = '';
    let completed = false;
    await assert.rejects(async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      completed = true;
    }, (e) => e instanceof Error);
    assert.equal(completed, false);
    assert.equal(text, MID_STREAM_CHUNKS.join(''));
    assert.equal(fakeA.hits('close-mid-stream-m'), 1, 'never retried once content went out');
    assert.equal(fakeB.hits('ok-midstream'), 0, 'never failed over once content went out');
  });

  test('close mid-stream, raw: a terminal data: {"error":...} event and no [DONE]', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'midstream-raw', messages: user(), stream: true });
    assert.equal(res.status, 200);
    const events = sseData(res.text);
    assert.ok(!events.includes('[DONE]'), 'no [DONE] after a failure');
    const last = JSON.parse(events.at(-1));
    assert.equal(typeof last.error?.message, 'string', `last event: ${events.at(-1)}`);
    assert.equal(typeof last.error?.type, 'string');
    const content = events.slice(0, -1).map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(content, MID_STREAM_CHUNKS.join(''));
    assert.equal(fakeB.hits('ok-midstream-raw'), 0);
  });

  test('timeout_ms bounds the whole attempt: a slow stream is cut with a terminal error', async () => {
    const cancelledBefore = fakeA.stats.cancelled;
    const t0 = Date.now();
    const stream = await client.chat.completions.create({ model: 'total-timeout', messages: user(), stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    });
    const elapsed = Date.now() - t0;
    assert.ok(text.startsWith('0 1 '), `content before the cut: ${JSON.stringify(text)}`);
    assert.ok(elapsed >= 700 && elapsed < 3000, `cut after ${elapsed} ms with timeout_ms 800`);
    assert.ok(await waitFor(() => fakeA.stats.cancelled > cancelledBefore, 1000), 'upstream closed');
  });
});

describe('client cancellation', () => {
  test('SDK abort during a slow stream cancels the upstream within 1 s', async () => {
    const before = fakeA.stats.cancelled;
    const stream = await client.chat.completions.create({ model: 'cancel', messages: user(), stream: true });
    let n = 0;
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) n++;
      if (n === 3) stream.controller.abort(); // the loop then ends quietly
    }
    assert.ok(n >= 3);
    assert.ok(await waitFor(() => fakeA.stats.cancelled === before + 1, 1000), 'upstream cancelled within 1 s');
    assert.ok(fakeA.hits('slow-stream-cancel') === 1);
  });

  test('fetch AbortController during a slow stream cancels the upstream within 1 s', async () => {
    const before = fakeA.stats.cancelled;
    const ac = new AbortController();
    const res = await fetch(`${keel.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-any' },
      body: JSON.stringify({ model: 'cancel-raw', messages: user(), stream: true }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const { value } = await reader.read();
    assert.ok(value.length > 0);
    ac.abort();
    await reader.read().catch(() => {});
    assert.ok(await waitFor(() => fakeA.stats.cancelled === before + 1, 1000), 'upstream cancelled within 1 s');
  });

  test('keel is healthy after all of the above', async () => {
    const res = await getText(keel, '/healthz');
    assert.equal(res.status, 200);
    assert.ok(keel.alive());
  });
});

describe('metrics after failures', () => {
  test('attempts are counted per provider, model and outcome', async () => {
    const { samples } = await scrapeMetrics(keel);
    assert.equal(metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-a', model: 'fail-500-fo', outcome: 'error' }), 2);
    assert.equal(metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-b', model: 'ok-fo', outcome: 'ok' }), 1);
    assert.equal(metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-a', model: 'flaky-2-retry', outcome: 'error' }), 2);
    assert.equal(metricSum(samples, 'keel_upstream_attempts_total', { provider: 'up-a', model: 'flaky-2-retry', outcome: 'ok' }), 1);
    assert.ok(metricSum(samples, 'keel_errors_total') >= 5, 'client-visible errors counted');
  });
});

describe('logged rows (after shutdown)', () => {
  test('SIGTERM: keel exits 0', async () => {
    const { code, signal } = await keel.stop();
    assert.equal(signal, null, `killed by ${signal}; stderr:\n${keel.stderr}`);
    assert.equal(code, 0, `stderr:\n${keel.stderr}`);
  });

  test('a failover request: one requests row, its attempts in order', () => {
    const reqs = requestsOf(keel.dbPath, 'fo-500');
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].status, 200);
    assert.ok(!reqs[0].error_class);
    assert.equal(reqs[0].stream, 0);
    const attempts = attemptsOf(keel.dbPath, reqs[0].id);
    assert.deepEqual(attempts.map((a) => [a.provider, a.target_model, a.status]),
      [['up-a', 'fail-500-fo', 500], ['up-a', 'fail-500-fo', 500], ['up-b', 'ok-fo', 200]]);
    assert.ok(attempts[0].error_class && attempts[1].error_class, 'failed attempts carry an error class');
    assert.ok(attempts[0].error_message, 'failed attempts carry the error message');
    assert.ok(!attempts[2].error_class);
    assert.equal(attempts[2].prompt_tokens, 5);
    assert.equal(attempts[2].completion_tokens, 3);
    const seqs = attempts.map((a) => a.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    assert.equal(new Set(seqs).size, 3);
  });

  test('a connect error is logged as a failed attempt on the dead provider', () => {
    const [req] = requestsOf(keel.dbPath, 'fo-connect');
    const attempts = attemptsOf(keel.dbPath, req.id);
    assert.ok(attempts.length >= 2);
    assert.equal(attempts[0].provider, 'dead');
    assert.ok(attempts[0].error_class);
    assert.deepEqual([attempts.at(-1).provider, attempts.at(-1).status], ['up-b', 200]);
  });

  test('statuses and error classes of failed requests', () => {
    const expectStatus = { 'all-fail': 503, 'only-garbage': 502, 'only-hang': 504, 'retry-exhaust': 503 };
    for (const [model, status] of Object.entries(expectStatus)) {
      const reqs = requestsOf(keel.dbPath, model);
      assert.ok(reqs.length >= 1, `no rows for ${model}`);
      for (const r of reqs) {
        assert.equal(r.status, status, `${model}`);
        assert.ok(r.error_class, `${model} has an error class`);
      }
    }
    const [allFail] = requestsOf(keel.dbPath, 'all-fail');
    const attempts = attemptsOf(keel.dbPath, allFail.id);
    assert.deepEqual(attempts.map((a) => [a.provider, a.target_model, a.status]),
      [['up-a', 'fail-500-allA', 500], ['up-b', 'fail-500-allB', 500]]);
  });

  test('a mid-stream failure: one attempt, with an error class', () => {
    const [req] = requestsOf(keel.dbPath, 'midstream');
    assert.equal(req.stream, 1);
    assert.ok(req.error_class, 'the request is marked failed');
    const attempts = attemptsOf(keel.dbPath, req.id);
    assert.equal(attempts.length, 1);
    assert.ok(attempts[0].error_class);
    assert.ok(attempts[0].ttft_ms !== null, 'content did arrive: ttft logged');
  });

  test('a cancelled stream is logged', () => {
    const reqs = requestsOf(keel.dbPath, 'cancel');
    assert.equal(reqs.length, 1);
    assert.ok(reqs[0].error_class, 'a cancelled request carries an error class');
  });

  test('content is NULL without log_content, and no row holds an api key', () => {
    const withContent = sqliteJson(keel.dbPath, 'select count(*) as n from requests where content is not null');
    assert.equal(withContent[0].n, 0);
    const dump = sqliteDump(keel.dbPath);
    for (const key of [UPSTREAM_KEY, UPSTREAM_KEY_2, 'sk-dead']) assert.ok(!dump.includes(key), `${key} stored in the database`);
  });
});
