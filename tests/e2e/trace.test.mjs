// Traces (issue 22 item 6, DESIGN.md "Traces"): one trace per request with a span per model
// attempt and per tool call, in the state store (`keel trace ID`, GET /admin/traces/{id}) and
// exported over OTLP/HTTP JSON to a collector of our own, which checks the payload's shape as
// the OTLP specification writes it (resourceSpans/scopeSpans/spans, hex ids of 32 and 16 digits,
// AnyValue attributes, unix-nano times as decimal strings). Driven by the official openai client.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startKeel, runKeel, makeClient, fakeProvider, scrapeMetrics, metricSum, waitFor, sqliteJson,
} from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';

// An OTLP/HTTP collector: POST /v1/traces with a JSON ExportTraceServiceRequest. `hang`: it
// takes requests and never answers.
async function startCollector({ hang = false } = {}) {
  const bodies = [];
  const problems = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      if (hang) return;
      if (req.method !== 'POST' || req.url !== '/v1/traces') problems.push(`${req.method} ${req.url}`);
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        problems.push(`content-type ${req.headers['content-type']}`);
      }
      try {
        bodies.push({ headers: req.headers, body: JSON.parse(raw) });
      } catch (err) {
        problems.push(`not JSON: ${err.message}`);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    bodies,
    problems,
    // Every span received, with its resource and scope.
    spans: () => bodies.flatMap(({ body }) => (body.resourceSpans ?? []).flatMap((rs) =>
      (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((span) => ({ span, resource: rs.resource, scope: ss.scope }))))),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const NANOS = /^[1-9][0-9]*$/;

// OTLP's AnyValue as keel sends it: exactly one of these keys.
function checkAnyValue(value, where) {
  const keys = Object.keys(value);
  assert.equal(keys.length, 1, `${where}: ${JSON.stringify(value)}`);
  const [key] = keys;
  assert.ok(['stringValue', 'intValue', 'doubleValue', 'boolValue'].includes(key), `${where}: ${key}`);
  if (key === 'stringValue') assert.equal(typeof value.stringValue, 'string');
  if (key === 'intValue') assert.match(value.intValue, /^-?[0-9]+$/, `${where}: int64 as a decimal string`);
  if (key === 'doubleValue') assert.equal(typeof value.doubleValue, 'number');
  if (key === 'boolValue') assert.equal(typeof value.boolValue, 'boolean');
}

function checkSpanShape({ span, resource, scope }) {
  assert.match(span.traceId, HEX32);
  assert.match(span.spanId, HEX16);
  if (span.parentSpanId !== undefined) assert.match(span.parentSpanId, HEX16);
  assert.equal(typeof span.name, 'string');
  assert.ok([1, 2, 3].includes(span.kind), `kind ${span.kind}`);
  assert.match(span.startTimeUnixNano, NANOS);
  assert.match(span.endTimeUnixNano, NANOS);
  assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
  // Unix nanoseconds of this decade, not milliseconds or seconds.
  assert.ok(BigInt(span.startTimeUnixNano) > 1_700_000_000_000_000_000n);
  assert.ok([0, 1, 2].includes(span.status.code));
  for (const attribute of span.attributes) {
    assert.equal(typeof attribute.key, 'string');
    checkAnyValue(attribute.value, `${span.name} ${attribute.key}`);
  }
  const service = resource.attributes.find((a) => a.key === 'service.name');
  assert.deepEqual(service.value, { stringValue: 'keel' });
  assert.equal(scope.name, 'keel');
}

const attr = (span, key) => {
  const found = span.attributes.find((a) => a.key === key);
  if (!found) return undefined;
  const v = found.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue);
};

const traceIdOf = (requestId) => `00000000${requestId.slice(4)}`;

