// Fake Jira Cloud, Trello, ServiceNow and SAP S/4HANA servers for the OpenAPI presets' e2e tests
// (and any test that wants a business system behind a copilot). Each checks what its vendor
// documents and answers as it does, with a little in-memory state:
//   Jira Cloud REST v3 (developer.atlassian.com/cloud/jira/platform/rest/v3): basic auth with an
//     email and API token, or a bearer token; JSON bodies; rich text as Atlassian Document Format
//     (a plain string description is a 400); search on GET /rest/api/3/search/jql; transitions.
//   Trello REST (developer.atlassian.com/cloud/trello/rest): `key` and `token` in the query string
//     of every request ("invalid key" otherwise); inputs of writes in the query string too.
//   ServiceNow Table API (/api/now/table/{table}): basic auth; JSON in and out under `result`;
//     encoded queries (`a=b^c=d`); `comments` and `work_notes` are journal fields (appended).
//   SAP S/4HANA OData v2 (API_BUSINESS_PARTNER, API_SALES_ORDER_SRV): basic auth; `{"d": ...}`
//     answers; writes need the X-CSRF-Token that a GET with `X-CSRF-Token: Fetch` gave, with
//     the session cookies it set (403 "CSRF token validation failed" otherwise); key predicates
//     and function-import parameters as quoted literals.
// Every request is recorded in `seen` ({method, path, query, headers, body}).
import http from 'node:http';
import { randomBytes } from 'node:crypto';

