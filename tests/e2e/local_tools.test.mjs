// The tool loop over the local engine (issue 20), driven by the official openai SDK: the client
// forces a call of one of keel's own tools with tool_choice, so even a tiny random-weight model
// must emit the call, through the tool-call grammar llama.cpp derives from its chat template; keel
// runs the tool, feeds the result back, and the client gets one ordinary answer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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

describe('the tool loop over the local engine', { skip: LOCAL_SKIP }, () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [{ name: 'local', kind: 'local', model: FIXTURE, threads: 1, parallel: 2, context: 1024 }],
      models: [{ name: 'agent-local', tools: ['clock'], max_tool_rounds: 2, timeout_ms: 60000, first_token_timeout_ms: 60000, targets: [{ provider: 'local', model: 'default' }] }],
      extra: { toolsets: [{ name: 'clock', kind: 'builtin', tools: ['current_time'] }] },
      readyTimeoutMs: 30000,
    });
  });
  after(async () => { await keel?.stop(); });

  const calls = async () => metricSum((await scrapeMetrics(keel)).samples, 'keel_tool_calls_total', { toolset: 'clock', tool: 'current_time' });

  // TODO (docs/dev.md): the request reaches the engine with the named choice and the client gets
  // one answer, but the tool has not run yet (the forced output is not parsed into a call);
  // a todo, so the suite shows it without failing.
  for (const stream of [false, true]) {
    test(`tool_choice naming keel's tool: the model calls it, keel runs it, one answer (${stream ? 'streamed' : 'not streamed'})`, { todo: 'the forced call is not parsed into a tool call yet' }, async () => {
      const before = await calls();
      const request = {
        model: 'agent-local',
        messages: [{ role: 'user', content: 'What time is it?' }],
        tool_choice: { type: 'function', function: { name: 'current_time' } },
        max_tokens: 64,
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

  test('a tool_choice naming no tool at all is still a 400', async () => {
    await assert.rejects(
      makeClient(keel).chat.completions.create({ model: 'agent-local', messages: [{ role: 'user', content: 'hi' }], tool_choice: { type: 'function', function: { name: 'rm_rf' } } }),
      (e) => e.status === 400 && /'rm_rf', which is neither in tools nor a tool of model agent-local/.test(e.error?.message ?? e.message),
    );
  });
});
