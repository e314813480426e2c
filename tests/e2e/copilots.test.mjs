// Copilots (issue 23): a copilot is a public name. The official openai and @anthropic-ai/sdk
// clients talk to one by setting `model`, over /v1/chat/completions, /v1/messages and
// /v1/responses, streamed or not, in front of a fake OpenAI-compatible model. A copilot's
// instructions reach the model as its system message, its tools run in keel's tool loop, a tool
// under `approval` goes back to the client and the client's result continues the turn, and a
// copilot with the Jira OpenAPI toolset files an issue at a fake Jira. `keel chat COPILOT` works.
// Citations over a real knowledge base (ingested by `keel ingest`), plain and streamed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKeel, runKeel, makeClient, makeAnthropicClient, fakeProvider } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SPECS = path.resolve(here, '../../../shared/specs');
const INSTRUCTIONS = 'You are the ACME helpdesk. Be brief.';
const ask = [{ role: 'user', content: 'What is 6 times 7?' }];

// A fake Jira: checks basic auth and the JSON body of POST /rest/api/3/issue as Jira documents.
async function startFakeJira() {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method, path: req.url, auth: req.headers.authorization ?? null, body });
    const json = (status, value) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.headers.authorization !== `Basic ${Buffer.from('bot@example.com:jira-token').toString('base64')}`) {
      return json(401, { errorMessages: ['unauthorized'] });
    }
    if (req.method === 'POST' && req.url === '/rest/api/3/issue') {
      const issue = JSON.parse(body);
      if (!issue.fields?.summary || !issue.fields?.project?.key) return json(400, { errors: { summary: 'required' } });
      return json(201, { id: '10042', key: `${issue.fields.project.key}-7` });
    }
    return json(404, { errorMessages: ['not found'] });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