describe('traces', () => {
  let fake, collector, keel;
  before(async () => {
    fake = await startFakeOpenAI();
    collector = await startCollector();
    keel = await startKeel({
      providers: [fakeProvider('oa', fake)],
      models: [
        { name: 'smart', retries: 0, targets: [{ provider: 'oa', model: 'fail-500-trace' }, { provider: 'oa', model: 'ok' }] },
        { name: 'agent', tools: ['calc'], targets: [{ provider: 'oa', model: 'toolloop' }] },
        { name: 'mirrored', targets: [{ provider: 'oa', model: 'ok' }],
          shadow: { model: 'cand', percent: 100, evaluators: ['f1'] } },
        { name: 'cand', targets: [{ provider: 'oa', model: 'echo-cand' }] },
      ],
      extra: {
        toolsets: [{ name: 'calc', kind: 'builtin', tools: ['calculator'] }],
        tracing: { otlp_endpoint: collector.url, flush_interval_ms: 20 },
      },
    });
  });
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
    await collector?.close();
    await fake?.close();
  });

  test('a failover is one trace: the request span over two attempt spans, exported as OTLP', async () => {
    const { data, response } = await makeClient(keel)
      .chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, 'Hello from fake');
    const requestId = response.headers.get('x-request-id');
    assert.match(requestId, /^req_[0-9a-f]{24}$/);
    const traceId = traceIdOf(requestId);
    await waitFor(() => collector.spans().filter((s) => s.span.traceId === traceId).length >= 3, 5000, 20);
    assert.deepEqual(collector.problems, []);
    const spans = collector.spans().filter((s) => s.span.traceId === traceId);
    spans.forEach(checkSpanShape);
    assert.equal(spans.length, 3);
    const root = spans.find((s) => s.span.parentSpanId === undefined).span;
    assert.equal(root.name, 'POST /v1/chat/completions');
    assert.equal(root.kind, 2);  // SERVER
    assert.equal(root.status.code, 1);
    assert.equal(attr(root, 'keel.request.id'), requestId);
    assert.equal(attr(root, 'gen_ai.request.model'), 'smart');
    assert.equal(attr(root, 'http.response.status_code'), 200);
    const attempts = spans.filter((s) => s.span.parentSpanId === root.spanId).map((s) => s.span)
      .sort((a, b) => attr(a, 'keel.attempt') - attr(b, 'keel.attempt'));
    assert.deepEqual(attempts.map((s) => s.name), ['chat fail-500-trace', 'chat ok']);
    for (const attempt of attempts) {
      assert.equal(attempt.kind, 3);  // CLIENT
      assert.equal(attr(attempt, 'gen_ai.operation.name'), 'chat');
      assert.equal(attr(attempt, 'gen_ai.provider.name'), 'openai');
      assert.equal(attr(attempt, 'keel.provider'), 'oa');
    }
    assert.equal(attempts[0].status.code, 2);
    assert.ok(attempts[0].status.message.length > 0);
    assert.equal(attempts[1].status.code, 1);
    assert.equal(attr(attempts[1], 'gen_ai.response.model'), 'ok');
    assert.equal(attr(attempts[1], 'gen_ai.usage.input_tokens'), 5);
    assert.equal(attr(attempts[1], 'gen_ai.usage.output_tokens'), 3);
  });

  test('tool calls are spans; the trace reads back from /admin/traces and keel trace', async () => {
    const { data, response } = await makeClient(keel)
      .chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'What is 6 times 7?' }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, 'tool said: 42');
    const requestId = response.headers.get('x-request-id');
    const traceId = traceIdOf(requestId);

    // The store: one row per tool call (issue 20), linked to the request.
    const admin = await fetch(`${keel.base}/admin/traces/${requestId}`);
    assert.equal(admin.status, 200);
    const tree = await admin.json();
    assert.equal(tree.trace_id, traceId);
    assert.equal(tree.request_id, requestId);
    // Siblings by start time; an attempt's start is kept in whole milliseconds, so a fast tool
    // call and the next attempt may share one: compared as a set.
    assert.deepEqual(tree.spans[0].name, 'POST /v1/chat/completions');
    assert.deepEqual(tree.spans.slice(1).map((s) => `${s.depth} ${s.name}`).sort(),
      ['1 chat toolloop', '1 chat toolloop', '1 execute_tool calculator']);
    const tool = tree.spans.find((s) => s.name === 'execute_tool calculator');
    const firstAttempt = tree.spans[1];
    assert.equal(tool.status, 'ok');
    assert.equal(tool.attributes['gen_ai.tool.name'], 'calculator');
    assert.match(tool.attributes['gen_ai.tool.call.id'], /^call_loop_\d+$/);
    assert.equal(tool.attributes['keel.tool.toolset'], 'calc');
    assert.equal(tool.attributes['keel.tool.output_bytes'], 2);
    assert.equal(firstAttempt.name, 'chat toolloop');
    assert.ok(tool.start_ms >= firstAttempt.start_ms && tool.duration_ms >= 0);
    // The same trace by its hex id; the request's detail names it.
    const byHex = await (await fetch(`${keel.base}/admin/traces/${traceId}`)).json();
    assert.deepEqual(byHex.spans.map((s) => s.span_id), tree.spans.map((s) => s.span_id));
    const detail = await (await fetch(`${keel.base}/admin/requests/${requestId}`)).json();
    assert.equal(detail.trace_id, traceId);
    const rows = sqliteJson(keel.dbPath, `select request_id, tool, status, output_bytes from tool_calls where request_id = '${requestId}'`);
    assert.deepEqual(rows, [{ request_id: requestId, tool: 'calculator', status: 'ok', output_bytes: 2 }]);

    const printed = await runKeel(['trace', requestId, '--config', keel.configPath]);
    assert.equal(printed.code, 0, printed.stderr);
    const lines = printed.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.match(lines[0], new RegExp(`^trace ${traceId} \\(request ${requestId}\\), 4 spans`));
    assert.match(lines[1], /^POST \/v1\/chat\/completions .* ok .*model=agent/);
    assert.match(lines[2], /^ {2}chat toolloop .*ms .*ok .*provider=oa .*system=openai/);
    assert.ok(lines.some((l) => /^ {2}execute_tool calculator .*ok .*call=call_loop_\d+ .*toolset=calc .*result=ok .*bytes=2/.test(l)),
      printed.stdout);
    const asJson = await runKeel(['trace', traceId, '--config', keel.configPath, '--json']);
    assert.equal(asJson.code, 0, asJson.stderr);
    assert.equal(JSON.parse(asJson.stdout).spans.length, 4);

    // Exported as well, the tool span under the request's span.
    await waitFor(() => collector.spans().filter((s) => s.span.traceId === traceId).length >= 4, 5000, 20);
    const exported = collector.spans().filter((s) => s.span.traceId === traceId);
    exported.forEach(checkSpanShape);
    const root = exported.find((s) => s.span.parentSpanId === undefined).span;
    const toolSpan = exported.find((s) => s.span.name === 'execute_tool calculator').span;
    assert.equal(toolSpan.parentSpanId, root.spanId);
    assert.equal(attr(toolSpan, 'gen_ai.operation.name'), 'execute_tool');
    assert.equal(toolSpan.kind, 1);  // INTERNAL

    const metrics = await scrapeMetrics(keel);
    assert.ok(metricSum(metrics.samples, 'keel_trace_export_spans_total', { outcome: 'exported' }) >= 7);
  });

  test('an eval row and a shadow pair are traces of their own', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-trace-eval-'));
    const data = path.join(dir, 'data.jsonl');
    writeFileSync(data, `${JSON.stringify({ question: 'hi', answer: 'Hello from fake' })}\n`);
    const out = path.join(dir, 'out');
    const run = await runKeel(['eval', 'cand', '--config', keel.configPath, '--data', data, '--models', 'smart',
      '--evaluators', 'exact_match', '--column-mapping', 'ground_truth=${data.answer}', '--out', out], { timeoutMs: 20000 });
    assert.equal(run.code, 0, run.stderr);
    const [row] = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.match(row.trace_id, HEX32);
    const printed = await runKeel(['trace', row.trace_id, '--config', keel.configPath]);
    assert.equal(printed.code, 0, printed.stderr);
    const lines = printed.stdout.trim().split('\n');
    assert.match(lines[1], /^eval_row smart .*ok .*model=smart/);
    assert.match(lines[2], /^ {2}chat fail-500-trace .*error/);
    assert.match(lines[3], /^ {2}chat ok .*ok .*system=openai/);
    assert.match(lines[4], /^ {2}evaluate exact_match .*ok .*score=1/);

    await makeClient(keel).chat.completions.create({ model: 'mirrored', messages: [{ role: 'user', content: 'mirror me' }] });
    let pair;
    await waitFor(() => (pair = sqliteJson(keel.dbPath, "select result from shadow_pairs where model = 'mirrored'")[0]), 5000, 20);
    const traceId = JSON.parse(pair.result).trace_id;
    assert.match(traceId, HEX32);
    const tree = await (await fetch(`${keel.base}/admin/traces/${traceId}`)).json();
    // f1 is computed in place: its score is an attribute of the pair's span, not a span of its own.
    assert.deepEqual(tree.spans.map((s) => [s.depth, s.name]), [[0, 'shadow cand'], [1, 'chat echo-cand']]);
    assert.equal(tree.request_id, null);
    assert.match(tree.spans[0].attributes['keel.request.id'], /^req_/);
    assert.equal(typeof tree.spans[0].attributes['keel.score.f1'], 'number');
    assert.equal(tree.spans[0].attributes['keel.score.f1'], JSON.parse(pair.result).scores.f1.value);
  });

  test('bad and unknown trace ids get clear errors', async () => {
    const bad = await fetch(`${keel.base}/admin/traces/nope`);
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /neither a request id .* nor a trace id/);
    const unknown = await fetch(`${keel.base}/admin/traces/${'ab'.repeat(16)}`);
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).error.message, /no trace/);
    const cli = await runKeel(['trace', 'req_zz', '--config', keel.configPath]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /neither a request id/);
  });
});

