import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBodyText } from '../../src/upstream/read-body.js';

/** Answers `/<n>` with n chunks of 1 KB ('a', 'b', …), each written separately; `/cut` stops after one and drops the connection. */
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res: ServerResponse) => {
    if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '4096' });
      res.write('x'.repeat(1024), () => res.destroy());
      return;
    }
    const n = Number(req.url!.slice(1));
    res.writeHead(200, { 'content-length': String(n * 1024) });
    const next = (i: number) => {
      if (i === n) return void res.end();
      res.write(String.fromCharCode(97 + i).repeat(1024), () => setImmediate(next, i + 1));
    };
    next(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
});

const tooLarge = () => new Error('too large');

describe('readBodyText on an undici body', () => {
  it('returns the whole body under the limit', async () => {
    const { body } = await request(`${base}/3`);
    expect(await readBodyText(body, 4096, tooLarge)).toBe('a'.repeat(1024) + 'b'.repeat(1024) + 'c'.repeat(1024));
  });

  it('truncates at the chunks before the limit and lets the body go', async () => {
    const { body } = await request(`${base}/4`);
    const text = await readBodyText(body, 2048, 'truncate');
    // How many whole chunks fit depends on how the socket's reads fell: a prefix, never past the limit.
    expect(text.length).toBeLessThanOrEqual(2048);
    expect(['a', 'b', 'c', 'd'].map((c) => c.repeat(1024)).join('').startsWith(text)).toBe(true);
    expect(body.destroyed).toBe(true);
  });

  it('throws the caller’s error past the limit', async () => {
    const { body } = await request(`${base}/4`);
    await expect(readBodyText(body, 2048, tooLarge)).rejects.toThrow('too large');
    expect(body.destroyed).toBe(true);
  });

  it('throws when the connection drops before the end', async () => {
    const { body } = await request(`${base}/cut`);
    await expect(readBodyText(body, 65536, tooLarge)).rejects.toThrow();
  });

  it('throws the error of a body that already failed', async () => {
    const failed = new Readable({ read() {} });
    failed.on('error', () => {});
    failed.destroy(new Error('aborted'));
    await expect(readBodyText(failed, 1024, tooLarge)).rejects.toThrow('aborted');
  });
});

describe('readBodyText on any other async iterable (the mock provider)', () => {
  async function* chunks(n: number) {
    for (let i = 0; i < n; i++) yield new TextEncoder().encode(String(i).repeat(10));
  }

  it('returns the whole body under the limit', async () => {
    expect(await readBodyText(chunks(3), 100, tooLarge)).toBe('0'.repeat(10) + '1'.repeat(10) + '2'.repeat(10));
  });

  it('truncates or throws past the limit', async () => {
    expect(await readBodyText(chunks(5), 25, 'truncate')).toBe('0'.repeat(10) + '1'.repeat(10));
    await expect(readBodyText(chunks(5), 25, tooLarge)).rejects.toThrow('too large');
  });
});
