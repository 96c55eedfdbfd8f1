import { Readable } from 'node:stream';

/**
 * The whole of an upstream body as text, up to `limit` bytes. Past the limit the body is let go and
 * `overLimit` decides: 'truncate' returns what came before it (an error body, only quoted), a
 * function gives the error to throw. Throws what broke the body.
 *
 * A Node stream (undici's body) is collected from its events, not its async iterator: on a gateway
 * idling at 200 req/s the iterator took 30–39 µs to hand over a body that had already arrived whole
 * (an async generator and stream.finished()'s listeners, run cold at that rate).
 */
export async function readBodyText(body: AsyncIterable<Uint8Array>, limit: number, overLimit: 'truncate' | (() => Error)): Promise<string> {
  const { chunks, over } = body instanceof Readable ? await collect(body, limit) : await iterate(body, limit);
  if (over && overLimit !== 'truncate') throw overLimit();
  return Buffer.concat(chunks).toString('utf8');
}

interface Collected {
  chunks: Uint8Array[];
  /** The body went past the limit: `chunks` holds what came before, and the body was let go. */
  over: boolean;
}

function collect(body: Readable, limit: number): Promise<Collected> {
  if (body.errored) return Promise.reject(body.errored);
  if (body.readableEnded) return Promise.resolve({ chunks: [], over: false });
  if (body.destroyed) return Promise.reject(prematureClose());
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const settle = (then: () => void) => {
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      then();
    };
    const onData = (chunk: Uint8Array) => {
      size += chunk.byteLength;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Listened to until the body is gone: destroying it may still report an error.
      body.on('error', () => {});
      settle(() => resolve({ chunks, over: true }));
      body.destroy();
    };
    const onEnd = () => settle(() => resolve({ chunks, over: false }));
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () => settle(() => reject(prematureClose()));
    body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** Any other body (the mock provider's generators). */
async function iterate(body: AsyncIterable<Uint8Array>, limit: number): Promise<Collected> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) return { chunks, over: true };
    chunks.push(chunk);
  }
  return { chunks, over: false };
}

/** What stream.finished() reports for a body closed before its end. */
export function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
