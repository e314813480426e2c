// Shadow traffic: `shadow: {model, percent}` mirrors a model's answered requests to a candidate
// after the client has its answer; the pairs are scored and stored, and `keel shadow report`
// shows quality, latency and cost. A candidate that hangs never affects the client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startKeel, makeClient, runKeel, fakeProvider, sqliteJson, waitFor, toYaml } from './harness.mjs';

let fake;
let keel;
const judgeAsked = [];

before(async () => {
  fake = await startFakeOpenAI({
    answer(body) {
      if (body.model === 'same-upstream') return FAKE_TEXT;
      if (body.model === 'close-upstream') return `${FAKE_TEXT} indeed`;
      if (body.model === 'judge-upstream') {
        judgeAsked.push(body.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n'));
        return judgeAsked.length % 2 ? '4' : 'I would rather not say.';
      }
      return undefined;
    },
  });
  const price = { input_per_mtok: 1000, output_per_mtok: 1000 };
  keel = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [
      // Room for every mirror of the first test: mirrors run on a thread of their own
      // (evals/shadow.h), so on a slow machine (CI's sanitizer builds) they can fall behind a
      // client's sequential requests, and past max_concurrency (default 4) they are dropped.
      { name: 'main', targets: [{ provider: 'fake', model: 'ok' }],
        shadow: { model: 'cand', percent: 100, evaluators: ['f1', 'exact_match'], max_concurrency: 20 } },
      { name: 'cand', targets: [{ provider: 'fake', model: 'close-upstream' }] },
      { name: 'main2', targets: [{ provider: 'fake', model: 'ok' }],
        shadow: { model: 'hangs', percent: 100, max_concurrency: 2 } },
      { name: 'hangs', timeout_ms: 1500, first_token_timeout_ms: 1500, retries: 0, targets: [{ provider: 'fake', model: 'hang' }] },
      { name: 'never', targets: [{ provider: 'fake', model: 'ok' }], shadow: { model: 'cand', percent: 0 } },
      { name: 'judged', targets: [{ provider: 'fake', model: 'ok' }],
        shadow: { model: 'cand', percent: 100, evaluators: ['f1', 'similarity'], judge: 'judge', max_concurrency: 1 } },
      { name: 'judge', targets: [{ provider: 'fake', model: 'judge-upstream' }] },
    ],
    extra: { pricing: { 'fake/ok': price, 'fake/close-upstream': price } },
  });
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
});

const pairs = (model) => sqliteJson(keel.dbPath, `select * from shadow_pairs where model = '${model}'`);

test('every answered request is mirrored, scored and stored; the client sees only its answer', async () => {
  const client = makeClient(keel);
  for (let i = 0; i < 10; i++) {
    const messages = [{ role: 'user', content: `question ${i}` }];
    if (i % 2) {
      let text = '';
      for await (const c of await client.chat.completions.create({ model: 'main', messages, stream: true })) text += c.choices[0]?.delta?.content ?? '';
      assert.equal(text, FAKE_TEXT);
    } else {
      assert.equal((await client.chat.completions.create({ model: 'main', messages })).choices[0].message.content, FAKE_TEXT);
    }
  }
  await waitFor(() => pairs('main').length === 10, 20000);
  const mirrored = fake.requests.filter((r) => r.body?.model === 'close-upstream');
  assert.equal(mirrored.length, 10);
  assert.deepEqual(mirrored.map((r) => r.body.messages[0].content).sort(), [...Array(10).keys()].map((i) => `question ${i}`).sort());
  const row = JSON.parse(pairs('main')[0].result);
  assert.equal(row.served.text, FAKE_TEXT);
  assert.equal(row.shadow.text, `${FAKE_TEXT} indeed`);
  assert.equal(row.scores.exact_match.value, 0);
  assert.ok(Math.abs(row.scores.f1.value - 6 / 7) < 1e-9);  // 3 of 3 served tokens in 4 candidate tokens
  assert.equal(pairs('main')[0].shadow_model, 'cand');

  const r = await runKeel(['shadow', 'report', 'main', '--config', keel.configPath, '--json'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.pairs, 10);
  assert.equal(report.candidate_failures, 0);
  assert.ok(Math.abs(report.metrics.f1.mean - 6 / 7) < 1e-9);
  assert.equal(report.metrics.exact_match.mean, 0);
  assert.equal(report.served.tokens, 80);
  assert.ok(Math.abs(report.served.cost - 0.08) < 1e-9);
  assert.ok(report.shadow.latency_ms.p95 >= report.shadow.latency_ms.p50);
  const text = await runKeel(['shadow', 'report', 'main', '--config', keel.configPath], { timeoutMs: 10000 });
  assert.match(text.stdout, /main shadowed by cand over 10 pairs \(0 candidate failures\)/);
  assert.match(text.stdout, /f1 +candidate vs served: 0\.857/);

  // percent 0: nothing mirrored.
  await client.chat.completions.create({ model: 'never', messages: [{ role: 'user', content: 'x' }] });
  const none = await runKeel(['shadow', 'report', 'never', '--config', keel.configPath], { timeoutMs: 10000 });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no shadow pairs for model 'never'/);
});

