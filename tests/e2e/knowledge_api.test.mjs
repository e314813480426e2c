// OpenAI's knowledge API on keel, driven by the official openai SDK unchanged: /v1/files
// (multipart upload, list, retrieve, content, delete) and /v1/vector_stores (create with files,
// add a file and poll, list, search, delete), objects visible only to the key that made them,
// and bad input answered in OpenAI's error shape. Embeddings come from the fake upstream's
// hashed-embedding model (tests/fakes/text_embedding.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { startKeel, makeClient, fakeProvider, postJSON, errorOf } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';

const OTHER_KEY = 'sk-other-client';
const SPEC_PDF = '/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf';

const ALPHA = '# Alpha service\n\nThe alpha service restarts every night at two in the morning.\n\n' +
  '## Backups\n\nBackups of alpha are kept for thirty days in the cold archive.\n';
const BRAVO = '<html><head><title>Bravo</title></head><body><h1>Bravo queue</h1>' +
  '<p>The bravo queue drains every hour; stuck messages go to the dead-letter queue.</p></body></html>';

let fake;
let keel;
let client;
let other;

before(async () => {
  fake = await startFakeOpenAI();
  keel = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [{ name: 'embed', targets: [{ provider: 'fake', model: 'hashed-embedding' }] }],
    extra: {
      api_keys: ['sk-test', OTHER_KEY],
      vector_stores: { embedding_model: 'embed', chunk_tokens: 64, overlap_tokens: 8 },
    },
  });
  client = makeClient(keel);
  other = new OpenAI({ baseURL: keel.url, apiKey: OTHER_KEY, maxRetries: 0, timeout: 15000 });
});

after(async () => {
  await keel?.stop();
  await fake?.close();
});

test('files and vector stores through the openai SDK: upload, add, search, owners, delete', { timeout: 60000 }, async () => {
  const alpha = await client.files.create({ file: await toFile(Buffer.from(ALPHA), 'alpha.md'), purpose: 'assistants' });
  assert.match(alpha.id, /^file-/);
  assert.equal(alpha.object, 'file');
  assert.equal(alpha.filename, 'alpha.md');
  assert.equal(alpha.bytes, Buffer.byteLength(ALPHA));
  const bravo = await client.files.create({ file: await toFile(Buffer.from(BRAVO), 'bravo.html'), purpose: 'assistants' });
  const binary = await client.files.create({
    file: await toFile(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1]), 'notes.txt'), purpose: 'assistants',
  });

  const listed = await client.files.list();
  assert.deepEqual(new Set(listed.data.map((f) => f.id)), new Set([alpha.id, bravo.id, binary.id]));
  assert.equal((await client.files.retrieve(alpha.id)).filename, 'alpha.md');
  assert.equal(await (await client.files.content(alpha.id)).text(), ALPHA);

  const store = await client.vectorStores.create({ name: 'runbooks', file_ids: [alpha.id], metadata: { team: 'ops' } });
  assert.match(store.id, /^vs_/);
  assert.equal(store.object, 'vector_store');
  assert.equal(store.name, 'runbooks');
  assert.deepEqual(store.metadata, { team: 'ops' });
  assert.equal(store.file_counts.completed, 1);

  const added = await client.vectorStores.files.createAndPoll(store.id, { file_id: bravo.id });
  assert.equal(added.status, 'completed');
  assert.equal(added.vector_store_id, store.id);
  const failed = await client.vectorStores.files.createAndPoll(store.id, { file_id: binary.id });
  assert.equal(failed.status, 'failed');
  assert.match(failed.last_error.message, /notes\.txt: a binary file, not text/);

  const files = await client.vectorStores.files.list(store.id);
  assert.equal(files.data.length, 3);
  const retrieved = await client.vectorStores.retrieve(store.id);
  assert.equal(retrieved.file_counts.completed, 2);
  assert.equal(retrieved.file_counts.failed, 1);

  const page = await client.vectorStores.search(store.id, { query: 'when does the bravo queue drain?', max_num_results: 3 });
  assert.ok(page.data.length >= 1);
  assert.equal(page.data[0].file_id, bravo.id);
  assert.equal(page.data[0].filename, 'bravo.html');
  assert.match(page.data[0].content[0].text, /drains every hour/);
  const backups = await client.vectorStores.search(store.id, { query: 'how long are alpha backups kept' });
  assert.equal(backups.data[0].file_id, alpha.id);
  assert.match(backups.data[0].content[0].text, /thirty days/);

  if (existsSync(SPEC_PDF)) {
    const pdf = await client.files.create({ file: await toFile(readFileSync(SPEC_PDF), 'mime-spec.pdf'), purpose: 'assistants' });
    const indexed = await client.vectorStores.files.createAndPoll(store.id, { file_id: pdf.id });
    assert.equal(indexed.status, 'completed');
    const mime = await client.vectorStores.search(store.id, { query: 'shared MIME-info database glob patterns' });
    assert.equal(mime.data[0].file_id, pdf.id);
  }

  // Another key sees none of it.
  assert.equal((await other.files.list()).data.length, 0);
  assert.equal((await other.vectorStores.list()).data.length, 0);
  await assert.rejects(other.vectorStores.retrieve(store.id), (err) => err.status === 404);
  await assert.rejects(other.files.retrieve(alpha.id), (err) => err.status === 404);

  // Removing a file from the store removes its chunks from search.
  const removed = await client.vectorStores.files.delete(bravo.id, { vector_store_id: store.id });
  assert.equal(removed.deleted, true);
  const after = await client.vectorStores.search(store.id, { query: 'bravo queue dead-letter' });
  assert.ok(after.data.every((r) => r.file_id !== bravo.id));

  const deletedFile = await client.files.delete(alpha.id);
  assert.deepEqual(deletedFile, { id: alpha.id, object: 'file', deleted: true });
  await assert.rejects(client.files.retrieve(alpha.id), (err) => err.status === 404);
  const deletedStore = await client.vectorStores.delete(store.id);
  assert.equal(deletedStore.deleted, true);
  await assert.rejects(client.vectorStores.retrieve(store.id), (err) => err.status === 404);
});

