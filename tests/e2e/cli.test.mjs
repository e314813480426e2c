// keel's command line: `config check`, `models`, `version`, an unknown command, `serve`
// refusing an exposed listen address without api_keys, and `keel chat` against a running keel.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { runKeel, startKeel, fakeProvider, toYaml, CLIENT_KEY } from './harness.mjs';

let fake;
let dir;
before(async () => {
  fake = await startFakeOpenAI();
  dir = mkdtempSync(path.join(tmpdir(), 'keel-e2e-cli-'));
});
after(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name, text) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const model = (name, ...targets) => ({
  name,
  strategy: 'failover',
  retries: 0,
  timeout_ms: 5000,
  first_token_timeout_ms: 2000,
  targets: targets.map((t) => ({ provider: 'up', model: t })),
});

const show = (r) => `exit ${r.code} (signal ${r.signal}, timed out ${r.timedOut})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

describe('keel config check', () => {
  test('a valid file: prints ok, exit 0', async () => {
    const file = writeConfig('good.yaml', `${toYaml({
      listen: '127.0.0.1:0',
      providers: [{ name: 'up', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k' }],
      models: [model('chat', 'ok')],
    })}\n`);
    const r = await runKeel(['config', 'check', file]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\bok\b/, show(r));
    assert.doesNotMatch(r.stderr, /warning/i, show(r));
  });

  test('a bad file: exit 1, stderr names file:line and the key', async () => {
    const text = [
      'listen: 127.0.0.1:0',
      'providers:',
      '  - name: up',
      '    kind: openai',
      '    base_url: "http://127.0.0.1:9/v1"',
      '    api_key: k',
      '    bogus_setting: 3', // line 7
      'models: []',
      '',
    ].join('\n');
    const file = writeConfig('bad.yaml', text);
    const r = await runKeel(['config', 'check', file]);
    assert.equal(r.code, 1, show(r));
    assert.ok(r.stderr.includes(`${file}:7`), `stderr names ${file}:7\n${show(r)}`);
    assert.match(r.stderr, /bogus_setting/, show(r));
    assert.doesNotMatch(r.stdout, /\bok\b/, show(r));
  });

  test('a bad value: exit 1, stderr names file:line, the key and the reason', async () => {
    const text = [
      'listen: 127.0.0.1:0',
      'providers: []',
      'models: []',
      'server:',
      '  max_in_flight: lots', // line 5
      '',
    ].join('\n');
    const file = writeConfig('badvalue.yaml', text);
    const r = await runKeel(['config', 'check', file]);
    assert.equal(r.code, 1, show(r));
    assert.ok(r.stderr.includes(`${file}:5`), `stderr names ${file}:5\n${show(r)}`);
    assert.match(r.stderr, /max_in_flight/, show(r));
  });

  test('a missing file: exit 1, the message names it', async () => {
    const file = path.join(dir, 'does-not-exist.yaml');
    const r = await runKeel(['config', 'check', file]);
    assert.equal(r.code, 1, show(r));
    assert.ok(r.stderr.includes(file), show(r));
  });

  test('${UNSET_VAR}: still ok, with a warning naming the variable', async () => {
    const file = writeConfig('unset.yaml', [
      'listen: 127.0.0.1:0',
      'providers:',
      '  - name: up',
      '    kind: openai',
      '    base_url: "http://127.0.0.1:9/v1"',
      '    api_key: ${KEEL_E2E_SURELY_UNSET_VAR}',
      'models:',
      '  - {name: chat, targets: [{provider: up, model: ok}]}',
      '',
    ].join('\n'));
    const r = await runKeel(['config', 'check', file], { env: { KEEL_E2E_SURELY_UNSET_VAR: undefined } });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\bok\b/, show(r));
    assert.match(r.stderr, /warning/i, show(r));
    assert.match(r.stderr, /KEEL_E2E_SURELY_UNSET_VAR/, show(r));
  });

  test('no file argument: a usage error (exit 2)', async () => {
    const r = await runKeel(['config', 'check']);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /usage/i, show(r));
  });
});

describe('keel models, version, unknown commands', () => {
  test('keel models --config FILE lists the public names and their targets', async () => {
    const file = writeConfig('models.yaml', `${toYaml({
      listen: '127.0.0.1:0',
      providers: [
        { name: 'up', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k' },
        { name: 'other', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k' },
      ],
      models: [
        model('smart', 'gpt-big', 'gpt-small'),
        { name: 'cheap', targets: [{ provider: 'other', model: 'tiny-1' }] },
      ],
    })}\n`);
    const r = await runKeel(['models', '--config', file]);
    assert.equal(r.code, 0, show(r));
    for (const name of ['smart', 'cheap']) {
      assert.match(r.stdout, new RegExp(`^${name}\\b`, 'm'), `public name ${name}\n${show(r)}`);
    }
    for (const target of ['up/gpt-big', 'up/gpt-small', 'other/tiny-1']) {
      assert.ok(r.stdout.includes(target), `target ${target}\n${show(r)}`);
    }
    // Each target is listed under its own public name.
    const smart = r.stdout.indexOf('smart');
    const cheap = r.stdout.indexOf('cheap');
    assert.ok(smart < r.stdout.indexOf('up/gpt-big') && r.stdout.indexOf('up/gpt-small') < cheap, show(r));
    assert.ok(cheap < r.stdout.indexOf('other/tiny-1'), show(r));
  });

  test('keel models --config on a bad file: exit 1 with the reason', async () => {
    const file = writeConfig('models-bad.yaml', 'listen: 127.0.0.1:0\nmodels: [{name: x, targets: [{provider: nobody, model: m}]}]\n');
    const r = await runKeel(['models', '--config', file]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /nobody/, show(r));
  });

  test('keel version prints a version, exit 0', async () => {
    const r = await runKeel(['version']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^keel \d+\.\d+\.\d+ \((local engine: llama\.cpp|no local engine: built without llama\.cpp)\)$/m, show(r));
  });

  test('an unknown command exits 2 and says which', async () => {
    const r = await runKeel(['frobnicate']);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /frobnicate/, show(r));
    assert.match(r.stderr, /usage/i, show(r));
  });

  test('no command at all: usage, exit 2', async () => {
    const r = await runKeel([]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /usage/i, show(r));
  });
});

describe('keel serve refuses an exposed address without api_keys', () => {
  test('--listen 0.0.0.0:0 with no api_keys: exit 1, a clear message', async () => {
    const file = writeConfig('loopback.yaml', `${toYaml({
      listen: '127.0.0.1:0',
      state: `sqlite:${path.join(dir, 'never.db')}`,
      api_keys: [],
      providers: [fakeProvider('up', fake)],
      models: [model('chat', 'ok')],
    })}\n`);
    const r = await runKeel(['serve', '--config', file, '--listen', '0.0.0.0:0'], { timeoutMs: 4000 });
    assert.equal(r.timedOut, false, `keel must refuse, not serve\n${show(r)}`);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /api_keys/, show(r));
    assert.match(r.stderr, /0\.0\.0\.0/, show(r));
    assert.doesNotMatch(r.stderr, /listening on/, show(r));
  });

  test('listen: 0.0.0.0 in the file with no api_keys: refused too (exit 1)', async () => {
    const file = writeConfig('exposed.yaml', `${toYaml({
      listen: '0.0.0.0:0',
      state: `sqlite:${path.join(dir, 'never2.db')}`,
      providers: [fakeProvider('up', fake)],
      models: [model('chat', 'ok')],
    })}\n`);
    const r = await runKeel(['serve', '--config', file], { timeoutMs: 4000 });
    assert.equal(r.timedOut, false, `keel must refuse, not serve\n${show(r)}`);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /api_keys/, show(r));
  });
});

describe('keel chat against a running keel', () => {
  test('one line on stdin: the streamed answer on stdout, exit 0', async () => {
    const keel = await startKeel({ providers: [fakeProvider('up', fake)], models: [model('echoer', 'echo-cli')] });
    try {
      const r = await runKeel(['chat', 'echoer', '--url', keel.url], { input: 'hello\n', env: { KEEL_API_KEY: undefined } });
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.includes('echo: hello'), show(r));
      assert.doesNotMatch(r.stderr, /error/i, show(r));
      const sent = fake.requestsFor('echo-cli');
      assert.equal(sent.length, 1);
      assert.equal(sent[0].body.stream, true, 'keel chat streams');
      assert.deepEqual(sent[0].body.messages, [{ role: 'user', content: 'hello' }]);
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('two turns: the second request carries the conversation so far', async () => {
    const keel = await startKeel({ providers: [fakeProvider('up', fake)], models: [model('plain', 'ok-cli-2turn')] });
    try {
      const r = await runKeel(['chat', 'plain', '--url', keel.url], { input: 'first\nsecond\n' });
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stdout.split(FAKE_TEXT).length - 1, 2, `two answers\n${show(r)}`);
      const sent = fake.requestsFor('ok-cli-2turn');
      assert.equal(sent.length, 2);
      assert.deepEqual(sent[1].body.messages, [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: FAKE_TEXT },
        { role: 'user', content: 'second' },
      ]);
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('KEEL_API_KEY authenticates to a keel that requires api_keys', async () => {
    const keel = await startKeel({
      providers: [fakeProvider('up', fake)],
      models: [model('echoer', 'echo-cli-key')],
      extra: { api_keys: [CLIENT_KEY] },
    });
    try {
      const r = await runKeel(['chat', 'echoer', '--url', keel.url], { input: 'hello\n', env: { KEEL_API_KEY: CLIENT_KEY } });
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.includes('echo: hello'), show(r));
      assert.equal(fake.requestsFor('echo-cli-key').length, 1);
      assert.ok(!r.stdout.includes(CLIENT_KEY) && !r.stderr.includes(CLIENT_KEY), 'the key is never printed');

      // Without the key: keel answers 401, which keel chat reports on stderr; no answer.
      const denied = await runKeel(['chat', 'echoer', '--url', keel.url], { input: 'hello\n', env: { KEEL_API_KEY: undefined } });
      assert.equal(denied.timedOut, false, show(denied));
      assert.match(denied.stderr, /401/, show(denied));
      assert.ok(!denied.stdout.includes('echo: hello'), show(denied));
      assert.equal(fake.requestsFor('echo-cli-key').length, 1, 'the denied request never reached the upstream');
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('KEEL_URL is the default --url', async () => {
    const keel = await startKeel({ providers: [fakeProvider('up', fake)], models: [model('echoer', 'echo-cli-env')] });
    try {
      const r = await runKeel(['chat', 'echoer'], { input: 'via env\n', env: { KEEL_URL: keel.url } });
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.includes('echo: via env'), show(r));
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('an unknown model: the error is reported on stderr', async () => {
    const keel = await startKeel({ providers: [fakeProvider('up', fake)], models: [model('echoer', 'echo-cli-x')] });
    try {
      const r = await runKeel(['chat', 'no-such-model', '--url', keel.url], { input: 'hello\n' });
      assert.equal(r.timedOut, false, show(r));
      assert.match(r.stderr, /404/, show(r));
      assert.match(r.stderr, /no-such-model/, show(r));
    } finally {
      await keel.stop();
      keel.cleanup();
    }
  });

  test('no MODEL: a usage error (exit 2)', async () => {
    const r = await runKeel(['chat']);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /usage/i, show(r));
  });
});

// A build without llama.cpp (-DKEEL_LOCAL=OFF: the sanitizer builds) refuses `kind: local` in
// both commands, saying why; a build with it takes the file (the model is loaded only by serve).
describe('kind local and the build', () => {
  test('config check and serve say when this build has no local engine', async () => {
    const version = await runKeel(['version']);
    const local = !/no local engine/.test(version.stdout);
    const file = writeConfig('local-kind.yaml', toYaml({
      listen: '127.0.0.1:0',
      providers: [{ name: 'mine', kind: 'local', model: path.join(dir, 'absent.gguf') }],
      models: [{ name: 'm', targets: [{ provider: 'mine', model: 'default' }] }],
    }) + '\n');
    const check = await runKeel(['config', 'check', file]);
    const why = /provider 'mine': kind 'local': this build of keel has no local engine \(it was built without llama\.cpp/;
    if (local) {
      assert.equal(check.code, 0, show(check));
      return;
    }
    assert.equal(check.code, 1, show(check));
    assert.match(check.stderr, why, show(check));
    assert.ok(check.stderr.startsWith(`${file}: `), show(check));
    const serve = await runKeel(['serve', '--config', file], { timeoutMs: 4000 });
    assert.equal(serve.timedOut, false, `keel must refuse, not serve\n${show(serve)}`);
    assert.equal(serve.code, 1, show(serve));
    assert.match(serve.stderr, why, show(serve));
  });
});
