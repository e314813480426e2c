// Promotion without a restart: config reload on SIGHUP and `keel reload` (POST /admin/reload)
// while the official openai SDK keeps 50 connections busy (streamed and not, some answers
// spanning reloads): zero failed requests across 20 reloads; a bad file changes nothing and the
// log and `keel reload` say why; `strategy: weighted` moves a canary's share from 5% to 50% to
// all traffic by reloads alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, runKeel, toYaml, keelConfig, fakeProvider, waitFor, CLIENT_KEY, sleep } from './harness.mjs';

const ADMIN_KEY = 'sk-keel-reload-admin';

let fake;
let keel;

function configWith(models) {
  return `${toYaml(keelConfig({ dir: keel.dir, providers: [fakeProvider('fake', fake)], models, extra: { api_keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY] } }))}\n`;
}

const A = () => [{ name: 'm', targets: [{ provider: 'fake', model: 'slow-stream-4x15-a' }] }];
const B = () => [
  { name: 'm', strategy: 'weighted', targets: [{ provider: 'fake', model: 'slow-stream-4x15-a', weight: 1 }, { provider: 'fake', model: 'slow-stream-4x15-b', weight: 1 }] },
  { name: 'extra', targets: [{ provider: 'fake', model: 'ok' }] },
];

before(async () => {
  fake = await startFakeOpenAI();
  keel = await startKeel({ providers: [fakeProvider('fake', fake)], models: A(), extra: { api_keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY] } });
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
});

const reloadCount = () => (keel.stderr.match(/config reloaded from/g) ?? []).length;

async function reloadBy(how) {
  const before = reloadCount();
  if (how === 'signal') {
    keel.proc.kill('SIGHUP');
  } else {
    const r = await runKeel(['reload', '--url', keel.url], { env: { KEEL_ADMIN_KEY: ADMIN_KEY }, timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloaded: \d+ models/);
  }
  await waitFor(() => reloadCount() > before, 5000);
}

test('20 reloads at 50 connections: no request fails', async () => {
  const client = makeClient(keel);
  let stop = false;
  let ok = 0;
  const failures = [];
  const worker = async (w) => {
    while (!stop) {
      try {
        if (w % 2) {
          const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
          let text = '';
          for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
          assert.ok(text.length > 0);
        } else {
          const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
          assert.ok(r.choices[0].message.content.length > 0);
        }
        ok++;
      } catch (err) {
        failures.push(String(err?.message ?? err));
      }
    }
  };
  const workers = Array.from({ length: 50 }, (_, w) => worker(w));
  await sleep(100);
  for (let i = 0; i < 20; i++) {
    writeFileSync(keel.configPath, configWith(i % 2 ? A() : B()));
    await reloadBy(i % 2 ? 'signal' : 'command');
    await sleep(40);   // answers take ~60 ms: each reload meets requests in flight
  }
  stop = true;
  await Promise.all(workers);
  assert.deepEqual(failures, []);
  assert.ok(ok > 100, `only ${ok} requests`);
  assert.equal(reloadCount(), 20);
  assert.ok(keel.alive());
});

test('a stream in flight finishes on the old config; the next request takes the new one', async () => {
  writeFileSync(keel.configPath, configWith([{ name: 'p', targets: [{ provider: 'fake', model: 'slow-stream-10x50-old' }] }]));
  await reloadBy('command');
  const client = makeClient(keel);
  const stream = await client.chat.completions.create({ model: 'p', messages: [{ role: 'user', content: 'x' }], stream: true });
  const chunks = [];
  const reading = (async () => { for await (const c of stream) chunks.push(c.choices[0]?.delta?.content ?? ''); })();
  await waitFor(() => chunks.length >= 2, 3000);
  writeFileSync(keel.configPath, configWith([{ name: 'p', targets: [{ provider: 'fake', model: 'ok-new' }] }]));
  await reloadBy('signal');
  const after = await client.chat.completions.create({ model: 'p', messages: [{ role: 'user', content: 'y' }] });
  assert.equal(after.choices[0].message.content, 'Hello from fake');
  assert.equal(fake.stats.hits['ok-new'], 1);
  await reading;   // the old stream ran to its end, from the old target
  assert.ok(chunks.join('').length > 0);
  assert.equal(fake.stats.hits['slow-stream-10x50-old'], 1);
  assert.ok(chunks.filter((c) => c).length >= 10, `${chunks.length} chunks`);
});

test('a bad file changes nothing and says why (SIGHUP and keel reload)', async () => {
  writeFileSync(keel.configPath, configWith(B()));
  await reloadBy('command');
  const client = makeClient(keel);
  assert.equal((await client.chat.completions.create({ model: 'extra', messages: [{ role: 'user', content: 'x' }] })).choices[0].message.content, 'Hello from fake');

  writeFileSync(keel.configPath, configWith(B()).replace('strategy: "weighted"', 'strategy: "fastest"'));
  const r = await runKeel(['reload', '--url', keel.url], { env: { KEEL_ADMIN_KEY: ADMIN_KEY }, timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /config not reloaded, nothing changed: .*keel\.yaml:\d+: models\[0\]\.strategy/);
  const before = keel.stderr.length;
  keel.proc.kill('SIGHUP');
  await waitFor(() => /config not reloaded, nothing changed/.test(keel.stderr.slice(before)), 5000);
  // Still on the last good config: "extra" answers.
  const models = (await client.models.list()).data.map((m) => m.id).sort();
  assert.deepEqual(models, ['extra', 'm']);
  assert.equal((await client.chat.completions.create({ model: 'extra', messages: [{ role: 'user', content: 'x' }] })).choices[0].message.content, 'Hello from fake');
  // Without the admin key, the admin route is refused: a client key is not one.
  const denied = await runKeel(['reload', '--url', keel.url], { env: { KEEL_ADMIN_KEY: '', KEEL_API_KEY: CLIENT_KEY }, timeoutMs: 10000 });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /missing or invalid admin key/);
});

test('weighted canary: 5%, then 50%, then all traffic, by reloads alone', async () => {
  const client = makeClient(keel);
  const share = async (weights, n) => {
    const targets = [{ provider: 'fake', model: 'ok-stable', weight: weights[0] }, { provider: 'fake', model: 'ok-canary', weight: weights[1] }]
      .filter((t) => t.weight > 0);
    writeFileSync(keel.configPath, configWith([{ name: 'w', strategy: 'weighted', targets }]));
    await reloadBy('command');
    const before = fake.stats.hits['ok-canary'] ?? 0;
    for (let i = 0; i < n; i += 20) {
      await Promise.all(Array.from({ length: 20 }, () => client.chat.completions.create({ model: 'w', messages: [{ role: 'user', content: 'x' }] })));
    }
    return ((fake.stats.hits['ok-canary'] ?? 0) - before) / n;
  };
  const five = await share([95, 5], 400);
  assert.ok(five > 0.01 && five < 0.1, `canary took ${five}`);
  const half = await share([50, 50], 200);
  assert.ok(half > 0.3 && half < 0.7, `canary took ${half}`);
  assert.equal(await share([0, 1], 100), 1);
});
