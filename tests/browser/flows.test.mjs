// The console's Flows page over Prompt flow's own web-classification example
// (../shared/promptflow/flows), served by keel with its llm nodes on a fake OpenAI upstream and
// its python fetch node reading a page from a loopback server: the DAG drawn in layers, the flow
// run with inputs from the page through POST /v1/flows/{name}/run, and each node's output shown,
// a node's detail opened from the keyboard; no console errors, no serious axe-core violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, runKeel, fakeProvider, pythonImports } from '../e2e/harness.mjs';
import { launchBrowser, closeBrowser, openPage, finishPage } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FLOWS = path.resolve(here, '../../../shared/promptflow/flows');
// As tests/e2e/flows.test.mjs: llm and prompt nodes render Jinja with the local engine's
// llama.cpp, and the fetch node needs Debian's python3-requests and python3-bs4 (setup.sh).
const hasJinja = (await runKeel(['version'])).stdout.includes('local engine: llama.cpp');
const hasFetchDeps = pythonImports('requests', 'bs4');
const skip = (!existsSync(FLOWS) && `no ${FLOWS}`) || (!hasJinja && 'keel was built without the local engine (no Jinja)')
  || (!hasFetchDeps && 'no python3-requests / python3-bs4');

let fake;
let keel;
let site;

before(async () => {
  if (skip) return;
  await launchBrowser();
  site = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body><h1>Keel Notes</h1><p>A note-taking app for sailors.</p></body></html>');
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  fake = await startFakeOpenAI();
  keel = await startKeel({
    providers: [fakeProvider('oa', fake)],
    models: [{ name: 'chatty', targets: [{ provider: 'oa', model: 'echo-flow' }] }],
    extra: {
      flows: [
        { name: 'classify', path: path.join(FLOWS, 'web-classification'), models: { open_ai_connection: 'chatty' } },
        { name: 'math', path: path.join(FLOWS, 'chat-math-variant'), models: { open_ai_connection: 'chatty' } },
      ],
    },
  });
});

after(async () => {
  await closeBrowser();
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
  site?.close();
});

test('a flow\'s DAG drawn in layers, run with inputs, each node\'s output shown', { skip }, async () => {
  const page = await openPage(keel, '#/flows/classify');
  const graph = page.getByRole('group', { name: /The graph of flow classify/ });
  await graph.waitFor();
  // inputs, the five nodes, outputs; an edge per reference (url is read by two nodes).
  assert.equal(await graph.locator('g.node').count(), 7);
  assert.equal(await graph.locator('path.edge').count(), 7);
  const top = async (name) => Number((await graph.getByRole('button', { name: new RegExp(`^${name}`) })
    .getAttribute('transform')).match(/translate\([\d.]+,([\d.]+)\)/)[1]);
  // Layers follow the references: each node below every node it reads.
  assert.ok(await top('inputs') < await top('fetch_text_content_from_url'));
  assert.ok(await top('fetch_text_content_from_url') < await top('summarize_text_content'));
  assert.ok(await top('summarize_text_content') < await top('classify_with_llm'));
  assert.ok(await top('prepare_examples') < await top('classify_with_llm'));
  assert.ok(await top('classify_with_llm') < await top('convert_to_dict'));
  assert.ok(await top('convert_to_dict') < await top('outputs'));
  assert.match(await graph.getByRole('button', { name: /^summarize_text_content/ }).textContent(), /llm · variant_0/);

  const url = `http://127.0.0.1:${site.address().port}/app`;
  await page.getByLabel('url (string)').fill(url);
  await page.getByRole('button', { name: 'Run flow' }).click();
  const outputs = page.locator('pre.flow-outputs');
  await outputs.waitFor({ timeout: 30000 });
  // The echo is not JSON: convert_to_dict.py's own fallback answers.
  assert.deepEqual(JSON.parse(await outputs.textContent()), { category: 'None', evidence: 'None' });
  const nodes = page.locator('table.node-outputs tbody tr');
  assert.equal(await nodes.count(), 5);
  assert.match(await nodes.nth(0).textContent(), /^fetch_text_content_from_urlpythonKeel NotesA note-taking app for sailors\./);
  assert.match(await nodes.nth(1).textContent(), /^summarize_text_contentllmecho: Text: Keel Notes/);
  assert.equal(await graph.locator('g.node.ran').count(), 5);

  // A node's detail, from the keyboard: its inputs as written and its output in the run.
  await graph.getByRole('button', { name: /^classify_with_llm/ }).focus();
  await page.keyboard.press('Enter');
  const detail = page.getByRole('article', { name: 'Node classify_with_llm' });
  await detail.waitFor();
  assert.match(await detail.textContent(), /text_content\$\{summarize_text_content\.output\}/);
  assert.match(await detail.locator('pre.json').textContent(), /^echo: /);
  await finishPage(page, 'flows');
});

test('another flow from the picker; a bad input shows keel\'s error', { skip }, async () => {
  const page = await openPage(keel, '#/flows');
  await page.getByLabel('Flow', { exact: true }).selectOption('math');
  const graph = page.getByRole('group', { name: /The graph of flow math/ });
  await graph.waitFor();
  assert.match(await page.locator('.toolbar').textContent(), /a chat flow/);
  await page.getByLabel('chat_history (list)').fill('not json');
  await page.getByRole('button', { name: 'Run flow' }).click();
  await page.getByRole('alert').getByText(/expected JSON \(list\)/).waitFor();
  await page.getByLabel('chat_history (list)').fill('[]');
  await page.getByLabel('question (string)').fill('3*3=$?');
  await page.getByRole('button', { name: 'Run flow' }).click();
  await page.locator('pre.flow-outputs').getByText('"answer": "echo: 3*3=?"').waitFor();
  await finishPage(page, 'flows-chat');
});
