// `keel flow check PATH`: Prompt flow's own example flows (../shared/promptflow/flows) check
// as they are, and broken graphs fail with errors naming the file, line and node.
import { test, before, after } from 'node:test';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKeel, keelConfig, toYaml, fakeProvider, startKeel, makeClient, makeAnthropicClient, postJSON, sleep, waitFor } from './harness.mjs';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FLOWS = path.resolve(here, '../../../shared/promptflow/flows');
let dir;
// prompt and llm nodes render Jinja with llama.cpp's engine, which comes with the local engine.
const hasJinja = (await runKeel(['version'])).stdout.includes('local engine: llama.cpp');
const noRun = (!existsSync(FLOWS) && `no ${FLOWS}`) || (!hasJinja && 'keel was built without the local engine (no Jinja)');

before(() => { dir = mkdtempSync(path.join(tmpdir(), 'keel-flows-')); });
after(() => rmSync(dir, { recursive: true, force: true }));

test('Prompt flow\'s example flows check, in dependency order', { skip: !existsSync(FLOWS) && `no ${FLOWS}` }, async () => {
  for (const name of ['basic', 'basic-with-builtin-llm', 'web-classification', 'chat-basic',
    'chat-math-variant', 'eval-basic', 'eval-classification-accuracy']) {
    const run = await runKeel(['flow', 'check', path.join(FLOWS, name)]);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
    assert.match(run.stdout, /: ok \(/);
  }
  const web = await runKeel(['flow', 'check', path.join(FLOWS, 'web-classification')]);
  assert.match(web.stdout, /5 nodes, 2 outputs; runs fetch_text_content_from_url, summarize_text_content, prepare_examples, classify_with_llm, convert_to_dict\)/);
  const chat = await runKeel(['flow', 'check', path.join(FLOWS, 'chat-basic')]);
  assert.match(chat.stdout, /a chat flow/);
  const variant = await runKeel(['flow', 'check', path.join(FLOWS, 'web-classification'), '--variant', 'summarize_text_content=variant_2']);
  assert.equal(variant.code, 1);
  assert.match(variant.stderr, /flow\.dag\.yaml:\d+: node_variants\.summarize_text_content: no variant 'variant_2'/);
});

