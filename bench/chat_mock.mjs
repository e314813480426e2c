// An OpenAI-compatible upstream for bench/callgrind.sh and bench/thread_cpu.sh: one fixed chat
// completion at /v1/chat/completions and one fixed stream (chunked, as real vendors answer) at
// /stream/v1/chat/completions, as bench/run.sh's nginx mock answers.
//
//   node bench/chat_mock.mjs PORT
import http from 'node:http';
const CHAT = '{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}}';
const chunk = (d, f) => `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":${d},"finish_reason":${f}}]}\n\n`;
let SSE = chunk('{"role":"assistant","content":""}', 'null');
for (const w of ['Hello', ' from', ' the', ' mock', ' upstream.']) SSE += chunk(JSON.stringify({ content: w }), 'null');
SSE += chunk('{}', '"stop"') + 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}}\n\ndata: [DONE]\n\n';
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url === '/v1/chat/completions') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(CHAT); }
    else if (req.url === '/stream/v1/chat/completions') { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(SSE); }
    else { res.writeHead(404); res.end(); }
  });
}).listen(+process.argv[2], '127.0.0.1');
