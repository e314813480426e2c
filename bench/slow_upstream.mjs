// The upstream of bench/stream_gaps.mjs: an OpenAI-compatible server whose chat completion stream
// is CHUNKS content chunks, one every INTERVAL ms (as a model streams tokens), then a finish chunk,
// a usage chunk and [DONE] (the shapes of the OpenAI API's chat.completion.chunk). Its own process,
// so the measuring client never delays it.
//
//   node bench/slow_upstream.mjs PORT CHUNKS INTERVAL_MS
import { createServer } from 'node:http';

const [port, chunks, interval] = process.argv.slice(2).map(Number);
const frame = (delta, finish = null, usage = undefined) => `data: ${JSON.stringify({
  id: 'chatcmpl-slow', object: 'chat.completion.chunk', created: 1700000000, model: 'slow',
  choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}),
})}\n\n`;

createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(frame({ role: 'assistant', content: '' }));
    let sent = 0;
    const next = () => {
      res.write(frame({ content: ` w${sent}` }));
      sent += 1;
      if (sent === chunks) {
        res.write(frame({}, 'stop'));
        res.write(frame(null, null, { prompt_tokens: 1, completion_tokens: chunks, total_tokens: chunks + 1 }));
        res.end('data: [DONE]\n\n');
        return;
      }
      setTimeout(next, interval);
    };
    setTimeout(next, interval);
  });
}).listen(port, '127.0.0.1');
