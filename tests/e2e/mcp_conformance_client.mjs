// keel's MCP client as @modelcontextprotocol/conformance's client scenarios run it: the suite
// starts its test server and runs `node mcp_conformance_client.mjs SERVER_URL` with
// MCP_CONFORMANCE_SCENARIO set. This writes a config with one `kind: mcp` toolset at that URL and
// runs `keel tools list`, then `keel tools call` for each tool the server offers (add_numbers
// gets numbers; others no arguments), as a person or the tool loop would. KEEL_BIN: the binary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const url = process.argv.at(-1);
const keel = process.env.KEEL_BIN;
const dir = mkdtempSync(path.join(tmpdir(), 'keel-conformance-'));
const config = path.join(dir, 'keel.yaml');
writeFileSync(config, [
  `state: sqlite:${path.join(dir, 'keel.db')}`,
  'toolsets:',
  '  - name: conformance',
  '    kind: mcp',
  `    url: ${JSON.stringify(url)}`,
  '    timeout_ms: 10000',
  '    startup_timeout_ms: 10000',
  '',
].join('\n'));

function run(args) {
  const result = spawnSync(keel, [...args, '--config', config], { encoding: 'utf8', timeout: 20000 });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  return result;
}

const listed = run(['tools', 'list', '--json']);
if (listed.status !== 0) process.exit(1);
const argumentsFor = { add_numbers: { a: 2, b: 3 } };
for (const tool of JSON.parse(listed.stdout)) {
  run(['tools', 'call', `conformance/${tool.name}`, '--args', JSON.stringify(argumentsFor[tool.name] ?? {})]);
}
