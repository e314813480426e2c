// Documents (issue 19 item 5) end to end: a real PDF from Debian (read at test time, never
// copied into the repository) sent by the official clients — @anthropic-ai/sdk `document`
// blocks, openai chat.completions `file` parts, openai responses.create `input_file` — through
// keel to the Anthropic, OpenAI and Gemini fakes, plain and streamed. Each fake checks the
// document's wire shape as its vendor documents it and answers (model docs*) with the byte
// length and SHA-256 of what it received, so every test proves the bytes arrived intact. A
// target that cannot take documents (an OpenAI-compatible server without `documents: true`,
// the local engine) is skipped for one that can, else the client gets a 400 naming the feature
// in its front door's error shape, streamed or not, before any upstream call.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini } from '../fakes/fake_gemini.mjs';
import { parseDocuments } from '../fakes/fake_common.mjs';
import {
  startKeel, makeClient, makeAnthropicClient, fakeProvider, anthropicProvider, geminiProvider,
  localEngineMissing, UPSTREAM_KEY, KEEL_BIN,
} from './harness.mjs';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';

// The smallest PDF Debian ships under /usr/share/doc (its packages' manuals).
function findPdf() {
  try {
    const found = execFileSync('find', ['/usr/share/doc', '-name', '*.pdf', '-size', '-2M', '-printf', '%s %p\n'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((line) => line.split(' ')).sort((a, b) => Number(a[0]) - Number(b[0]));
    return found.length > 0 ? found[0][1] : null;
  } catch {
    return null;
  }
}
const PDF_PATH = findPdf();
const NO_PDF = PDF_PATH ? false : 'no PDF under /usr/share/doc';
const PDF = PDF_PATH ? readFileSync(PDF_PATH) : Buffer.alloc(0);
const PDF_B64 = PDF.toString('base64');
const PDF_URL = `data:application/pdf;base64,${PDF_B64}`;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const NOTES = 'Keel reads documents.\nThe second line of the notes.';

// What a docs* fake must have received: the whole PDF, named as each vendor can name it.
const pdfSeen = (name) => ({ media_type: 'application/pdf', name, bytes: PDF.length, sha256: sha256(PDF), text: null });
// Per vendor: the name the document keeps there (Gemini's inlineData has none).
const VENDORS = { claude: 'spec.pdf', oa: 'spec.pdf', gem: null };
const NOT_SUPPORTED = /document input \(application\/pdf\) is not supported by provider 'compat' \(kind openai\)/;

const LOCAL_SKIP = NO_PDF || localEngineMissing();

let fakes;
let keel;
let client;      // openai
let anthropic;   // @anthropic-ai/sdk

before(async () => {
  if (NO_PDF) return;
  fakes = {
    oa: await startFakeOpenAI({ apiKey: UPSTREAM_KEY }),
    claude: await startFakeAnthropic({ apiKey: ANT_KEY }),
    gem: await startFakeGemini({ apiKey: GEM_KEY }),
  };
  const providers = [
    { ...fakeProvider('oa', fakes.oa), documents: true },
    // The same fake as an OpenAI-compatible server that has not said it takes files.
    fakeProvider('compat', fakes.oa),
    anthropicProvider('claude', fakes.claude, ANT_KEY),
    geminiProvider('gem', fakes.gem, GEM_KEY),
  ];
  const t = (provider, model) => ({ provider, model });
  const m = (name, ...targets) => ({ name, strategy: 'failover', retries: 0, timeout_ms: 10000, first_token_timeout_ms: 8000, targets });
  const models = [
    m('claude-docs', t('claude', 'docs')),
    m('oa-docs', t('oa', 'docs')),
    m('gem-docs', t('gem', 'docs')),
    m('compat-docs', t('compat', 'docs-never')),
    m('compat-then-claude', t('compat', 'docs-skipped'), t('claude', 'docs')),
  ];
  if (!LOCAL_SKIP) {
    const fixture = path.join(mkdtempSync(path.join(tmpdir(), 'keel-docs-')), 'fixture.gguf');
    execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', fixture], { stdio: 'pipe' });
    providers.push({ name: 'engine', kind: 'local', model: fixture, threads: 1, parallel: 1, context: 256 });
    models.push(m('local-docs', t('engine', 'fixture')));
  }
  keel = await startKeel({ providers, models });
  client = makeClient(keel);
  anthropic = makeAnthropicClient(keel);
});

after(async () => {
  await keel?.stop();
  for (const fake of Object.values(fakes ?? {})) await fake.close();
});

const pdfBlock = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF_B64 }, title: 'spec.pdf' };
const anthropicParams = (model, content = [pdfBlock, { type: 'text', text: 'Summarise this document.' }]) => ({
  model, max_tokens: 200, messages: [{ role: 'user', content }],
});
const fileMessages = () => [{
  role: 'user',
  content: [{ type: 'text', text: 'Summarise this document.' }, { type: 'file', file: { file_data: PDF_URL, filename: 'spec.pdf' } }],
}];
const fileInput = () => [{
  role: 'user',
  content: [{ type: 'input_text', text: 'Summarise this document.' }, { type: 'input_file', file_data: PDF_URL, filename: 'spec.pdf' }],
}];

