// Vector store file attributes and the filters that select by them, through the openai SDK
// unchanged: attributes given when a file is added (one by one or in a batch, globally or per
// file) and replaced by files.update; POST /v1/vector_stores/{id}/search with OpenAI's
// ComparisonFilter and CompoundFilter; bad filters and attributes answered in OpenAI's error
// shape. And cancelling a file batch: files not indexed yet become "cancelled" and never reach
// search. Embeddings come from the fake upstream (hashed-embedding; slow-embedding-N answers
// the same N ms late, so that a batch is still running when it is cancelled).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { startKeel, makeClient, fakeProvider, postJSON, errorOf, waitFor } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';

const NOTES = [
  ['alpha.md', '# Alpha service\n\nThe alpha service restarts every night at two in the morning.\n', { team: 'ops', year: 2023, public: true }],
  ['bravo.md', '# Bravo service\n\nThe bravo service restarts every Sunday at noon.\n', { team: 'dev', year: 2024, public: false }],
  ['charlie.md', '# Charlie service\n\nThe charlie service restarts after every deploy.\n', { team: 'ops', year: 2025 }],
];

let fake;
let keel;
let client;
const ids = {};

before(async () => {
  fake = await startFakeOpenAI();
  keel = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [{ name: 'embed', targets: [{ provider: 'fake', model: 'hashed-embedding' }] }],
    extra: { vector_stores: { embedding_model: 'embed', chunk_tokens: 64, overlap_tokens: 8 } },
  });
  client = makeClient(keel);
  for (const [name, text] of NOTES) {
    ids[name] = (await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' })).id;
  }
});

after(async () => {
  await keel?.stop();
  await fake?.close();
});

// The file names a search of the store finds for "when does the service restart", with `filters`.
async function found(store, filters) {
  const page = await client.vectorStores.search(store.id, { query: 'when does the service restart', filters, max_num_results: 10 });
  for (const result of page.data) {
    const note = NOTES.find(([name]) => name === result.filename);
    assert.deepEqual(result.attributes, note[2]);
  }
  return page.data.map((r) => r.filename).sort();
}

test('vector store file attributes: set on add and in batches, updated, and filtered on search', { timeout: 60000 }, async () => {
  const store = await client.vectorStores.create({ name: 'services' });
  const alpha = await client.vectorStores.files.createAndPoll(store.id, { file_id: ids['alpha.md'], attributes: NOTES[0][2] });
  assert.equal(alpha.status, 'completed');
  assert.deepEqual(alpha.attributes, NOTES[0][2]);
  const batch = await client.vectorStores.fileBatches.createAndPoll(store.id, {
    files: [{ file_id: ids['bravo.md'], attributes: NOTES[1][2] }, { file_id: ids['charlie.md'], attributes: { team: 'nobody' } }],
  });
  assert.equal(batch.status, 'completed');
  assert.equal(batch.file_counts.completed, 2);
  // files.update replaces a file's attributes.
  const updated = await client.vectorStores.files.update(ids['charlie.md'], { vector_store_id: store.id, attributes: NOTES[2][2] });
  assert.deepEqual(updated.attributes, NOTES[2][2]);
  const listed = await client.vectorStores.files.list(store.id);
  assert.deepEqual(Object.fromEntries(listed.data.map((f) => [f.id, f.attributes])),
    Object.fromEntries(NOTES.map(([name, , attributes]) => [ids[name], attributes])));

  assert.deepEqual(await found(store), ['alpha.md', 'bravo.md', 'charlie.md']);
  assert.deepEqual(await found(store, { type: 'eq', key: 'team', value: 'ops' }), ['alpha.md', 'charlie.md']);
  assert.deepEqual(await found(store, { type: 'ne', key: 'team', value: 'ops' }), ['bravo.md']);
  assert.deepEqual(await found(store, { type: 'gte', key: 'year', value: 2024 }), ['bravo.md', 'charlie.md']);
  assert.deepEqual(await found(store, { type: 'lt', key: 'year', value: 2024 }), ['alpha.md']);
  assert.deepEqual(await found(store, { type: 'in', key: 'year', value: [2023, 2025] }), ['alpha.md', 'charlie.md']);
  assert.deepEqual(await found(store, { type: 'nin', key: 'team', value: ['dev', 'qa'] }), ['alpha.md', 'charlie.md']);
  // A boolean equals only a boolean; a file without the attribute never equals it.
  assert.deepEqual(await found(store, { type: 'eq', key: 'public', value: true }), ['alpha.md']);
  assert.deepEqual(await found(store, { type: 'eq', key: 'year', value: '2023' }), []);
  assert.deepEqual(await found(store, {
    type: 'and', filters: [{ type: 'eq', key: 'team', value: 'ops' }, { type: 'gt', key: 'year', value: 2023 }],
  }), ['charlie.md']);
  assert.deepEqual(await found(store, {
    type: 'or', filters: [{ type: 'eq', key: 'team', value: 'dev' },
      { type: 'and', filters: [{ type: 'eq', key: 'public', value: true }, { type: 'lte', key: 'year', value: 2023 }] }],
  }), ['alpha.md', 'bravo.md']);
  // Attributes cleared with null: the file no longer matches.
  await client.vectorStores.files.update(ids['alpha.md'], { vector_store_id: store.id, attributes: null });
  const cleared = await client.vectorStores.search(store.id, { query: 'alpha restarts', filters: { type: 'eq', key: 'team', value: 'ops' } });
  assert.deepEqual(cleared.data.map((r) => r.filename), ['charlie.md']);
});