async function serve(handler) {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url, 'http://fake');
    const record = { method: req.method, path: url.pathname, rawPath: req.url.split('?')[0], query: Object.fromEntries(url.searchParams), headers: req.headers, body };
    seen.push(record);
    const send = (status, value, headers = {}) => {
      const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
      const type = typeof value === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
      res.writeHead(status, value === undefined ? headers : { 'content-type': type, ...headers }).end(text);
    };
    try {
      await handler({ req, url, body, record, send });
    } catch (error) {
      send(500, { error: String(error?.stack ?? error) });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const parseJson = (text) => { try { return JSON.parse(text); } catch { return undefined; } };
const isJson = (req) => /^application\/json\b/.test(req.headers['content-type'] ?? '');
const isAdf = (doc) => doc && typeof doc === 'object' && doc.type === 'doc' && doc.version === 1 && Array.isArray(doc.content);

// Jira Cloud. credentials: {email, token} (basic) and/or {bearer}.
export async function startFakeJira({ email = 'me@example.com', token = 'jira-token', bearer = null } = {}) {
  const issues = new Map([['KEEL-1', { id: '10001', key: 'KEEL-1', fields: { summary: 'Login fails on Safari', status: { name: 'To Do' }, project: { key: 'KEEL' }, issuetype: { name: 'Bug' } }, comments: [] }]]);
  const transitions = [{ id: '11', name: 'To Do' }, { id: '21', name: 'In Progress' }, { id: '31', name: 'Done' }];
  let next = 2;
  const fake = await serve(({ req, url, body, send }) => {
    const auth = req.headers.authorization;
    if (auth !== basic(email, token) && !(bearer && auth === `Bearer ${bearer}`)) {
      return send(401, { errorMessages: ['You are not authenticated. Authentication required to perform this operation.'] });
    }
    const p = url.pathname;
    const view = (issue, fields) => {
      const wanted = (fields ?? '').split(',').filter(Boolean);
      const out = wanted.length ? Object.fromEntries(wanted.filter((f) => f in issue.fields).map((f) => [f, issue.fields[f]])) : issue.fields;
      return { id: issue.id, key: issue.key, self: `${fake.base}/rest/api/3/issue/${issue.id}`, fields: out };
    };
    if (req.method === 'GET' && p === '/rest/api/3/search/jql') {
      const jql = url.searchParams.get('jql');
      if (!jql) return send(400, { errorMessages: ['The JQL query is required.'], errors: {} });
      const project = /project\s*=\s*"?(\w+)"?/i.exec(jql)?.[1];
      const max = Number(url.searchParams.get('maxResults') ?? 50);
      const found = [...issues.values()].filter((i) => !project || i.fields.project.key === project).slice(0, max);
      return send(200, { issues: found.map((i) => view(i, url.searchParams.getAll('fields').join(','))), isLast: true });
    }
    const m = /^\/rest\/api\/3\/issue(?:\/([^/]+))?(?:\/(comment|transitions))?$/.exec(p);
    if (!m) return send(404, { errorMessages: ['Not found'], errors: {} });
    const [, key, sub] = m;
    if (req.method !== 'GET' && !isJson(req)) return send(415, { errorMessages: ['Unsupported Media Type'] });
    const input = req.method === 'GET' ? null : parseJson(body);
    if (req.method !== 'GET' && input === undefined) return send(400, { errorMessages: ['Unexpected character in the JSON body'] });
    if (!key) {
      if (req.method !== 'POST') return send(405, { errorMessages: ['Method not allowed'] });
      const f = input.fields ?? {};
      const errors = {};
      if (!f.project?.key && !f.project?.id) errors.project = 'Specify a valid project ID or key';
      if (!f.issuetype?.name && !f.issuetype?.id) errors.issuetype = 'Specify an issue type';
      if (!f.summary) errors.summary = 'You must specify a summary of the issue.';
      if (f.description !== undefined && !isAdf(f.description)) errors.description = 'Operation value must be an Atlassian Document (see the Atlassian Document Format).';
      if (Object.keys(errors).length) return send(400, { errorMessages: [], errors });
      const issue = { id: String(10000 + next), key: `${f.project.key}-${next++}`, fields: { ...f, status: { name: 'To Do' } }, comments: [] };
      issues.set(issue.key, issue);
      return send(201, { id: issue.id, key: issue.key, self: `${fake.base}/rest/api/3/issue/${issue.id}` });
    }
    const issue = issues.get(key) ?? [...issues.values()].find((i) => i.id === key);
    if (!issue) return send(404, { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} });
    if (!sub && req.method === 'GET') return send(200, view(issue, url.searchParams.getAll('fields').join(',')));
    if (sub === 'comment' && req.method === 'GET') return send(200, { startAt: 0, maxResults: 50, total: issue.comments.length, comments: issue.comments });
    if (sub === 'comment' && req.method === 'POST') {
      if (!isAdf(input.body)) return send(400, { errorMessages: [], errors: { comment: 'Comment body can not be empty!' } });
      const comment = { id: String(20000 + issue.comments.length), body: input.body, created: new Date().toISOString() };
      issue.comments.push(comment);
      return send(201, comment);
    }
    if (sub === 'transitions' && req.method === 'GET') return send(200, { transitions });
    if (sub === 'transitions' && req.method === 'POST') {
      const to = transitions.find((t) => t.id === String(input.transition?.id));
      if (!to) return send(400, { errorMessages: ["Transition id '" + input.transition?.id + "' is not valid for this issue."], errors: {} });
      issue.fields.status = { name: to.name };
      return send(204);
    }
    return send(405, { errorMessages: ['Method not allowed'] });
  });
  return { ...fake, issues };
}

