// log_retention end to end: a request log filled through the official openai SDK, some of it
// aged by hand, then keel restarted with limits; its pass at start must delete exactly the
// requests past them, with their attempts, and keep the newest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import {
  startKeel, makeClient, fakeProvider, waitFor, runKeel, scrapeMetrics, metricSum,
} from './harness.mjs';

const DAY_MS = 24 * 60 * 60 * 1000;
let fake;
let dir;
let db;

before(async () => {
  fake = await startFakeOpenAI();
  dir = mkdtempSync(path.join(tmpdir(), 'keel-retention-'));
  db = path.join(dir, 'log.db');
});

after(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sqlite = (sql) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
const startOnDb = (extra = {}) => startKeel({
  providers: [fakeProvider('up', fake)],
  models: [{ name: 'fast', retries: 0, targets: [{ provider: 'up', model: 'echo-retention' }] }],
  extra: { state: `sqlite:${db}`, ...extra },
});

test('log_retention deletes requests past its limits at start, with their attempts', async () => {
  // 12 requests, half of them streamed, through a keel without retention.
  const first = await startOnDb();
  try {
    const client = makeClient(first);
    for (let i = 0; i < 12; i++) {
      if (i % 2) {
        const stream = await client.chat.completions.create({
          model: 'fast', messages: [{ role: 'user', content: `n${i}` }], stream: true,
        });
        for await (const chunk of stream) void chunk;
      } else {
        const answer = await client.chat.completions.create({
          model: 'fast', messages: [{ role: 'user', content: `n${i}` }],
        });
        assert.ok(answer.choices[0].message.content);
      }
    }
  } finally {
    await first.stop();
    first.cleanup();
  }
  assert.equal(sqlite('select count(*) from requests'), '12');
  assert.equal(sqlite('select count(*) from attempts'), '12');
  const ids = sqlite('select id from requests order by rowid').split('\n');
  // The first five started 40 days ago, as far as the log knows.
  sqlite(`update requests set started_ms = started_ms - ${40 * DAY_MS} where rowid in (select rowid from requests order by rowid limit 5)`);

  // 30 days: those five go; at most 4 requests: of the other seven, the three oldest go too.
  const second = await startOnDb({ log_retention: { days: 30, max_requests: 4 } });
  try {
    assert.ok(await waitFor(() => sqlite('select count(*) from requests') === '4', 5000, 20),
      `requests left: ${sqlite('select count(*) from requests')}`);
    assert.deepEqual(sqlite('select id from requests order by rowid').split('\n'), ids.slice(8));
    assert.equal(sqlite('select count(*) from attempts'), '4');
    assert.equal(sqlite('select count(*) from attempts where request_id not in (select id from requests)'), '0');
    assert.equal(sqlite('pragma integrity_check'), 'ok');
    assert.ok(await waitFor(() => /log_retention deleted 8 requests/.test(second.stderr), 2000, 20),
      second.stderr);
    const { samples } = await scrapeMetrics(second);
    assert.equal(metricSum(samples, 'keel_request_log_pruned_total'), 8);
    assert.equal(metricSum(samples, 'keel_request_log_dropped_total'), 0);
    assert.equal(metricSum(samples, 'keel_request_log_failed_total'), 0);
    assert.ok(samples.some((m) => m.name === 'keel_request_log_queue'));
    // keel goes on logging after its pass.
    const answer = await makeClient(second).chat.completions.create({
      model: 'fast', messages: [{ role: 'user', content: 'after' }],
    });
    assert.ok(answer.choices[0].message.content);
  } finally {
    await second.stop();
    second.cleanup();
  }
  assert.equal(sqlite('select count(*) from requests'), '5');   // the next pass is a minute away
});

test('log_retention of zeros keeps every request, however old', async () => {
  const before = Number(sqlite('select count(*) from requests'));
  assert.ok(before > 0);
  sqlite(`update requests set started_ms = started_ms - ${400 * DAY_MS}`);
  const keel = await startOnDb({ log_retention: { days: 0, max_requests: 0 } });
  try {
    assert.match(keel.stderr, /request log: keeps every request \(log_retention is off\)/);
    const answer = await makeClient(keel).chat.completions.create({
      model: 'fast', messages: [{ role: 'user', content: 'kept' }],
    });
    assert.ok(answer.choices[0].message.content);
  } finally {
    await keel.stop();
    keel.cleanup();
  }
  assert.equal(Number(sqlite('select count(*) from requests')), before + 1);
  assert.ok(!/log_retention deleted/.test(keel.stderr), keel.stderr);
});

test('keel config check refuses a bad log_retention with file, line and key', async () => {
  const config = path.join(dir, 'bad.yaml');
  execFileSync('sh', ['-c', `printf 'log_retention:\\n  days: -3\\n' > '${config}'`]);
  const out = await runKeel(['config', 'check', config]);
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /bad\.yaml:2: log_retention\.days: must be at least 0, got -3/);
});
