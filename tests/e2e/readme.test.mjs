// README.md's capability matrix is generated from what the code declares: it must equal the
// output of `keel capabilities`; and its config reference must be a config keel accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKeel } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

test('README capability matrix equals `keel capabilities`', async () => {
  const readme = readFileSync(path.resolve(here, '../../README.md'), 'utf8');
  const match = /<!-- capabilities:begin -->\n([\s\S]*?)<!-- capabilities:end -->/.exec(readme);
  assert.ok(match, 'README.md has the capabilities markers');
  const out = await runKeel(['capabilities']);
  assert.equal(out.code, 0);
  assert.equal(match[1], out.stdout, 'regenerate the table with `build/keel capabilities`');
});

test('README config reference passes `keel config check`', async () => {
  const readme = readFileSync(path.resolve(here, '../../README.md'), 'utf8');
  const match = /## Config reference[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'README.md has a yaml block under "## Config reference"');
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-readme-'));
  try {
    const file = path.join(dir, 'keel.yaml');
    writeFileSync(file, match[1]);
    const out = await runKeel(['config', 'check', file], {
      env: { OPENAI_API_KEY: 'sk-readme', KEEL_API_KEY: 'sk-readme-client' },
    });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout + out.stderr, /ok \(/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
