/**
 * A deliberately fast fake provider for benchmarks: answers every chat completion at once, as JSON
 * or as a short SSE stream written in one piece, so what is measured is the gateway, not the upstream.
 * A model named `paced-<N>x<M>` streams instead N content events, one every M ms (the first at once),
 * each event's content being the time it was sent (epoch ms, 3 decimals): the client compares its
 * arrival with that, so a proxy that holds events shows it. The RSS measurement holds many of them open.
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

const PACED = /"model":"paced-(\d+)x(\d+)"/;
const sentAt = () => (performance.timeOrigin + performance.now()).toFixed(3);

function pacedStream(res: import('node:http').ServerResponse, events: number, intervalMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: sentAt() }, null));
  let sent = 1;
  const next = () => {
    if (sent < events) {
      sent += 1;
      res.write(chunk({ content: sentAt() }, null));
      timer = setTimeout(next, intervalMs);
    } else {
      res.end(`${chunk({}, 'stop')}data: [DONE]\n\n`);
    }
  };
  let timer = setTimeout(next, intervalMs);
  res.on('close', () => clearTimeout(timer));
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const payload = Buffer.concat(parts);
    const wantsStream = payload.includes('"stream":true');
    const paced = wantsStream ? PACED.exec(payload.toString('latin1')) : null;
    if (paced) {
      pacedStream(res, Number(paced[1]), Number(paced[2]));
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
