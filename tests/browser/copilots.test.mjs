// The console's Copilots page (web/src/pages/copilots.tsx) over a keel with keys: it asks for
// the admin key, lists a configured copilot over a knowledge base that keel serve ingests in the
// background at start (ingest state, file and chunk counts, a failed file with its message),
// asks for the API key when the test chat needs it, streams a starter's answer from a fake
// upstream that cites the retrieved source and shows the citation as a footnote, and its YAML
// editor marks a copilot naming an unknown model at its line and column, then clears the error
// when fixed; its Reload button has keel read keel.yaml again: a changed copilot and an added
// one are listed anew, and a file that fails the checks is refused with keel's message and
// changes nothing. No console errors (but the 401s that asked for keys and the refused
// reload's 400), no provider key in any response, no serious axe-core violation; a screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, fakeProvider, keelConfig, toYaml, UPSTREAM_KEY } from '../e2e/harness.mjs';
import { launchBrowser, closeBrowser, openPage, finishPage } from './browser.mjs';

const CLIENT_KEY = 'sk-copilots-client';
const ADMIN_KEY = 'sk-copilots-admin';
const STARTER = 'How do I connect to the VPN?';

let fake;
let keel;
let dir;

// keel's config with these copilots (the providers, models and base stay as started).
function config(copilots) {
  return {
    providers: [fakeProvider('oa', fake)],
    models: [
      { name: 'desk-model', targets: [{ provider: 'oa', model: 'ok' }] },
      { name: 'vectors', targets: [{ provider: 'oa', model: 'text-embedding-3-small' }] },
    ],
    extra: {
      api_keys: [CLIENT_KEY],
      admin_keys: [ADMIN_KEY],
      knowledge: [{ name: 'handbook', sources: [path.join(dir, 'handbook')], embedding_model: 'vectors' }],
      copilots,
    },
  };
}

const helpdesk = (instructions) => ({
  name: 'helpdesk', instructions, model: 'desk-model', knowledge: ['handbook'], starters: [STARTER],
});

before(async () => {
  await launchBrowser();
  // The model cites what the prompt numbered: the source whose text names the VPN.
  fake = await startFakeOpenAI({
    answer: (body) => {
      const system = body.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
      const vpn = /\[(\d+)\] [^\n]*vpn\.md/.exec(system);
      return vpn ? `Use the VPN client [${vpn[1]}].` : undefined;
    },
  });
  dir = mkdtempSync(path.join(tmpdir(), 'keel-console-kb-'));
  mkdirSync(path.join(dir, 'handbook'));
  writeFileSync(path.join(dir, 'handbook', 'vpn.md'), '# VPN\n\nConnect to the office network with the VPN client. It asks for your badge number.\n');
  writeFileSync(path.join(dir, 'handbook', 'mail.md'), '# Mail\n\nMail is read in the browser at mail.example.com.\n');
  writeFileSync(path.join(dir, 'handbook', 'broken.md'), Buffer.from([0x23, 0x20, 0x00, 0x01, 0x02]));
  keel = await startKeel(config([helpdesk('You are the ACME helpdesk. Cite your sources.')]));
});

