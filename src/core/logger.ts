/**
 * The logger mqttkit writes to: pino's shape, so a pino logger (or
 * bunyan's, or anything with the four methods) is taken as it is.
 *
 * Each call is `(fields, message)`: an object of fields first, then the
 * message, as pino takes them. Sessions and managers log nothing unless
 * given one.
 */

/** A log method: fields, then the message. */
export type LogFn = (fields: Record<string, unknown>, message: string) => void;

/**
 * A pino-style logger: `debug`, `info`, `warn` and `error`, each taking an
 * object of fields and a message. `child(bindings)`, when present, gives
 * a logger whose lines all carry `bindings` (a manager gives each session
 * `child({ session: name })`).
 */
export interface Logger {
  /** What only someone chasing a problem wants: subscriptions, resends, store flushes. */
  debug: LogFn;
  /** What an operator wants to see: connects, disconnects, reconnects, takeovers. */
  info: LogFn;
  /** Something went wrong and mqttkit works around it: a lost connection, a fallback, drops. */
  warn: LogFn;
  /** Something went wrong that mqttkit cannot work around: a store that fails, a handler that throws. */
  error: LogFn;
  /** A logger whose lines carry `bindings` too. */
  child?(bindings: Record<string, unknown>): Logger;
}

/**
 * A logger whose lines carry `bindings`: `logger.child(bindings)` when it
 * has `child`, else one that adds them to the fields of each line.
 */
export function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  if (typeof logger.child === 'function') return logger.child(bindings);
  const bound =
    (level: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
    (fields, message) =>
      logger[level]({ ...bindings, ...fields }, message);
  return {
    debug: bound('debug'),
    info: bound('info'),
    warn: bound('warn'),
    error: bound('error'),
    child: (more) => childLogger(logger, { ...bindings, ...more }),
  };
}

/** ms between two log lines about the same kind of failure (see {@link RepeatLimiter}). */
export const REPEAT_LOG_INTERVAL = 10_000;

/**
 * Keeps a failure that repeats (a handler that throws on every message) to
 * one log line per kind per `interval` ms: `admit(kind)` says whether to
 * log it now, and how many like it were left out since its last line;
 * `drain()` gives, at the end, what was left out after each kind's last
 * line. Holds at most 100 kinds.
 */
export class RepeatLimiter {
  readonly #seen = new Map<string, { at: number; left: number }>();

  constructor(private readonly interval: number) {}

  /** Undefined: leave this one out (counted). A number: log it, saying how many were left out before it. */
  admit(kind: string, now = Date.now()): number | undefined {
    const seen = this.#seen;
    const last = seen.get(kind);
    if (last !== undefined && now - last.at < this.interval) {
      last.left++;
      return undefined;
    }
    if (last === undefined && seen.size >= 100) seen.clear();
    seen.set(kind, { at: now, left: 0 });
    return last?.left ?? 0;
  }

  /** Each kind with failures left out since its last line, and how many; then forgets them all. */
  drain(): [kind: string, left: number][] {
    const out: [string, number][] = [];
    for (const [kind, { left }] of this.#seen) if (left > 0) out.push([kind, left]);
    this.#seen.clear();
    return out;
  }
}

/**
 * Counts dropped messages for a log line now and then, never one line per
 * message, and without a timer (for the layers that set none): the first
 * drop of a quiet spell is told at once, later ones are summed into the
 * line of the next drop `interval` ms or more after the last line, and
 * `flush()` tells what is left (at a stop or close).
 */
export class DropTally {
  #pending = 0;
  #total = 0;
  #last = Number.NEGATIVE_INFINITY;

  constructor(
    /** Writes the line: `count` since the last line, `total` in all. */
    private readonly tell: (count: number, total: number) => void,
    private readonly interval = REPEAT_LOG_INTERVAL,
  ) {}

  /** `n` more dropped. */
  add(n = 1, now = Date.now()): void {
    this.#total += n;
    this.#pending += n;
    if (now - this.#last >= this.interval) this.flush(now);
  }

  /** Tells what was dropped since the last line, if anything. */
  flush(now = Date.now()): void {
    if (this.#pending === 0) return;
    const count = this.#pending;
    this.#pending = 0;
    this.#last = now;
    this.tell(count, this.#total);
  }
}
