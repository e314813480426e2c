// README.md's capability matrix is generated from what the code declares: it must equal the
// output of `keel capabilities`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