test('a broken graph fails naming the file, line and node', async () => {
  const write = (name, yaml, files) => {
    const flowDir = mkdtempSync(path.join(dir, `${name}-`));
    writeFileSync(path.join(flowDir, 'flow.dag.yaml'), yaml);
    for (const file of files) writeFileSync(path.join(flowDir, file), 'x = 1\n');
    return flowDir;
  };
  const head = 'inputs:\n  text: {type: string}\noutputs:\n  out: {reference: "${b.output}"}\nnodes:\n';
  const cases = [
    [head + '- {name: a, type: python, source: {type: code, path: a.py}, inputs: {x: "${b.output}"}}\n'
      + '- {name: b, type: python, source: {type: code, path: a.py}, inputs: {x: "${a.output}"}}\n',
    ['a.py'], /flow\.dag\.yaml:6: node a: a cycle: a -> b -> a/],
    [head + '- {name: b, type: python, source: {type: code, path: b.py}, inputs: {x: "${inputs.text}"}}\n',
      [], /flow\.dag\.yaml:6: node b: missing file b\.py/],
    [head + '- {name: b, type: python, source: {type: code, path: b.py}, inputs: {x: "${c.output}"}}\n',
      ['b.py'], /flow\.dag\.yaml:6: node b: inputs\.x: \$\{c\.output\} names no node/],
    [head + '- {name: b, type: shell, source: {type: code, path: b.py}}\n',
      ['b.py'], /flow\.dag\.yaml:6: node b: unknown node type 'shell'/],
  ];
  let i = 0;
  for (const [yaml, files, pattern] of cases) {
    const folder = write(`case${i++}`, yaml, files);
    const run = await runKeel(['flow', 'check', folder]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, pattern);
  }
  const none = await runKeel(['flow', 'check', path.join(dir, 'nothing-here')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /cannot open the flow \(no flow\.dag\.yaml\)/);
});

test('keel flow run runs prompt and llm nodes through the router, unchanged flows over a fake upstream', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  try {
    const cfgDir = mkdtempSync(path.join(dir, 'run-'));
    const cfgPath = path.join(cfgDir, 'keel.yaml');
    writeFileSync(cfgPath, toYaml(keelConfig({
      providers: [fakeProvider('oa', fake)],
      models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-flow' }] },
        { name: 'gpt-35-turbo', targets: [{ provider: 'oa', model: 'echo-deployment' }] }],
      dir: cfgDir,
    })));
    // chat-basic: its connection mapped to a public model by --model.
    const chat = await runKeel(['flow', 'run', path.join(FLOWS, 'chat-basic'), '--config', cfgPath,
      '--inputs', 'question=What is keel?', '--model', 'open_ai_connection=chatty'], { timeoutMs: 15000 });
    assert.equal(chat.code, 0, chat.stderr);
    assert.deepEqual(JSON.parse(chat.stdout), { answer: 'echo: What is keel?' });
    const sent = fake.requests.filter((r) => r.body?.model === 'echo-flow');
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].body.messages, [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is keel?' },
    ]);
    assert.equal(sent[0].body.max_tokens ?? sent[0].body.max_completion_tokens, 256);
    assert.equal(sent[0].body.temperature, 0.7);

    // basic-with-builtin-llm: a prompt node, then an llm node whose deployment_name is a
    // public model here; a batch over the flow's own data.jsonl (three lines).
    const basic = await runKeel(['flow', 'run', path.join(FLOWS, 'basic-with-builtin-llm'), '--config', cfgPath,
      '--inputs', path.join(FLOWS, 'basic-with-builtin-llm', 'data.jsonl')], { timeoutMs: 15000 });
    assert.equal(basic.code, 0, basic.stderr);
    const deployment = fake.requests.filter((r) => r.body?.model === 'echo-deployment');
    assert.equal(deployment.length, 3);
    assert.equal(deployment[0].body.messages[0].role, 'system');
    const batch = JSON.parse(basic.stdout);
    assert.equal(batch.lines.length, 3);
    assert.match(batch.lines[0].output, /^echo: Write a simple {2}program/);
    assert.deepEqual(batch.metrics, {});

    // Aggregation: eval-classification-accuracy over its data.jsonl, calculate_accuracy.py
    // getting the per-line grades as a list and logging its metric.
    const accuracy = await runKeel(['flow', 'run', path.join(FLOWS, 'eval-classification-accuracy'), '--config', cfgPath,
      '--inputs', path.join(FLOWS, 'eval-classification-accuracy', 'data.jsonl')], { timeoutMs: 15000 });
    assert.equal(accuracy.code, 0, accuracy.stderr);
    assert.deepEqual(JSON.parse(accuracy.stdout), {
      lines: [{ grade: 'Correct' }, { grade: 'Correct' }, { grade: 'Correct' }],
      metrics: { accuracy: 1 },
    });
    const mixedFile = path.join(cfgDir, 'mixed.jsonl');
    writeFileSync(mixedFile, '{"groundtruth": "App", "prediction": "App"}\n{"groundtruth": "App", "prediction": "Game"}\n');
    const mixed = await runKeel(['flow', 'run', path.join(FLOWS, 'eval-classification-accuracy'), '--config', cfgPath,
      '--inputs', mixedFile], { timeoutMs: 15000 });
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.deepEqual(JSON.parse(mixed.stdout).metrics, { accuracy: 0.5 });

    // Python nodes run in python3 workers with the promptflow shim: chat-math-variant's
    // extract_result.py after its llm node (the echo's "$" and "!" stripped by the file's own
    // code), and eval-basic's line_process.py on its data.jsonl.
    const math = await runKeel(['flow', 'run', path.join(FLOWS, 'chat-math-variant'), '--config', cfgPath,
      '--inputs', 'question=2+2=$?!', '--model', 'open_ai_connection=chatty'], { timeoutMs: 15000 });
    assert.equal(math.code, 0, math.stderr);
    assert.deepEqual(JSON.parse(math.stdout), { answer: 'echo: 2+2=?' });
    const evalRun = await runKeel(['flow', 'run', path.join(FLOWS, 'eval-basic'), '--config', cfgPath,
      '--inputs', 'groundtruth=Sunny', 'prediction=sunny'], { timeoutMs: 15000 });
    assert.equal(evalRun.code, 0, evalRun.stderr);
    assert.deepEqual(JSON.parse(evalRun.stdout), { results: 'Correct' });

    // A flow node runs a sub-flow (here eval-classification-accuracy, as it is) with its inputs.
    const outer = mkdtempSync(path.join(dir, 'outer-'));
    writeFileSync(path.join(outer, 'flow.dag.yaml'), toYaml({
      inputs: { truth: { type: 'string' }, guess: { type: 'string', default: 'App' } },
      outputs: { verdict: { type: 'string', reference: '${grade_it.output.grade}' } },
      nodes: [{ name: 'grade_it', type: 'flow',
        source: { type: 'code', path: path.join(FLOWS, 'eval-classification-accuracy') },
        inputs: { groundtruth: '${inputs.truth}', prediction: '${inputs.guess}' } }],
    }));
    const nested = await runKeel(['flow', 'run', outer, '--config', cfgPath, '--inputs', 'truth=app'], { timeoutMs: 15000 });
    assert.equal(nested.code, 0, nested.stderr);
    assert.deepEqual(JSON.parse(nested.stdout), { verdict: 'Correct' });

    // A Python exception is the node's error, with its traceback (basic's hello.py imports the
    // openai package, which is not installed here).
    const py = await runKeel(['flow', 'run', path.join(FLOWS, 'basic'), '--config', cfgPath], { timeoutMs: 15000 });
    assert.equal(py.code, 1);
    assert.match(py.stderr, /flow\.dag\.yaml:\d+: node llm: hello\.py raised:\nTraceback \(most recent call last\):[\s\S]*hello\.py", line \d+/);
  } finally {
    await fake.close();
  }
});