// Trello. Writes take their inputs in the query string, as Trello documents.
export async function startFakeTrello({ key = 'trello-key', token = 'trello-token' } = {}) {
  const lists = [{ id: 'l-todo', name: 'To Do', idBoard: 'b1' }, { id: 'l-done', name: 'Done', idBoard: 'b1' }];
  const cards = new Map([['c1', { id: 'c1', name: 'Write the release notes', desc: '', idList: 'l-todo', idBoard: 'b1', closed: false }]]);
  const comments = [];
  let next = 2;
  const fake = await serve(({ req, url, send }) => {
    const q = url.searchParams;
    if (q.get('key') !== key || q.get('token') !== token) return send(401, q.get('key') === key ? 'invalid token' : 'invalid key');
    const p = url.pathname.replace(/^\/1/, '');
    let m;
    if (req.method === 'GET' && p === '/search') {
      if (!q.get('query')) return send(400, 'invalid value for query');
      const words = q.get('query').toLowerCase();
      return send(200, { options: { terms: [{ text: words }] }, cards: [...cards.values()].filter((c) => c.name.toLowerCase().includes(words)), boards: [] });
    }
    if (req.method === 'GET' && (m = /^\/members\/([^/]+)\/boards$/.exec(p))) {
      if (m[1] !== 'me') return send(404, 'model not found');
      return send(200, [{ id: 'b1', name: 'Roadmap', url: 'https://trello.com/b/b1' }]);
    }
    if (req.method === 'GET' && (m = /^\/boards\/([^/]+)\/lists$/.exec(p))) {
      return m[1] === 'b1' ? send(200, lists) : send(404, 'The requested resource was not found.');
    }
    if (req.method === 'GET' && (m = /^\/lists\/([^/]+)\/cards$/.exec(p))) {
      return send(200, [...cards.values()].filter((c) => c.idList === m[1]));
    }
    if (req.method === 'POST' && p === '/cards') {
      if (!lists.some((l) => l.id === q.get('idList'))) return send(400, 'invalid value for idList');
      const card = { id: `c${next++}`, name: q.get('name') ?? '', desc: q.get('desc') ?? '', idList: q.get('idList'), idBoard: 'b1', closed: false };
      cards.set(card.id, card);
      return send(200, card);
    }
    if ((m = /^\/cards\/([^/]+)(\/actions\/comments)?$/.exec(p))) {
      const card = cards.get(m[1]);
      if (!card) return send(404, 'The requested resource was not found.');
      if (m[2] && req.method === 'POST') {
        if (!q.get('text')) return send(400, 'invalid value for text');
        const action = { id: `a${comments.length + 1}`, type: 'commentCard', data: { text: q.get('text'), card: { id: card.id } } };
        comments.push(action);
        return send(200, action);
      }
      if (!m[2] && req.method === 'GET') return send(200, card);
      if (!m[2] && req.method === 'PUT') {
        if (q.has('idList')) {
          if (!lists.some((l) => l.id === q.get('idList'))) return send(400, 'invalid value for idList');
          card.idList = q.get('idList');
        }
        for (const field of ['name', 'desc']) if (q.has(field)) card[field] = q.get(field);
        if (q.has('closed')) card.closed = q.get('closed') === 'true';
        return send(200, card);
      }
    }
    return send(404, 'Cannot ' + req.method + ' ' + url.pathname);
  });
  return { ...fake, cards, comments };
}

// ServiceNow Table API.
export async function startFakeServiceNow({ user = 'admin', password = 'now-pass' } = {}) {
  const tables = {
    incident: [{ sys_id: '9d385017c611228701d22104cc95c371', number: 'INC0010001', short_description: 'VPN drops every hour', state: '1', priority: '2', active: 'true', comments: '', work_notes: '' }],
  };
  let next = 2;
  const failure = (message, detail) => ({ error: { message, detail }, status: 'failure' });
  const fake = await serve(({ req, url, body, send }) => {
    if (req.headers.authorization !== basic(user, password)) {
      return send(401, failure('User Not Authenticated', 'Required to provide Auth information'));
    }
    const m = /^\/api\/now\/table\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(400, failure('Requested URI does not represent any resource', null));
    const [, table, sysId] = m;
    const rows = tables[table];
    if (!rows) return send(400, failure('Invalid table ' + table, null));
    const pick = (row) => {
      const fields = (url.searchParams.get('sysparm_fields') ?? '').split(',').filter(Boolean);
      return fields.length ? Object.fromEntries(fields.map((f) => [f, row[f] ?? ''])) : row;
    };
    if (req.method === 'GET' && !sysId) {
      const conditions = (url.searchParams.get('sysparm_query') ?? '').split('^').filter((c) => c && !c.startsWith('ORDERBY'));
      const match = (row) => conditions.every((c) => {
        const like = /^(\w+)LIKE(.*)$/.exec(c);
        if (like) return String(row[like[1]] ?? '').toLowerCase().includes(like[2].toLowerCase());
        const [field, value] = c.split('=');
        return String(row[field] ?? '') === value;
      });
      const limit = Number(url.searchParams.get('sysparm_limit') ?? 10000);
      const result = rows.filter(match).slice(0, limit).map(pick);
      return send(200, { result }, { 'X-Total-Count': String(result.length) });
    }
    if (req.method === 'POST' && !sysId) {
      if (!isJson(req)) return send(415, failure('Unsupported Media Type', null));
      const input = parseJson(body);
      if (!input || typeof input !== 'object' || Array.isArray(input)) return send(400, failure('Exception while reading request', 'The payload is not valid JSON.'));
      const row = { comments: '', work_notes: '', state: '1', active: 'true', ...input, sys_id: randomBytes(16).toString('hex'), number: `INC00${10000 + next++}` };
      rows.push(row);
      return send(201, { result: pick(row) });
    }
    const row = rows.find((r) => r.sys_id === sysId);
    if (!row) return send(404, failure('No Record found', 'Record doesn\'t exist or ACL restricts the record retrieval'));
    if (req.method === 'GET') return send(200, { result: pick(row) });
    if (req.method === 'PATCH' || req.method === 'PUT') {
      if (!isJson(req)) return send(415, failure('Unsupported Media Type', null));
      const input = parseJson(body);
      if (!input || typeof input !== 'object' || Array.isArray(input)) return send(400, failure('Exception while reading request', 'The payload is not valid JSON.'));
      for (const [field, value] of Object.entries(input)) {
        // Journal fields gather entries rather than being overwritten.
        row[field] = (field === 'comments' || field === 'work_notes') && row[field] ? `${row[field]}\n${value}` : value;
      }
      return send(200, { result: pick(row) });
    }
    return send(405, failure('Method not Supported', null));
  });
  return { ...fake, tables };
}

