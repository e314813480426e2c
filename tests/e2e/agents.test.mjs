// The OpenAI Agents SDK (@openai/agents, which speaks the Responses API by default) pointed at
// keel by base URL only, over the Anthropic and Gemini fakes: an agent with a function tool
// (the fake model calls it, the SDK runs it, the result goes back through keel), multi-turn with
// previousResponseId (keel's stored responses carry the thread to the vendor), and
// OpenAIConversationsSession (keel's Conversations API holds the history).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, Runner, tool } from '@openai/agents';
import { OpenAIProvider, OpenAIConversationsSession } from '@openai/agents-openai';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, parseEcho as parseGeminiEcho } from '../fakes/fake_gemini.mjs';
import { startKeel, anthropicProvider, geminiProvider, CLIENT_KEY } from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';

let fakeA;
let fakeG;
let keel;
let runner;
let ran;   // the commands the tool ran

function bashTool() {
  return tool({
    name: 'Bash',
    description: 'Run a shell command',
    parameters: {
      type: 'object',
      properties: { command: { type: 'string' }, description: { type: 'string' } },
      required: ['command'],
      additionalProperties: false,
    },
    strict: false,
    execute: async ({ command }) => {
      ran.push(command);
      return `ran: ${command}`;
    },
  });
}

before(async () => {
  fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
  fakeG = await startFakeGemini({ apiKey: GEM_KEY });
  const m = (name, provider, model) => ({ name, retries: 0, timeout_ms: 10000, targets: [{ provider, model }] });
  keel = await startKeel({
    providers: [anthropicProvider('claude', fakeA, ANT_KEY), geminiProvider('gem', fakeG, GEM_KEY)],
    models: [m('claude-agent', 'claude', 'agent'), m('claude-echo', 'claude', 'echo'), m('gem-agent', 'gem', 'agent'), m('gem-echo', 'gem', 'echo')],
    extra: { api_keys: [CLIENT_KEY] },
  });
  runner = new Runner({ modelProvider: new OpenAIProvider({ baseURL: keel.url, apiKey: CLIENT_KEY }), tracingDisabled: true });
});

after(async () => {
  await keel?.stop();
  await Promise.all([fakeA?.close(), fakeG?.close()]);
  keel?.cleanup?.();
});

for (const [vendor, fake] of [['claude', () => fakeA], ['gem', () => fakeG]]) {
  describe(`the Agents SDK over ${vendor}`, () => {
    test('an agent with a function tool: the model calls it, the SDK runs it, the answer uses its result', async () => {
      ran = [];
      const agent = new Agent({ name: 'marker', instructions: 'Use the tool.', model: `${vendor}-agent`, tools: [bashTool()] });
      const result = await runner.run(agent, 'print the marker');
      assert.deepEqual(ran, ['echo keel-agent-ok']);
      assert.equal(result.finalOutput, 'tool said: ran: echo keel-agent-ok');
      // Streamed too.
      ran = [];
      const streamed = await runner.run(agent, 'print the marker', { stream: true });
      for await (const event of streamed) void event;
      await streamed.completed;
      assert.deepEqual(ran, ['echo keel-agent-ok']);
      assert.equal(streamed.finalOutput, 'tool said: ran: echo keel-agent-ok');
    });

    test('multi-turn with previousResponseId: the stored thread reaches the vendor', async () => {
      ran = [];
      const agent = new Agent({ name: 'marker', instructions: 'Use the tool.', model: `${vendor}-agent`, tools: [bashTool()] });
      const first = await runner.run(agent, 'print the marker');
      assert.ok(first.lastResponseId?.startsWith('resp_'), first.lastResponseId);
      const echo = new Agent({ name: 'echo', instructions: 'Repeat.', model: `${vendor}-echo`, tools: [bashTool()] });
      const from = fake().requests.length;
      const second = await runner.run(echo, 'what did the tool say?', { previousResponseId: first.lastResponseId });
      assert.match(String(second.finalOutput), /^echo: .*what did the tool say\?/s);
      const sent = JSON.stringify(fake().requests.slice(from).at(-1).body);
      for (const earlier of ['print the marker', 'echo keel-agent-ok', 'ran: echo keel-agent-ok', 'tool said: ran: echo keel-agent-ok']) {
        assert.ok(sent.includes(earlier), `turn 2's upstream request lacks ${earlier}`);
      }
    });

    test('OpenAIConversationsSession: keel\'s Conversations API keeps the history between runs', async () => {
      ran = [];
      const session = new OpenAIConversationsSession({ baseURL: keel.url, apiKey: CLIENT_KEY });
      const agent = new Agent({ name: 'marker', instructions: 'Use the tool.', model: `${vendor}-agent`, tools: [bashTool()] });
      await runner.run(agent, 'print the marker', { session });
      const id = await session.getSessionId();
      assert.match(id, /^conv_/);
      const items = await session.getItems();
      assert.ok(items.some((item) => item.type === 'function_call' && item.name === 'Bash'));
      assert.ok(items.some((item) => item.type === 'function_call_result' || item.type === 'function_call_output'));
      const echo = new Agent({ name: 'echo', instructions: 'Repeat.', model: `${vendor}-echo`, tools: [bashTool()] });
      const from = fake().requests.length;
      const second = await runner.run(echo, 'and now?', { session });
      assert.match(String(second.finalOutput), /and now\?/);
      const sent = JSON.stringify(fake().requests.slice(from).at(-1).body);
      assert.ok(sent.includes('print the marker') && sent.includes('ran: echo keel-agent-ok'));
      if (vendor === 'gem') assert.ok(parseGeminiEcho(second.finalOutput).text.includes('and now?'));
      await session.clearSession();
    });
  });
}
