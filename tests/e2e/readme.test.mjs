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
    const env = { OPENAI_API_KEY: 'sk-readme', KEEL_API_KEY: 'sk-readme-client', KEEL_ADMIN_KEY: 'sk-readme-admin' };
    const out = await runKeel(['config', 'check', file], { env });
    const version = await runKeel(['version']);
    if (/no local engine/.test(version.stdout)) {
      // A build without llama.cpp (the sanitizer builds) refuses the reference's local provider,
      // by name and for that reason only; the rest must pass without it.
      assert.match(out.stderr, /provider 'local': kind 'local': this build of keel has no local engine/);
      const hosted = match[1]
        .replace(/\n {2}- name: local\n(?: {4}.*\n)+/, '\n')
        .replace(/\n +- \{provider: local,.*\n/, '\n');
      assert.doesNotMatch(hosted, /kind: local|provider: local/, 'the local provider was not cut out');
      writeFileSync(file, hosted);
      const rest = await runKeel(['config', 'check', file], { env });
      assert.equal(rest.code, 0, rest.stderr);
      assert.match(rest.stdout + rest.stderr, /ok \(/);
      return;
    }
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout + out.stderr, /ok \(/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
