// OpenAPI presets (issue 20): `preset: jira | trello | servicenow | sap` over the real published
// specs in ../shared/specs, against fake Jira, Trello, ServiceNow and SAP servers of our own
// (tests/fakes/fake_connectors.mjs) that check path, query, body and auth as those APIs document
// them. Driven through `keel tools call`, keel's /mcp with the MCP SDK's client, and the tool loop
// with the openai SDK.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKeel, runKeel, makeClient, fakeProvider, toYaml } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeJira, startFakeTrello, startFakeServiceNow, startFakeSap } from '../fakes/fake_connectors.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SPECS = path.resolve(here, '../../../shared/specs');
const skipWithoutSpecs = (t) => (existsSync(SPECS) ? false : (t.skip(`${SPECS} is absent`), true));

function writeConfig(toolsets, extra = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-presets-'));
  const file = path.join(dir, 'keel.yaml');
  writeFileSync(file, `${toYaml({ listen: '127.0.0.1:0', state: `sqlite:${path.join(dir, 'keel.db')}`, toolsets, ...extra })}\n`);
  return file;
}

async function call(toolset, tool, args) {
  const result = await runKeel(['tools', 'call', tool, '--args', JSON.stringify(args), '--config', writeConfig([toolset])], { timeoutMs: 20000 });
  const [status, ...rest] = result.stdout.split('\n\n');
  const text = rest.join('\n\n');
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { ...result, status: Number(/^HTTP (\d+)/.exec(status)?.[1]), json };
}

async function listed(toolset) {
  const result = await runKeel(['tools', 'list', '--json', '--config', writeConfig([toolset])], { timeoutMs: 20000 });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const adf = (text) => ({ type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] });

