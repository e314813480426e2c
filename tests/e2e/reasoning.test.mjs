// Reasoning across vendors (issue 19, item 4), driven by the official SDKs: an Anthropic client's
// thinking (enabled and adaptive) relayed plain and streamed, with signatures and
// redacted_thinking returned byte for byte through tool turns (checked at the fake, which
// signs its thinking and refuses a thinking block it did not sign); an OpenAI client's
// reasoning_effort and Responses reasoning mapped to each vendor's knobs (docs/dev.md's table);
// Responses reasoning items whose encrypted_content carries Anthropic's thinking back when the
// client resends its items (store: false, as Codex CLI does); Gemini's thought summaries and
// thoughtSignature echoed on the functionCall part that carried it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import {
  startFakeAnthropic, thinkingSignature, thinkingOf, REDACTED_THINKING_DATA, ANTHROPIC_TEXT, ANTHROPIC_TOOL_USES,
} from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, geminiThoughtOf, GEMINI_TEXT, GEMINI_THOUGHT_SIGNATURE } from '../fakes/fake_gemini.mjs';
import {
  startKeel, makeClient, makeAnthropicClient, fakeProvider, anthropicProvider, geminiProvider, UPSTREAM_KEY,
} from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';
const WEATHER = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const THINK = { type: 'enabled', budget_tokens: 2000 };

let fakes;
let keel;
let anthropic;
let openai;

before(async () => {
  fakes = {
    oa: await startFakeOpenAI({ apiKey: UPSTREAM_KEY }),
    claude: await startFakeAnthropic({ apiKey: ANT_KEY }),
    gem: await startFakeGemini({ apiKey: GEM_KEY }),
  };
  const m = (name, provider, model) => ({
    name, strategy: 'failover', retries: 0, timeout_ms: 5000, first_token_timeout_ms: 3000, targets: [{ provider, model }],
  });
  keel = await startKeel({
    providers: [fakeProvider('oa', fakes.oa), anthropicProvider('claude', fakes.claude, ANT_KEY), geminiProvider('gem', fakes.gem, GEM_KEY)],
    models: [
      m('claude-ok', 'claude', 'ok'), m('claude-redact', 'claude', 'ok-redact'), m('claude-tools', 'claude', 'tools'),
      m('claude-echo', 'claude', 'echo'), m('oa-ok', 'oa', 'ok'), m('gem-ok', 'gem', 'ok'), m('gem-tools', 'gem', 'tools'),
    ],
  });
  anthropic = makeAnthropicClient(keel);
  openai = makeClient(keel);
});

after(async () => {
  await keel?.stop();
  for (const fake of Object.values(fakes ?? {})) await fake.close();
});

const lastBody = (fake) => fake.requests.at(-1).body;