describe('copilots', () => {
  let openai, jira, keel;
  before(async () => {
    openai = await startFakeOpenAI();
    jira = await startFakeJira();
    const toolsets = [{ name: 'calc', kind: 'builtin', tools: ['calculator', 'current_time'] }];
    const copilots = [
      { name: 'helpdesk', instructions: INSTRUCTIONS, model: 'smart', tools: ['calc'], starters: ['What is 6 times 7?'] },
      { name: 'cautious', instructions: 'Ask before calculating.', model: 'smart', tools: ['calc'], approval: ['calc/calculator'] },
      { name: 'plain', instructions: 'Repeat the question.', model: 'echoer' },
    ];
    if (existsSync(SPECS)) {
      toolsets.push({
        name: 'jira', kind: 'openapi', spec: path.join(SPECS, 'jira.openapi.json'), base_url: jira.url,
        operations: ['createIssue'], allow_hosts: ['127.0.0.1'],
        auth: { type: 'basic', username: 'bot@example.com', password: 'jira-token' },
      });
      copilots.push({ name: 'triage', instructions: 'File what users report as Jira issues.', model: 'smart', tools: ['jira'] });
    }
    keel = await startKeel({
      providers: [fakeProvider('oa', openai)],
      models: [
        { name: 'smart', targets: [{ provider: 'oa', model: 'toolloop-copilot' }] },
        { name: 'echoer', targets: [{ provider: 'oa', model: 'echo' }] },
      ],
      extra: { toolsets, copilots },
    });
  });
  after(async () => {
    await keel?.stop();
    await openai?.close();
    jira?.close();
  });

  const upstreamSince = (count) => openai.requests.slice(count).map((r) => r.body);

  test('GET /v1/models lists copilots beside models', async () => {
    const client = makeClient(keel);
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    for (const name of ['smart', 'echoer', 'helpdesk', 'cautious', 'plain']) assert.ok(ids.includes(name), `${name} in ${ids}`);
    assert.equal((await client.models.retrieve('helpdesk')).id, 'helpdesk');
    const anthropicIds = (await makeAnthropicClient(keel).models.list()).data.map((m) => m.id);
    assert.ok(anthropicIds.includes('helpdesk'));
  });

  test('openai chat, not streamed: instructions as the system message, tools run by keel', async () => {
    const before = openai.requests.length;
    const completion = await makeClient(keel).chat.completions.create({ model: 'helpdesk', messages: ask });
    assert.equal(completion.model, 'helpdesk');
    assert.equal(completion.choices[0].message.content, 'tool said: 42');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    const upstream = upstreamSince(before);
    assert.equal(upstream.length, 2);
    assert.equal(upstream[0].model, 'toolloop-copilot');
    assert.deepEqual(upstream[0].messages[0], { role: 'system', content: INSTRUCTIONS });
    assert.deepEqual(upstream[0].messages.at(-1), { role: 'user', content: 'What is 6 times 7?' });
    assert.deepEqual(upstream[0].tools.map((t) => t.function.name), ['calculator', 'current_time']);
    assert.equal(upstream[1].messages.at(-1).content, '42');
  });

  test('openai chat, streamed', async () => {
    const stream = await makeClient(keel).chat.completions.create({ model: 'helpdesk', messages: ask, stream: true });
    let text = '';
    let model = '';
    for await (const chunk of stream) {
      model = chunk.model;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, 'tool said: 42');
    assert.equal(model, 'helpdesk');
  });

  test('anthropic messages, plain and streamed', async () => {
    const client = makeAnthropicClient(keel);
    const message = await client.messages.create({ model: 'helpdesk', max_tokens: 100, messages: ask });
    assert.equal(message.model, 'helpdesk');
    assert.deepEqual(message.content.map((b) => b.text), ['tool said: 42']);
    const stream = client.messages.stream({ model: 'helpdesk', max_tokens: 100, messages: ask });
    const final = await stream.finalMessage();
    assert.equal(final.content[0].text, 'tool said: 42');
    assert.equal(final.stop_reason, 'end_turn');
  });

  test('responses, plain and streamed, and a stored thread', async () => {
    const client = makeClient(keel);
    const response = await client.responses.create({ model: 'helpdesk', input: 'What is 6 times 7?' });
    assert.equal(response.model, 'helpdesk');
    assert.equal(response.output_text, 'tool said: 42');
    const stream = client.responses.stream({ model: 'helpdesk', input: 'What is 6 times 7?' });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'tool said: 42');
    // previous_response_id continues the thread under the copilot: the instructions come first
    // once, then the whole thread.
    const before = openai.requests.length;
    const next = await client.responses.create({ model: 'plain', input: 'And 7 times 6?', previous_response_id: response.id });
    assert.equal(next.output_text, 'echo: And 7 times 6?');
    const upstream = upstreamSince(before)[0];
    assert.deepEqual(upstream.messages[0], { role: 'system', content: 'Repeat the question.' });
    assert.equal(upstream.messages.filter((m) => m.role === 'system').length, 1);
    assert.equal(upstream.messages[1].content, 'What is 6 times 7?');
  });

  test('a tool that needs approval stops the turn and the client\'s result resumes it (openai)', async () => {
    const client = makeClient(keel);
    const before = openai.requests.length;
    const first = await client.chat.completions.create({ model: 'cautious', messages: ask });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.function.name, 'calculator');
    assert.deepEqual(JSON.parse(call.function.arguments), { expression: '6*7' });
    assert.equal(upstreamSince(before).length, 1, 'keel ran nothing and asked the model nothing more');

    const resumed = await client.chat.completions.create({
      model: 'cautious',
      messages: [...ask, choice.message, { role: 'tool', tool_call_id: call.id, content: 'approved: 42' }],
    });
    assert.equal(resumed.choices[0].message.content, 'tool said: approved: 42');
    const upstream = upstreamSince(before);
    assert.equal(upstream.length, 2);
    assert.equal(upstream[1].messages.at(-1).content, 'approved: 42');
    assert.equal(upstream[1].messages.at(-2).tool_calls[0].id, call.id);
  });

  test('approval over the anthropic client, streamed', async () => {
    const client = makeAnthropicClient(keel);
    const first = await client.messages.stream({ model: 'cautious', max_tokens: 100, messages: ask }).finalMessage();
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.equal(use.name, 'calculator');
    assert.deepEqual(use.input, { expression: '6*7' });
    const resumed = await client.messages.create({
      model: 'cautious',
      max_tokens: 100,
      messages: [...ask, { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'approved: 42' }] }],
    });
    assert.equal(resumed.content[0].text, 'tool said: approved: 42');
  });

  test('approval over responses: a function_call item, then function_call_output resumes', async () => {
    const client = makeClient(keel);
    const first = await client.responses.create({ model: 'cautious', input: 'What is 6 times 7?' });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.equal(call.name, 'calculator');
    const resumed = await client.responses.create({
      model: 'cautious',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'approved: 42' }],
    });
    assert.equal(resumed.output_text, 'tool said: approved: 42');
  });

  test('a copilot with the Jira OpenAPI toolset files an issue', async (t) => {
    if (!existsSync(SPECS)) return t.skip(`${SPECS} is absent`);
    const before = jira.seen.length;
    const completion = await makeClient(keel).chat.completions.create({
      model: 'triage', messages: [{ role: 'user', content: 'The VPN is down, please file a bug.' }],
    });
    assert.match(completion.choices[0].message.content, /^tool said: HTTP 201[\s\S]*"key":"KEEL-7"/);
    const posts = jira.seen.slice(before).filter((s) => s.method === 'POST');
    assert.equal(posts.length, 1);
    assert.equal(posts[0].path, '/rest/api/3/issue');
    assert.deepEqual(JSON.parse(posts[0].body).fields.summary, 'VPN is down');
  });

  test('an unknown copilot is a 404 as for an unknown model', async () => {
    const error = await makeClient(keel).chat.completions.create({ model: 'helpdesk-2', messages: ask }).catch((e) => e);
    assert.equal(error.status, 404);
    assert.match(error.message, /model 'helpdesk-2' does not exist/);
  });

  test('keel chat COPILOT', async () => {
    const result = await runKeel(['chat', 'helpdesk', '--url', keel.url], { input: 'What is 6 times 7?\n', timeoutMs: 15000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /tool said: 42/);
    assert.match(result.stderr, /chatting with helpdesk/);
  });

  test('keel chat COPILOT with a tool that needs approval says it cannot run it', async () => {
    const result = await runKeel(['chat', 'cautious', '--url', keel.url], { input: 'What is 6 times 7?\n', timeoutMs: 15000 });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /asks the client to run calculator \(a tool that needs approval\); keel chat runs no tools/);
  });
});