test('bad input on the knowledge API gets OpenAI-shaped errors', async () => {
  const boundary = 'keelTestBoundary';
  const noPurpose = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n# A\r\n--${boundary}--\r\n`;
  const res = await postJSON(keel, '/v1/files', noPurpose, { contentType: `multipart/form-data; boundary=${boundary}` });
  assert.equal(res.status, 400);
  assert.equal(errorOf(res.json).param, 'purpose');
  const truncated = await postJSON(keel, '/v1/files', `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\nno end`,
    { contentType: `multipart/form-data; boundary=${boundary}` });
  assert.equal(truncated.status, 400);
  assert.match(errorOf(truncated.json).message, /closing boundary/);
  const json = await postJSON(keel, '/v1/files', { purpose: 'assistants' });
  assert.equal(json.status, 415);
  const store = await client.vectorStores.create({ name: 'empty' });
  const noQuery = await postJSON(keel, `/v1/vector_stores/${store.id}/search`, { max_num_results: 3 });
  assert.equal(noQuery.status, 400);
  assert.equal(errorOf(noQuery.json).param, 'query');
  const tooMany = await postJSON(keel, `/v1/vector_stores/${store.id}/search`, { query: 'x', max_num_results: 500 });
  assert.equal(tooMany.status, 400);
  await assert.rejects(client.vectorStores.files.create(store.id, { file_id: 'file-nope' }), (err) => err.status === 404);
  const empty = await client.vectorStores.search(store.id, { query: 'anything' });
  assert.equal(empty.data.length, 0);
});

