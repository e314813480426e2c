// The Copilots page's admin reads (src/server/admin_copilots.cpp): GET /admin/copilots (each
// copilot as configured, with its entry as YAML), GET /admin/knowledge (each base's ingest state
// from its index, after keel serve's background ingest), POST /admin/copilots/validate (an
// edited copilots: entry checked by the config loader against the running config, errors with
// line and column). Behind the admin key like every /admin route; no provider key in them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, fakeProvider, UPSTREAM_KEY, waitFor } from './harness.mjs';

const ADMIN_KEY = 'sk-admin-copilots';
const CLIENT = 'sk-client-copilots';

async function call(keel, pathname, { key = ADMIN_KEY, body } = {}) {
  const headers = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${keel.base}${pathname}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(!text.includes(UPSTREAM_KEY), `${pathname} sent a provider key`);
  return { status: response.status, json: text ? JSON.parse(text) : null };
}
const validate = (keel, yaml) => call(keel, '/admin/copilots/validate', { body: { yaml } });

describe('copilots and knowledge in /admin', () => {
  let fake, keel, dir;
  before(async () => {
    fake = await startFakeOpenAI();
    dir = mkdtempSync(path.join(tmpdir(), 'keel-admin-kb-'));
    mkdirSync(path.join(dir, 'docs'));
    writeFileSync(path.join(dir, 'docs', 'vpn.md'), '# VPN\n\nConnect with the VPN client.\n');
    writeFileSync(path.join(dir, 'docs', 'mail.md'), '# Mail\n\nMail is read in the browser.\n');
    writeFileSync(path.join(dir, 'docs', 'empty.txt'), '');
    keel = await startKeel({
      providers: [fakeProvider('oa', fake)],
      models: [
        { name: 'smart', targets: [{ provider: 'oa', model: 'ok' }] },
        { name: 'embed', targets: [{ provider: 'oa', model: 'text-embedding-3-small' }] },
      ],
      extra: {
        api_keys: [CLIENT],
        admin_keys: [ADMIN_KEY],
        toolsets: [{ name: 'calc', kind: 'builtin', tools: ['calculator', 'current_time'] }],
        knowledge: [{ name: 'handbook', sources: [path.join(dir, 'docs')], embedding_model: 'embed' }],
        copilots: [
          {
            name: 'helpdesk', instructions: 'Answer from the handbook.', model: 'smart', tools: ['calc'],
            knowledge: ['handbook'], starters: ['How do I connect?'], approval: ['calc/calculator'], top_k: 3,
          },
          { name: 'plain', instructions: 'Repeat the question.', model: 'smart' },
        ],
      },
    });
  });
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the admin key is required: 401 in OpenAI\'s shape without it or with a client key', async () => {
    for (const pathname of ['/admin/copilots', '/admin/knowledge']) {
      for (const key of [null, CLIENT]) {
        const { status, json } = await call(keel, pathname, { key });
        assert.equal(status, 401, pathname);
        assert.equal(json.error.code, 'invalid_api_key');
        assert.match(json.error.message, /admin key/);
      }
    }
    const { status } = await call(keel, '/admin/copilots/validate', { key: CLIENT, body: { yaml: 'name: x' } });
    assert.equal(status, 401);
  });

  test('GET /admin/copilots: each definition as configured, and its YAML', async () => {
    const { status, json } = await call(keel, '/admin/copilots');
    assert.equal(status, 200);
    const [helpdesk, plain] = json.data;
    const { yaml, ...definition } = helpdesk;
    assert.deepEqual(definition, {
      name: 'helpdesk',
      instructions: { text: 'Answer from the handbook.' },
      model: 'smart',
      tools: ['calc'],
      knowledge: ['handbook'],
      starters: ['How do I connect?'],
      max_tool_rounds: 8,
      approval: ['calc/calculator'],
      top_k: 3,
    });
    assert.equal(yaml, '- name: helpdesk\n  instructions: Answer from the handbook.\n  model: smart\n  tools: [calc]\n'
      + '  knowledge: [handbook]\n  starters:\n    - How do I connect?\n  approval: [calc/calculator]\n  top_k: 3\n');
    assert.deepEqual(plain.instructions, { text: 'Repeat the question.' });
    assert.deepEqual([plain.tools, plain.knowledge, plain.starters, plain.top_k], [[], [], [], 5]);
    // Each entry's YAML is valid as it stands.
    for (const copilot of json.data) assert.equal((await validate(keel, copilot.yaml)).json.valid, true);
  });

  test('GET /admin/knowledge: sources, embedding model, and the background ingest\'s state', async () => {
    let base;
    assert.ok(await waitFor(async () => {
      base = (await call(keel, '/admin/knowledge')).json.data[0];
      return base.ingested_at_ms !== null;
    }, 20000, 200), 'keel serve did not ingest the base');
    assert.equal(base.name, 'handbook');
    assert.deepEqual(base.sources, [path.join(dir, 'docs')]);
    assert.equal(base.embedding_model, 'embed');
    assert.equal(base.ingesting, false);
    assert.ok(Math.abs(Date.now() - base.ingested_at_ms) < 60000);
    assert.equal(base.files, 3);
    assert.ok(base.chunks >= 2, `chunks: ${base.chunks}`);
    assert.equal(base.failures.length, 1);
    assert.match(base.failures[0].path, /empty\.txt$/);
    assert.equal(base.failures[0].error, 'an empty file');
  });

  test('POST /admin/copilots/validate: errors with line and column, checked against the running config', async () => {
    const entry = (model = 'smart', more = '') => `- name: helpdesk\n  model: ${model}\n  knowledge: [handbook]\n${more}`;
    let { status, json } = await validate(keel, entry());
    assert.equal(status, 200);
    assert.equal(json.valid, true);
    assert.deepEqual(json.errors, []);
    assert.equal(json.copilot.name, 'helpdesk');   // its own running self is no duplicate

    ({ json } = await validate(keel, entry('nope')));
    assert.equal(json.valid, false);
    assert.deepEqual(json.errors, [{
      line: 2, column: 10, path: 'model', message: 'no model named "nope" (a copilot\'s model is a public model from models:)',
    }]);
    ({ json } = await validate(keel, 'name: desk\nmodel: smart\nknowledge: [handbook, wiki]\n'));
    assert.deepEqual(json.errors, [{
      line: 3, column: 23, path: 'knowledge[1]', message: 'no knowledge base named "wiki" (knowledge:)',
    }]);
    ({ json } = await validate(keel, entry('smart', '  tools: [jira]\n')));
    assert.equal(json.errors[0].line, 4);
    assert.match(json.errors[0].message, /jira/);
    ({ json } = await validate(keel, entry('smart', '  colour: blue\n')));
    assert.equal(json.errors[0].path, 'colour');
    assert.match(json.errors[0].message, /^unknown key/);
    ({ json } = await validate(keel, '- name: plain2\n  model: [smart\n'));
    assert.equal(json.valid, false);
    assert.match(json.errors[0].message, /^invalid YAML/);
    assert.ok(json.errors[0].line >= 2 && json.errors[0].column >= 1, JSON.stringify(json.errors[0]));
    ({ json } = await validate(keel, 'name: smart\nmodel: smart\n'));
    assert.match(json.errors[0].message, /already a model's name/);
    ({ json } = await validate(keel, 'model: smart\n'));
    assert.deepEqual([json.errors[0].line, json.errors[0].message], [1, 'missing required key "name"']);
    ({ json } = await validate(keel, `name: other\nmodel: smart\ninstructions: ${path.join(dir, 'missing.prompty')}\n`));
    // The file is read as the copilot is loaded (without the local engine's Jinja, refused).
    assert.deepEqual([json.errors[0].line, json.errors[0].column, json.errors[0].path], [3, 1, 'instructions']);
    assert.doesNotMatch(json.errors[0].message, /keel\.yaml/);
  });

  test('POST /admin/copilots/validate: a body that is not {yaml} is a 400 in OpenAI\'s shape', async () => {
    for (const body of ['not json', { yml: 'name: x' }, { yaml: 3 }]) {
      const { status, json } = await call(keel, '/admin/copilots/validate', { body });
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(json.error.type, 'invalid_request_error');
    }
  });
});