// Debian's python3 with python3-requests and python3-bs4 (scripts/setup.sh) runs the fetch node.
const hasFetchDeps = (() => {
  try {
    execFileSync(process.env.KEEL_PYTHON || '/usr/bin/python3', ['-c', 'import requests, bs4']);
    return true;
  } catch {
    return false;
  }
})();

test('web-classification runs unchanged: its python fetch node reads a local page, its llm nodes go through the router',
  { skip: noRun || (!hasFetchDeps && 'no python3-requests / python3-bs4') }, async () => {
    const page = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><h1>Keel Notes</h1><p>A note-taking app for sailors.</p></body></html>');
    });
    await new Promise((r) => page.listen(0, '127.0.0.1', r));
    const fake = await startFakeOpenAI();
    try {
      const cfgDir = mkdtempSync(path.join(dir, 'web-'));
      const cfgPath = path.join(cfgDir, 'keel.yaml');
      writeFileSync(cfgPath, toYaml(keelConfig({
        providers: [fakeProvider('oa', fake)],
        models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-web' }] }],
        dir: cfgDir,
      })));
      const url = `http://127.0.0.1:${page.address().port}/app`;
      const run = await runKeel(['flow', 'run', path.join(FLOWS, 'web-classification'), '--config', cfgPath,
        '--inputs', `url=${url}`, '--model', 'open_ai_connection=chatty'], { timeoutMs: 30000 });
      assert.equal(run.code, 0, run.stderr);
      // The echo is not JSON: convert_to_dict.py's own fallback answers.
      assert.deepEqual(JSON.parse(run.stdout), { category: 'None', evidence: 'None' });
      const sent = fake.requests.filter((r) => r.body?.model === 'echo-web').map((r) => r.body);
      assert.equal(sent.length, 2);
      // summarize_text_content (variant_0) got the page's text as BeautifulSoup gives it.
      assert.match(sent[0].messages.at(-1).content, /^Text: Keel NotesA note-taking app for sailors\.\nSummary:$/);
      assert.equal(sent[0].max_tokens ?? sent[0].max_completion_tokens, 128);
      // classify_with_llm got the url, the examples from prepare_examples.py and the summary.
      const classify = sent[1].messages.map((m) => m.content).join('\n');
      assert.ok(classify.includes(url), classify);
      assert.ok(classify.includes('com.spotify.music'), classify);
      assert.ok(classify.includes('echo: Text: Keel Notes'), classify);
    } finally {
      await fake.close();
      page.close();
    }
  });

