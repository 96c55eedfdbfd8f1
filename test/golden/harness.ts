/**
 * Golden fixtures for the translators. Each case is a folder
 *   test/golden/cases/<client>-to-<upstream>/<ID>-<slug>/
 * holding:
 *   case.json               { "upstreamModel": "…", "stream": false, "quirks": { …partial ProviderQuirks } }  (all optional)
 *   client-request.json     what the client sent
 *   upstream-request.json   expected: the translated request body
 *   upstream-response.json | upstream-response.sse    the provider's answer (input)
 *   client-response.json   | client-response.sse      expected: what the client receives
 * A case may stop after upstream-request.json (request-only cases). A request the translator
 * refuses (begin() throws a GatewayError) has client-error.json instead: { status, body } as the
 * client would receive it if no other target could serve it. Time and ids are injected
 * (fixedContext), so expected files are byte-stable. UPDATE_GOLDEN=1 rewrites the expected files.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dialectRules } from '../../src/dialects/index.js';
import { renderError, renderStreamError, type Dialect } from '../../src/errors/format.js';
import { GatewayError, isGatewayError } from '../../src/errors/gateway-error.js';
import { SseDecoder, type SseEvent } from '../../src/sse/decoder.js';
import { encodeSseEvent } from '../../src/sse/encoder.js';
import { DEFAULT_QUIRKS, type ProviderQuirks, type TranslateContext, type Translator } from '../../src/translate/index.js';

export const CASES_DIR = new URL('./cases/', import.meta.url).pathname;
export const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** 2026-01-01T00:00:00Z and counting ids: the same input always gives the same bytes. */
export function fixedContext(): TranslateContext {
  let n = 0;
  return { now: () => 1_767_225_600_000, newId: (prefix) => `${prefix}gw${String(++n).padStart(4, '0')}` };
}

export interface GoldenCase {
  name: string;
  dir: string;
  client: Dialect;
  upstream: Dialect;
  upstreamModel: string | undefined;
  stream: boolean;
  quirks: ProviderQuirks;
  clientRequestText: string;
  clientRequest: Record<string, unknown>;
}

export function loadCases(): GoldenCase[] {
  if (!existsSync(CASES_DIR)) return [];
  const cases: GoldenCase[] = [];
  for (const pair of readdirSync(CASES_DIR).sort()) {
    const match = /^(openai|anthropic)-to-(openai|anthropic)$/.exec(pair);
    if (!match) throw new Error(`unexpected folder ${pair} in test/golden/cases`);
    for (const name of readdirSync(join(CASES_DIR, pair)).sort()) {
      const dir = join(CASES_DIR, pair, name);
      const meta = existsSync(join(dir, 'case.json')) ? (JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { upstreamModel?: string; stream?: boolean; quirks?: Partial<ProviderQuirks> }) : {};
      const clientRequestText = readFileSync(join(dir, 'client-request.json'), 'utf8');
      const clientRequest = JSON.parse(clientRequestText) as Record<string, unknown>;
      cases.push({
        name: `${pair}/${name}`,
        dir,
        client: match[1] as Dialect,
        upstream: match[2] as Dialect,
        upstreamModel: meta.upstreamModel,
        stream: meta.stream ?? clientRequest.stream === true,
        quirks: { ...DEFAULT_QUIRKS, ...meta.quirks },
        clientRequestText,
        clientRequest,
      });
    }
  }
  return cases;
}

export function begin(translator: Translator, c: GoldenCase) {
  return translator.begin(
    { rawBody: Buffer.from(c.clientRequestText), body: c.clientRequest, model: String(c.clientRequest.model) },
    { upstreamModel: c.upstreamModel ?? String(c.clientRequest.model), stream: c.stream, quirks: c.quirks, context: fixedContext() },
  );
}

/** The translated request body, or the error a refused request renders to (client-error.json). */
export function translatedRequest(translator: Translator, c: GoldenCase): { file: string; actual: string } {
  try {
    return { file: 'upstream-request.json', actual: pretty(begin(translator, c).body.toString()) };
  } catch (error) {
    if (!isGatewayError(error)) throw error;
    const rendered = renderError(c.client, error, 'req_golden');
    return { file: 'client-error.json', actual: `${JSON.stringify({ status: rendered.status, body: JSON.parse(rendered.body) as unknown }, null, 2)}\n` };
  }
}

export function decodeSse(bytes: Uint8Array[]): SseEvent[] {
  const decoder = new SseDecoder();
  const events = bytes.flatMap((chunk) => decoder.push(chunk));
  return [...events, ...decoder.end()];
}

/**
 * Runs an upstream SSE text through a stream translation the way the relay does: every event,
 * then end() when the upstream stopped after its finish reason without an end marker.
 */
export function translateStream(translator: Translator, c: GoldenCase, chunks: Uint8Array[]): string {
  const rules = dialectRules(c.upstream);
  const stream = begin(translator, c).stream();
  let out = '';
  let finished = false;
  let terminated = false;
  for (const event of decodeSse(chunks)) {
    const parsed = rules.parseEvent(event);
    const meaning = rules.eventMeaning(event, parsed);
    if (meaning === 'finish') finished = true;
    let translated;
    try {
      translated = stream.event(event, parsed);
    } catch (error) {
      // As the relay does: a translator's GatewayError ends the stream with one in-band error.
      if (!(error instanceof GatewayError)) throw error;
      return out + renderStreamError(c.client, new GatewayError('GW_ERR_STREAM_INTERRUPTED', error.message, { status: error.code === 'GW_ERR_UPSTREAM_OVERLOADED' ? 529 : 502 }), 'req_golden');
    }
    for (const e of translated) out += encodeSseEvent(e);
    if (meaning === 'terminal') {
      terminated = true;
      break;
    }
  }
  if (!terminated && finished) for (const e of stream.end()) out += encodeSseEvent(e);
  return out;
}

export function readExpected(dir: string, file: string): string | undefined {
  const path = join(dir, file);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

export function writeExpected(dir: string, file: string, text: string): void {
  writeFileSync(join(dir, file), text);
}

export const pretty = (json: string) => `${JSON.stringify(JSON.parse(json), null, 2)}\n`;
