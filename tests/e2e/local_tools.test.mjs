// The tool loop over the local engine (issue 20), driven by the official openai SDK: the client
// forces a call of one of keel's own tools with tool_choice, so even a tiny random-weight model
// must emit the call, through the tool-call grammar llama.cpp derives from its chat template (or,
// for a model without one, keel's generic JSON grammar); keel runs the tool, feeds the result
// back, and the client gets one ordinary answer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startKeel, makeClient, scrapeMetrics, metricSum, KEEL_BIN } from './harness.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'keel-local-tools-'));
const FIXTURE = path.join(dir, 'fixture-llama.gguf');
let LOCAL_SKIP = false;
try {
  execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', FIXTURE], { stdio: 'pipe' });
} catch (err) {
  LOCAL_SKIP = `this keel has no local engine: ${String(err.stderr || err.message).trim()}`;
}

const STORIES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../shared/models/stories260K.gguf');

// The fixture's ChatML template shows tools, so llama.cpp's chat code makes the call grammar and
// its parser; stories260K has no chat template, so a forced call is keel's generic JSON one.
const engines = [
  { name: 'the fixture (a chat template with tools)', model: FIXTURE, context: 1024, skip: LOCAL_SKIP },
  { name: 'stories260K (no chat template)', model: STORIES, context: 512,
    skip: LOCAL_SKIP || (!existsSync(STORIES) && `needs ${STORIES} (absent)`) },
];

for (const engine of engines) describe(`the tool loop over the local engine: ${engine.name}`, { skip: engine.skip }, () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [{ name: 'local', kind: 'local', model: engine.model, threads: 1, parallel: 2, context: engine.context }],
      models: [{ name: 'agent-local', tools: ['clock'], max_tool_rounds: 2, timeout_ms: 60000, first_token_timeout_ms: 60000, targets: [{ provider: 'local', model: 'default' }] }],
      extra: { toolsets: [{ name: 'clock', kind: 'builtin', tools: ['current_time'] }] },
      readyTimeoutMs: 30000,
    });
  });
  after(async () => { await keel?.stop(); });

  const calls = async () => metricSum((await scrapeMetrics(keel)).samples, 'keel_tool_calls_total', { toolset: 'clock', tool: 'current_time' });

  // The forced call is written out under the grammar (a random-weight model spells it nearly a
  // byte a token), so max_tokens leaves room for it: the call counts against it, as at OpenAI.
  for (const [choice, stream] of [[{ type: 'function', function: { name: 'current_time' } }, false],
    [{ type: 'function', function: { name: 'current_time' } }, true], ['required', false]]) {
    test(`tool_choice ${JSON.stringify(choice)} with keel's tool: the model calls it, keel runs it, one answer (${stream ? 'streamed' : 'not streamed'})`, async () => {
      const before = await calls();
      const request = {
        model: 'agent-local',
        messages: [{ role: 'user', content: 'What time is it?' }],
        tool_choice: choice,
        // One call: a random-weight model allowed several would go on calling to max_tokens.
        parallel_tool_calls: false,
        max_tokens: 256,
        temperature: 0,
      };
      let message;
      let finish;
      if (stream) {
        const chunks = await makeClient(keel).chat.completions.create({ ...request, stream: true });
        let content = '';
        let toolDeltas = 0;
        for await (const chunk of chunks) {
          content += chunk.choices[0]?.delta?.content ?? '';
          toolDeltas += chunk.choices[0]?.delta?.tool_calls?.length ?? 0;
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        assert.equal(toolDeltas, 0, 'keel\'s own call never reaches the client');
        message = { content };
      } else {
        const completion = await makeClient(keel).chat.completions.create(request);
        message = completion.choices[0].message;
        finish = completion.choices[0].finish_reason;
        assert.equal(message.tool_calls, undefined);
        // Two rounds: the forced call, then the answer with the tool's result in its prompt.
        assert.ok(completion.usage.prompt_tokens > 2 * 20, `prompt tokens ${completion.usage.prompt_tokens}`);
      }
      assert.ok(['stop', 'length'].includes(finish), `finish ${finish}`);
      assert.equal(typeof message.content, 'string');
      assert.equal(await calls(), before + 1, 'current_time ran once');
    });
  }

  test('tool_choice auto: whatever the model does, the client gets one ordinary answer', async () => {
    const before = await calls();
    const completion = await makeClient(keel).chat.completions.create({
      model: 'agent-local', messages: [{ role: 'user', content: 'What time is it?' }], max_tokens: 32, temperature: 0,
    });
    assert.equal(completion.choices[0].message.tool_calls, undefined);
    assert.equal(typeof completion.choices[0].message.content, 'string');
    if (engine.model === STORIES) {
      // No template: the model is never shown the tools and answers in text.
      assert.equal(await calls(), before);
      assert.ok(completion.choices[0].message.content.length > 0);
    }
  });

  test('a tool_choice naming no tool at all is still a 400', async () => {
    await assert.rejects(
      makeClient(keel).chat.completions.create({ model: 'agent-local', messages: [{ role: 'user', content: 'hi' }], tool_choice: { type: 'function', function: { name: 'rm_rf' } } }),
      (e) => e.status === 400 && /'rm_rf', which is neither in tools nor a tool of model agent-local/.test(e.error?.message ?? e.message),
    );
  });
});
