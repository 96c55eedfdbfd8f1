import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Header paths that never reach a log line, in both casings pino may see. No wildcard path: pino
 * then redacts every object-valued field of every line (a tenth of the request log line's cost),
 * and the configured keys themselves are scrubbed from every line by value anyway.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.Authorization',
  'headers["X-Api-Key"]',
];

/**
 * The configured secrets, scrubbed from every log line as it is written. A reload adds the new
 * configuration's secrets and keeps the old ones: a rotated-out key must not appear in logs either.
 */
export class SecretScrubber {
  private secrets: string[] = [];

  constructor(secrets: readonly string[] = []) {
    this.add(secrets);
  }

  add(secrets: readonly string[]): void {
    this.secrets = [...new Set([...this.secrets, ...secrets])];
  }

  scrub(line: string): string {
    let out = line;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    return out;
  }
}

/**
 * Structured JSON logs. Besides path redaction, every configured secret is scrubbed from each line
 * as it is written, wherever it hides (an error message, a URL with a key in its query).
 */
export function createLogger(level: string, scrubber: SecretScrubber, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: isoTimestamp,
    hooks: { streamWrite: (line) => scrubber.scrub(line) },
  };
  return pino(options, destination ?? stdoutDestination());
}

let stampedMs = 0;
let stamp = '';
/** pino's ISO time field, formatted once per millisecond: at thousands of lines a second, most share one. */
function isoTimestamp(): string {
  const now = Date.now();
  if (now !== stampedMs) {
    stampedMs = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

/** A log reader slower than this much backlog loses lines rather than the gateway its memory. */
const MAX_LOG_BACKLOG_BYTES = 16 * 1024 * 1024;
/** Lines are written in batches of at least this many bytes … */
const LOG_BATCH_BYTES = 8 * 1024;
/** … or after this long, so a quiet gateway's lines are not held. */
const LOG_FLUSH_MS = 250;

/**
 * stdout, written asynchronously in batches: the per-request line then costs a share of one write
 * instead of a blocking write of its own (a tenth of a request's CPU in profiles). pino flushes the
 * batch when the process exits, crashes or is stopped by a signal; a SIGKILL loses at most a batch.
 */
function stdoutDestination(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, maxLength: MAX_LOG_BACKLOG_BYTES });
  setInterval(() => destination.flush(), LOG_FLUSH_MS).unref();
  return destination;
}

/** The logging surface the routing layer needs; fastify's request logger and pino's both fit. */
export type Log = Pick<Logger, 'error' | 'warn' | 'info' | 'debug'>;
