import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYamlScalar } from 'yaml';
import { formatPath } from './paths.js';

// `${file:-x}` is the variable `file` with a default, so the variable form is tried first.
const EXPRESSION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{file:([^}]*)\}/g;
const WHOLE_VARIABLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface InterpolationError {
  path: (string | number)[];
  message: string;
}

/** Where `${…}` values come from, and what was read. */
export interface InterpolationSources {
  env: NodeJS.ProcessEnv;
  /** Relative `${file:PATH}` resolves against it: the config file's directory. */
  baseDir: string;
  /** Absolute path of every file read, so a watcher can reload when a mounted secret rotates. */
  filesRead: Set<string>;
  /**
   * Where a value was substituted (formatted path → what to say instead of quoting it): a file's
   * content or a variable's value may be a secret, so an error about it must not quote it.
   */
  secretPaths: Map<string, string>;
}

/**
 * Replaces `${VAR}`, `${VAR:-default}` and `${file:PATH}` in every string of a parsed YAML tree
 * (`$$` is a literal `$`). A string that is only one variable takes the YAML type of its value, so
 * `port: ${PORT}` is a number; a file's content always stays a string, since a secret like `0x1f`
 * or `007` must not turn into a number. A variable that is unset and has no default, or a file that
 * cannot be read, is an error naming its path.
 */
export function interpolate(node: unknown, sources: InterpolationSources, errors: InterpolationError[], path: (string | number)[] = []): unknown {
  if (typeof node === 'string') return interpolateString(node, sources, errors, path);
  if (Array.isArray(node)) return node.map((item, i) => interpolate(item, sources, errors, [...path, i]));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = interpolate(value, sources, errors, [...path, key]);
    return out;
  }
  return node;
}

function interpolateString(value: string, sources: InterpolationSources, errors: InterpolationError[], path: (string | number)[]): unknown {
  if (!value.includes('$')) return value;
  const result = value.replace(EXPRESSION, (whole, name: string | undefined, fallback: string | undefined, file: string | undefined) => {
    if (whole === '$$') return '$';
    if (file !== undefined) return readSecretFile(file, sources, errors, path);
    const fromEnv = sources.env[name!];
    if (fromEnv !== undefined) {
      sources.secretPaths.set(formatPath(path), `a value from \${${name!}}`);
      return fromEnv;
    }
    if (fallback !== undefined) return fallback;
    errors.push({ path, message: `environment variable ${name} is not set (write \${${name}:-default} to make it optional)` });
    return '';
  });
  if (!WHOLE_VARIABLE.test(value) || result === '') return result;
  const typed: unknown = parseYamlScalar(result);
  return typeof typed === 'number' || typeof typed === 'boolean' ? typed : result;
}

/** The file's content without one trailing newline (how `echo` and most secret tooling write them). */
function readSecretFile(file: string, sources: InterpolationSources, errors: InterpolationError[], path: (string | number)[]): string {
  if (file === '') {
    errors.push({ path, message: '${file:} needs a path' });
    return '';
  }
  const absolute = resolve(sources.baseDir, file);
  sources.filesRead.add(absolute);
  sources.secretPaths.set(formatPath(path), 'the content of a secret file');
  try {
    return readFileSync(absolute, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    // Only the errno code: the error's own message could quote more than the path.
    errors.push({ path, message: `cannot read secret file ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}` });
    return '';
  }
}
