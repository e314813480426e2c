// The built-in config `make run` uses when there is no keel.yaml: every hosted vendor whose key
// is in the environment, and "default" failing over across them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { runKeel, waitFor, KEEL_BIN } from './harness.mjs';

const STORIES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared/models/stories260K.gguf');
const NO_KEYS = {
  OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, ANTHROPIC_API_KEY: undefined,
  GEMINI_API_KEY: undefined, AZURE_OPENAI_API_KEY: undefined, AZURE_OPENAI_ENDPOINT: undefined,
  KEEL_OPENAI_MODELS: undefined, KEEL_AZURE_MODELS: undefined, KEEL_MODEL: undefined,
};

// Whether this keel has the local engine (sanitizer builds leave llama.cpp out).
const LOCAL = spawnSync(KEEL_BIN, ['fixture', '--help']).stderr?.toString().includes('not built') ? false : true;

test('no keys: the local engine is the default', async () => {
  const out = await runKeel(['models'], { env: { ...NO_KEYS, KEEL_MODEL: undefined } });
  assert.equal(out.code, 0);
  if (LOCAL) {
    assert.match(out.stdout, /^default {2}\(failover\)\n {4}-> local\/default {2}\[local\]/);
  } else {
    assert.match(out.stdout, /no models configured \(<built-in>\)/);
  }
});

// Starts `keel serve` on the built-in config with `env`, in `dir` (its keel.db is the log; a
// fresh folder, removed at stop, when not given); resolves {port, stderr, stop}.
async function serveBuiltIn(env, { dir: given } = {}) {
  const dir = given ?? mkdtempSync(path.join(tmpdir(), 'keel-defaults-'));
  const proc = spawn(KEEL_BIN, ['serve', '--listen', '127.0.0.1:0'], {
    cwd: dir,
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in NO_KEYS))), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 20000);
    proc.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once('exit', (code) => reject(new Error(`keel exited (${code}): ${stderr}`)));
  });
  const stop = async () => {
    proc.kill('SIGTERM');
    await new Promise((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', resolve)));
    if (!given) rmSync(dir, { recursive: true, force: true });
  };
  return { port, stderr: () => stderr, stop, dir };
}

test('no keys and no network: a generated fixture model, said loudly', { skip: !LOCAL && 'no local engine in this keel' }, async () => {
  const models = mkdtempSync(path.join(tmpdir(), 'keel-models-'));
  // Port 1 on loopback refuses at once: a machine without network, as far as the pull can tell.
  const keel = await serveBuiltIn({ KEEL_MODELS_DIR: models, KEEL_HF_ENDPOINT: 'http://127.0.0.1:1', KEEL_MODEL: '' });
  try {
    assert.match(keel.stderr(), /could not download hf:Qwen\/Qwen2\.5-0\.5B-Instruct-GGUF/);
    assert.match(keel.stderr(), /NOT MEANINGFUL/);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${keel.port}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    assert.equal(r.usage.completion_tokens, 4);
    assert.ok(existsSync(path.join(models, 'keel-fixture-llama.gguf')));
    assert.ok(!existsSync(path.join(models, 'qwen2.5-0.5b-instruct-q4_k_m.gguf.part')), 'a failed pull leaves nothing');
  } finally {
    await keel.stop();
    rmSync(models, { recursive: true, force: true });
  }
});

test('KEEL_MODEL: the built-in default serves that file', { skip: (!LOCAL && 'no local engine in this keel') || (!existsSync(STORIES) && `needs ${STORIES}`) }, async () => {
  const keel = await serveBuiltIn({ KEEL_MODEL: STORIES, KEEL_MODELS_DIR: path.join(tmpdir(), 'keel-unused-models') });
  try {
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${keel.port}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12, temperature: 0 });
    assert.ok(r.choices[0].message.content.startsWith(', there was a little girl named Lily'), r.choices[0].message.content);
  } finally {
    await keel.stop();
  }
});

test('keys in the environment: each vendor and a failover "default"', async () => {
  const out = await runKeel(['models'], {
    env: { ...NO_KEYS, OPENAI_API_KEY: 'sk-canary-a', ANTHROPIC_API_KEY: 'sk-canary-b', GEMINI_API_KEY: 'g' },
  });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^default {2}\(failover\)\n {4}-> openai\/gpt-4o-mini {2}\[openai\]\n {4}-> anthropic\/claude-sonnet-4-5 {2}\[anthropic\]\n {4}-> gemini\/gemini-2.5-flash {2}\[gemini\]/);
  assert.match(out.stdout, /claude-haiku-4-5/);
  assert.ok(!out.stdout.includes('sk-canary'), 'keys are never printed');
});

test('serve with OPENAI_BASE_URL: an OpenAI-compatible server answers "default"', async () => {
  const fake = await startFakeOpenAI();
  const keel = await serveBuiltIn({ OPENAI_API_KEY: '', OPENAI_BASE_URL: fake.url, KEEL_OPENAI_MODELS: 'ok,echo' });
  try {
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${keel.port}/v1`, apiKey: 'x', maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['default', 'echo', 'ok']);
    const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
  } finally {
    await keel.stop();
    await fake.close();
  }
});

test('the built-in config bounds the request log: 30 days, 10 million requests', async () => {
  const fake = await startFakeOpenAI();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-defaults-log-'));
  const env = { OPENAI_API_KEY: '', OPENAI_BASE_URL: fake.url, KEEL_OPENAI_MODELS: 'ok' };
  const sqlite = (sql) => execFileSync('sqlite3', [path.join(dir, 'keel.db'), sql], { encoding: 'utf8' }).trim();
  try {
    const first = await serveBuiltIn(env, { dir });
    try {
      assert.match(first.stderr(), /request log: keeps 30 days \(0: no limit\) and at most 10000000 requests/);
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${first.port}/v1`, apiKey: 'x', maxRetries: 0 });
      for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'ok', messages: [{ role: 'user', content: `n${i}` }] });
    } finally {
      await first.stop();
    }
    assert.equal(sqlite('select count(*) from requests'), '3');
    // One of them started 31 days ago, as far as the log knows: the next keel's pass at start
    // deletes it, with no log_retention anywhere.
    sqlite(`update requests set started_ms = started_ms - ${31 * 24 * 3600 * 1000} where rowid = (select min(rowid) from requests)`);
    const second = await serveBuiltIn(env, { dir });
    try {
      assert.ok(await waitFor(() => /log_retention deleted 1 requests/.test(second.stderr()), 5000, 20), second.stderr());
      assert.equal(sqlite('select count(*) from requests'), '2');
      assert.equal(sqlite('select count(*) from attempts where request_id not in (select id from requests)'), '0');
    } finally {
      await second.stop();
    }
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
