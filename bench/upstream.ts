/**
 * A deliberately fast fake provider for benchmarks: answers every chat completion at once, as JSON
 * or as a short SSE stream, so what is measured is the gateway, not the upstream.
 * The model `slow` streams instead one content chunk at once, then one a second (SLOW_CHUNKS in all,
 * default 60), to hold many streams open (the RSS measurement).
 * Run as a child process: prints `{"port":N}` on stdout when listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const completion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 0,
  model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 },
});
const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 0, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const stream = [chunk({ role: 'assistant', content: '' }, null), ...['Hello', ' from', ' the', ' benchmark', ' upstream.'].map((t) => chunk({ content: t }, null)), chunk({}, 'stop'), 'data: [DONE]\n\n'].join('');

const SLOW_CHUNKS = Number(process.env.SLOW_CHUNKS ?? 60);

function slowStream(res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: 'tick' }, null));
  let sent = 1;
  const timer = setInterval(() => {
    if (sent++ < SLOW_CHUNKS) {
      res.write(chunk({ content: ' tick' }, null));
    } else {
      clearInterval(timer);
      res.end(`${chunk({}, 'stop')}data: [DONE]\n\n`);
    }
  }, 1000);
  res.on('close', () => clearInterval(timer));
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const payload = Buffer.concat(parts);
    const wantsStream = payload.includes('"stream":true');
    if (wantsStream && payload.includes('"model":"slow"')) {
      slowStream(res);
    } else if (wantsStream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(stream);
    } else {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(completion) });
      res.end(completion);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
