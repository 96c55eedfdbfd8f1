import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PRESET_NAMES } from '../providers/presets.js';
import { expandPresets } from './expand-presets.js';
import { formatPath, suggest } from './paths.js';
import { interpolate, type InterpolationError } from './interpolate.js';
import { configSchema } from './schema.js';
import { providerReferenceProblems, resolveConfig, type GatewayConfig } from './resolve.js';

/** Every problem of a configuration file, each naming its exact path. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The object keys the schema allows at a path, so that a misspelt key can be answered with the right one. */
function allowedKeysAt(schema: z.ZodType, data: unknown, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  let value = data;
  for (let i = 0; i <= path.length && current; i++) {
    current = unwrap(current, value);
    if (i === path.length) break;
    const key = path[i]!;
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
    if (current instanceof z.ZodObject) current = (current.shape as Record<string, z.ZodType>)[String(key)];
    else if (current instanceof z.ZodRecord) current = current.valueType as z.ZodType;
    else if (current instanceof z.ZodArray) current = current.element as z.ZodType;
    else current = undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrap(schema: z.ZodType, value: unknown): z.ZodType {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault) current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodUnion) {
      const options = current.options as z.ZodType[];
      current = options.find((o) => unwrap(o, value).safeParse(value).success) ?? options.find((o) => unwrap(o, value) instanceof z.ZodObject && typeof value === 'object') ?? options[0]!;
      if (current instanceof z.ZodObject && value && typeof value === 'object' && 'type' in value) {
        const byType = options.find((o) => o instanceof z.ZodObject && (o.shape as Record<string, z.ZodType>).type?.safeParse((value as { type: unknown }).type).success);
        if (byType) current = byType;
      }
    } else return current;
  }
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, secretPaths: ReadonlyMap<string, string>): string[] {
  const where = formatPath(issue.path);
  const shown = (value: unknown) => secretPaths.get(where) ?? JSON.stringify(value);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(configSchema, raw, issue.path);
      return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key "${key}"${suggest(key, allowed)}`);
    }
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator) {
        const options = (issue as unknown as { options: string[] }).options ?? [];
        const got = valueAt(raw, issue.path);
        // A provider may name a preset instead of a type.
        if (got === undefined && issue.path.length === 3 && issue.path[0] === 'providers') {
          return [`${where}: missing: give a preset (${PRESET_NAMES.join(' | ')}) or a type (${options.join(' | ')})`];
        }
        return [`${where}: ${got === undefined ? 'missing' : `unknown value ${shown(got)}`} (expected ${options.join(' | ')})${typeof got === 'string' ? suggest(got, options) : ''}`];
      }
      return [`${where}: ${describeUnion(issue)}`];
    case 'invalid_type':
      if (valueAt(raw, issue.path) === undefined) return [`${where}: required (${issue.expected})`];
      return [`${where}: expected ${issue.expected}, got ${shown(valueAt(raw, issue.path))}`];
    default:
      return [`${where}: ${issue.message}`];
  }
}

function describeUnion(issue: z.core.$ZodIssueInvalidUnion): string {
  const messages = issue.errors.flat().map((e) => `${e.path.length ? `${formatPath(e.path)}: ` : ''}${e.message}`);
  return messages.length ? `none of the accepted forms fits (${messages.join('; ')})` : issue.message;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * Validates an already-parsed YAML tree. Throws ConfigError listing every problem. `baseDir` is
 * where relative `${file:PATH}` secrets are found: the config file's directory.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv, source = 'config', baseDir = process.cwd()): GatewayConfig {
  const envErrors: InterpolationError[] = [];
  const filesRead = new Set<string>();
  const secretPaths = new Map<string, string>();
  const interpolated = interpolate(raw ?? {}, { env, baseDir, filesRead, secretPaths }, envErrors);
  const problems = envErrors.map((e) => `${formatPath(e.path)}: ${e.message}`);
  const expanded = expandPresets(interpolated);
  problems.push(...expanded.problems);
  const parsed = configSchema.safeParse(expanded.tree);
  if (!parsed.success) {
    // A value already reported (an unset variable, a bad preset) needs no second complaint about its type.
    const reported = new Set([...envErrors.map((e) => formatPath(e.path)), ...expanded.explained]);
    problems.push(...parsed.error.issues.filter((issue) => !reported.has(formatPath(issue.path))).flatMap((issue) => describeIssue(issue, expanded.tree, secretPaths)));
    // Provider references are checked on the rejected tree too, so one run names every problem.
    problems.push(...providerReferenceProblems(expanded.tree));
    throw new ConfigError(source, problems);
  }
  const resolved = resolveConfig(parsed.data, env);
  problems.push(...resolved.problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return { ...resolved.config, secretFiles: [...filesRead] };
}

/** Reads, interpolates and validates a YAML configuration file. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML: ${(error as Error).message}`]);
  }
  return parseConfig(raw, env, file, dirname(resolve(file)));
}
