/**
 * The live progress line on stderr (a terminal only, never with --json):
 * done/total or elapsed/duration, the current rate and the errors, redrawn
 * by one timer a few times a second.
 */
import cliProgress from 'cli-progress';
import type { Run } from './run.js';

export interface ProgressSource {
  /** What the bar shows, e.g. `bench pub`. */
  label: string;
  /** Unit of the rate, e.g. `msg/s`. */
  unit: string;
  /** Total of `value()`, or undefined for a run of `duration` ms. */
  total: number | undefined;
  duration: number | undefined;
  /** Done so far. */
  value(): number;
  /** --json: no progress line. */
  json: boolean;
}

const TICK_MS = 250;
/** The rate is over the last second (4 ticks). */
const WINDOW = 4;

export class Progress {
  private readonly bar: cliProgress.SingleBar;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly samples: { t: number; v: number }[] = [];

  private constructor(
    private readonly source: ProgressSource,
    private readonly run: Run,
  ) {
    this.bar = new cliProgress.SingleBar({
      format: `${source.label} [{bar}] {percentage}% | {done} | {rate} | errors {errors} | {time}`,
      stream: process.stderr,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      gracefulExit: false,
      fps: 4,
      // redrawn by our own timer
      synchronousUpdate: false,
    });
  }

  /**
   * A progress line for `run` (its elapsed time, its errors and timeouts) when
   * stderr is a terminal and the output is for people; undefined otherwise.
   */
  static create(run: Run, source: ProgressSource): Progress | undefined {
    if (source.json || !process.stderr.isTTY) return undefined;
    return new Progress(source, run);
  }

  start(): void {
    const s = this.source;
    this.bar.start(s.total ?? Math.max(1, Math.round((s.duration ?? 1000) / 1000)), 0, this.payload(0));
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.bar.stop();
  }

  private tick(): void {
    const s = this.source;
    const v = s.value();
    const t = performance.now();
    this.samples.push({ t, v });
    if (this.samples.length > WINDOW + 1) this.samples.shift();
    const first = this.samples[0];
    const rate = t > first.t ? ((v - first.v) * 1000) / (t - first.t) : 0;
    const position = s.total !== undefined ? v : Math.min(this.run.elapsed / 1000, this.bar.getTotal());
    this.bar.update(position, this.payload(rate));
  }

  private payload(rate: number): object {
    const s = this.source;
    const v = s.value();
    const done = s.total !== undefined ? `${fmt(v)}/${fmt(s.total)}` : fmt(v);
    const secs = this.run.elapsed / 1000;
    const time =
      s.duration !== undefined
        ? `${secs.toFixed(1)}/${(s.duration / 1000).toFixed(0)} s`
        : `${secs.toFixed(1)} s`;
    return {
      done,
      rate: `${fmt(Math.round(rate))} ${s.unit}`,
      errors: fmt(this.run.errors + this.run.timeouts),
      time,
    };
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