test('POST /v1/flows/{name}/run runs a configured flow through the router', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-served' }] }],
    extra: { flows: [{ name: 'math', path: path.join(FLOWS, 'chat-math-variant'), models: { open_ai_connection: 'chatty' } }] },
  });
  try {
    const client = makeClient(keel);
    const data = await client.post('/flows/math/run', { body: { inputs: { question: '3*3=$?' } } });
    assert.deepEqual(data, { outputs: { answer: 'echo: 3*3=?' } });
    const sent = fake.requests.filter((r) => r.body?.model === 'echo-served');
    assert.equal(sent.length, 1);
    assert.equal(sent[0].body.messages.at(-1).content, '3*3=$?');
    const isError = (status, pattern) => (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, status, e.message);
      assert.match(e.error?.message ?? '', pattern);
      return true;
    };
    await assert.rejects(client.post('/flows/nope/run', { body: { inputs: {} } }), isError(404, /flow 'nope' does not exist/));
    await assert.rejects(client.post('/flows/math/run', { body: { inputs: { topic: 'x' } } }), isError(400, /unknown input 'topic'/));
    await assert.rejects(client.post('/flows/math/run', { body: { inputs: {}, stream: 'yes' } }), isError(400, /unknown or malformed field 'stream'/));
  } finally {
    await keel.stop();
    keel.cleanup();
    await fake.close();
  }
});

// Collects a streamed flow run through the openai SDK's own SSE reader (data: lines, [DONE]).
async function streamed(client, name, body) {
  const stream = await client.post(`/flows/${name}/run`, { body: { ...body, stream: true }, stream: true });
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

test('"stream": true streams the final llm node\'s text, then the outputs; chat history reaches the prompt', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-stream' }] },
      { name: 'dying', targets: [{ provider: 'oa', model: 'die-after-3' }] }],
    extra: { flows: [
      { name: 'chat', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'chatty' } },
      { name: 'math', path: path.join(FLOWS, 'chat-math-variant'), models: { open_ai_connection: 'chatty' } },
      { name: 'dies', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'dying' } },
    ] },
  });
  try {
    const client = makeClient(keel);
    const history = [{ inputs: { question: 'Who are you?' }, outputs: { answer: 'A helper.' } }];
    const events = await streamed(client, 'chat', { inputs: { question: 'What is a keel?', chat_history: history } });
    const deltas = events.filter((e) => e.delta).map((e) => e.delta.answer);
    assert.ok(deltas.length > 1, JSON.stringify(events));
    assert.equal(deltas.join(''), 'echo: What is a keel?');
    assert.deepEqual(events.at(-1), { outputs: { answer: 'echo: What is a keel?' } });
    const sent = fake.requests.filter((r) => r.body?.model === 'echo-stream');
    assert.equal(sent.length, 1);
    assert.equal(sent[0].body.stream, true);
    // chat-basic's template turns each history item into a user and an assistant turn.
    assert.deepEqual(sent[0].body.messages, [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Who are you?' },
      { role: 'assistant', content: 'A helper.' },
      { role: 'user', content: 'What is a keel?' },
    ]);

    // chat-math-variant's output is its python node's: nothing to stream but the outputs.
    const math = await streamed(client, 'math', { inputs: { question: '4*4=$?' } });
    assert.deepEqual(math, [{ outputs: { answer: 'echo: 4*4=?' } }]);

    // Bad inputs are still a 400 before any event; an upstream that dies mid-answer ends the
    // stream with an error event, which the SDK raises.
    await assert.rejects(streamed(client, 'chat', { inputs: { nope: 1 } }), (e) => e instanceof OpenAI.APIError && e.status === 400);
    const seen = [];
    await assert.rejects((async () => {
      const stream = await client.post('/flows/dies/run', { body: { inputs: { question: 'x' }, stream: true }, stream: true });
      for await (const event of stream) seen.push(event);
    })(), (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.match(e.message, /node chat: /);
      return true;
    });
    assert.ok(seen.length >= 1 && seen.every((e) => e.delta), JSON.stringify(seen));
  } finally {
    await keel.stop();
    keel.cleanup();
    await fake.close();
  }
});

