/**
 * Tool-call arguments as an object. OpenAI carries them as a JSON string that may be empty,
 * truncated (a cut stream, a max_tokens stop) or already an object on some servers; Anthropic needs
 * an object. Never throws and never puts the raw string into the input (protocol.md §3.2, §4.1).
 */
export function parseToolArguments(raw: unknown): Record<string, unknown> {
  if (isPlainObject(raw)) return raw;
  if (typeof raw !== 'string' || raw.trim() === '') return {};
  const parsed = tryParse(raw) ?? tryParse(repairJson(raw));
  return isPlainObject(parsed) ? parsed : {};
}

/**
 * Closes what a truncated JSON text left open: an unterminated string, a dangling escape, a
 * trailing comma, colon or half-written key, and the open arrays and objects. Best effort: the
 * result is not guaranteed to parse.
 */
export function repairJson(text: string): string {
  const closers: string[] = [];
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') closers.push('}');
    else if (ch === '[') closers.push(']');
    else if (ch === '}' || ch === ']') closers.pop();
  }
  let out = text;
  if (inString) out = (escaped ? out.slice(0, -1) : out) + '"';
  // A tail without its value cannot be completed, so it goes: `{"a":1,` `{"a":` `{"a":1,"b"`.
  for (;;) {
    const before = out;
    out = out.trimEnd().replace(/[,:]$/, '').trimEnd();
    const danglingKey = closers.at(-1) === '}' ? /([{,])\s*"(?:[^"\\]|\\.)*"$/.exec(out) : null;
    if (danglingKey) out = out.slice(0, danglingKey.index + 1).replace(/,$/, '');
    if (out === before) break;
  }
  return out + closers.reverse().join('');
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