test('bad filters and attributes get OpenAI-shaped 400s', async () => {
  const store = await client.vectorStores.create({ name: 'errors' });
  const search = (filters) => postJSON(keel, `/v1/vector_stores/${store.id}/search`, { query: 'x', filters });
  for (const [filters, param] of [
    [{ type: 'like', key: 'team', value: 'o%' }, 'filters.type'],
    [{ type: 'eq', value: 'ops' }, 'filters.key'],
    [{ type: 'eq', key: 'team', value: { nested: true } }, 'filters.value'],
    [{ type: 'in', key: 'team', value: 'ops' }, 'filters.value'],
    [{ type: 'and', filters: [] }, 'filters.filters'],
    [{ type: 'or', filters: [{ type: 'eq', key: 'a', value: 1 }, { type: 'gt', key: 'b' }] }, 'filters.filters[1].value'],
    ['team = ops', 'filters'],
  ]) {
    const res = await search(filters);
    assert.equal(res.status, 400, JSON.stringify(filters));
    assert.equal(errorOf(res.json).param, param, JSON.stringify(filters));
  }
  const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
  for (const [attributes, param] of [[tooMany, 'attributes'], [{ team: ['ops'] }, 'attributes.team'],
    [{ note: 'x'.repeat(513) }, 'attributes.note'], ['ops', 'attributes']]) {
    const res = await postJSON(keel, `/v1/vector_stores/${store.id}/files`, { file_id: ids['alpha.md'], attributes });
    assert.equal(res.status, 400);
    assert.equal(errorOf(res.json).param, param);
  }
  const batch = await postJSON(keel, `/v1/vector_stores/${store.id}/file_batches`,
    { files: [{ file_id: ids['alpha.md'], attributes: { ok: 1 } }, { file_id: ids['bravo.md'], attributes: { bad: null } }] });
  assert.equal(batch.status, 400);
  assert.equal(errorOf(batch.json).param, 'files[1].attributes.bad');
  const update = await postJSON(keel, `/v1/vector_stores/${store.id}/files/${ids['alpha.md']}`, {});
  assert.equal(update.status, 400);
  assert.equal(errorOf(update.json).param, 'attributes');
  await assert.rejects(client.vectorStores.files.update('file-nope', { vector_store_id: store.id, attributes: {} }),
    (err) => err.status === 404 && /file-nope/.test(err.message));
});

test('cancelling a file batch stops the files not indexed yet', { timeout: 60000 }, async () => {
  const slow = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [{ name: 'embed', targets: [{ provider: 'fake', model: 'slow-embedding-400' }] }],
    extra: { vector_stores: { embedding_model: 'embed', chunk_tokens: 64, overlap_tokens: 8 } },
  });
  try {
    const slowClient = makeClient(slow);
    const files = [];
    for (let i = 0; i < 6; i++) {
      const text = `# Shelf ${i}\n\nShelf ${i} holds the archive boxes of year ${2000 + i}.\n`;
      files.push((await slowClient.files.create({ file: await toFile(Buffer.from(text), `shelf${i}.md`), purpose: 'assistants' })).id);
    }
    const store = await slowClient.vectorStores.create({ name: 'shelves' });
    const batch = await slowClient.vectorStores.fileBatches.create(store.id, { file_ids: files });
    assert.equal(batch.status, 'in_progress');
    assert.equal(batch.file_counts.in_progress, 6);
    // Once the first file is in, cancel: the one being indexed finishes, the rest never start.
    assert.ok(await waitFor(async () => (await slowClient.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: store.id }))
      .file_counts.completed >= 1, 10000, 50));
    const cancelled = await slowClient.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id });
    assert.ok(cancelled.file_counts.cancelled >= 1, JSON.stringify(cancelled.file_counts));
    const final = await slowClient.vectorStores.fileBatches.poll(store.id, batch.id, { pollIntervalMs: 100 });
    assert.equal(final.status, 'cancelled');
    const counts = final.file_counts;
    assert.equal(counts.in_progress, 0);
    assert.ok(counts.completed >= 1 && counts.completed <= 3, JSON.stringify(counts));
    assert.equal(counts.completed + counts.cancelled, 6, JSON.stringify(counts));
    const byStatus = {};
    for await (const file of slowClient.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id })) {
      byStatus[file.status] = [...(byStatus[file.status] ?? []), file.id];
    }
    assert.equal(byStatus.cancelled.length, counts.cancelled);
    const cancelledOnly = await slowClient.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id, filter: 'cancelled' });
    assert.deepEqual(cancelledOnly.data.map((f) => f.id).sort(), [...byStatus.cancelled].sort());
    // Nothing of a cancelled file is searchable; the store counts it as cancelled.
    const hits = await slowClient.vectorStores.search(store.id, { query: 'which shelf holds the archive boxes', max_num_results: 10 });
    assert.ok(hits.data.length >= 1);
    assert.ok(hits.data.every((r) => byStatus.completed.includes(r.file_id)), JSON.stringify({ byStatus, hits: hits.data.map((r) => r.file_id) }));
    const storeNow = await slowClient.vectorStores.retrieve(store.id);
    assert.equal(storeNow.status, 'completed');
    assert.equal(storeNow.file_counts.cancelled, counts.cancelled);
    // A second cancel changes nothing; an unknown batch is a 404.
    assert.deepEqual(await slowClient.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id }), final);
    await assert.rejects(slowClient.vectorStores.fileBatches.cancel('vsfb_nope', { vector_store_id: store.id }),
      (err) => err.status === 404 && /vsfb_nope/.test(err.message));
  } finally {
    await slow.stop();
    slow.cleanup();
  }
});