test('a chat flow is a public name: listed by /v1/models, served by chat completions, messages and responses, history from the turns', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo' }] }],
    extra: { flows: [
      { name: 'chat-flow', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'chatty' } },
      { name: 'web', path: path.join(FLOWS, 'web-classification'), models: { open_ai_connection: 'chatty' } },
    ] },
  });
  try {
    const client = makeClient(keel);
    const names = (await client.models.list()).data.map((m) => m.id);
    assert.ok(names.includes('chat-flow'), names.join());
    assert.ok(!names.includes('web'), 'a flow without a chat input is no public name');

    const answer = await client.chat.completions.create({ model: 'chat-flow', messages: [
      { role: 'user', content: 'Who are you?' }, { role: 'assistant', content: 'A helper.' },
      { role: 'user', content: 'What is a keel?' }] });
    assert.equal(answer.choices[0].message.content, 'echo: What is a keel?');
    assert.equal(answer.model, 'chat-flow');
    // The earlier turns reached chat-basic's template as its chat history.
    const sent = fake.requests.at(-1).body.messages;
    assert.deepEqual(sent.slice(1), [
      { role: 'user', content: 'Who are you?' },
      { role: 'assistant', content: 'A helper.' },
      { role: 'user', content: 'What is a keel?' },
    ]);

    let streamedText = '';
    for await (const chunk of await client.chat.completions.create({ model: 'chat-flow', stream: true,
      messages: [{ role: 'user', content: 'streamed?' }] })) {
      streamedText += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(streamedText, 'echo: streamed?');

    const anthropic = makeAnthropicClient(keel);
    const message = await anthropic.messages.create({ model: 'chat-flow', max_tokens: 64,
      messages: [{ role: 'user', content: 'from anthropic' }] });
    assert.equal(message.content[0].text, 'echo: from anthropic');

    const response = await client.responses.create({ model: 'chat-flow', input: 'from responses', store: false });
    assert.equal(response.output_text, 'echo: from responses');

    // No user message: a 400 naming the flow.
    await assert.rejects(client.chat.completions.create({ model: 'chat-flow', messages: [{ role: 'system', content: 'x' }] }),
      (e) => e.status === 400 && /chat-flow/.test(e.message));
  } finally {
    await keel.stop();
    keel.cleanup();
    await fake.close();
  }
});

const traceIdOf = (requestId) => `00000000${requestId.slice(4)}`;

