/**
 * The state every bench sub-command shares: when to stop (-n messages
 * claimed, -d elapsed, Ctrl-C), the counters, the first error, and the
 * rate limiter.
 */
import { ClosedError } from '../../core/errors.js';
import { describeError } from '../errors.js';

/** Paces sends to `rate` per second in total, over every connection, with one timer for all waiters. */
export class Pacer {
  private start = 0;
  private issued = 0;
  private waiting: Promise<void> | undefined = undefined;
  private readonly interval: number;

  constructor(readonly rate: number) {
    this.interval = 1000 / rate;
  }

  begin(): void {
    this.start = performance.now();
    this.issued = 0;
  }

  /** Takes one send if its time has come (a send late behind schedule goes at once: no coordinated omission). */
  take(): boolean {
    if (this.issued * this.interval > performance.now() - this.start) return false;
    this.issued++;
    return true;
  }

  /** Resolves when the next send is due; every caller before then shares one promise and one timer. */
  wait(): Promise<void> {
    if (this.waiting === undefined) {
      const delay = Math.max(1, this.start + this.issued * this.interval - performance.now());
      this.waiting = new Promise<void>((resolve) =>
        setTimeout(() => {
          this.waiting = undefined;
          resolve();
        }, delay),
      );
    }
    return this.waiting;
  }
}

/** The progress line, as the run starts and stops it. */
export interface Ticker {
  start(): void;
  stop(): void;
}

/** How long in-flight work may still finish after Ctrl-C. */
export const GRACE_MS = 2000;

export interface RunOptions {
  /** Messages (requests) in total; undefined with `duration`. */
  count?: number;
  /** ms; undefined with `count`. */
  duration?: number;
  /** Per second in total, 0 = as fast as possible. */
  rate?: number;
  signal: AbortSignal;
  /** For error messages: `host:port`. */
  target?: string;
}

export class Run {
  /** No more sends: -n claimed, -d elapsed, Ctrl-C, or the run ended. */
  stopping = false;
  /** Ctrl-C (or SIGTERM) stopped the run early. */
  interrupted = false;
  /** Sessions are being closed: operations failing now are not errors of the run. */
  closing = false;
  /** The next sequence number for a payload. */
  seq = 0;
  /** Messages (requests) handed to the session. */
  sent = 0;
  /** QoS 1/2 acknowledged, QoS 0 written to the socket, requests answered. */
  done = 0;
  received = 0;
  errors = 0;
  timeouts = 0;
  firstError: string | undefined = undefined;
  /** `performance.now()` when the measured phase started and ended. */
  startedAt = 0;
  endedAt = 0;
  readonly pacer: Pacer | undefined;
  readonly count: number | undefined;
  readonly duration: number | undefined;
  private remaining: number;
  private timer: NodeJS.Timeout | undefined = undefined;
  private progress: Ticker | undefined = undefined;
  private cpu: NodeJS.CpuUsage | undefined = undefined;
  private cpuMicros = 0;
  private readonly stopWaiters: (() => void)[] = [];
  private readonly signal: AbortSignal;
  private readonly target: string | undefined;
  private readonly onAbort = (): void => {
    this.interrupted = true;
    this.stop();
  };

  constructor(options: RunOptions) {
    this.count = options.count;
    this.duration = options.duration;
    this.remaining = options.count ?? Number.POSITIVE_INFINITY;
    this.pacer = options.rate !== undefined && options.rate > 0 ? new Pacer(options.rate) : undefined;
    this.signal = options.signal;
    this.target = options.target;
    if (this.signal.aborted) this.onAbort();
    else this.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Starts the measured phase: the clock, the CPU counter, the -d timer, the pacer and the progress line. */
  begin(progress?: Ticker): void {
    this.progress = progress;
    progress?.start();
    this.startedAt = performance.now();
    this.cpu = process.cpuUsage();
    this.pacer?.begin();
    if (this.duration !== undefined && !this.stopping) {
      this.timer = setTimeout(() => this.stop(), this.duration);
    }
  }

  /** Ends the measured phase (the first call counts) and takes the progress line away. */
  end(at = performance.now()): void {
    this.stopProgress();
    if (this.endedAt !== 0 || this.startedAt === 0) return;
    this.endedAt = at;
    const cpu = process.cpuUsage(this.cpu);
    this.cpuMicros = cpu.user + cpu.system;
  }

  /** ms of the measured phase (so far, while it runs). */
  get elapsed(): number {
    if (this.startedAt === 0) return 0;
    return (this.endedAt === 0 ? performance.now() : this.endedAt) - this.startedAt;
  }

  /** Client CPU time (user + system) of the measured phase, µs. */
  get cpuTime(): number {
    return this.cpuMicros;
  }

  /** Claims the next message of -n; false once none is left or the run stops. */
  claim(): boolean {
    if (this.stopping || this.remaining <= 0) return false;
    this.remaining--;
    return true;
  }

  /** Counts `n` failed operations (not while closing), keeping the first error's message. */
  fail(err: unknown, n = 1): void {
    if (this.closing && err instanceof ClosedError) return;
    this.errors += n;
    this.firstError ??= describeError(err, { target: this.target }).message;
  }

  /** Waits for `work` (after Ctrl-C, GRACE_MS at most), then ends the measured phase and stops the run. */
  async finish(work: Promise<unknown>): Promise<void> {
    await Promise.race([work, this.graceAfterInterrupt(GRACE_MS)]);
    this.end();
    this.stop();
  }

  /** Stops the sends (idempotent). */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.timer);
    for (const wake of this.stopWaiters.splice(0)) wake();
  }

  /** Resolves when the run stops. */
  stopped(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  /** Resolves `ms` after an interruption (never otherwise): how long in-flight work may still finish. */
  graceAfterInterrupt(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const arm = (): void => void setTimeout(resolve, ms);
      if (this.interrupted) arm();
      else this.signal.addEventListener('abort', arm, { once: true });
    });
  }

  /** For the `finally` of a bench: stops the run and the progress line, and lets go of the signal. */
  dispose(): void {
    this.stop();
    this.stopProgress();
    this.signal.removeEventListener('abort', this.onAbort);
  }

  private stopProgress(): void {
    this.progress?.stop();
    this.progress = undefined;
  }
}
