// `keel reload` (and SIGHUP) reopens the knowledge bases whose config changed: a copilot over
// a base answers from the new sources after the reload, requests in flight across it finish,
// a removed base goes with its copilots, and the reload's answer says what changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, keelConfig, toYaml, fakeProvider, postJSON, waitFor, sleep, CLIENT_KEY } from './harness.mjs';

const ADMIN_KEY = 'sk-keel-knowledge-admin';

let fake;
let keel;
let dir;

// The model names each numbered source of its prompt and cites it: "vpn.md [1]".
function citingAnswer(body) {
  const system = (body.messages ?? []).filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const sources = [...system.matchAll(/^\[(\d+)\] ([^\n>]*)/gm)].map((m) => `${path.basename(m[2].trim())} [${m[1]}]`);
  return sources.length ? `Sources: ${sources.join('; ')}` : undefined;
}

function config(knowledge) {
  const copilots = knowledge.length
    ? [{ name: 'helpdesk', instructions: 'Answer from the sources.', model: 'smart', knowledge: ['handbook'] },
      { name: 'slowdesk', instructions: 'Answer from the sources.', model: 'slow', knowledge: ['handbook'] }]
    : [];
  return {
    providers: [fakeProvider('oa', fake)],
    models: [
      { name: 'smart', targets: [{ provider: 'oa', model: 'ok' }] },
      { name: 'slow', targets: [{ provider: 'oa', model: 'slow-stream-12x40' }] },
      { name: 'embed', targets: [{ provider: 'oa', model: 'hashed-embedding' }] },
    ],
    extra: { api_keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY], knowledge, copilots },
  };
}

const handbook = (folder) => [{ name: 'handbook', sources: [path.join(dir, folder)], embedding_model: 'embed' }];

async function reload(knowledge) {
  writeFileSync(keel.configPath, `${toYaml(keelConfig({ dir: keel.dir, ...config(knowledge) }))}\n`);
  const res = await postJSON(keel, '/admin/reload', {}, { key: ADMIN_KEY });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}

// The file names the helpdesk copilot cites now.
async function cited() {
  const response = await makeClient(keel).responses.create({ model: 'helpdesk', input: 'How do I get online?' });
  return response.output[0].content[0].annotations.map((a) => path.basename(a.filename));
}

before(async () => {
  fake = await startFakeOpenAI({ answer: citingAnswer });
  dir = mkdtempSync(path.join(tmpdir(), 'keel-kb-reload-'));
  for (const folder of ['office', 'home']) mkdirSync(path.join(dir, folder));
  writeFileSync(path.join(dir, 'office', 'vpn.md'), '# VPN\n\nAt the office, get online with the VPN client and your badge number.\n');
  writeFileSync(path.join(dir, 'home', 'wifi.md'), '# Wi-Fi\n\nAt home, get online over Wi-Fi with the network key on the router.\n');
  keel = await startKeel(config(handbook('office')));
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('keel reload reopens a changed knowledge base; requests in flight finish', { timeout: 60000 }, async () => {
  // keel serve ingests the new base in the background.
  assert.ok(await waitFor(async () => (await cited()).includes('vpn.md'), 20000, 200), 'the office base was never ingested');

  // Slow copilot answers that search the old base and stream across the reload.
  const client = makeClient(keel);
  const inFlight = Array.from({ length: 4 }, async () => {
    const stream = await client.responses.create({ model: 'slowdesk', input: 'How do I get online?', stream: true });
    let text = '';
    let status = '';
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') status = event.response.status;
    }
    return { text, status };
  });
  await sleep(100);
  const answer = await reload(handbook('home'));
  assert.deepEqual(answer.knowledge, { added: [], reopened: ['handbook'], removed: [] });
  for (const done of await Promise.all(inFlight)) {
    assert.equal(done.status, 'completed');
    assert.ok(done.text.length > 0);
  }
  assert.ok(await waitFor(async () => (await cited()).join() === 'wifi.md', 20000, 200), 'the copilot never saw the home base');
  assert.match(keel.stderr, /knowledge base handbook reopened/);

  // The same config again reopens nothing.
  assert.deepEqual((await reload(handbook('home'))).knowledge, { added: [], reopened: [], removed: [] });

  // SIGHUP does the same as keel reload.
  writeFileSync(keel.configPath, `${toYaml(keelConfig({ dir: keel.dir, ...config(handbook('office')) }))}\n`);
  const reloads = (keel.stderr.match(/config reloaded from/g) ?? []).length;
  keel.proc.kill('SIGHUP');
  assert.ok(await waitFor(() => (keel.stderr.match(/config reloaded from/g) ?? []).length > reloads, 5000));
  assert.ok(await waitFor(async () => (await cited()).join() === 'vpn.md', 20000, 200), 'SIGHUP did not reopen the base');

  // A removed base goes with the copilots over it (a reload rebuilds copilots too).
  assert.deepEqual((await reload([])).knowledge, { added: [], reopened: [], removed: ['handbook'] });
  await assert.rejects(makeClient(keel).responses.create({ model: 'helpdesk', input: 'How do I get online?' }),
    (err) => err.status === 404 && /helpdesk/.test(err.message));
  assert.ok(keel.alive());
});
