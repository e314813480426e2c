// Popular client libraries through keel, over each provider kind (issue 17): LangChain JS
// (@langchain/openai's ChatOpenAI, @langchain/anthropic's ChatAnthropic) and the Vercel AI SDK
// (ai with @ai-sdk/openai, @ai-sdk/openai-compatible and @ai-sdk/anthropic), each against keel
// with targets of kind openai, azure, anthropic and gemini (the fakes' schema* behaviour, which
// answers as a model following the request would). Structured output in each library's modes,
// tools with parallel calls off, streamed usage; and, at the fake upstream, the key order of the
// client's schema, byte for byte.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ChatOpenAI } from '@langchain/openai';
import { ChatAnthropic } from '@langchain/anthropic';
import { tool as lcTool } from '@langchain/core/tools';
import { generateObject, streamObject, generateText, streamText, Output, tool as aiTool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { createAnthropic } from '@ai-sdk/anthropic';
import { startFakeOpenAI, FAKE_USAGE } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic, ANTHROPIC_USAGE } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, GEMINI_USAGE } from '../fakes/fake_gemini.mjs';
import { startKeel, fakeProvider, anthropicProvider, geminiProvider, azureProvider, UPSTREAM_KEY, CLIENT_KEY } from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';
const AZ_KEY = 'az-upstream-key';

// Properties not in alphabetical order: "reason before answering" must stay that way.
const Answer = z.object({
  reasoning: z.string().describe('think first'),
  answer: z.string(),
  confidence: z.number(),
});
const ORDER = ['reasoning', 'answer', 'confidence'];
const EXPECTED = { reasoning: '<reasoning>', answer: '<answer>', confidence: 1.5 };
// For JSON mode, where the schema travels in the prompt.
const ANSWER_SCHEMA_TEXT = JSON.stringify({
  type: 'object',
  properties: { reasoning: { type: 'string' }, answer: { type: 'string' }, confidence: { type: 'number' } },
  required: ORDER,
});
const Weather = z.object({ city: z.string() });

let fakeO;
let fakeA;
let fakeG;
let fakeZ;
let keel;

// Per provider kind: the keel model name, its fake, and what that upstream's request holds.
let KINDS;

before(async () => {
  fakeO = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
  fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
  fakeG = await startFakeGemini({ apiKey: GEM_KEY });
  fakeZ = await startFakeOpenAI({ apiKey: AZ_KEY });
  const m = (name, provider) => ({
    name, strategy: 'failover', retries: 0, timeout_ms: 10000, first_token_timeout_ms: 8000,
    targets: [{ provider, model: 'schema' }],
  });
  keel = await startKeel({
    providers: [
      fakeProvider('oa', fakeO),
      anthropicProvider('claude', fakeA, ANT_KEY),
      geminiProvider('gem', fakeG, GEM_KEY),
      azureProvider('az', fakeZ, AZ_KEY),
    ],
    models: [m('via-openai', 'oa'), m('via-azure', 'az'), m('via-anthropic', 'claude'), m('via-gemini', 'gem')],
    extra: { api_keys: [CLIENT_KEY] },
  });
  KINDS = [
    { kind: 'openai', model: 'via-openai', fake: fakeO },
    { kind: 'azure', model: 'via-azure', fake: fakeZ },
    { kind: 'anthropic', model: 'via-anthropic', fake: fakeA },
    { kind: 'gemini', model: 'via-gemini', fake: fakeG },
  ];
});

after(async () => {
  await keel?.stop();
  await Promise.all([fakeO, fakeA, fakeG, fakeZ].map((f) => f?.close()));
});

// The schema objects in an upstream request body that describe the Answer (tools' parameters,
// response formats, Anthropic's input_schema and output_config, Gemini's declarations and
// responseSchema), found by their properties.
function answerSchemasIn(body) {
  const found = [];
  const walk = (v) => {
    if (!v || typeof v !== 'object') return;
    if (!Array.isArray(v) && v.properties && typeof v.properties === 'object' && 'reasoning' in v.properties) found.push(v);
    for (const x of Object.values(v)) walk(x);
  };
  walk(body);
  return found;
}

// The client's key order reached the upstream: each Answer schema's properties are in ORDER, in
// the raw bytes keel sent (JSON.parse keeps the order; the serialised schema is found verbatim
// in the raw body), and Gemini's carry propertyOrdering.
function assertKeyOrderUpstream(kind, fake, label) {
  const last = fake.lastRequest();
  const schemas = answerSchemasIn(last.body);
  assert.ok(schemas.length > 0, `${label}: no Answer schema reached the ${kind} upstream: ${last.raw.slice(0, 600)}`);
  for (const schema of schemas) {
    assert.deepEqual(Object.keys(schema.properties), ORDER, `${label}: properties reached ${kind} reordered`);
    assert.ok(last.raw.includes(JSON.stringify(schema.properties)), `${label}: the properties' bytes at ${kind}`);
    if (kind === 'gemini') assert.deepEqual(schema.propertyOrdering, ORDER, `${label}: propertyOrdering`);
  }
}

