// The tools that @modelcontextprotocol/conformance's server scenarios call (tools-call-simple-text,
// tools-call-error, json-schema-2020-12), as an MCP server over stdio written with the official
// SDK. keel fronts it as a `kind: mcp` toolset, and the conformance suite tests keel's /mcp: so the
// scenarios check what keel passes through (text results, isError, schemas kept as written).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const tools = [
  { name: 'test_simple_text', description: 'Returns a simple text response', inputSchema: { type: 'object', properties: {} } },
  { name: 'test_error_handling', description: 'Always fails', inputSchema: { type: 'object', properties: {} } },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
];

const server = new Server({ name: 'keel-conformance-tools', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  switch (request.params.name) {
    case 'test_simple_text':
      return { content: [{ type: 'text', text: 'This is a simple text response for testing.' }] };
    case 'test_error_handling':
      return { isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] };
    case 'json_schema_2020_12_tool':
      return { content: [{ type: 'text', text: JSON.stringify(request.params.arguments ?? {}) }] };
    default:
      throw new Error(`Unknown tool: ${request.params.name}`);
  }
});
await server.connect(new StdioServerTransport());
