/**
 * What every command runs with: the shutdown signal (Ctrl-C), error output,
 * duration flags, and a window that keeps a bounded number of operations in
 * flight.
 */
import { InvalidArgumentError as FlagError, Option } from 'commander';
import pc from 'picocolors';
import { describeError, type ErrorContext } from './errors.js';

/**
 * Aborted at the first SIGINT or SIGTERM: commands then shut down cleanly
 * (DISCONNECT sent, stores flushed). A second signal exits at once with 130.
 */
export interface Shutdown {
  readonly signal: AbortSignal;
  dispose(): void;
}

let stdoutClosed = false;

/** Whoever read stdout went away (`mqttkit sub | head -1`): the command stops quietly. */
export function outputClosed(): boolean {
  return stdoutClosed;
}

export function installShutdown(): Shutdown {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${errorPrefix()} ${name} again: exiting without a clean shutdown\n`);
      process.exit(130);
    }
    controller.abort(new Error(name));
  };
  // EPIPE and the like: stop as at Ctrl-C (the session still says DISCONNECT), without a stack trace
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    stdoutClosed = true;
    if (!controller.signal.aborted) controller.abort(err);
  };
  stdoutClosed = false;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.stdout.on('error', onOutputError);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      // a write still queued may fail after this: keep a listener, or it would throw
      process.stdout.off('error', onOutputError);
      process.stdout.on('error', () => undefined);
    },
  };
}

/** Resolves when `signal` aborts (at once if it has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Resolves after `ms`, or when `signal` aborts, whichever comes first; true if the time ran out. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Whether text written to `stream` gets colours: picocolors' rule, applied
 * to that stream (picocolors itself looks at stdout only). Off with
 * `NO_COLOR`; on with `FORCE_COLOR`, on Windows, under CI, or when the
 * stream is a terminal that is not `TERM=dumb`.
 */
export function colorsOn(
  stream: { readonly isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env.NO_COLOR) return false;
  return (
    !!env.FORCE_COLOR ||
    process.platform === 'win32' ||
    (stream.isTTY === true && env.TERM !== 'dumb') ||
    !!env.CI
  );
}

/**
 * The colours of what goes to stderr (errors, hints, demo's log lines): on
 * when stderr is a terminal, whatever stdout is, so `mqttkit … 2>err.log`
 * writes no escape codes into the log.
 */
export const stderrColors = pc.createColors(colorsOn(process.stderr));

/** `mqttkit:`, the start of every error line (red on a terminal). */
export function errorPrefix(): string {
  return stderrColors.red('mqttkit:');
}

/** Prints `mqttkit: <message> (<hint>)` to stderr, on one line. */
export function printError(err: unknown, context: ErrorContext = {}): void {
  const { message, hint } = describeError(err, context);
  const lines = message.split('\n');
  const first = hint === undefined ? lines[0] : `${lines[0]} ${stderrColors.dim(`(${hint})`)}`;
  process.stderr.write(`${errorPrefix()} ${[first, ...lines.slice(1)].join('\n')}\n`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag in ms: `500ms`, `5s`, `2m`, `1h`; a bare number is taken
 * in `bareUnit` (`'s'` for timeouts and durations, `'ms'` for intervals).
 */
export function parseDuration(bareUnit: 'ms' | 's', min = 0) {
  return (value: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
    const ms = m === null ? Number.NaN : Number(m[1]) * UNITS[m[2] ?? bareUnit];
    if (!Number.isFinite(ms) || ms < min || ms > 2 ** 31 - 1) {
      throw new FlagError(
        `expected a duration such as 500ms, 5s or 2m (a bare number is ${bareUnit === 's' ? 'seconds' : 'milliseconds'})`,
      );
    }
    return Math.round(ms);
  };
}

/**
 * A timeout flag (a bare number is seconds) whose default, in ms, shows in
 * the help as a duration (`default: 10s`), not as a bare number that reads as
 * seconds.
 */
export function timeoutOption(flags: string, description: string, defaultMs: number): Option {
  const shown = defaultMs % 1000 === 0 ? `${defaultMs / 1000}s` : `${defaultMs}ms`;
  return new Option(flags, description).argParser(parseDuration('s', 1)).default(defaultMs, shown);
}

/**
 * At most `limit` operations in flight: `add` a promise, `await room()`
 * before starting the next, `await drain()` at the end. The first failure is
 * kept in `error` (later ones are counted in `failed`).
 */
export class Window {
  inflight = 0;
  failed = 0;
  error: unknown = undefined;
  private wake: (() => void) | undefined = undefined;
  private readonly done = (): void => {
    this.inflight--;
    const wake = this.wake;
    if (wake !== undefined) {
      this.wake = undefined;
      wake();
    }
  };
  private readonly fail = (err: unknown): void => {
    this.failed++;
    this.error ??= err;
    this.done();
  };

  constructor(readonly limit: number) {}

  add(p: Promise<unknown>): void {
    this.inflight++;
    p.then(this.done, this.fail);
  }

  /** Resolves when fewer than `limit` are in flight. */
  async room(): Promise<void> {
    while (this.inflight >= this.limit) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Resolves when none is in flight. */
  async drain(): Promise<void> {
    while (this.inflight > 0) await new Promise<void>((resolve) => (this.wake = resolve));
  }
}
