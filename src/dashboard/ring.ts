/**
 * Fixed-size history: `Ring` keeps the latest `capacity` numbers of a
 * series in one typed array (NaN stands for "no value"), `Rings` several
 * series sampled together under one clock. Nothing grows after
 * construction, so a dashboard's memory is the same after a minute or a
 * month.
 */

export class Ring {
  readonly #values: Float64Array;
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(value: number): void {
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** The newest value; NaN when empty. */
  last(): number {
    return this.#size === 0 ? Number.NaN : this.#values[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** The newest `count` values (all by default), oldest first; NaN becomes null (JSON has no NaN). */
  toArray(count = this.#size): (number | null)[] {
    const n = Math.min(count, this.#size);
    const out = new Array<number | null>(n);
    let i = (this.#next - n + this.capacity) % this.capacity;
    for (let k = 0; k < n; k++) {
      const v = this.#values[i];
      out[k] = Number.isNaN(v) ? null : round(v);
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    return out;
  }

  /** Like `toArray`, with NaN as 0: for rates, which are never missing. */
  numbers(count = this.#size): number[] {
    return this.toArray(count).map((v) => v ?? 0);
  }
}

/** Several series pushed together, with the time of each point. */
export class Rings<K extends string> {
  readonly time: Ring;
  readonly series: Record<K, Ring>;

  constructor(keys: readonly K[], capacity: number) {
    this.time = new Ring(capacity);
    this.series = Object.fromEntries(keys.map((k) => [k, new Ring(capacity)])) as Record<K, Ring>;
  }

  push(t: number, values: Record<K, number>): void {
    this.time.push(t);
    for (const k in this.series) this.series[k].push(values[k]);
  }

  /** The newest `count` points (all by default), as `{ t, <series>... }` arrays. */
  toJSON(count?: number): { t: number[] } & Record<K, (number | null)[]> {
    const out: Record<string, (number | null)[]> = { t: this.time.numbers(count) };
    for (const k in this.series) out[k] = this.series[k].toArray(count);
    return out as { t: number[] } & Record<K, (number | null)[]>;
  }

  /** Like `toJSON`, for series that are never missing (rates, counts): NaN as 0. */
  numbers(count?: number): { t: number[] } & Record<K, number[]> {
    const out: Record<string, number[]> = { t: this.time.numbers(count) };
    for (const k in this.series) out[k] = this.series[k].numbers(count);
    return out as { t: number[] } & Record<K, number[]>;
  }
}

/** Two decimals: enough for rates and ms, and short in JSON. */
export function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * The `q` quantile (0..1) of a histogram's observations, by linear
 * interpolation inside the bucket it falls in (`bounds` are the buckets'
 * upper bounds; the last bucket, above them, answers its lower bound).
 * Undefined when the histogram is empty.
 */
export function quantile(
  counts: ArrayLike<number>,
  bounds: readonly number[],
  q: number,
): number | undefined {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0 && seen + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const low = i === 0 ? 0 : bounds[i - 1];
      return low + (bounds[i] - low) * ((rank - seen) / c);
    }
    seen += c;
  }
  return bounds[bounds.length - 1];
}

/** `now - before`, bucket by bucket (a histogram that restarted counts from zero). */
export function histogramDelta(now: ArrayLike<number>, before: ArrayLike<number> | undefined): number[] {
  const out = new Array<number>(now.length);
  let restarted = false;
  if (before !== undefined) for (let i = 0; i < now.length; i++) if (now[i] < before[i]) restarted = true;
  for (let i = 0; i < now.length; i++)
    out[i] = before === undefined || restarted ? now[i] : now[i] - before[i];
  return out;
}