test('a served run is a trace: an invoke_workflow span, a span per node, the llm node\'s attempts under it; aggregation nodes give metrics', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-traced' }] }],
    extra: {
      log_content: true,
      flows: [
        { name: 'chat', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'chatty' } },
        { name: 'accuracy', path: path.join(FLOWS, 'eval-classification-accuracy') },
      ],
    },
  });
  try {
    const client = makeClient(keel);
    const { data, response } = await client.post('/flows/chat/run', { body: { inputs: { question: 'Traced?' } } }).withResponse();
    assert.deepEqual(data, { outputs: { answer: 'echo: Traced?' } });
    const requestId = response.headers.get('x-request-id');
    const tree = await (await fetch(`${keel.base}/admin/traces/${requestId}`)).json();
    assert.equal(tree.trace_id, traceIdOf(requestId));
    assert.deepEqual(tree.spans.map((s) => `${s.depth} ${s.name}`), [
      '0 POST /v1/flows/{name}/run', '1 invoke_workflow chat', '2 flow_node chat', '3 chat echo-traced']);
    const [root, run, node, attempt] = tree.spans;
    assert.equal(run.parent_id, root.span_id);
    assert.equal(node.parent_id, run.span_id);
    assert.equal(attempt.parent_id, node.span_id);
    assert.equal(run.attributes['gen_ai.operation.name'], 'invoke_workflow');
    assert.equal(run.attributes['keel.flow.name'], 'chat');
    assert.equal(node.status, 'ok');
    assert.equal(node.attributes['keel.flow.node'], 'chat');
    assert.equal(node.attributes['keel.flow.node.type'], 'llm');
    assert.equal(node.attributes['gen_ai.request.model'], 'chatty');
    assert.equal(node.attributes['gen_ai.usage.input_tokens'], 5);
    assert.equal(node.attributes['gen_ai.usage.output_tokens'], 3);
    // log_content is on: the node's inputs and output as JSON text.
    assert.equal(JSON.parse(node.attributes['keel.inputs']).question, 'Traced?');
    assert.equal(JSON.parse(node.attributes['keel.output']), 'echo: Traced?');
    assert.ok(node.duration_ms >= attempt.duration_ms);
    assert.equal(attempt.attributes['gen_ai.provider.name'], 'openai');
    // The request's log row has the llm node's tokens.
    assert.equal(root.attributes['gen_ai.usage.input_tokens'], 5);

    // keel trace prints the same tree.
    const printed = await runKeel(['trace', requestId, '--config', keel.configPath]);
    assert.equal(printed.code, 0, printed.stderr);
    const lines = printed.stdout.trim().split('\n');
    assert.match(lines[0], /4 spans/);
    assert.match(lines[2], /^ {2}invoke_workflow chat .*ok/);
    assert.match(lines[3], /^ {4}flow_node chat .*ok .*model=chatty .*in=5 .*out=3 .*node=chat/);
    assert.match(lines[4], /^ {6}chat echo-traced .*ok .*provider=oa/);

    // eval-classification-accuracy, as it is: a single run gives calculate_accuracy a list of
    // one grade, and its log_metric is the answer's metrics.
    const right = await client.post('/flows/accuracy/run', { body: { inputs: { groundtruth: 'App', prediction: 'app' } } });
    assert.deepEqual(right, { outputs: { grade: 'Correct' }, metrics: { accuracy: 1 } });
    const { data: wrong, response: wrongResponse } = await client.post('/flows/accuracy/run', {
      body: { inputs: { groundtruth: 'App', prediction: 'Game' }, include: ['nodes'] } }).withResponse();
    assert.deepEqual(wrong, { outputs: { grade: 'Incorrect' }, metrics: { accuracy: 0 },
      nodes: { grade: 'Incorrect', calculate_accuracy: ['Incorrect'] } });
    const evalTree = await (await fetch(`${keel.base}/admin/traces/${wrongResponse.headers.get('x-request-id')}`)).json();
    assert.deepEqual(evalTree.spans.map((s) => `${s.depth} ${s.name}`), [
      '0 POST /v1/flows/{name}/run', '1 invoke_workflow accuracy', '2 flow_node grade', '2 flow_node calculate_accuracy']);
    const aggregation = evalTree.spans[3];
    assert.deepEqual(JSON.parse(aggregation.attributes['keel.inputs']), { grades: ['Incorrect'] });
    assert.equal(aggregation.attributes['keel.flow.node.type'], 'python');

    // A failing node: its span and the run's are errors, with the failure's first line.
    const failed = await postJSON(keel, '/v1/flows/accuracy/run', { inputs: { groundtruth: 1, prediction: 'x' } });
    assert.equal(failed.status, 400, failed.text);
    const failedTree = await (await fetch(`${keel.base}/admin/traces/${failed.headers.get('x-request-id')}`)).json();
    const grade = failedTree.spans.find((s) => s.name === 'flow_node grade');
    assert.equal(grade.status, 'error');
    assert.match(grade.status_message, /node grade: grade\.py raised:$/);
    assert.equal(grade.attributes['error.type'], 'invalid_argument');
    assert.equal(failedTree.spans.find((s) => s.name === 'invoke_workflow accuracy').status, 'error');
  } finally {
    await keel.stop();
    keel.cleanup();
    await fake.close();
  }
});

test('keel flow run records its trace and prints a single run\'s metrics', { skip: noRun }, async () => {
  const cfgDir = mkdtempSync(path.join(dir, 'trace-run-'));
  const cfgPath = path.join(cfgDir, 'keel.yaml');
  writeFileSync(cfgPath, toYaml(keelConfig({ dir: cfgDir })));
  const run = await runKeel(['flow', 'run', path.join(FLOWS, 'eval-classification-accuracy'), '--config', cfgPath,
    '--inputs', 'groundtruth=App', 'prediction=App'], { timeoutMs: 15000 });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { grade: 'Correct' });
  assert.deepEqual(JSON.parse(run.stderr.match(/keel: metrics (.*)/)[1]), { accuracy: 1 });
  const traceId = run.stderr.match(/keel: trace ([0-9a-f]{32})/)?.[1];
  assert.ok(traceId, run.stderr);
  const printed = await runKeel(['trace', traceId, '--config', cfgPath, '--json']);
  assert.equal(printed.code, 0, printed.stderr);
  const tree = JSON.parse(printed.stdout);
  assert.deepEqual(tree.spans.map((s) => `${s.depth} ${s.name}`), [
    '0 invoke_workflow eval-classification-accuracy', '1 flow_node grade', '1 flow_node calculate_accuracy']);
  // log_content is off: no inputs or outputs in the spans.
  assert.ok(tree.spans.every((s) => s.attributes['keel.inputs'] === undefined && s.attributes['keel.output'] === undefined));
});

