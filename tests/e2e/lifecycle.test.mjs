// keel's process life: start-up on an ephemeral port, ${VAR} interpolation in the config, a
// config that does not load, and SIGTERM while a stream is in flight (it finishes, exit 0).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import {
  KEEL_BIN, requireKeelBin, startKeel, makeClient, fakeProvider, getText, sseData, requestsOf, toYaml,
} from './harness.mjs';

let fake;
before(async () => {
  fake = await startFakeOpenAI();
});
after(async () => {
  await fake?.close();
});

const model = (name, target) => ({
  name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 2000, targets: [{ provider: 'up', model: target }],
});

// Runs keel with a config and waits for it to exit on its own (it should refuse to start).
async function runToExit(configText, timeoutMs = 5000) {
  requireKeelBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-e2e-bad-'));
  const file = path.join(dir, 'keel.yaml');
  writeFileSync(file, configText);
  const proc = spawn(KEEL_BIN, ['serve', '--config', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const result = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve({ code: null, timedOut: true });
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut: false });
    });
  });
  rmSync(dir, { recursive: true, force: true });
  return { ...result, out };
}

describe('configuration', () => {
  test('${VAR} in the config is taken from the environment', async () => {
    const keel = await startKeel({
      providers: [{ name: 'up', kind: 'openai', base_url: fake.url, api_key: '${KEEL_E2E_UPSTREAM_KEY}' }],
      models: [model('chat', 'ok-env')],
      env: { KEEL_E2E_UPSTREAM_KEY: 'sk-from-env' },
    });
    try {
      const r = await makeClient(keel).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.choices[0].message.content, FAKE_TEXT);
      assert.equal(fake.requestsFor('ok-env')[0].headers.authorization, 'Bearer sk-from-env');
      assert.ok(!keel.stderr.includes('sk-from-env'), 'the key is never logged');
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('a model naming an unknown provider: keel refuses to start, saying why', async () => {
    const text = `${toYaml({
      listen: '127.0.0.1:0',
      state: `sqlite:${path.join(tmpdir(), 'keel-e2e-never-used.db')}`,
      providers: [{ name: 'up', kind: 'openai', base_url: fake.url, api_key: 'k' }],
      models: [{ name: 'chat', targets: [{ provider: 'nobody', model: 'ok' }] }],
    })}\n`;
    const { code, timedOut, out } = await runToExit(text);
    assert.equal(timedOut, false, 'keel exited on its own');
    assert.notEqual(code, 0);
    assert.match(out, /nobody/, `the message names the bad reference:\n${out}`);
  });

  test('YAML that does not parse: keel refuses to start', async () => {
    const { code, timedOut } = await runToExit('listen: [127.0.0.1:0\nproviders: {{{\n');
    assert.equal(timedOut, false);
    assert.notEqual(code, 0);
  });
});

describe('shutdown', () => {
  test('SIGTERM while a stream is in flight: the stream completes, then exit 0; rows flushed', async () => {
    const keel = await startKeel({
      providers: [fakeProvider('up', fake)],
      models: [model('slow', 'slow-stream-8x100'), model('chat', 'ok')],
      extra: { server: { max_body_bytes: 8388608, shutdown_grace_ms: 3000 } },
    });
    try {
      const res = await fetch(`${keel.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      const t0 = Date.now();
      const stopped = keel.stop(); // SIGTERM now, while the stream is in flight
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      const events = sseData(text);
      assert.equal(events.at(-1), '[DONE]', 'the in-flight stream finished normally');
      const content = events.slice(0, -1).map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? '').join('');
      assert.equal(content, '0 1 2 3 4 5 6 7 ');
      const { code, signal } = await stopped;
      assert.equal(signal, null, keel.stderr);
      assert.equal(code, 0, keel.stderr);
      assert.ok(Date.now() - t0 < 3000, 'exit within the grace period');
      const rows = requestsOf(keel.dbPath, 'slow');
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 200);
      assert.ok(!rows[0].error_class);
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('an idle keel exits 0 at once on SIGTERM', async () => {
    const keel = await startKeel({ providers: [fakeProvider('up', fake)], models: [model('chat', 'ok')] });
    try {
      const health = await getText(keel, '/healthz');
      assert.equal(health.status, 200);
      const t0 = Date.now();
      const { code } = await keel.stop();
      assert.equal(code, 0, keel.stderr);
      assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
    } finally {
      keel.cleanup();
    }
  });
});
