import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { applyEvent, renderStatus, type StatusReport } from './status-table.js';

export interface StatusOptions {
  url: string;
  watch: boolean;
  adminKeyFile: string | undefined;
}

/** A failure the user must fix (wrong URL, missing key): said in one line, exit 1. */
export class CliError extends Error {}

const RECONNECT_MS = 1_000;

/**
 * `switchyard status`: prints the route chains and their targets' states once, or with --watch
 * redraws them on every live-view event until Ctrl-C, reconnecting when the gateway goes away.
 */
export async function status(opts: StatusOptions): Promise<void> {
  const base = opts.url.replace(/\/+$/, '');
  const headers = adminHeaders(opts.adminKeyFile);
  const out = process.stdout;
  const colour = out.isTTY === true && !process.env.NO_COLOR;
  if (!opts.watch) {
    const res = await call(`${base}/status`, headers);
    out.write(renderStatus((await res.json()) as StatusReport, { colour }));
    return;
  }

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const draw = (report: StatusReport, note = '') => {
    const text = renderStatus(report, { colour }) + (note ? `\n${note}\n` : '');
    // On a terminal the table is redrawn in place; into a pipe or a file each drawing follows the last.
    out.write(out.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
  };
  let report: StatusReport | undefined;
  while (!stop.signal.aborted) {
    let lost: string;
    try {
      const res = await call(`${base}/status/events`, { ...headers, accept: 'text/event-stream' }, stop.signal);
      const parser = createParser({
        onEvent(message) {
          report = applyEvent(report, message.event ?? 'message', message.data);
          if (report) draw(report);
        },
      });
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) parser.feed(chunk);
      lost = 'the gateway ended the stream';
    } catch (error) {
      if (stop.signal.aborted) break;
      // A wrong key or URL will not fix itself; a gateway that went away (a restart) may come back.
      if (error instanceof CliError && report === undefined) throw error;
      lost = error instanceof Error ? error.message : String(error);
    }
    const note = `disconnected from ${base}: ${lost}; reconnecting…`;
    if (report) draw(report, note);
    else out.write(`${note}\n`);
    await sleep(RECONNECT_MS, undefined, { signal: stop.signal }).catch(() => {});
  }
}

/** The admin key from $SWITCHYARD_ADMIN_KEY or a file, never from the command line (shell history, `ps`). */
function adminHeaders(file: string | undefined): Record<string, string> {
  let key = process.env.SWITCHYARD_ADMIN_KEY;
  if (file !== undefined) {
    try {
      key = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new CliError(`cannot read the admin key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function call(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { headers, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot connect to ${url}: ${cause?.code ?? cause?.message ?? String(error)}`);
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new CliError(
      headers.authorization
        ? `${url} refused the admin key (${res.status})`
        : `${url} requires the admin key (${res.status}): set SWITCHYARD_ADMIN_KEY or pass --admin-key-file FILE`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new CliError(`${url} answered ${res.status}`);
  }
  return res;
}