// The requests a fake got for `model` since `from`.
const sent = (fake, model, from) => fake.requests.slice(from).filter((r) => r.body?.model === model || r.model === model || r.deployment === model);

describe('documents', { skip: NO_PDF }, () => {
  for (const [vendor, name] of Object.entries(VENDORS)) {
    test(`${vendor}: an Anthropic client's PDF document arrives intact, plain and streamed`, async () => {
      const msg = await anthropic.messages.create(anthropicParams(`${vendor}-docs`));
      assert.equal(msg.content[0].type, 'text');
      assert.deepEqual(parseDocuments(msg.content[0].text), [pdfSeen(name)]);

      const stream = await anthropic.messages.create({ ...anthropicParams(`${vendor}-docs`), stream: true });
      let text = '';
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      }
      assert.deepEqual(parseDocuments(text), [pdfSeen(name)]);
    });

    test(`${vendor}: chat.completions with a file part arrives intact, plain and streamed`, async () => {
      const completion = await client.chat.completions.create({ model: `${vendor}-docs`, messages: fileMessages() });
      assert.deepEqual(parseDocuments(completion.choices[0].message.content), [pdfSeen(name)]);

      const stream = await client.chat.completions.create({ model: `${vendor}-docs`, messages: fileMessages(), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.deepEqual(parseDocuments(text), [pdfSeen(name)]);
    });

    test(`${vendor}: responses.create with an input_file arrives intact, plain and streamed`, async () => {
      const response = await client.responses.create({ model: `${vendor}-docs`, input: fileInput() });
      assert.deepEqual(parseDocuments(response.output_text), [pdfSeen(name)]);

      const stream = client.responses.stream({ model: `${vendor}-docs`, input: fileInput() });
      let text = '';
      for await (const event of stream) if (event.type === 'response.output_text.delta') text += event.delta;
      assert.deepEqual(parseDocuments(text), [pdfSeen(name)]);
      assert.deepEqual(parseDocuments((await stream.finalResponse()).output_text), [pdfSeen(name)]);
    });
  }

  test('what each vendor got is its own documented shape', async () => {
    const from = { claude: fakes.claude.requests.length, oa: fakes.oa.requests.length, gem: fakes.gem.requests.length };
    await anthropic.messages.create(anthropicParams('claude-docs'));
    await anthropic.messages.create(anthropicParams('oa-docs'));
    await anthropic.messages.create(anthropicParams('gem-docs'));
    const [toClaude] = sent(fakes.claude, 'docs', from.claude);
    assert.deepEqual(toClaude.body.messages[0].content[0], pdfBlock);
    const [toOpenAI] = sent(fakes.oa, 'docs', from.oa);
    assert.deepEqual(toOpenAI.body.messages[0].content[0], { type: 'file', file: { file_data: PDF_URL, filename: 'spec.pdf' } });
    const [toGemini] = sent(fakes.gem, 'docs', from.gem);
    assert.deepEqual(toGemini.body.contents[0].parts[0], { inlineData: { mimeType: 'application/pdf', data: PDF_B64 } });
  });

  test('an Anthropic text document with title, context and citations reaches Anthropic as it came, and Gemini as text/plain', async () => {
    const block = {
      type: 'document', source: { type: 'text', media_type: 'text/plain', data: NOTES },
      title: 'notes.txt', context: 'Meeting notes', citations: { enabled: true },
    };
    const from = fakes.claude.requests.length;
    const msg = await anthropic.messages.create(anthropicParams('claude-docs', [block, { type: 'text', text: 'What do they say?' }]));
    const notes = { media_type: 'text/plain', name: 'notes.txt', bytes: Buffer.byteLength(NOTES), sha256: sha256(Buffer.from(NOTES)), text: NOTES.slice(0, 40) };
    assert.deepEqual(parseDocuments(msg.content[0].text), [notes]);
    assert.deepEqual(sent(fakes.claude, 'docs', from)[0].body.messages[0].content[0], block);
    const viaGemini = await anthropic.messages.create(anthropicParams('gem-docs', [block, { type: 'text', text: 'What do they say?' }]));
    assert.deepEqual(parseDocuments(viaGemini.content[0].text), [{ ...notes, name: null }]);
  });

  test('a target that cannot take documents is skipped for one that can', async () => {
    const before = fakes.oa.requests.length;
    const msg = await anthropic.messages.create(anthropicParams('compat-then-claude'));
    assert.deepEqual(parseDocuments(msg.content[0].text), [pdfSeen('spec.pdf')]);
    const completion = await client.chat.completions.create({ model: 'compat-then-claude', messages: fileMessages() });
    assert.deepEqual(parseDocuments(completion.choices[0].message.content), [pdfSeen('spec.pdf')]);
    assert.equal(sent(fakes.oa, 'docs-skipped', before).length, 0);
  });

  describe('a target that cannot take documents is a 400 naming the feature', () => {
    const targets = [['compat-docs', NOT_SUPPORTED]];
    if (!LOCAL_SKIP) targets.push(['local-docs', /document input \(application\/pdf\) is not supported by provider 'engine' \(kind local\)/]);
    for (const [model, why] of targets) {
      test(`${model}: Anthropic's error shape, plain and streamed`, async () => {
        const before = fakes.oa.requests.length;
        for (const stream of [false, true]) {
          await assert.rejects(anthropic.messages.create({ ...anthropicParams(model), stream }), (e) => {
            assert.ok(e instanceof Anthropic.BadRequestError, String(e));
            assert.equal(e.error.type, 'error');
            assert.equal(e.error.error.type, 'invalid_request_error');
            assert.match(e.error.error.message, why);
            return true;
          });
        }
        assert.equal(fakes.oa.requests.length, before, 'no upstream call');
      });

      test(`${model}: OpenAI's error shape on chat.completions and responses, plain and streamed`, async () => {
        const before = fakes.oa.requests.length;
        const isBadRequest = (e) => {
          assert.ok(e instanceof OpenAI.BadRequestError, String(e));
          assert.equal(e.error.type, 'invalid_request_error');
          assert.match(e.error.message, why);
          assert.equal(e.error.param, 'messages');
          return true;
        };
        for (const stream of [false, true]) {
          await assert.rejects(client.chat.completions.create({ model, messages: fileMessages(), stream }), isBadRequest);
          await assert.rejects(client.responses.create({ model, input: fileInput(), stream }), isBadRequest);
        }
        assert.equal(fakes.oa.requests.length, before, 'no upstream call');
      });
    }
  });

  test('bad documents: a 400 naming the field from keel, or the vendor\'s own 400 from its fake', async () => {
    await assert.rejects(
      anthropic.messages.create(anthropicParams('claude-docs', [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }])),
      (e) => e instanceof Anthropic.BadRequestError && /messages\.0\.content\.0\.source\.type/.test(e.error.error.message),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'oa-docs', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.error.param === 'messages[0].content[0].file.file_id',
    );
    await assert.rejects(
      client.responses.create({ model: 'oa-docs', input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }] }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.error.param === 'input[0].content[0].file_url' && /file_url/.test(e.error.message),
    );
    // Not base64: keel passes the document on; each vendor's fake refuses it as its API does.
    const broken = { ...pdfBlock, source: { ...pdfBlock.source, data: 'not base64!' } };
    for (const [model, why] of [['claude-docs', /not valid base64/], ['gem-docs', /Base64 decoding failed/], ['oa-docs', /base64 data URL/]]) {
      await assert.rejects(anthropic.messages.create(anthropicParams(model, [broken])), (e) => {
        assert.ok(e instanceof Anthropic.BadRequestError, `${model}: ${e}`);
        assert.match(e.error.error.message, why);
        return true;
      });
    }
  });
});