describe('an Anthropic client\'s thinking', () => {
  test('plain: thinking and redacted_thinking come back first, as Anthropic sent them', async () => {
    const message = await anthropic.messages.create({
      model: 'claude-redact', max_tokens: 4096, thinking: THINK, messages: [{ role: 'user', content: 'Hi there' }],
    });
    assert.deepEqual(lastBody(fakes.claude).thinking, THINK);
    const thinking = thinkingOf({ messages: [{ role: 'user', content: 'Hi there' }] });
    assert.deepEqual(message.content.slice(0, 2), [
      { type: 'redacted_thinking', data: REDACTED_THINKING_DATA },
      { type: 'thinking', thinking, signature: thinkingSignature(thinking) },
    ]);
    assert.equal(message.content[2].type, 'text');
    assert.equal(message.content[2].text, ANTHROPIC_TEXT);
  });

  test('streamed: thinking_delta and signature_delta, and the SDK\'s final message holds them', async () => {
    const stream = anthropic.messages.stream({
      model: 'claude-ok', max_tokens: 4096, thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'Stream it' }],
    });
    const deltas = [];
    stream.on('streamEvent', (event) => { if (event.type === 'content_block_delta') deltas.push(event.delta.type); });
    const message = await stream.finalMessage();
    assert.deepEqual(lastBody(fakes.claude).thinking, { type: 'adaptive' });
    assert.ok(deltas.includes('thinking_delta') && deltas.includes('signature_delta'), deltas.join(' '));
    const [block] = message.content;
    assert.equal(block.type, 'thinking');
    assert.equal(block.thinking, thinkingOf({ messages: [{ role: 'user', content: 'Stream it' }] }));
    assert.equal(block.signature, thinkingSignature(block.thinking));
    assert.equal(message.content.at(-1).text, ANTHROPIC_TEXT);
  });

  for (const stream of [false, true]) {
    test(`a tool turn (${stream ? 'streamed' : 'plain'}): the thinking goes back byte for byte and first`, async () => {
      const messages = [{ role: 'user', content: 'Weather in Paris?' }];
      const params = { model: 'claude-tools', max_tokens: 4096, thinking: THINK, tools: [WEATHER], messages };
      const first = stream ? await anthropic.messages.stream(params).finalMessage() : await anthropic.messages.create(params);
      assert.equal(first.stop_reason, 'tool_use');
      assert.equal(first.content[0].type, 'thinking');
      const uses = first.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, ANTHROPIC_TOOL_USES.length);
      const next = [...messages, { role: 'assistant', content: first.content },
        { role: 'user', content: uses.map((u) => ({ type: 'tool_result', tool_use_id: u.id, content: 'sunny' })) }];
      // The fake refuses a thinking block whose signature it did not make, and a tool turn
      // without its thinking first: an answer means keel sent both back intact.
      const second = await anthropic.messages.create({ ...params, model: 'claude-echo', messages: next });
      assert.equal(second.stop_reason, 'end_turn');
      const sent = lastBody(fakes.claude).messages[1].content;
      assert.deepEqual(sent[0], { type: 'thinking', thinking: first.content[0].thinking, signature: first.content[0].signature });
      assert.deepEqual(sent.filter((b) => b.type === 'tool_use').map((b) => b.id), uses.map((u) => u.id));
    });
  }

  test('an altered signature is the vendor\'s 400, relayed', async () => {
    const thinking = 'I made this up';
    const err = await anthropic.messages.create({
      model: 'claude-echo', max_tokens: 4096, thinking: THINK,
      messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [{ type: 'thinking', thinking, signature: 'forged' }, { type: 'text', text: 'b' }] },
        { role: 'user', content: 'c' }],
    }).catch((e) => e);
    assert.ok(err instanceof Anthropic.BadRequestError, String(err));
  });

  test('budget_tokens below 1024 or not below max_tokens: a 400 naming it', async () => {
    for (const thinking of [{ type: 'enabled', budget_tokens: 100 }, { type: 'enabled', budget_tokens: 5000 }, { type: 'sometimes' }]) {
      const err = await anthropic.messages.create({ model: 'claude-ok', max_tokens: 4096, thinking, messages: [{ role: 'user', content: 'a' }] }).catch((e) => e);
      assert.ok(err instanceof Anthropic.BadRequestError, String(err));
      assert.match(err.message, /thinking/);
    }
  });

  test('over Gemini: thinking as thinkingConfig, thought summaries as thinking blocks without a signature', async () => {
    const message = await anthropic.messages.create({
      model: 'gem-ok', max_tokens: 4096, thinking: THINK, messages: [{ role: 'user', content: 'Hi gem' }],
    });
    assert.deepEqual(lastBody(fakes.gem).generationConfig.thinkingConfig, { thinkingBudget: 2000, includeThoughts: true });
    const thought = geminiThoughtOf([{ role: 'user', parts: [{ text: 'Hi gem' }] }]);
    assert.deepEqual(message.content[0], { type: 'thinking', thinking: thought, signature: '' });
    assert.equal(message.content.at(-1).text, GEMINI_TEXT);
    // Sent back, Gemini's readable thought is not another vendor's to read: Anthropic gets none.
    await anthropic.messages.create({
      model: 'claude-echo', max_tokens: 4096, thinking: THINK,
      messages: [{ role: 'user', content: 'Hi gem' }, { role: 'assistant', content: message.content }, { role: 'user', content: 'more' }],
    });
    assert.deepEqual(lastBody(fakes.claude).messages[1].content, [{ type: 'text', text: GEMINI_TEXT }]);
  });

  test('over an OpenAI-compatible upstream: the budget as reasoning_effort', async () => {
    await anthropic.messages.create({ model: 'oa-ok', max_tokens: 20000, thinking: { type: 'enabled', budget_tokens: 12000 }, messages: [{ role: 'user', content: 'a' }] });
    assert.equal(lastBody(fakes.oa).reasoning_effort, 'high');
    await anthropic.messages.create({ model: 'oa-ok', max_tokens: 4096, thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'a' }] });
    assert.equal(lastBody(fakes.oa).reasoning_effort, undefined);
  });
});

