import type { IncomingHttpHeaders } from 'node:http';
import { digestOf, offeredKeys, sameDigest } from './credentials.js';

/** The operator credential (auth.adminKey) that guards /status, the live view and /metrics. */
export class AdminKey {
  private readonly digest: Buffer | undefined;

  constructor(key: string | undefined) {
    this.digest = key === undefined ? undefined : digestOf(key);
  }

  /** No admin key configured: the admin endpoints are open. */
  get open(): boolean {
    return this.digest === undefined;
  }

  accepts(headers: IncomingHttpHeaders): boolean {
    const expected = this.digest;
    if (expected === undefined) return true;
    return offeredKeys(headers, true).some((key) => sameDigest(expected, digestOf(key)));
  }
}
