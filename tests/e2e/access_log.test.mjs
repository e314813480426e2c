// The access log (issue 17): one stderr line per request, with `access_log: true` in the config
// or at KEEL_LOG_LEVEL=debug, and none at the default level without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, makeClient, fakeProvider, waitFor, UPSTREAM_KEY } from './harness.mjs';

const LINE = /access (req_\S+) \/v1\/chat\/completions model=logged target=up\/ok status=200 ms=\d+ ttft_ms=\d+ tokens=5\+3 attempts=1/;

async function run({ extra = {}, env = {} }) {
  const fake = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
  const keel = await startKeel({
    providers: [fakeProvider('up', fake)],
    models: [{ name: 'logged', targets: [{ provider: 'up', model: 'ok' }] }],
    extra,
    env,
  });
  try {
    const answer = await makeClient(keel).chat.completions.create({ model: 'logged', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(answer.choices[0].message.content);
    await makeClient(keel).chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }).catch(() => {});
    await waitFor(() => /status=404/.test(keel.stderr) || !/access /.test(keel.stderr), 500);
    return keel.stderr;
  } finally {
    await keel.stop();
    await fake.close();
  }
}

test('access_log: true writes one line per request', async () => {
  const stderr = await run({ extra: { access_log: true } });
  assert.match(stderr, LINE);
  assert.match(stderr, /access req_\S+ \/v1\/chat\/completions model=nope target=- status=404 .* attempts=0 error=not_found/);
  assert.equal(stderr.match(/access req_/g).length, 2);
});

test('KEEL_LOG_LEVEL=debug writes it too; the default level does not', async () => {
  assert.match(await run({ env: { KEEL_LOG_LEVEL: 'debug' } }), LINE);
  assert.doesNotMatch(await run({}), /access req_/);
});
