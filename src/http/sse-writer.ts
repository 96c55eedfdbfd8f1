import type { ServerResponse } from 'node:http';
import type { StreamWriter } from '../routing/relay.js';
import { ClientClosedError } from '../routing/request-context.js';

/**
 * Writes to the client and waits for 'drain' when the socket buffer is full, so a slow reader
 * slows the upstream read instead of growing memory.
 */
export function backpressuredWriter(raw: ServerResponse): StreamWriter {
  const write = (chunk: string): Promise<void> => {
    if (raw.destroyed || raw.writableEnded) return Promise.reject(new ClientClosedError());
    if (raw.write(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        raw.off('drain', onDrain);
        raw.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new ClientClosedError());
      raw.on('drain', onDrain);
      raw.on('close', onClose);
    });
  };
  // The socket, not the response: the hold is the cork Node's response write puts on its socket.
  return { write, flush: () => raw.socket?.uncork() };
}