test('file batches and list pagination through the openai SDK: createAndPoll, auto-pagination, cursors', { timeout: 60000 }, async () => {
  const made = [];
  for (let i = 0; i < 5; i++) {
    const text = `# Note ${i}\n\nNote ${i} says that shelf ${i} holds the ${['red', 'green', 'blue', 'grey', 'gold'][i]} boxes.\n`;
    made.push(await client.files.create({ file: await toFile(Buffer.from(text), `note${i}.md`), purpose: 'assistants' }));
  }
  const ids = made.map((f) => f.id);
  // The SDK walks every page (limit 2), newest first as OpenAI lists.
  const walked = [];
  for await (const file of client.files.list({ limit: 2 })) walked.push(file.id);
  assert.equal(new Set(walked).size, walked.length);
  assert.deepEqual(walked.filter((id) => ids.includes(id)), [...ids].reverse());
  const first = await client.files.list({ limit: 2 });
  assert.deepEqual(first.data.map((f) => f.id), [ids[4], ids[3]]);
  assert.equal(first.has_more, true);
  const raw = await (await fetch(`${keel.url}/files?limit=2`, { headers: { authorization: 'Bearer sk-test' } })).json();
  assert.equal(raw.first_id, ids[4]);
  assert.equal(raw.last_id, ids[3]);
  const asc = await client.files.list({ limit: 2, order: 'asc', after: ids[1] });
  assert.deepEqual(asc.data.map((f) => f.id), [ids[2], ids[3]]);
  assert.equal(asc.has_more, true);
  const last = await client.files.list({ limit: 2, order: 'asc', after: ids[3] });
  assert.deepEqual(last.data.map((f) => f.id), [ids[4]]);
  assert.equal(last.has_more, false);
  const before = await client.files.list({ limit: 2, order: 'asc', before: ids[4] });
  assert.deepEqual(before.data.map((f) => f.id), [ids[2], ids[3]]);

  const store = await client.vectorStores.create({ name: 'batched' });
  const batch = await client.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: ids });
  assert.match(batch.id, /^vsfb_/);
  assert.equal(batch.object, 'vector_store.files_batch');
  assert.equal(batch.vector_store_id, store.id);
  assert.equal(batch.status, 'completed');
  assert.deepEqual(batch.file_counts, { in_progress: 0, completed: 5, failed: 0, cancelled: 0, total: 5 });
  assert.deepEqual(await client.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id }), batch);
  const inBatch = [];
  for await (const file of client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, limit: 2 })) {
    assert.equal(file.status, 'completed');
    inBatch.push(file.id);
  }
  assert.deepEqual(new Set(inBatch), new Set(ids));
  const failedOnes = await client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, filter: 'failed' });
  assert.equal(failedOnes.data.length, 0);
  const cancelled = await client.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id });
  assert.equal(cancelled.status, 'completed');
  const found = await client.vectorStores.search(store.id, { query: 'which shelf holds the gold boxes' });
  assert.equal(found.data[0].file_id, ids[4]);

  const storeFiles = [];
  for await (const file of client.vectorStores.files.list(store.id, { limit: 2 })) storeFiles.push(file.id);
  assert.deepEqual(storeFiles, [...ids].reverse());
  const stores = [];
  for await (const s of client.vectorStores.list({ limit: 1 })) stores.push(s.id);
  assert.equal(stores[0], store.id);
  assert.equal(new Set(stores).size, stores.length);

  // Errors in OpenAI's shape.
  await assert.rejects(client.vectorStores.fileBatches.retrieve('vsfb_nope', { vector_store_id: store.id }),
    (err) => err.status === 404 && /vsfb_nope/.test(err.message));
  await assert.rejects(client.vectorStores.fileBatches.create(store.id, { file_ids: [ids[0], 'file-nope'] }),
    (err) => err.status === 404 && /file-nope/.test(err.message));
  await assert.rejects(other.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id }), (err) => err.status === 404);
  const noIds = await postJSON(keel, `/v1/vector_stores/${store.id}/file_batches`, {});
  assert.equal(noIds.status, 400);
  assert.equal(errorOf(noIds.json).param, 'file_ids');
  await assert.rejects(client.files.list({ limit: 0 }), (err) => err.status === 400 && err.param === 'limit');
  await assert.rejects(client.vectorStores.list({ after: 'vs_nope' }), (err) => err.status === 400 && err.param === 'after');
});

test('a keel that no client asked for vector stores leaves no records behind', async () => {
  const idle = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [{ name: 'embed', targets: [{ provider: 'fake', model: 'hashed-embedding' }] }],
    extra: { vector_stores: { embedding_model: 'embed' } },
  });
  try {
    assert.equal((await fetch(`${idle.base}/healthz`)).status, 200);
    assert.equal(existsSync(`${idle.dir}/keel.db.knowledge`), false);
  } finally {
    await idle.stop();
    idle.cleanup();
  }
});
