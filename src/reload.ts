import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { Gateway } from './app.js';
import { ConfigError, loadConfigFile } from './config/load.js';

/** Editors and `kubectl` write in several steps: one reload after the last of them. */
const SETTLE_MS = 200;

export type ReloadTrigger = 'SIGHUP' | 'file change';

export type ReloadResult = { applied: true; needsRestart: string[] } | { applied: false; problems: string[] };

/**
 * Re-reads the configuration file on SIGHUP or when the file (or a secret file it reads) changes,
 * validates it like start-up does, and swaps it into the gateway whole. A file with errors changes
 * nothing: the running configuration stays and every problem is logged with its path.
 */
export class ConfigReloader {
  private watcher: FSWatcher | undefined;
  private wanted = new Set<string>();
  private settle: NodeJS.Timeout | undefined;
  private running: Promise<ReloadResult> | undefined;
  private again = false;

  constructor(
    private readonly file: string,
    private readonly gateway: Gateway,
    private readonly logger: Logger,
    private readonly onResult: (result: ReloadResult) => void = () => {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** One reload at a time; a request that arrives during one runs once more after it, so the last change always lands. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let result: ReloadResult;
      try {
        do {
          this.again = false;
          result = this.apply(trigger);
          // Let a burst of signals or file events coalesce before the next pass.
          await new Promise((resolveTick) => setImmediate(resolveTick));
        } while (this.again);
      } finally {
        this.running = undefined;
      }
      return result;
    })();
    return this.running;
  }

  /**
   * Watches the file's directory, not the file: Kubernetes updates a mounted ConfigMap or Secret by
   * swapping a `..data` symlink, and editors replace files by rename, both of which a watch on the
   * old file would miss.
   */
  async watch(): Promise<void> {
    this.watcher = watch([], { ignoreInitial: true, depth: 0, followSymlinks: false });
    this.follow();
    this.watcher.on('all', (_event, path) => {
      if (!this.wanted.has(resolve(path))) return;
      clearTimeout(this.settle);
      this.settle = setTimeout(() => void this.reload('file change'), SETTLE_MS);
    });
    this.watcher.on('error', (error) => this.logger.warn({ err: error, file: basename(this.file) }, 'configuration watch failed: reload with SIGHUP'));
    await new Promise<void>((ready) => this.watcher!.once('ready', ready));
  }

  /** The configuration file and every secret file the running configuration read (a reload may name new ones). */
  private follow(): void {
    const paths = [resolve(this.file), ...this.gateway.current().config.secretFiles];
    this.wanted = new Set(paths.flatMap((path) => [path, resolve(dirname(path), '..data')]));
    this.watcher?.add([...new Set(paths.map((path) => dirname(path)))]);
  }

  async close(): Promise<void> {
    clearTimeout(this.settle);
    await this.watcher?.close();
  }

  private apply(trigger: ReloadTrigger): ReloadResult {
    let result: ReloadResult;
    try {
      const config = loadConfigFile(this.file, this.env);
      const { needsRestart } = this.gateway.reload(config);
      result = { applied: true, needsRestart };
      this.follow();
      this.logger.info({ trigger, file: this.file, routes: config.routes.length, providers: config.providers.size }, 'configuration reloaded');
      if (needsRestart.length > 0) this.logger.warn({ settings: needsRestart }, `configuration reloaded, but these settings take effect only on restart: ${needsRestart.join(', ')}`);
    } catch (error) {
      // Whatever went wrong, the running configuration stays and the process keeps serving: a reload must never end it.
      const problems = error instanceof ConfigError ? error.problems : [`the configuration could not be applied: ${error instanceof Error ? error.message : String(error)}`];
      result = { applied: false, problems };
      this.logger.error({ trigger, file: this.file, problems }, `configuration reload rejected; the running configuration stays:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    this.onResult(result);
    return result;
  }
}
