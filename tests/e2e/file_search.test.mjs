// The Responses API's file_search tool over keel's own vector stores, driven by the official
// openai SDK unchanged (client.responses.create and .stream), on an OpenAI-kind and an
// Anthropic-kind upstream: keel offers the model a file_search function, runs the search, feeds
// the numbered passages back and turns the model's "[n]" markers into file_citation annotations.
// The upstream is the fakes' toolloop model (tests/fakes/fake_common.mjs: it calls file_search
// with a scripted query, then answers with what the tool said, markers included).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { toFile } from 'openai';
import { startKeel, makeClient, fakeProvider, anthropicProvider, postJSON, errorOf, UPSTREAM_KEY } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';

const OTHER_KEY = 'sk-other-client';
const ANT_KEY = 'sk-ant-upstream';
const QUERY = 'when does the alpha service restart';
const ALPHA = '# Alpha service\n\nThe alpha service restarts every night at two in the morning.\n\n' +
  '## Backups\n\nBackups of alpha are kept for thirty days in the cold archive.\n';
const BRAVO = '# Bravo queue\n\nThe bravo queue drains every hour; stuck messages go to the dead-letter queue.\n';

let fakes;
let keel;
let client;
let other;
let alpha;
let bravo;
let store;

before(async () => {
  fakes = { oa: await startFakeOpenAI({ apiKey: UPSTREAM_KEY }), claude: await startFakeAnthropic({ apiKey: ANT_KEY }) };
  const m = (name, provider, model) => ({ name, retries: 0, timeout_ms: 10000, targets: [{ provider, model }] });
  keel = await startKeel({
    providers: [fakeProvider('oa', fakes.oa), anthropicProvider('claude', fakes.claude, ANT_KEY)],
    models: [m('embed', 'oa', 'hashed-embedding'), m('oa-search', 'oa', 'toolloop'), m('claude-search', 'claude', 'toolloop'),
      m('oa-plain', 'oa', 'ok')],
    extra: {
      api_keys: ['sk-test', OTHER_KEY],
      vector_stores: { embedding_model: 'embed', chunk_tokens: 64, overlap_tokens: 8 },
    },
  });
  client = makeClient(keel);
  other = makeClient(keel, { apiKey: OTHER_KEY });
  alpha = await client.files.create({ file: await toFile(Buffer.from(ALPHA), 'alpha.md'), purpose: 'assistants' });
  bravo = await client.files.create({ file: await toFile(Buffer.from(BRAVO), 'bravo.md'), purpose: 'assistants' });
  store = await client.vectorStores.create({ name: 'runbooks', file_ids: [alpha.id, bravo.id] });
  assert.equal(store.file_counts.completed, 2);
});

after(async () => {
  await keel?.stop();
  await fakes?.oa?.close();
  await fakes?.claude?.close();
});

function tool(extra = {}) {
  return { type: 'file_search', vector_store_ids: [store.id], max_num_results: 2, ...extra };
}

// The response's file_search_call and message, checked against what was retrieved.
function checkAnswer(response, { results }) {
  assert.equal(response.status, 'completed');
  const [call, message] = response.output;
  assert.equal(call.type, 'file_search_call');
  assert.match(call.id, /^fs_/);
  assert.equal(call.status, 'completed');
  assert.deepEqual(call.queries, [QUERY]);
  assert.equal(message.type, 'message');
  const part = message.content[0];
  assert.equal(part.type, 'output_text');
  assert.match(part.text, /restarts every night/);
  assert.equal(response.output_text, part.text);
  // Each retrieved passage is numbered in the tool's answer, which the model repeats: every
  // marker is a citation of the file that passage came from, at the marker's place.
  const points = [...part.text];
  assert.ok(part.annotations.length >= 1);
  for (const annotation of part.annotations) {
    assert.equal(annotation.type, 'file_citation');
    assert.ok([alpha.id, bravo.id].includes(annotation.file_id), annotation.file_id);
    assert.equal(annotation.filename, annotation.file_id === alpha.id ? 'alpha.md' : 'bravo.md');
    assert.match(points.slice(annotation.index).join(''), /^\[\d\]/);
  }
  const first = part.annotations[0];
  assert.equal(first.file_id, alpha.id);
  assert.equal(points.slice(first.index, first.index + 3).join(''), '[1]');
  if (!results) {
    assert.equal(call.results, null);
    return;
  }
  assert.ok(call.results.length >= 1 && call.results.length <= 2);
  assert.equal(call.results[0].file_id, alpha.id);
  assert.equal(call.results[0].filename, 'alpha.md');
  assert.match(call.results[0].text, /restarts every night/);
  assert.equal(typeof call.results[0].score, 'number');
  // Only what was retrieved is cited.
  const retrieved = new Set(call.results.map((r) => r.file_id));
  for (const annotation of part.annotations) assert.ok(retrieved.has(annotation.file_id));
}