test('a hanging candidate never slows the client; mirrors beyond max_concurrency are dropped', async () => {
  const client = makeClient(keel);
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    client.chat.completions.create({ model: 'main2', messages: [{ role: 'user', content: `q${i}` }] })));
  const took = Date.now() - started;
  assert.ok(answers.every((a) => a.choices[0].message.content === FAKE_TEXT));
  assert.ok(took < 1000, `the clients waited ${took} ms`);
  // Two mirrors run (max_concurrency 2) and time out after 1.5 s; the rest were dropped.
  await waitFor(() => pairs('main2').length === 2, 6000);
  assert.equal(fake.requests.filter((r) => r.body?.model === 'hang').length, 2);
  const report = JSON.parse((await runKeel(['shadow', 'report', 'main2', '--config', keel.configPath, '--json'], { timeoutMs: 10000 })).stdout);
  assert.equal(report.candidate_failures, 2);
  assert.match(JSON.parse(pairs('main2')[0].result).shadow.error, /time/i);
  // The operators' JSON: the mirror's counters (6 of 8 dropped) and the report.
  const admin = await (await fetch(`${keel.base}/admin/shadow/main2`)).json();
  assert.equal(admin.mirror.dropped, 6);
  assert.equal(admin.report.pairs, 2);
  assert.equal(admin.report.candidate_failures, 2);
  const unknown = await fetch(`${keel.base}/admin/shadow/nope`);
  assert.equal(unknown.status, 404);
});

test('shadow pairs are scored by an LLM judge when shadow names one; garbage is a failed score', async () => {
  const client = makeClient(keel);
  for (let i = 0; i < 4; i++) {
    await client.chat.completions.create({ model: 'judged', messages: [{ role: 'user', content: `judged ${i}` }] });
    await waitFor(() => pairs('judged').length === i + 1, 5000);   // one at a time: the judge alternates
  }
  // The judge saw the candidate's answer and the served one as the reference.
  assert.equal(judgeAsked.length, 4);
  assert.ok(judgeAsked.every((text) => text.includes(`${FAKE_TEXT} indeed`) && text.includes(FAKE_TEXT)), judgeAsked[0]);
  const scores = pairs('judged').map((p) => JSON.parse(p.result).scores.similarity);
  assert.equal(scores.filter((s) => s.value === 4).length, 2);
  assert.equal(scores.filter((s) => s.value === null && /rating/.test(s.error)).length, 2, JSON.stringify(scores));
  const r = await runKeel(['shadow', 'report', 'judged', '--config', keel.configPath, '--json'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.metrics.similarity.mean, 4);
  assert.equal(report.metrics.similarity.failed, 2);
});

test('a shadow judge that names no model is a config error', async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'keel-shadow-')), 'keel.yaml');
  writeFileSync(file, `${toYaml({
    providers: [fakeProvider('fake', fake)],
    models: [
      { name: 'a', targets: [{ provider: 'fake', model: 'ok' }], shadow: { model: 'b', percent: 1, judge: 'nobody' } },
      { name: 'b', targets: [{ provider: 'fake', model: 'ok' }] },
    ],
  })}\n`);
  const bad = await runKeel(['config', 'check', file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /models\[0\]\.shadow\.judge: no model named "nobody"/);
});