// SAP S/4HANA OData v2 services, each under /sap/opu/odata/sap/{SERVICE}.
export async function startFakeSap({ user = 'SAPUSER', password = 'sap-pass' } = {}) {
  const partners = [{ BusinessPartner: '17100001', BusinessPartnerCategory: '2', BusinessPartnerFullName: 'Acme Corporation', SearchTerm1: 'ACME' }];
  const orders = [{ SalesOrder: '5000001', SalesOrderType: 'OR', SoldToParty: '17100001', OverallSDProcessStatus: 'A', texts: [], approval: 'pending' }];
  const sessions = new Map();  // session cookie -> csrf token
  let nextPartner = 17100002;
  let nextOrder = 5000002;
  const odataError = (code, message) => ({ error: { code, message: { lang: 'en', value: message } } });
  const view = (order) => { const { texts, approval, ...rest } = order; return rest; };
  const fake = await serve(({ req, url, body, record, send }) => {
    if (req.headers.authorization !== basic(user, password)) return send(401, 'Logon failed');
    const m = /^\/sap\/opu\/odata\/sap\/(API_BUSINESS_PARTNER|API_SALES_ORDER_SRV)(\/.*)?$/.exec(record.rawPath);
    if (!m) return send(404, odataError('/IWFND/MED/170', 'No service found for namespace'));
    const service = m[1];
    const p = decodeURIComponent(m[2] ?? '/');
    if (req.method === 'GET' && (req.headers['x-csrf-token'] ?? '').toLowerCase() === 'fetch') {
      const session = randomBytes(8).toString('hex');
      const csrf = randomBytes(12).toString('base64');
      sessions.set(session, csrf);
      return send(200, { d: { EntitySets: [] } }, {
        'x-csrf-token': csrf,
        'set-cookie': [`SAP_SESSIONID_FAKE_100=${session}; path=/; HttpOnly`, 'sap-usercontext=sap-client=100; path=/'],
      });
    }
    if (req.method !== 'GET') {
      const cookies = Object.fromEntries((req.headers.cookie ?? '').split(/;\s*/).filter(Boolean)
        .map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)]));
      const expected = sessions.get(cookies.SAP_SESSIONID_FAKE_100);
      if (!expected || req.headers['x-csrf-token'] !== expected || cookies['sap-usercontext'] !== 'sap-client=100') {
        return send(403, 'CSRF token validation failed', { 'x-csrf-token': 'Required' });
      }
      if (p !== '/releaseApprovalRequest' && p !== '/rejectApprovalRequest' && !isJson(req)) {
        return send(415, odataError('/IWFND/CM_MGW/004', 'Content type not supported'));
      }
    }
    const input = body ? parseJson(body) : undefined;
    if (body && input === undefined) return send(400, odataError('/IWFND/CM_MGW/004', 'Malformed JSON payload'));
    const filter = url.searchParams.get('$filter');
    const applyFilter = (rows) => {
      if (!filter) return rows;
      const eq = /^(\w+) eq '([^']*)'$/.exec(filter);
      const sub = /^substringof\('([^']*)',(\w+)\)$/.exec(filter);
      if (eq) return rows.filter((r) => r[eq[1]] === eq[2]);
      if (sub) return rows.filter((r) => String(r[sub[2]] ?? '').includes(sub[1]));
      return null;
    };
    const top = (rows) => rows.slice(0, Number(url.searchParams.get('$top') ?? rows.length));
    if (service === 'API_BUSINESS_PARTNER') {
      if (p === '/A_BusinessPartner' && req.method === 'GET') {
        const rows = applyFilter(partners);
        if (!rows) return send(400, odataError('/IWBEP/CM_MGW_RT/022', 'Invalid filter expression'));
        return send(200, { d: { results: top(rows) } });
      }
      if (p === '/A_BusinessPartner' && req.method === 'POST') {
        if (!['1', '2'].includes(input?.BusinessPartnerCategory)) return send(400, odataError('R1/101', 'Business partner category is missing or invalid'));
        const partner = { ...input, BusinessPartner: input.BusinessPartner || String(nextPartner++) };
        partners.push(partner);
        return send(201, { d: partner });
      }
      const key = /^\/A_BusinessPartner\('([^']+)'\)$/.exec(p);
      const partner = key && partners.find((x) => x.BusinessPartner === key[1]);
      if (key && !partner) return send(404, odataError('/IWBEP/CM_MGW_RT/020', 'Resource not found for segment \'A_BusinessPartnerType\''));
      if (partner && req.method === 'GET') return send(200, { d: partner });
      if (partner && req.method === 'PATCH') { Object.assign(partner, input); return send(204); }
    } else {
      if (p === '/A_SalesOrder' && req.method === 'GET') {
        const rows = applyFilter(orders);
        if (!rows) return send(400, odataError('/IWBEP/CM_MGW_RT/022', 'Invalid filter expression'));
        return send(200, { d: { results: top(rows).map(view) } });
      }
      if (p === '/A_SalesOrder' && req.method === 'POST') {
        for (const field of ['SalesOrderType', 'SalesOrganization', 'DistributionChannel', 'OrganizationDivision', 'SoldToParty']) {
          if (!input?.[field]) return send(400, odataError('V1/384', `Field ${field} is required`));
        }
        const order = { ...input, SalesOrder: input.SalesOrder || String(nextOrder++), OverallSDProcessStatus: 'A', texts: [], approval: 'pending' };
        orders.push(order);
        return send(201, { d: view(order) });
      }
      const key = /^\/A_SalesOrder\('([^']+)'\)(\/to_Text)?$/.exec(p);
      const order = key && orders.find((x) => x.SalesOrder === key[1]);
      if (key && !order) return send(404, odataError('/IWBEP/CM_MGW_RT/020', 'Resource not found for segment \'A_SalesOrderType\''));
      if (order && !key[2] && req.method === 'GET') return send(200, { d: view(order) });
      if (order && key[2] && req.method === 'POST') {
        if (!input?.LongText || !input?.Language) return send(400, odataError('/IWBEP/CM_MGW_RT/001', 'Language and LongText are required'));
        const text = { SalesOrder: order.SalesOrder, Language: input.Language, LongTextID: input.LongTextID ?? '0001', LongText: input.LongText };
        order.texts.push(text);
        return send(201, { d: text });
      }
      const action = /^\/(release|reject)ApprovalRequest$/.exec(p);
      if (action && req.method === 'POST') {
        // Function-import parameters are OData literals: a string in single quotes.
        const literal = /^'([^']+)'$/.exec(url.searchParams.get('SalesOrder') ?? '');
        if (!literal) return send(400, odataError('/IWBEP/CM_MGW_RT/105', 'Invalid literal for parameter SalesOrder'));
        const target = orders.find((x) => x.SalesOrder === literal[1]);
        if (!target) return send(404, odataError('/IWBEP/CM_MGW_RT/020', 'Sales order not found'));
        target.approval = action[1] === 'release' ? 'released' : 'rejected';
        return send(200, { d: { SalesOrder: target.SalesOrder } });
      }
    }
    return send(405, odataError('/IWBEP/CM_MGW_RT/021', `Method ${req.method} not allowed for ${p}`));
  });
  return { ...fake, partners, orders };
}
