/**
 * The floor for `npm run bench`: a bare fastify 5 + undici 7 proxy that forwards the request body
 * bytes to UPSTREAM_URL with an undici Pool and pipes the answer back — no parsing, routing,
 * failover, logging or translation. Whatever Switchyard costs beyond this is its own.
 * Run as a child process: prints `{"port":N}` on stdout when listening (PORT, default any free port).
 */
import Fastify from 'fastify';
import { Pool } from 'undici';

const upstreamUrl = process.env.UPSTREAM_URL;
if (!upstreamUrl) throw new Error('UPSTREAM_URL is required');
const pool = new Pool(upstreamUrl); // connections: unlimited, keep-alive

const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.post('/*', async (req, reply) => {
  const res = await pool.request({ method: 'POST', path: req.url, headers: { 'content-type': 'application/json' }, body: req.body as Buffer });
  reply.code(res.statusCode);
  const type = res.headers['content-type'];
  if (type) reply.header('content-type', type);
  const length = res.headers['content-length'];
  if (length) reply.header('content-length', length);
  return reply.send(res.body);
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(address).port) })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