test('a collector that does not answer never slows requests; what does not fit is dropped and counted', async () => {
  const fake = await startFakeOpenAI();
  const collector = await startCollector({ hang: true });
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'm', targets: [{ provider: 'oa', model: 'ok' }] }],
    extra: { tracing: { otlp_endpoint: collector.url, flush_interval_ms: 10, queue_traces: 1, timeout_ms: 1000 } },
  });
  let dropped = 0;
  try {
    const client = makeClient(keel);
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'first' }] });
    await new Promise((resolve) => setTimeout(resolve, 100));  // its export is in flight, unanswered
    const started = Date.now();
    for (let i = 0; i < 5; ++i) {
      await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: `n${i}` }] });
    }
    assert.ok(Date.now() - started < 900, 'requests did not wait for the collector');
    // One trace waits in the queue (queue_traces: 1); the other four (two spans each) are dropped.
    dropped = metricSum((await scrapeMetrics(keel)).samples, 'keel_trace_export_spans_total', { outcome: 'dropped' });
  } finally {
    await keel.stop();
    await collector.close();
    await fake.close();
  }
  assert.equal(dropped, 8);
  // The store keeps every trace regardless.
  assert.deepEqual(sqliteJson(keel.dbPath, 'select count(*) as n from requests'), [{ n: 6 }]);
  keel.cleanup();
});
