// `keel reload` (and SIGHUP) rebuilds the copilots from the new config: changed instructions,
// model, tools and knowledge take effect on the next turn, added copilots answer and removed
// ones are gone from /v1/models and from the console's /admin/copilots, turns in flight across
// the reload finish on the copilot they started with, and a copilot that cannot be built (an
// instructions file that is missing) fails the reload and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, keelConfig, toYaml, fakeProvider, postJSON, getText, waitFor, sleep, CLIENT_KEY } from './harness.mjs';

const ADMIN_KEY = 'sk-keel-copilots-admin';

let fake;
let keel;
let dir;

// What the upstream was asked: its model, the system messages (instructions and sources) and
// the names of the tools offered. The slow model keeps its own streamed text.
function describeRequest(body) {
  if (body.model.startsWith('slow-stream')) return undefined;
  const system = (body.messages ?? []).filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const tools = (body.tools ?? []).map((t) => t.function?.name).join(',');
  return `upstream=${body.model}\nsystem=${system}\ntools=${tools}`;
}

const toolsets = [{ name: 'clock', kind: 'builtin', tools: ['current_time'] }];

function config(copilots) {
  return {
    providers: [fakeProvider('oa', fake)],
    models: [
      { name: 'smart', targets: [{ provider: 'oa', model: 'ok' }] },
      { name: 'smarter', targets: [{ provider: 'oa', model: 'echo' }] },
      { name: 'slow', targets: [{ provider: 'oa', model: 'slow-stream-12x40' }] },
      { name: 'embed', targets: [{ provider: 'oa', model: 'hashed-embedding' }] },
    ],
    extra: {
      api_keys: [CLIENT_KEY],
      admin_keys: [ADMIN_KEY],
      toolsets,
      knowledge: [{ name: 'handbook', sources: [path.join(dir, 'handbook')], embedding_model: 'embed' }],
      copilots,
    },
  };
}

const desk = (name, fields = {}) => ({ name, instructions: 'Answer in English.', model: 'smart', ...fields });

function writeConfig(copilots) {
  writeFileSync(keel.configPath, `${toYaml(keelConfig({ dir: keel.dir, ...config(copilots) }))}\n`);
}

async function reload(copilots) {
  writeConfig(copilots);
  return postJSON(keel, '/admin/reload', {}, { key: ADMIN_KEY });
}

async function ask(model) {
  const completion = await makeClient(keel).chat.completions.create({
    model, messages: [{ role: 'user', content: 'How do I get online?' }],
  });
  return completion.choices[0].message.content;
}

// The console's view (GET /admin/copilots): each copilot's name and instructions, as running.
async function adminCopilots() {
  const res = await getText(keel, '/admin/copilots', { key: ADMIN_KEY });
  assert.equal(res.status, 200, res.text);
  return Object.fromEntries(JSON.parse(res.text).data.map((c) => [c.name, c.instructions.text]));
}

async function modelIds() {
  const ids = [];
  for await (const model of makeClient(keel).models.list()) ids.push(model.id);
  return ids;
}

before(async () => {
  fake = await startFakeOpenAI({ answer: describeRequest });
  dir = mkdtempSync(path.join(tmpdir(), 'keel-copilots-reload-'));
  mkdirSync(path.join(dir, 'handbook'));
  writeFileSync(path.join(dir, 'handbook', 'vpn.md'), '# VPN\n\nTo get online at the office, start the VPN client.\n');
  keel = await startKeel(config([desk('helpdesk'), desk('slowdesk', { model: 'slow' })]));
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('keel reload rebuilds a changed copilot; turns in flight finish on the old one', { timeout: 60000 }, async () => {
  const first = await ask('helpdesk');
  assert.match(first, /upstream=ok\n/);
  assert.match(first, /Answer in English\./);
  assert.match(first, /tools=$/);
  assert.doesNotMatch(first, /vpn\.md/);

  // Slow turns stream across the reload.
  const client = makeClient(keel);
  const inFlight = Array.from({ length: 4 }, async () => {
    const stream = await client.chat.completions.create({
      model: 'slowdesk', messages: [{ role: 'user', content: 'hi' }], stream: true,
    });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish };
  });
  await sleep(100);
  const changed = desk('helpdesk', {
    instructions: 'Answer in French.', model: 'smarter', tools: ['clock'], knowledge: ['handbook'],
  });
  const res = await reload([changed, desk('slowdesk', { model: 'slow', instructions: 'Answer in French.' })]);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.public_names, ['helpdesk', 'slowdesk']);
  for (const done of await Promise.all(inFlight)) {
    assert.equal(done.finish, 'stop');
    assert.ok(done.text.length > 0);
  }

  // Instructions, model, tools and knowledge are the new entry's (the base is ingested in the
  // background once keel serve has it).
  assert.ok(await waitFor(async () => /vpn\.md/.test(await ask('helpdesk')), 20000, 200), 'the copilot never searched its new base');
  const second = await ask('helpdesk');
  assert.match(second, /upstream=echo\n/);
  assert.match(second, /Answer in French\./);
  assert.doesNotMatch(second, /Answer in English\./);
  assert.match(second, /tools=.*current_time/);
});

test('keel reload adds and removes copilots; SIGHUP does the same', { timeout: 30000 }, async () => {
  const res = await reload([desk('helpdesk'), desk('newdesk', { instructions: 'Answer briefly.' })]);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const ids = await modelIds();
  assert.ok(ids.includes('newdesk'), ids.join());
  assert.ok(!ids.includes('slowdesk'), ids.join());
  assert.match(await ask('newdesk'), /Answer briefly\./);
  assert.deepEqual(await adminCopilots(), { helpdesk: 'Answer in English.', newdesk: 'Answer briefly.' });
  await assert.rejects(ask('slowdesk'), (err) => err.status === 404 && /slowdesk/.test(err.message));

  writeConfig([desk('helpdesk', { instructions: 'Answer in German.' })]);
  const reloads = (keel.stderr.match(/config reloaded from/g) ?? []).length;
  keel.proc.kill('SIGHUP');
  assert.ok(await waitFor(() => (keel.stderr.match(/config reloaded from/g) ?? []).length > reloads, 5000));
  assert.match(await ask('helpdesk'), /Answer in German\./);
  assert.ok(!(await modelIds()).includes('newdesk'));
  assert.deepEqual(await adminCopilots(), { helpdesk: 'Answer in German.' });
});

test('a copilot that cannot be built fails the reload and changes nothing', { timeout: 30000 }, async () => {
  const res = await reload([desk('helpdesk', { instructions: path.join(dir, 'missing.prompty') })]);
  assert.equal(res.status, 400, JSON.stringify(res.json));
  assert.match(res.json.error.message, /nothing changed.*missing\.prompty/s);
  assert.match(await ask('helpdesk'), /Answer in German\./);
  assert.deepEqual(await adminCopilots(), { helpdesk: 'Answer in German.' });
  assert.ok(keel.alive());
});