test('a chat flow streams its llm node\'s text token by token through chat completions, messages and responses; a client that goes away cancels the run', { skip: noRun }, async () => {
  const fake = await startFakeOpenAI();
  const keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'trickle', targets: [{ provider: 'oa', model: 'slow-stream-6x30' }] },
      { name: 'endless', targets: [{ provider: 'oa', model: 'slow-stream' }] }],
    extra: { flows: [
      { name: 'trickle-flow', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'trickle' } },
      { name: 'endless-flow', path: path.join(FLOWS, 'chat-basic'), models: { open_ai_connection: 'endless' } },
    ] },
  });
  const whole = '0 1 2 3 4 5 ';
  try {
    const client = makeClient(keel);
    const deltas = [];
    const stream = await client.chat.completions.create({ model: 'trickle-flow', stream: true,
      messages: [{ role: 'user', content: 'count' }] }).withResponse();
    for await (const chunk of stream.data) {
      const text = chunk.choices[0]?.delta?.content;
      if (text) deltas.push(text);
    }
    assert.ok(deltas.length > 1, JSON.stringify(deltas));
    assert.equal(deltas.join(''), whole);
    // The run's spans are in the request's trace.
    const tree = await (await fetch(`${keel.base}/admin/traces/${stream.response.headers.get('x-request-id')}`)).json();
    assert.deepEqual(tree.spans.slice(0, 3).map((s) => `${s.depth} ${s.name}`),
      ['0 POST /v1/chat/completions', '1 invoke_workflow trickle-flow', '2 flow_node chat']);

    const anthropic = makeAnthropicClient(keel);
    const texts = [];
    const messages = anthropic.messages.stream({ model: 'trickle-flow', max_tokens: 64,
      messages: [{ role: 'user', content: 'count' }] });
    messages.on('text', (text) => texts.push(text));
    const final = await messages.finalMessage();
    assert.ok(texts.length > 1, JSON.stringify(texts));
    assert.equal(texts.join(''), whole);
    assert.equal(final.content[0].text, whole);

    const pieces = [];
    for await (const event of await client.responses.create({ model: 'trickle-flow', input: 'count', stream: true, store: false })) {
      if (event.type === 'response.output_text.delta') pieces.push(event.delta);
    }
    assert.ok(pieces.length > 1, JSON.stringify(pieces));
    assert.equal(pieces.join(''), whole);

    // 100 chunks 100 ms apart: the client leaves after two; the upstream call is cancelled.
    const cancelledBefore = fake.stats.cancelled;
    const endless = await client.chat.completions.create({ model: 'endless-flow', stream: true,
      messages: [{ role: 'user', content: 'go on' }] });
    let seen = 0;
    for await (const chunk of endless) {
      if (chunk.choices[0]?.delta?.content) seen++;
      if (seen === 2) break;
    }
    assert.ok(await waitFor(() => fake.stats.cancelled > cancelledBefore, 3000), 'the flow\'s upstream call was not cancelled');
    // keel goes on serving.
    const after = await client.chat.completions.create({ model: 'trickle-flow', messages: [{ role: 'user', content: 'again' }] });
    assert.equal(after.choices[0].message.content, whole);
  } finally {
    await keel.stop();
    keel.cleanup();
    await fake.close();
  }
});