function assertAnswer(value, label) {
  assert.deepEqual(value, EXPECTED, label);
  assert.deepEqual(Object.keys(value), ORDER, `${label}: the answer's keys came back in the schema's order`);
}

const prompt = 'Is the sky blue? Think, then answer.';
const jsonPrompt = `Is the sky blue? Answer as JSON matching this schema: ${ANSWER_SCHEMA_TEXT}`;

describe('LangChain ChatOpenAI', () => {
  const chat = (model, options = {}) => new ChatOpenAI({
    model, apiKey: CLIENT_KEY, configuration: { baseURL: keel.url }, maxRetries: 0, ...options,
  });

  for (const method of ['jsonSchema', 'functionCalling', 'jsonMode']) {
    test(`withStructuredOutput ${method} over each kind`, async () => {
      for (const { kind, model, fake } of KINDS) {
        const structured = chat(model).withStructuredOutput(Answer, { method });
        const result = await structured.invoke(method === 'jsonMode' ? jsonPrompt : prompt);
        assertAnswer(result, `${method} via ${kind}`);
        if (method !== 'jsonMode') assertKeyOrderUpstream(kind, fake, `${method} via ${kind}`);
      }
    });
  }

  test('tools with parallel_tool_calls false give one call over each kind', async () => {
    const weather = lcTool(async () => 'sunny', { name: 'get_weather', description: 'Weather in a city', schema: Weather });
    for (const { kind, model } of KINDS) {
      const message = await chat(model).bindTools([weather], { parallel_tool_calls: false }).invoke('Weather in Paris?');
      assert.equal(message.tool_calls.length, 1, `via ${kind}`);
      assert.equal(message.tool_calls[0].name, 'get_weather');
      assert.deepEqual(message.tool_calls[0].args, { city: '<city>' });
      // Without the promise the fakes make two.
      const both = await chat(model).bindTools([weather]).invoke('Weather in Paris?');
      assert.equal(both.tool_calls.length, 2, `via ${kind}, parallel allowed`);
    }
  });

  test('streamed usage over each kind', async () => {
    const prompts = { openai: FAKE_USAGE.prompt_tokens, azure: FAKE_USAGE.prompt_tokens, anthropic: 13, gemini: GEMINI_USAGE.promptTokenCount };
    for (const { kind, model } of KINDS) {
      let total;
      for await (const chunk of await chat(model, { streamUsage: true }).stream('Hi')) {
        total = total === undefined ? chunk : total.concat(chunk);
      }
      assert.equal(total.usage_metadata?.input_tokens, prompts[kind], `via ${kind}`);
      assert.ok(total.usage_metadata.output_tokens > 0, `via ${kind}`);
    }
  });
});

describe('LangChain ChatAnthropic', () => {
  const chat = (model, options = {}) => new ChatAnthropic({
    model, apiKey: CLIENT_KEY, anthropicApiUrl: keel.base, maxRetries: 0, ...options,
  });

  for (const method of ['functionCalling', 'jsonSchema']) {
    test(`withStructuredOutput ${method} over each kind`, async () => {
      for (const { kind, model, fake } of KINDS) {
        const result = await chat(model).withStructuredOutput(Answer, { method }).invoke(prompt);
        assertAnswer(result, `${method} via ${kind}`);
        assertKeyOrderUpstream(kind, fake, `${method} via ${kind}`);
      }
    });
  }

  test('tools with disable_parallel_tool_use give one call over each kind', async () => {
    const weather = lcTool(async () => 'sunny', { name: 'get_weather', description: 'Weather in a city', schema: Weather });
    for (const { kind, model } of KINDS) {
      const message = await chat(model)
        .bindTools([weather], { tool_choice: { type: 'auto', disable_parallel_tool_use: true } })
        .invoke('Weather in Paris?');
      assert.equal(message.tool_calls.length, 1, `via ${kind}`);
      assert.deepEqual(message.tool_calls[0].args, { city: '<city>' });
    }
  });

  // ChatAnthropic takes input tokens from message_start alone. keel fills it where the upstream
  // counts the prompt at the start (anthropic: input 11 + cache reads 2; gemini: its first
  // chunk); OpenAI-compatible upstreams count at the end, so message_start says 0 there (README).
  test('streamed usage: input tokens from message_start', async () => {
    const atStart = { anthropic: ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens, gemini: GEMINI_USAGE.promptTokenCount };
    for (const { kind, model } of KINDS) {
      let total;
      for await (const chunk of await chat(model, { streamUsage: true }).stream('Hi')) {
        total = total === undefined ? chunk : total.concat(chunk);
      }
      assert.ok(total.usage_metadata.output_tokens > 0, `via ${kind}`);
      if (atStart[kind] !== undefined) assert.equal(total.usage_metadata.input_tokens, atStart[kind], `via ${kind}`);
    }
  });
});

