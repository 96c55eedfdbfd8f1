import { parse as parseYamlScalar } from 'yaml';

const EXPRESSION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_EXPRESSION = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface InterpolationError {
  path: (string | number)[];
  message: string;
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree (`$$` is a literal
 * `$`). A string that is only one expression takes the YAML type of its value, so `port: ${PORT}`
 * is a number. A variable that is unset and has no default is an error naming it and its path.
 */
export function interpolateEnv(
  node: unknown,
  env: NodeJS.ProcessEnv,
  errors: InterpolationError[],
  path: (string | number)[] = [],
): unknown {
  if (typeof node === 'string') return interpolateString(node, env, errors, path);
  if (Array.isArray(node)) return node.map((item, i) => interpolateEnv(item, env, errors, [...path, i]));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = interpolateEnv(value, env, errors, [...path, key]);
    return out;
  }
  return node;
}

function interpolateString(value: string, env: NodeJS.ProcessEnv, errors: InterpolationError[], path: (string | number)[]): unknown {
  if (!value.includes('$')) return value;
  const result = value.replace(EXPRESSION, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$$') return '$';
    const fromEnv = env[name!];
    if (fromEnv !== undefined) return fromEnv;
    if (fallback !== undefined) return fallback;
    errors.push({ path, message: `environment variable ${name} is not set (write \${${name}:-default} to make it optional)` });
    return '';
  });
  if (!WHOLE_EXPRESSION.test(value) || result === '') return result;
  const typed: unknown = parseYamlScalar(result);
  return typeof typed === 'number' || typeof typed === 'boolean' ? typed : result;
}