// A flow of python nodes written here: two that sleep side by side (each writes its pid), one
// that joins them, one with a timeout, and a tool node over the builtin calculator.
function writeSleepyFlow(folder) {
  writeFileSync(path.join(folder, 'nap.py'), [
    'import os, time',
    'from promptflow import tool',
    '@tool',
    'def nap(name: str, seconds: float):',
    "    open(name + '.pid', 'w').write(str(os.getpid()))",
    '    time.sleep(seconds)',
    '    return name',
    '',
  ].join('\n'));
  writeFileSync(path.join(folder, 'flow.dag.yaml'), toYaml({
    inputs: { seconds: { type: 'double', default: 0.6 }, expression: { type: 'string', default: '6 * 7' } },
    outputs: { naps: { reference: '${both.output}' }, product: { reference: '${calc.output}' } },
    nodes: [
      { name: 'a', type: 'python', source: { type: 'code', path: 'nap.py' }, inputs: { name: 'a', seconds: '${inputs.seconds}' } },
      { name: 'b', type: 'python', source: { type: 'code', path: 'nap.py' }, inputs: { name: 'b', seconds: '${inputs.seconds}' }, timeout: 5 },
      { name: 'calc', type: 'tool', source: { type: 'package', tool: 'math/calculator' }, inputs: { expression: '${inputs.expression}' } },
      { name: 'both', type: 'prompt', source: { type: 'code', path: 'both.jinja2' }, inputs: { a: '${a.output}', b: '${b.output}' } },
    ],
  }));
  writeFileSync(path.join(folder, 'both.jinja2'), '{{a}}+{{b}}');
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('served flows run ready nodes at once, call toolset tools, time out, and stop when the client goes away', { skip: noRun }, async () => {
  const folder = mkdtempSync(path.join(dir, 'sleepy-'));
  writeSleepyFlow(folder);
  const keel = await startKeel({
    extra: {
      toolsets: [{ name: 'math', kind: 'builtin', tools: ['calculator'] }],
      flows: [{ name: 'sleepy', path: folder }],
    },
  });
  try {
    const client = makeClient(keel);
    const started = Date.now();
    const data = await client.post('/flows/sleepy/run', { body: { inputs: {} } });
    assert.deepEqual(data, { outputs: { naps: 'a+b', product: 42 } });
    assert.ok(Date.now() - started < 1150, `two 0.6 s naps side by side took ${Date.now() - started} ms`);

    // b's timeout (5 s) against a 30 s nap: a 504 naming the node.
    const slow = await postJSON(keel, '/v1/flows/sleepy/run', { inputs: { seconds: 30 } });
    assert.equal(slow.status, 504, slow.text);
    assert.match(slow.json.error.message, /flow\.dag\.yaml:\d+: node b: timed out after 5 s/);

    // A client that goes away mid-run: keel kills the python workers it started.
    for (const name of ['a.pid', 'b.pid']) rmSync(path.join(folder, name), { force: true });
    const abort = new AbortController();
    const gone = postJSON(keel, '/v1/flows/sleepy/run', { inputs: { seconds: 30 } }, { signal: abort.signal }).catch((e) => e);
    await waitFor(() => existsSync(path.join(folder, 'a.pid')) && existsSync(path.join(folder, 'b.pid')), 5000);
    await sleep(100);
    const pids = ['a.pid', 'b.pid'].map((name) => Number(readFileSync(path.join(folder, name), 'utf8')));
    assert.ok(pids.every(alive));
    abort.abort();
    assert.equal((await gone).name, 'AbortError');
    await waitFor(() => !pids.some(alive), 5000);
  } finally {
    await keel.stop();
    keel.cleanup();
  }
});

test('keel flow run: a tool node calls a configured toolset\'s tool; --variant picks a node variant', { skip: noRun }, async () => {
  const folder = mkdtempSync(path.join(dir, 'tool-'));
  writeSleepyFlow(folder);
  const fake = await startFakeOpenAI();
  try {
    const cfgPath = path.join(folder, 'keel.yaml');
    writeFileSync(cfgPath, toYaml(keelConfig({
      providers: [fakeProvider('oa', fake)],
      models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-variant' }] }],
      extra: { toolsets: [{ name: 'math', kind: 'builtin', tools: ['calculator'] }] },
      dir: folder,
    })));
    const run = await runKeel(['flow', 'run', folder, '--config', cfgPath, '--inputs', 'seconds=0', 'expression=2^10'], { timeoutMs: 15000 });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { naps: 'a+b', product: 1024 });

    const variant = await runKeel(['flow', 'run', path.join(FLOWS, 'chat-math-variant'), '--config', cfgPath,
      '--inputs', 'question=1+1=?', '--model', 'open_ai_connection=chatty', '--variant', 'chat=variant_1'], { timeoutMs: 15000 });
    assert.equal(variant.code, 0, variant.stderr);
    const sent = fake.requests.filter((r) => r.body?.model === 'echo-variant');
    assert.equal(sent.length, 1);
    // variant_1's few-shot turns come before the question.
    assert.match(sent[0].body.messages[0].content, /Please think step by step\./);
    assert.equal(sent[0].body.messages.length, 6);
    assert.equal(sent[0].body.messages.at(-1).content, '1+1=?');
  } finally {
    await fake.close();
  }
});