for (const model of ['oa-search', 'claude-search']) {
  test(`file_search on ${model}: responses.create searches keel's vector store and cites it`, { timeout: 30000 }, async () => {
    const response = await client.responses.create({
      model, input: 'When does the alpha service restart?', tools: [tool()], include: ['file_search_call.results'],
    });
    checkAnswer(response, { results: true });
    const bare = await client.responses.create({ model, input: 'When does the alpha service restart?', tools: [tool()] });
    checkAnswer(bare, { results: false });
    // Stored as answered.
    assert.deepEqual((await client.responses.retrieve(response.id)).output, response.output);
  });

  test(`file_search on ${model}: responses.stream sends the file_search_call events`, { timeout: 30000 }, async () => {
    const stream = client.responses.stream({
      model, input: 'When does the alpha service restart?', tools: [tool()], include: ['file_search_call.results'],
    });
    const events = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    checkAnswer(final, { results: true });
    const call = final.output[0];
    const types = events.map((e) => e.type);
    const of = (type) => events.find((e) => e.type === type && e.item_id === call.id);
    const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'file_search_call');
    assert.equal(added.output_index, 0);
    assert.equal(added.item.id, call.id);
    const order = ['response.file_search_call.in_progress', 'response.file_search_call.searching',
      'response.file_search_call.completed'].map((type) => events.indexOf(of(type)));
    assert.ok(order.every((at) => at > events.indexOf(added)), types.join(','));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    const done = events.find((e) => e.type === 'response.output_item.done' && e.item.id === call.id);
    assert.ok(events.indexOf(done) > order[2]);
    assert.deepEqual(done.item, call);
    const annotated = events.filter((e) => e.type === 'response.output_text.annotation.added');
    assert.deepEqual(annotated.map((e) => e.annotation), final.output[1].content[0].annotations);
    assert.ok(annotated.every((e) => e.output_index === 1));
    const sequence = events.map((e) => e.sequence_number);
    assert.deepEqual(sequence, sequence.map((_, i) => i));
  });
}

test('file_search: unknown, foreign and bad stores are OpenAI-shaped errors', async () => {
  const input = 'When does the alpha service restart?';
  await assert.rejects(
    client.responses.create({ model: 'oa-plain', input, tools: [tool({ vector_store_ids: ['vs_nope'] })] }),
    (err) => err.status === 404 && /vs_nope/.test(err.message) && err.code === 'not_found');
  // Another key's store does not exist for this one.
  await assert.rejects(other.responses.create({ model: 'oa-plain', input, tools: [tool()] }),
    (err) => err.status === 404 && err.message.includes(store.id));
  const filters = await postJSON(keel, '/v1/responses',
    { model: 'oa-plain', input, tools: [tool({ filters: { type: 'like', key: 'team', value: 'ops' } })] });
  assert.equal(filters.status, 400);
  assert.equal(errorOf(filters.json).param, 'tools[0].filters.type');
  const noIds = await postJSON(keel, '/v1/responses', { model: 'oa-plain', input, tools: [{ type: 'file_search' }] });
  assert.equal(noIds.status, 400);
  assert.equal(errorOf(noIds.json).param, 'tools[0].vector_store_ids');
  const tooMany = await postJSON(keel, '/v1/responses', { model: 'oa-plain', input, tools: [tool({ max_num_results: 51 })] });
  assert.equal(tooMany.status, 400);
  assert.equal(errorOf(tooMany.json).param, 'tools[0].max_num_results');
});

test('file_search filters: only files whose attributes match are searched and cited', { timeout: 30000 }, async () => {
  await client.vectorStores.files.update(alpha.id, { vector_store_id: store.id, attributes: { team: 'ops', year: 2024 } });
  await client.vectorStores.files.update(bravo.id, { vector_store_id: store.id, attributes: { team: 'dev', year: 2025 } });
  const ask = (filters) => client.responses.create({
    model: 'oa-search', input: 'When does the alpha service restart?', tools: [tool({ filters, max_num_results: 5 })],
    include: ['file_search_call.results'],
  });
  const ops = await ask({ type: 'eq', key: 'team', value: 'ops' });
  checkAnswer(ops, { results: true });
  assert.ok(ops.output[0].results.every((r) => r.file_id === alpha.id));
  assert.deepEqual(ops.output[0].results[0].attributes, { team: 'ops', year: 2024 });
  const dev = await ask({ type: 'and', filters: [{ type: 'eq', key: 'team', value: 'dev' }, { type: 'gte', key: 'year', value: 2025 }] });
  assert.ok(dev.output[0].results.length >= 1);
  assert.ok(dev.output[0].results.every((r) => r.file_id === bravo.id));
  assert.ok(dev.output[1].content[0].annotations.every((a) => a.file_id === bravo.id));
  const none = await ask({ type: 'eq', key: 'team', value: 'qa' });
  assert.deepEqual(none.output[0].results, []);
  assert.deepEqual(none.output[1].content[0].annotations, []);
});