describe('Vercel AI SDK', () => {
  const openai = () => createOpenAI({ baseURL: keel.url, apiKey: CLIENT_KEY });
  const compatible = (options = {}) => createOpenAICompatible({
    name: 'keel', baseURL: keel.url, apiKey: CLIENT_KEY, includeUsage: true, ...options,
  });
  const anthropic = () => createAnthropic({ baseURL: keel.url, apiKey: CLIENT_KEY });
  // Each provider package with its default structured output mode: @ai-sdk/openai json_schema,
  // @ai-sdk/openai-compatible json_object (the schema in the prompt) or json_schema when it is
  // told the server supports structured outputs, @ai-sdk/anthropic a forced tool with
  // disable_parallel_tool_use.
  const PROVIDERS = {
    openai: (model) => openai().chat(model),
    'openai-compatible': (model) => compatible()(model),
    'openai-compatible structured': (model) => compatible({ supportsStructuredOutputs: true })(model),
    anthropic: (model) => anthropic()(model),
  };

  for (const [name, make] of Object.entries(PROVIDERS)) {
    test(`${name}: generateObject, streamObject and Output.object over each kind`, async () => {
      // JSON mode (json_object) has no schema on the wire: like a real user, the prompt says it.
      const jsonMode = name === 'openai-compatible';
      const ask = jsonMode ? jsonPrompt : prompt;
      for (const { kind, model, fake } of KINDS) {
        const label = `${name} via ${kind}`;
        const { object } = await generateObject({ model: make(model), schema: Answer, prompt: ask, maxRetries: 0 });
        assertAnswer(object, `generateObject ${label}`);
        if (!jsonMode) assertKeyOrderUpstream(kind, fake, `generateObject ${label}`);
        if (name === 'anthropic') {
          const up = fake.lastRequest().body;
          if (kind === 'anthropic') assert.equal(up.tool_choice?.disable_parallel_tool_use, true, label);
          if (kind === 'gemini') assert.match(JSON.stringify(up.systemInstruction), /at most one function/, label);
        }

        const streamed = streamObject({ model: make(model), schema: Answer, prompt: ask, maxRetries: 0 });
        let partials = 0;
        for await (const partial of streamed.partialObjectStream) partials += partial ? 1 : 0;   // drives the stream
        assert.ok(partials > 0, `streamObject ${label}: partial objects`);
        assertAnswer(await streamed.object, `streamObject ${label}`);

        const { output } = await generateText({ model: make(model), output: Output.object({ schema: Answer }), prompt: ask, maxRetries: 0 });
        assertAnswer(output, `Output.object ${label}`);
      }
    });

    test(`${name}: tools with parallel calls off over each kind`, async () => {
      // @ai-sdk/openai-compatible sends its provider's options as body fields, as they are.
      const providerOptions = {
        anthropic: { anthropic: { disableParallelToolUse: true } },
        openai: { openai: { parallelToolCalls: false } },
      }[name] ?? { keel: { parallel_tool_calls: false } };
      const tools = { get_weather: aiTool({ description: 'Weather in a city', inputSchema: Weather }) };
      for (const { kind, model } of KINDS) {
        const result = await generateText({ model: make(model), tools, prompt: 'Weather in Paris?', providerOptions, maxRetries: 0 });
        assert.equal(result.toolCalls.length, 1, `${name} via ${kind}`);
        assert.equal(result.toolCalls[0].toolName, 'get_weather');
        assert.deepEqual(result.toolCalls[0].input, { city: '<city>' });
      }
    });

    test(`${name}: streamText reports usage over each kind`, async () => {
      for (const { kind, model } of KINDS) {
        const result = streamText({ model: make(model), prompt: 'Hi', maxRetries: 0 });
        let text = '';
        for await (const piece of result.textStream) text += piece;
        assert.ok(text.length > 0, `${name} via ${kind}`);
        const usage = await result.usage;
        assert.ok(usage.inputTokens > 0, `${name} via ${kind}: input tokens ${usage.inputTokens}`);
        assert.ok(usage.outputTokens > 0, `${name} via ${kind}: output tokens ${usage.outputTokens}`);
      }
    });
  }
});