describe('OpenAPI presets against fake Jira, Trello, ServiceNow and SAP', () => {
  let jira, trello, servicenow, sap;
  before(async () => {
    [jira, trello, servicenow, sap] = await Promise.all([startFakeJira(), startFakeTrello(), startFakeServiceNow(), startFakeSap()]);
  });
  after(async () => Promise.all([jira, trello, servicenow, sap].map((f) => f?.close())));

  const jiraSet = (extra = {}) => ({
    name: 'jira', kind: 'openapi', preset: 'jira', spec: path.join(SPECS, 'jira.openapi.json'), base_url: jira.base,
    allow_hosts: ['127.0.0.1'], auth: { type: 'basic', username: 'me@example.com', password: 'jira-token' }, ...extra,
  });
  const trelloSet = () => ({
    name: 'trello', kind: 'openapi', preset: 'trello', spec: path.join(SPECS, 'trello.openapi.json'), base_url: `${trello.base}/1`,
    allow_hosts: ['127.0.0.1'], auth: { type: 'api_key', in: 'query', values: { key: 'trello-key', token: 'trello-token' } },
  });
  const servicenowSet = (spec = 'servicenow.openapi.json') => ({
    name: 'servicenow', kind: 'openapi', preset: 'servicenow', spec: path.join(SPECS, spec), base_url: servicenow.base,
    allow_hosts: ['127.0.0.1'], auth: { type: 'basic', username: 'admin', password: 'now-pass' },
  });
  const sapSet = (service, spec) => ({
    name: 'sap', kind: 'openapi', preset: 'sap', spec: path.join(SPECS, spec), base_url: `${sap.base}/sap/opu/odata/sap/${service}`,
    allow_hosts: ['127.0.0.1'], auth: { type: 'basic', username: 'SAPUSER', password: 'sap-pass' },
  });

  test('Jira: search, read, create, comment and transition with basic auth', async (t) => {
    if (skipWithoutSpecs(t)) return;
    const tools = await listed(jiraSet());
    assert.deepEqual(tools.map((x) => x.name), ['jira_search_issues', 'jira_get_issue', 'jira_create_issue', 'jira_add_comment',
      'jira_get_comments', 'jira_get_transitions', 'jira_transition_issue']);
    assert.match(tools[0].description, /JQL/);
    assert.match(tools[2].description, /Atlassian Document Format/);

    const found = await call(jiraSet(), 'jira_search_issues', { jql: 'project = KEEL', fields: ['summary', 'status'], maxResults: 5 });
    assert.equal(found.status, 200, found.stdout + found.stderr);
    assert.deepEqual(found.json.issues.map((i) => [i.key, i.fields.summary]), [['KEEL-1', 'Login fails on Safari']]);
    const search = jira.seen.at(-1);
    assert.equal(search.path, '/rest/api/3/search/jql');
    assert.deepEqual(search.query, { jql: 'project = KEEL', fields: 'status', maxResults: '5' });   // fields twice: form style
    assert.deepEqual(Object.keys(found.json.issues[0].fields), ['summary', 'status']);
    assert.equal(search.headers.authorization, `Basic ${Buffer.from('me@example.com:jira-token').toString('base64')}`);

    const created = await call(jiraSet(), 'jira_create_issue', { body: { fields: { project: { key: 'KEEL' }, issuetype: { name: 'Task' }, summary: 'Rotate the keys', description: adf('Quarterly.') } } });
    assert.equal(created.status, 201, created.stdout);
    assert.equal(created.json.key, 'KEEL-2');
    assert.equal(jira.seen.at(-1).headers['content-type'], 'application/json');
    // A plain-string description is what Jira v3 refuses: the API's 400 is the tool's error.
    const refused = await call(jiraSet(), 'jira_create_issue', { body: { fields: { project: { key: 'KEEL' }, issuetype: { name: 'Task' }, summary: 'x', description: 'plain' } } });
    assert.equal(refused.code, 1);
    assert.equal(refused.status, 400);
    assert.match(refused.json.errors.description, /Atlassian Document/);

    const comment = await call(jiraSet(), 'jira_add_comment', { issueIdOrKey: 'KEEL-2', body: { body: adf('Done in staging.') } });
    assert.equal(comment.status, 201, comment.stdout);
    assert.equal(jira.seen.at(-1).path, '/rest/api/3/issue/KEEL-2/comment');
    const comments = await call(jiraSet(), 'jira_get_comments', { issueIdOrKey: 'KEEL-2' });
    assert.equal(comments.json.comments[0].body.content[0].content[0].text, 'Done in staging.');

    const transitions = await call(jiraSet(), 'jira_get_transitions', { issueIdOrKey: 'KEEL-2' });
    const done = transitions.json.transitions.find((x) => x.name === 'Done');
    const moved = await call(jiraSet(), 'jira_transition_issue', { issueIdOrKey: 'KEEL-2', body: { transition: { id: done.id } } });
    assert.equal(moved.status, 204, moved.stdout);
    assert.equal(jira.issues.get('KEEL-2').fields.status.name, 'Done');
    const issue = await call(jiraSet(), 'jira_get_issue', { issueIdOrKey: 'KEEL-2', fields: ['status'] });
    assert.deepEqual(issue.json.fields, { status: { name: 'Done' } });
  });

  test('Jira with a bearer token; operations add to the preset, allow narrows it', async (t) => {
    if (skipWithoutSpecs(t)) return;
    const bearerJira = await startFakeJira({ bearer: 'oauth-access' });
    try {
      const set = jiraSet({ base_url: bearerJira.base, auth: { type: 'bearer', token: 'oauth-access' }, operations: ['getIssueAllTypes'], allow: ['jira_get_issue', 'getIssueAllTypes'] });
      assert.deepEqual((await listed(set)).map((x) => x.name), ['jira_get_issue', 'getIssueAllTypes']);
      const issue = await call(set, 'jira_get_issue', { issueIdOrKey: 'KEEL-1' });
      assert.equal(issue.status, 200, issue.stdout);
      assert.equal(bearerJira.seen.at(-1).headers.authorization, 'Bearer oauth-access');
    } finally {
      await bearerJira.close();
    }
  });

  test('Trello: key and token in the query; search, lists, create, comment, move', async (t) => {
    if (skipWithoutSpecs(t)) return;
    const set = trelloSet();
    assert.deepEqual((await listed(set)).map((x) => x.name), ['trello_search', 'trello_list_boards', 'trello_list_lists',
      'trello_list_cards', 'trello_get_card', 'trello_create_card', 'trello_add_comment', 'trello_update_card']);
    const boards = await call(set, 'trello_list_boards', { id: 'me', fields: 'name' });
    assert.equal(boards.json[0].name, 'Roadmap', boards.stdout);
    assert.deepEqual(trello.seen.at(-1).query, { fields: 'name', key: 'trello-key', token: 'trello-token' });
    const lists = await call(set, 'trello_list_lists', { id: 'b1' });
    const done = lists.json.find((l) => l.name === 'Done');
    const card = await call(set, 'trello_create_card', { idList: 'l-todo', name: 'Ship 1.2', desc: 'after QA' });
    assert.equal(card.status, 200, card.stdout);
    const posted = trello.seen.at(-1);
    assert.equal(posted.method, 'POST');
    assert.equal(posted.path, '/1/cards');
    assert.deepEqual(posted.query, { idList: 'l-todo', name: 'Ship 1.2', desc: 'after QA', key: 'trello-key', token: 'trello-token' });
    assert.equal(posted.body, '');
    const comment = await call(set, 'trello_add_comment', { id: card.json.id, text: 'QA passed' });
    assert.equal(comment.json.data.text, 'QA passed', comment.stdout);
    const moved = await call(set, 'trello_update_card', { id: card.json.id, idList: done.id });
    assert.equal(moved.json.idList, 'l-done', moved.stdout);
    assert.equal(trello.seen.at(-1).method, 'PUT');
    const search = await call(set, 'trello_search', { query: 'ship', modelTypes: 'cards' });
    assert.deepEqual(search.json.cards.map((c) => c.name), ['Ship 1.2']);
    const read = await call(set, 'trello_get_card', { id: card.json.id });
    assert.equal(read.json.idList, 'l-done');
    assert.ok(![boards, card, comment, moved].some((r) => r.stdout.includes('trello-token') || r.stderr.includes('trello-token')));
  });

  test('ServiceNow: both published Table API specs; search, read, create, comment, resolve', async (t) => {
    if (skipWithoutSpecs(t)) return;
    for (const spec of ['servicenow.openapi.json', 'servicenow-ballerina.openapi.yaml']) {
      const set = servicenowSet(spec);
      const found = await call(set, 'servicenow_search_records', { tableName: 'incident', sysparm_query: 'active=true^short_descriptionLIKEvpn', sysparm_fields: 'number,sys_id,short_description', sysparm_limit: 5 });
      assert.equal(found.status, 200, `${spec}: ${found.stdout}${found.stderr}`);
      assert.equal(found.json.result[0].number, 'INC0010001');
      assert.deepEqual(servicenow.seen.at(-1).query, { sysparm_query: 'active=true^short_descriptionLIKEvpn', sysparm_fields: 'number,sys_id,short_description', sysparm_limit: '5' });
      const created = await call(set, 'servicenow_create_record', { tableName: 'incident', body: { short_description: `Printer on fire (${spec})`, urgency: '1' } });
      assert.equal(created.status, 201, created.stdout);
      const sysId = created.json.result.sys_id;
      assert.equal(servicenow.seen.at(-1).headers['content-type'], 'application/json');
      const commented = await call(set, 'servicenow_add_comment', { tableName: 'incident', sys_id: sysId, body: { comments: 'We are on it.' } });
      assert.equal(commented.status, 200, commented.stdout);
      assert.equal(servicenow.seen.at(-1).method, 'PATCH');
      const resolved = await call(set, 'servicenow_update_record', { tableName: 'incident', sys_id: sysId, body: { state: '6', close_code: 'Solved (Permanently)', close_notes: 'Replaced.' } });
      assert.equal(resolved.json.result.state, '6');
      const read = await call(set, 'servicenow_get_record', { tableName: 'incident', sys_id: sysId, sysparm_fields: 'state,comments' });
      assert.deepEqual(read.json.result, { state: '6', comments: 'We are on it.' });
    }
    const wrong = await call({ ...servicenowSet(), auth: { type: 'basic', username: 'admin', password: 'nope' } }, 'servicenow_get_record', { tableName: 'incident', sys_id: 'x' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.message, 'User Not Authenticated');
  });

  test('SAP: business partners and sales orders over OData, writes with a fetched CSRF token', async (t) => {
    if (skipWithoutSpecs(t)) return;
    const bp = sapSet('API_BUSINESS_PARTNER', 'sap-business-partner.openapi.json');
    assert.deepEqual((await listed(bp)).map((x) => x.name), ['sap_search_business_partners', 'sap_get_business_partner',
      'sap_create_business_partner', 'sap_update_business_partner']);
    const found = await call(bp, 'sap_search_business_partners', { $filter: "substringof('Acme',BusinessPartnerFullName)", $top: 5 });
    assert.equal(found.status, 200, found.stdout + found.stderr);
    assert.equal(found.json.d.results[0].BusinessPartner, '17100001');
    const partner = await call(bp, 'sap_get_business_partner', { BusinessPartner: '17100001' });
    assert.equal(partner.json.d.SearchTerm1, 'ACME', partner.stdout);
    assert.equal(decodeURIComponent(sap.seen.at(-1).rawPath), "/sap/opu/odata/sap/API_BUSINESS_PARTNER/A_BusinessPartner('17100001')");
    const before = sap.seen.length;
    const created = await call(bp, 'sap_create_business_partner', { body: { BusinessPartner: '', BusinessPartnerCategory: '2', OrganizationBPName1: 'Globex' } });
    assert.equal(created.status, 201, created.stdout);
    // The token fetch, then the write with the token and both session cookies.
    const [fetch, write] = sap.seen.slice(before);
    assert.equal(fetch.method, 'GET');
    assert.equal(fetch.headers['x-csrf-token'], 'Fetch');
    assert.equal(write.method, 'POST');
    assert.match(write.headers.cookie, /SAP_SESSIONID_FAKE_100=\w+; sap-usercontext=sap-client=100/);

    const so = sapSet('API_SALES_ORDER_SRV', 'sap-sales-order.openapi.json');
    const order = await call(so, 'sap_create_sales_order', { body: { SalesOrder: '', SalesOrderType: 'OR', SalesOrganization: '1710', DistributionChannel: '10', OrganizationDivision: '00', SoldToParty: '17100001' } });
    assert.equal(order.status, 201, order.stdout);
    const number = order.json.d.SalesOrder;
    const text = await call(so, 'sap_add_sales_order_text', { SalesOrder: number, body: { Language: 'EN', LongTextID: '0001', LongText: 'Deliver before Friday' } });
    assert.equal(text.status, 201, text.stdout);
    const released = await call(so, 'sap_release_sales_order', { SalesOrder: `'${number}'` });
    assert.equal(released.status, 200, released.stdout);
    assert.equal(sap.orders.find((o) => o.SalesOrder === number).approval, 'released');
    const listedOrders = await call(so, 'sap_search_sales_orders', { $filter: "SoldToParty eq '17100001'", $top: 10 });
    assert.deepEqual(listedOrders.json.d.results.map((o) => o.SalesOrder), ['5000001', number]);
  });

  test('config check: a preset operation the spec lacks is named; wrong auth is an error', async (t) => {
    if (skipWithoutSpecs(t)) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'keel-presets-'));
    // An older Jira edition: the deprecated search and issue reads only.
    const spec = path.join(dir, 'jira-old.json');
    writeFileSync(spec, JSON.stringify({
      openapi: '3.0.1', servers: [{ url: 'https://example.atlassian.net' }],
      paths: {
        '/rest/api/3/search': { get: { operationId: 'searchForIssuesUsingJql', parameters: [{ name: 'jql', in: 'query', schema: { type: 'string' } }] } },
        '/rest/api/3/issue/{issueIdOrKey}': { get: { operationId: 'getIssue', parameters: [{ name: 'issueIdOrKey', in: 'path', required: true, schema: { type: 'string' } }] } },
      },
    }));
    const auth = { type: 'basic', username: 'me@example.com', password: 'x' };
    const file = path.join(dir, 'old.yaml');
    writeFileSync(file, `${toYaml({ toolsets: [{ name: 'jira', kind: 'openapi', preset: 'jira', spec, auth }] })}\n`);
    const old = await runKeel(['config', 'check', file]);
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stderr, /warning: toolset jira: .*jira-old\.json lacks preset jira's operation jira_create_issue \(POST \/rest\/api\/3\/issue\)/);
    assert.match(old.stderr, /jira_transition_issue/);
    assert.doesNotMatch(old.stderr, /jira_search_issues|jira_get_issue /);

    const cases = [
      [{ name: 'jira', kind: 'openapi', preset: 'jira', spec }, /toolset jira: preset jira: no auth; auth: \{type: basic/],
      [{ name: 't', kind: 'openapi', preset: 'trello', spec: path.join(SPECS, 'trello.openapi.json'), auth: { type: 'api_key', values: { key: 'k', token: 't' } } }, /toolset t: preset trello: the API takes its keys in the query/],
      [{ name: 'j', kind: 'openapi', preset: 'jira', spec: path.join(SPECS, 'trello.openapi.json'), auth }, /toolset j: .*trello\.openapi\.json: the spec has none of preset jira's operations/],
      [{ name: 'g', kind: 'openapi', preset: 'github', spec, auth }, /toolsets\[0\]\.preset: toolset "g": no preset named "github" \(jira, trello, servicenow, sap\)/],
      [{ name: 'b', kind: 'builtin', tools: ['calculator'], preset: 'jira' }, /preset: only for kind openapi/],
    ];
    for (const [toolset, expected] of cases) {
      writeFileSync(file, `${toYaml({ toolsets: [toolset] })}\n`);
      const result = await runKeel(['config', 'check', file]);
      assert.equal(result.code, 1, `${toolset.name}: ${result.stderr}`);
      assert.match(result.stderr, expected);
    }
  });

  describe('served', () => {
    let openai, keel;
    before(async (t) => {
      if (!existsSync(SPECS)) return;
      openai = await startFakeOpenAI();
      keel = await startKeel({
        providers: [fakeProvider('oa', openai)],
        models: [{ name: 'helpdesk', tools: ['jira'], targets: [{ provider: 'oa', model: 'toolloop' }] }],
        extra: { toolsets: [jiraSet()] },
      });
    });
    after(async () => { await keel?.stop(); await openai?.close(); });

    test('the tool loop calls a preset tool for the openai client', async (t) => {
      if (skipWithoutSpecs(t)) return;
      const before = openai.requests.length;
      const completion = await makeClient(keel).chat.completions.create({ model: 'helpdesk', messages: [{ role: 'user', content: 'What is open in KEEL?' }] });
      assert.match(completion.choices[0].message.content, /^tool said: HTTP 200\n\n\{"issues":\[\{"id":"10001","key":"KEEL-1"/);
      const offered = openai.requests[before].body.tools.map((x) => x.function.name);
      assert.ok(offered.includes('jira_search_issues') && offered.includes('jira_transition_issue'), offered.join());
      assert.equal(jira.seen.at(-1).path, '/rest/api/3/search/jql');
    });

    test('keel\'s /mcp offers the preset tools to the MCP SDK client', async (t) => {
      if (skipWithoutSpecs(t)) return;
      const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
      const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
      const client = new Client({ name: 'keel-e2e', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${keel.base}/mcp`)));
      try {
        const { tools } = await client.listTools();
        assert.ok(tools.some((x) => x.name === 'jira_get_transitions'));
        const result = await client.callTool({ name: 'jira_get_issue', arguments: { issueIdOrKey: 'KEEL-1', fields: ['summary'] } });
        assert.ok(!result.isError, result.content[0].text);
        assert.match(result.content[0].text, /"summary":"Login fails on Safari"/);
      } finally {
        await client.close();
      }
    });
  });
});
