// Ingesting with the local engine's embedding model (issue 23). The fixture BERT takes at most 512
// tokens an input, and its WordPiece tokenizer cuts words it does not know into many pieces, so a
// chunk that keel's estimate sizes at 120 tokens can be several times that (Python's
// library/allos.html had one of 566, and `keel ingest` failed the page). keel now counts each
// chunk with the model's own tokenizer and cuts those over the limit into pieces, each indexed
// and cited at its own byte range.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KEEL_BIN, runKeel, toYaml } from './harness.mjs';

const ALLOS = '/usr/share/doc/python3-doc/html/library/allos.html';

const dir = mkdtempSync(path.join(tmpdir(), 'keel-kb-local-'));
const BERT = path.join(dir, 'fixture-bert.gguf');
let SKIP = false;
try {
  execFileSync(KEEL_BIN, ['fixture', '--arch', 'bert', BERT], { stdio: 'pipe' });
} catch (err) {
  SKIP = `this keel has no local engine: ${String(err.stderr || err.message).trim()}`;
}

// Made-up identifiers the fixture's vocabulary does not hold: two estimated tokens each
// (a word of 7 to 12 bytes), up to a token a letter to WordPiece.
function identifiers(count) {
  const words = [];
  let seed = 7;
  for (let i = 0; i < count; ++i) {
    let word = '';
    for (let j = 0; j < 11; ++j) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      word += String.fromCharCode(97 + (seed >> 16) % 26);
    }
    words.push(`${word}_${i}`);
  }
  return words;
}

const configPath = path.join(dir, 'keel.yaml');
const NAMES = identifiers(300);

before(() => {
  if (SKIP) return;
  mkdirSync(path.join(dir, 'docs'));
  writeFileSync(path.join(dir, 'docs', 'names.md'), `# Generated names\n\n${NAMES.join(' ')}\n`);
  writeFileSync(path.join(dir, 'docs', 'plain.md'), '# Plain\n\nA short page in plain words.\n');
  const sources = [path.join(dir, 'docs')];
  if (existsSync(ALLOS)) sources.push(ALLOS);
  writeFileSync(configPath, toYaml({
    state: `sqlite:${path.join(dir, 'keel.db')}`,
    providers: [{ name: 'local', kind: 'local', model: BERT, threads: 1 }],
    models: [{ name: 'embed', targets: [{ provider: 'local', model: 'default' }] }],
    // As bench/knowledge.sh chunks: 120 estimated tokens.
    knowledge: [{ name: 'kb', sources, embedding_model: 'embed', chunk_tokens: 120, overlap_tokens: 20 }],
  }) + '\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function search(query, mode) {
  const result = await runKeel(['search', 'kb', query, '--mode', mode, '--k', '5', '--json',
    '--config', configPath], { timeoutMs: 60000 });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

describe('knowledge with the local engine\'s embedding model', { skip: SKIP }, () => {
  test('chunks longer than the model takes are cut to fit, not failed', { timeout: 300000 }, async () => {
    const ingest = await runKeel(['ingest', 'kb', '--json', '--config', configPath], { timeoutMs: 280000 });
    assert.equal(ingest.code, 0, ingest.stderr);
    const report = JSON.parse(ingest.stdout);
    assert.deepEqual(report.errors, []);
    assert.equal(report.indexed, existsSync(ALLOS) ? 3 : 2);
    assert.ok(report.chunks_cut > 0, `chunks cut: ${report.chunks_cut}`);
    assert.equal(report.chunks_total, report.chunks_written);
  });

  test('each piece is found and cites its own byte range', async () => {
    const last = NAMES[NAMES.length - 1];
    const hits = await search(last, 'keyword');
    assert.ok(hits.length >= 1, 'the page\'s last name is indexed, not cut off');
    const top = hits[0];
    assert.match(top.source, /names\.md$/);
    assert.ok(top.text.includes(last));
    assert.equal(Buffer.byteLength(top.text), top.end - top.start);
    // The query is embedded by the same model: vector search over the pieces works.
    const near = await search(NAMES[150], 'vector');
    assert.equal(near.length, 5);
    for (const hit of near) assert.equal(Buffer.byteLength(hit.text), hit.end - hit.start);
  });

  test('a second ingest finds nothing to do', async () => {
    const again = await runKeel(['ingest', 'kb', '--json', '--config', configPath], { timeoutMs: 60000 });
    assert.equal(again.code, 0, again.stderr);
    const report = JSON.parse(again.stdout);
    assert.equal(report.indexed, 0);
    assert.equal(report.chunks_cut, 0);
  });
});
