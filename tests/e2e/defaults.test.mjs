// The built-in config `make run` uses when there is no keel.yaml: every hosted vendor whose key
// is in the environment, and "default" failing over across them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { runKeel, KEEL_BIN } from './harness.mjs';

const NO_KEYS = {
  OPENAI_API_KEY: undefined, OPENAI_BASE_URL: undefined, ANTHROPIC_API_KEY: undefined,
  GEMINI_API_KEY: undefined, AZURE_OPENAI_API_KEY: undefined, AZURE_OPENAI_ENDPOINT: undefined,
  KEEL_OPENAI_MODELS: undefined, KEEL_AZURE_MODELS: undefined,
};

test('no keys: no models, said plainly', async () => {
  const out = await runKeel(['models'], { env: NO_KEYS });
  assert.equal(out.code, 0);
  assert.match(out.stdout, /no models configured \(<built-in>\)/);
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
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-defaults-'));
  const proc = spawn(KEEL_BIN, ['serve', '--listen', '127.0.0.1:0'], {
    cwd: dir,
    env: { ...process.env, ...Object.fromEntries(Object.entries(NO_KEYS).filter(([, v]) => v !== undefined)),
      OPENAI_API_KEY: '', OPENAI_BASE_URL: fake.url, KEEL_OPENAI_MODELS: 'ok,echo' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    let stderr = '';
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 10000);
      proc.stderr.on('data', (d) => {
        stderr += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id).sort(), ['default', 'echo', 'ok']);
    const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, FAKE_TEXT);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((resolve) => proc.once('exit', resolve));
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
