import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/codes.js';

describe('docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(GW_ERR_[A-Z_]+)` \| .+\| (\d{3}) `/gm)].map((m) => ({ code: m[1]!, status: Number(m[2]) }));

  it('documents every code with its status, and nothing that is not a code', () => {
    expect(documented.map((d) => d.code).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const { code, status } of documented) expect(status, code).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES].status);
  });
});