after(async () => {
  await closeBrowser();
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a copilot over an ingested base: definition, ingest state, a cited answer, the YAML checked', async () => {
  const page = await openPage(keel, '#/copilots');
  await page.getByRole('heading', { name: 'This page needs the admin key' }).waitFor();
  await page.getByLabel('admin key').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Use key' }).click();

  const definition = page.getByRole('article', { name: 'helpdesk' });
  await definition.waitFor();
  assert.match(await definition.textContent(), /modeldesk-model/);
  assert.match(await definition.textContent(), /You are the ACME helpdesk\. Cite your sources\./);

  // keel serve ingests the stale base in the background; the page refreshes its state.
  const knowledge = page.getByRole('article', { name: 'Knowledge bases' });
  const row = knowledge.getByRole('row', { name: /^handbook/ });
  await row.getByText(/^ingested \d{4}-\d\d-\d\d/).waitFor({ timeout: 20000 });
  const cells = await row.getByRole('cell').allTextContents();
  assert.equal(cells[2], '3');                       // files, the failed one included
  assert.ok(Number(cells[3]) >= 2, `chunks: ${cells[3]}`);
  assert.equal(cells[4], 'vectors');
  assert.match(await row.getByRole('list', { name: 'Files of handbook that failed' }).textContent(), /broken\.md: a binary file/);

  // The starter asks; the chat needs the API key first.
  const chat = page.getByRole('article', { name: 'Test chat' });
  await chat.getByRole('group', { name: 'Starters' }).getByRole('button', { name: STARTER }).click();
  await page.getByRole('heading', { name: 'keel needs an API key' }).waitFor();
  await page.getByLabel('API key').fill(CLIENT_KEY);
  await page.getByRole('button', { name: 'Use key' }).click();
  await chat.getByRole('button', { name: STARTER }).click();
  const answer = chat.locator('.bubble.assistant[aria-busy="false"]');
  await answer.waitFor();
  assert.match(await answer.textContent(), /^Use the VPN client \[\d\]\./);
  const marker = await answer.locator('sup.cite').textContent();
  assert.match(marker, /^\[\d\]$/);
  const sources = answer.getByRole('list', { name: 'Sources' });
  assert.equal(await sources.getByRole('listitem').count(), 1);
  const source = await sources.getByRole('listitem').textContent();
  assert.ok(source.startsWith(marker), source);
  assert.match(source, /vpn\.md/);
  assert.match(source, /knowledge:\/\/handbook\/.*vpn\.md#chunk=/);

  // The YAML editor: valid as configured, an unknown model marked where it is, fixed again.
  const editor = page.getByLabel('Copilot YAML');
  const yaml = await editor.inputValue();
  assert.match(yaml, /^- name: helpdesk\n/);
  const status = page.locator('#copilot-yaml-status');
  await status.getByText('valid against the running config').waitFor();
  await editor.fill(yaml.replace('model: desk-model', 'model: nope'));
  const error = status.locator('.yaml-error');
  await error.waitFor();
  const line = yaml.split('\n').findIndex((l) => l.includes('model: desk-model')) + 1;
  assert.match(await error.textContent(), new RegExp(`^Line ${line}, column 10 \\(model\\): no model named "nope"`));
  assert.equal(await editor.getAttribute('aria-invalid'), 'true');
  await editor.fill(yaml.replace('knowledge: [handbook]', 'knowledge: [handbook, wiki]'));
  await status.getByText(/no knowledge base named "wiki"/).waitFor();
  await editor.fill(yaml);
  await status.getByText('valid against the running config').waitFor();
  assert.equal(await error.count(), 0);

  // The entry goes into keel.yaml by hand; Reload has keel read it again.
  const writeConfig = (copilots) =>
    writeFileSync(keel.configPath, `${toYaml(keelConfig({ dir: keel.dir, ...config(copilots) }))}\n`);
  const reload = page.getByRole('article', { name: 'Reload the config' });
  writeConfig([
    helpdesk('You are the ACME helpdesk. Answer in French.'),
    { name: 'hr-desk', instructions: 'You answer HR questions.', model: 'desk-model' },
  ]);
  await reload.getByRole('button', { name: 'Reload keel.yaml' }).click();
  await reload.getByText(/^Reloaded .*Copilots and chat flows: helpdesk, hr-desk\.$/).waitFor();
  const list = page.getByRole('navigation', { name: 'Copilots' });
  await list.getByRole('link', { name: 'hr-desk' }).waitFor();
  await definition.getByText('You are the ACME helpdesk. Answer in French.').waitFor();
  await list.getByRole('link', { name: 'hr-desk' }).click();
  await page.getByRole('article', { name: 'hr-desk' }).getByText('You answer HR questions.').waitFor();

  // A file that fails the checks: keel's message, and nothing changes.
  writeConfig([{ name: 'helpdesk', instructions: 'x', model: 'no-such-model' }]);
  await reload.getByRole('button', { name: 'Reload keel.yaml' }).click();
  await reload.locator('.error').getByText(/nothing changed.*no-such-model/).waitFor();
  assert.equal(await list.getByRole('link').count(), 2);

  for (const body of page.bodies) assert.ok(!body.includes(UPSTREAM_KEY), 'a provider key reached the browser');
  // The 401s that asked for the keys and the refused reload's 400 are expected; nothing else
  // may go wrong.
  page.problems = page.problems.filter((p) => !/status of 40[01]/.test(p));
  await finishPage(page, 'copilots');
});
