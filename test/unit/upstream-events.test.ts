import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { UpstreamEvents } from '../../src/routing/upstream-events.js';

const frame = (data: string) => Buffer.from(`data: ${data}\n\n`);

/** A Node stream, as undici's body is: read through read() and listeners. */
function nodeBody(): PassThrough {
  return new PassThrough();
}

async function* generatorBody(chunks: Buffer[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await sleep(1);
    yield chunk;
  }
}

describe('UpstreamEvents', () => {
  it('yields the events of a Node stream as they arrive, then undefined at its end', async () => {
    const body = nodeBody();
    const events = new UpstreamEvents(body);
    body.write(frame('a'));
    expect(await events.next()).toEqual({ event: undefined, data: 'a' });
    const pending = events.next();
    setTimeout(() => body.write(Buffer.concat([frame('b'), frame('c')])), 5);
    expect(await pending).toEqual({ event: undefined, data: 'b' });
    expect(await events.next()).toEqual({ event: undefined, data: 'c' });
    setTimeout(() => body.end(), 5);
    expect(await events.next()).toBeUndefined();
    expect(await events.next()).toBeUndefined();
  });

  it("throws a Node stream's error, also one that happened while nobody was reading", async () => {
    const waiting = nodeBody();
    const whileWaiting = new UpstreamEvents(waiting);
    const pending = whileWaiting.next();
    waiting.destroy(Object.assign(new Error('socket hang up'), { code: 'UND_ERR_SOCKET' }));
    await expect(pending).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });

    const idle = nodeBody();
    const unread = new UpstreamEvents(idle);
    idle.destroy(new Error('reset'));
    await sleep(5); // the 'error' event is emitted with nobody reading: it must not be unhandled
    await expect(unread.next()).rejects.toThrow('reset');
  });

  it('throws when a Node stream closes before its end', async () => {
    const body = new Readable({ read() {} });
    const events = new UpstreamEvents(body);
    const pending = events.next();
    body.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('drains the rest of a Node stream, and gives up after its time', async () => {
    const body = nodeBody();
    const events = new UpstreamEvents(body);
    body.write(frame('a'));
    setTimeout(() => body.end(frame('rest')), 5);
    let gaveUp = false;
    await events.drain(1_000, () => (gaveUp = true));
    expect(gaveUp).toBe(false);
    expect(body.readableEnded).toBe(true);

    const stuck = nodeBody();
    const stalled = new UpstreamEvents(stuck);
    await stalled.drain(20, () => stuck.destroy(new Error('given up')));
    expect(stuck.destroyed).toBe(true);
  });

  it('close() destroys a Node stream', async () => {
    const body = nodeBody();
    const events = new UpstreamEvents(body);
    body.write(frame('a'));
    expect(await events.next()).toEqual({ event: undefined, data: 'a' });
    events.close();
    await sleep(5);
    expect(body.destroyed).toBe(true);
  });

  it('reads any other async iterable through its iterator', async () => {
    const events = new UpstreamEvents(generatorBody([frame('x'), Buffer.from('event: e\n'), Buffer.from('data: y\n\n')]));
    expect(await events.next()).toEqual({ event: undefined, data: 'x' });
    expect(await events.next()).toEqual({ event: 'e', data: 'y' });
    expect(await events.next()).toBeUndefined();
  });
});