describe('an OpenAI client\'s reasoning_effort', () => {
  test('chat.completions: each vendor gets it in its own terms', async () => {
    await openai.chat.completions.create({ model: 'oa-ok', reasoning_effort: 'low', messages: [{ role: 'user', content: 'a' }] });
    assert.equal(lastBody(fakes.oa).reasoning_effort, 'low');
    const answer = await openai.chat.completions.create({ model: 'claude-ok', reasoning_effort: 'medium', messages: [{ role: 'user', content: 'a' }] });
    assert.equal(answer.choices[0].message.content, ANTHROPIC_TEXT);   // the thinking has no place here
    const body = lastBody(fakes.claude);
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 8192 });
    assert.ok(body.max_tokens > 8192, `max_tokens ${body.max_tokens}`);
    await openai.chat.completions.create({ model: 'gem-ok', reasoning_effort: 'high', messages: [{ role: 'user', content: 'a' }] });
    assert.deepEqual(lastBody(fakes.gem).generationConfig.thinkingConfig, { thinkingBudget: 16384 });
  });

  test('a reasoning_effort keel does not know: a 400 naming it', async () => {
    const err = await openai.chat.completions.create({ model: 'oa-ok', reasoning_effort: 'extreme', messages: [{ role: 'user', content: 'a' }] }).catch((e) => e);
    assert.equal(err.status, 400);
    assert.equal(err.param, 'reasoning_effort');
  });
});