describe('copilot config', () => {
  test('keel config check: a copilot clashing with a model, and a missing instructions file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-copilot-'));
    const base = 'providers: [{name: oa, kind: openai, base_url: "http://127.0.0.1:9/v1"}]\n'
      + 'models: [{name: smart, targets: [{provider: oa, model: x}]}]\n';
    const clash = path.join(dir, 'clash.yaml');
    writeFileSync(clash, `${base}copilots: [{name: smart, model: smart}]\n`);
    let result = await runKeel(['config', 'check', clash]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /copilots\[0\]\.name: "smart" is already a model's name/);
    const missing = path.join(dir, 'missing.yaml');
    writeFileSync(missing, `${base}copilots: [{name: helpdesk, model: smart, instructions: prompts/helpdesk.prompty}]\n`);
    result = await runKeel(['config', 'check', missing]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /copilot helpdesk: instructions: .*helpdesk\.prompty/);
    const ok = path.join(dir, 'ok.yaml');
    writeFileSync(ok, `${base}copilots: [{name: helpdesk, model: smart, instructions: Be brief.}]\n`);
    result = await runKeel(['config', 'check', ok]);
    assert.equal(result.code, 0, result.stderr);
  });
});

// Citations over a real knowledge base (src/knowledge/, ingested by `keel ingest`).
describe('copilot citations over a knowledge base', () => {
  let openai, keel;
  before(async () => {
    // The model cites what the prompt numbered: the source whose text names the VPN, and a
    // number that was never retrieved (which keel must drop).
    openai = await startFakeOpenAI({
      answer: (body) => {
        const system = body.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
        const vpn = /\[(\d+)\] [^\n]*vpn\.md/.exec(system);
        return vpn ? `Use the VPN client [${vpn[1]}]. Also [99].` : undefined;
      },
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-kb-'));
    mkdirSync(path.join(dir, 'handbook'));
    writeFileSync(path.join(dir, 'handbook', 'vpn.md'), '# VPN\n\nConnect to the office network with the VPN client. It asks for your badge number.\n');
    writeFileSync(path.join(dir, 'handbook', 'mail.md'), '# Mail\n\nMail is read in the browser at mail.example.com.\n');
    keel = await startKeel({
      providers: [fakeProvider('oa', openai)],
      models: [
        { name: 'smart', targets: [{ provider: 'oa', model: 'ok' }] },
        { name: 'embed', targets: [{ provider: 'oa', model: 'text-embedding-3-small' }] },
      ],
      extra: {
        knowledge: [{ name: 'handbook', sources: [path.join(dir, 'handbook')], embedding_model: 'embed' }],
        copilots: [{ name: 'helpdesk', instructions: INSTRUCTIONS, model: 'smart', knowledge: ['handbook'] }],
      },
    });
    const ingested = await runKeel(['ingest', 'handbook', '--config', keel.configPath], { timeoutMs: 30000 });
    assert.equal(ingested.code, 0, ingested.stderr);
  });
  after(async () => {
    await keel?.stop();
    await openai?.close();
  });

  const question = [{ role: 'user', content: 'How do I connect to the VPN?' }];

  test('openai chat: url_citation annotations name the retrieved chunk; unknown markers dropped', async () => {
    const completion = await makeClient(keel).chat.completions.create({ model: 'helpdesk', messages: question });
    const message = completion.choices[0].message;
    assert.doesNotMatch(message.content, /\[99\]/);
    assert.equal(message.annotations.length, 1);
    const citation = message.annotations[0].url_citation;
    assert.match(citation.title, /vpn\.md/);
    assert.match(citation.url, /^knowledge:\/\/handbook\/.*vpn\.md#chunk=/);
    assert.equal(message.content.slice(citation.start_index, citation.end_index), message.content.match(/\[\d+\]/)[0]);
    // Streamed: the SDK's helper keeps the annotations the stream carried.
    const final = await makeClient(keel).chat.completions.stream({ model: 'helpdesk', messages: question }).finalChatCompletion();
    assert.equal(final.choices[0].message.annotations.length, 1);
  });

  test('responses: file_citation; anthropic: char_location citations', async () => {
    const response = await makeClient(keel).responses.create({ model: 'helpdesk', input: 'How do I connect to the VPN?' });
    const annotations = response.output[0].content[0].annotations;
    assert.equal(annotations.length, 1);
    assert.equal(annotations[0].type, 'file_citation');
    assert.match(annotations[0].filename, /vpn\.md$/);
    const streamed = await makeClient(keel).responses.stream({ model: 'helpdesk', input: 'How do I connect to the VPN?' }).finalResponse();
    assert.equal(streamed.output[0].content[0].annotations[0].type, 'file_citation');
    const client = makeAnthropicClient(keel);
    for (const message of [
      await client.messages.create({ model: 'helpdesk', max_tokens: 100, messages: question }),
      await client.messages.stream({ model: 'helpdesk', max_tokens: 100, messages: question }).finalMessage(),
    ]) {
      const block = message.content[0];
      assert.equal(block.citations.length, 1);
      assert.equal(block.citations[0].type, 'char_location');
      assert.match(block.citations[0].document_title, /vpn\.md$/);
      assert.match(block.citations[0].cited_text, /VPN client/);
    }
  });
});