describe('Responses reasoning items', () => {
  test('Anthropic thinking as a reasoning item, summary streamed, and back through a resent thread', async () => {
    const input = [{ role: 'user', content: 'Weather in Paris?' }];
    const tools = [{ type: 'function', name: 'get_weather', parameters: WEATHER.input_schema, strict: false }];
    const stream = openai.responses.stream({
      model: 'claude-tools', input, tools, store: false, include: ['reasoning.encrypted_content'],
      reasoning: { effort: 'low', summary: 'auto' },
    });
    const types = [];
    for await (const event of stream) types.push(event.type);
    const first = await stream.finalResponse();
    assert.deepEqual(lastBody(fakes.claude).thinking, { type: 'enabled', budget_tokens: 2048, display: 'summarized' });
    assert.ok(types.includes('response.reasoning_summary_part.added'), types.join(' '));
    assert.ok(types.includes('response.reasoning_summary_text.delta'), types.join(' '));
    const [reasoning] = first.output;
    assert.equal(reasoning.type, 'reasoning');
    assert.match(reasoning.id, /^rs_/);
    const thinking = thinkingOf({ messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    assert.deepEqual(reasoning.summary, [{ type: 'summary_text', text: thinking }]);
    assert.match(reasoning.encrypted_content, /^keel1\./);
    const calls = first.output.filter((item) => item.type === 'function_call');
    assert.equal(calls.length, 2);
    // Codex CLI's way: store false, every item sent back, then the tools' outputs.
    const next = [...input, ...first.output.map((item) => JSON.parse(JSON.stringify(item, (k, v) => (k === 'parsed_arguments' ? undefined : v)))),
      ...calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: 'sunny' }))];
    const second = await openai.responses.create({ model: 'claude-echo', input: next, tools, store: false, reasoning: { effort: 'low' } });
    assert.equal(second.status, 'completed');
    const sent = lastBody(fakes.claude).messages[1].content;
    assert.deepEqual(sent[0], { type: 'thinking', thinking, signature: thinkingSignature(thinking) });
  });

  test('previous_response_id: the stored reasoning goes back to Anthropic, not to another vendor', async () => {
    const tools = [{ type: 'function', name: 'get_weather', parameters: WEATHER.input_schema, strict: false }];
    const first = await openai.responses.create({ model: 'claude-tools', input: 'Weather?', tools, reasoning: { effort: 'low' } });
    assert.equal(first.output[0].type, 'reasoning');
    const outputs = first.output.filter((i) => i.type === 'function_call').map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: 'rain' }));
    await openai.responses.create({ model: 'claude-echo', previous_response_id: first.id, input: outputs, tools, reasoning: { effort: 'low' } });
    const sent = lastBody(fakes.claude).messages[1].content;
    assert.equal(sent[0].type, 'thinking');
    assert.equal(sent[0].signature, thinkingSignature(sent[0].thinking));
    // The same thread moved to Gemini: no Anthropic thinking reaches it.
    await openai.responses.create({ model: 'gem-ok', previous_response_id: first.id, input: outputs, tools });
    const model = lastBody(fakes.gem).contents.find((c) => c.role === 'model');
    assert.ok(model.parts.every((p) => !p.thought), JSON.stringify(model.parts));
  });

  test('an OpenAI reasoning item\'s encrypted_content is never sent to another vendor', async () => {
    await openai.responses.create({
      model: 'claude-echo',
      input: [{ role: 'user', content: 'a' }, { type: 'reasoning', id: 'rs_openai', summary: [{ type: 'summary_text', text: 'thought' }], encrypted_content: 'gAAAA-openai-blob' },
        { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }],
    });
    assert.doesNotMatch(JSON.stringify(lastBody(fakes.claude)), /gAAAA|thought/);
  });
});

describe('Gemini thoughtSignature', () => {
  test('a call\'s signature goes back on the functionCall part that carried it, through a stored thread', async () => {
    // The signature is a reasoning part of the turn (a reasoning item with keel's envelope),
    // so previous_response_id brings it back to the turn's first call.
    const first = await openai.responses.create({
      model: 'gem-tools', input: 'Weather?', reasoning: { summary: 'auto' },
      tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER.input_schema, strict: false }],
    });
    assert.deepEqual(lastBody(fakes.gem).generationConfig.thinkingConfig, { includeThoughts: true });
    const [reasoning] = first.output;
    assert.equal(reasoning.type, 'reasoning');
    assert.equal(reasoning.summary[0].text, geminiThoughtOf([{ role: 'user', parts: [{ text: 'Weather?' }] }]));
    const calls = first.output.filter((i) => i.type === 'function_call');
    await openai.responses.create({
      model: 'gem-ok', previous_response_id: first.id,
      input: calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: 'rain' })),
    });
    const model = lastBody(fakes.gem).contents.find((c) => c.role === 'model');
    const fc = model.parts.filter((p) => p.functionCall);
    assert.equal(fc.length, 2);
    assert.equal(fc[0].thoughtSignature, GEMINI_THOUGHT_SIGNATURE, JSON.stringify(fc[0]));
    assert.equal(fc[1].thoughtSignature, undefined);
  });
});
