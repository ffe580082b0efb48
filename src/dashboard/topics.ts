/**
 * The topic explorer's table: every topic the fleet received a message on,
 * with a count, a rate, the retained flag, a preview of the last payload
 * and a few recent messages.
 *
 * Per message (`seen`, on every session's `message` event) it costs one Map
 * lookup and a counter; a topic's time is the aggregator's clock, read once
 * a tick (a sample reads the clock). Samples are what is copied: at most `SAMPLES_PER_TOPIC` per topic
 * and `SAMPLES_PER_TICK` over all topics per tick, each at most
 * `SAMPLE_BYTES` of payload. A received payload may be a view of a socket
 * chunk: a sample copies what it keeps, so no chunk is held alive. All the
 * samples kept weigh at most `SAMPLE_BUDGET` bytes: past it the oldest
 * samples of all topics go first (one queue of every sample, in the order
 * taken). At most `MAX_TOPICS` topics are tracked; messages on topics
 * beyond that are only counted (`untracked`).
 */
import { Fifo } from '../core/fifo.js';
import type { Message } from '../session/index.js';
import { round } from './ring.js';

export const MAX_TOPICS = 10_000;
export const SAMPLE_BYTES = 4096;
/** Recent messages kept per topic. */
export const RECENT = 50;
/** Samples taken per topic per tick at most. */
const SAMPLES_PER_TOPIC = 2;
const SAMPLES_PER_TICK = 200;
/** Bytes of every sample kept, at most (payloads, user properties, and an estimate of the rest). */
export const SAMPLE_BUDGET = 32 * 1024 * 1024;
/** User properties kept per sample, and characters per name or value. */
const MAX_PROPERTIES = 16;
const MAX_PROPERTY_CHARS = 256;
/** What a sample weighs besides its payload and properties (object, numbers, the queue's slot). */
const SAMPLE_OVERHEAD = 160;
/** Topics listed in a tick at most. */
export const LISTED = 2000;
const PREVIEW = 80;
const MAX_FIELDS = 8;
/** Field names of times, not readings: t, ts, time, timestamp, date (any case), and names like sentAt or sent_at. */
const TIME_FIELD = /^(?:[tT]|[tT][sS]|[tT]ime|TIME|[tT]imestamp|TIMESTAMP|[dD]ate)$|[a-z]At$|_at$/;

/** One kept message. */
export interface Sample {
  t: number;
  session: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  size: number;
  payload: Buffer;
  contentType: string | null;
  userProperties: [string, string][];
}

/** A sample as kept: its weight, its topic, and whether its topic let it go already. */
interface Kept {
  readonly sample: Sample;
  readonly entry: TopicEntry;
  readonly bytes: number;
  /** The tick it was taken in. */
  readonly tick: number;
  gone: boolean;
}

class TopicEntry {
  count = 0;
  /** `count` at the previous tick. */
  counted = 0;
  rate = 0;
  retained = false;
  t = 0;
  last = '';
  /** Tick of the latest sample, and how many were taken in it. */
  sampledTick = -1;
  sampledInTick = 0;
  readonly recent: Kept[] = [];

  constructor(readonly topic: string) {}
}

export class TopicTable {
  readonly #topics = new Map<string, TopicEntry>();
  #tick = 0;
  #samplesInTick = 0;
  /** Every sample kept, oldest first, and what they weigh. */
  readonly #kept = new Fifo<Kept>();
  #bytes = 0;
  /** The aggregator's clock (ms), set each tick. */
  now = Date.now();
  untracked = 0;

  get size(): number {
    return this.#topics.size;
  }

  /** A message a session received. */
  seen(session: string, m: Message): void {
    let e = this.#topics.get(m.topic);
    if (e === undefined) {
      if (this.#topics.size >= MAX_TOPICS) {
        this.untracked++;
        return;
      }
      e = new TopicEntry(m.topic);
      this.#topics.set(m.topic, e);
    }
    e.count++;
    e.t = this.now;
    if (m.retain) e.retained = m.payload.length > 0;
    if (e.sampledTick === this.#tick) {
      if (e.sampledInTick >= SAMPLES_PER_TOPIC) return;
    } else {
      e.sampledTick = this.#tick;
      e.sampledInTick = 0;
    }
    if (this.#samplesInTick >= SAMPLES_PER_TICK) return;
    // one message that several sessions of the fleet receive is one sample (the first session's)
    const lastKept = e.recent.at(-1);
    const last = lastKept?.sample;
    if (
      last !== undefined &&
      lastKept?.tick === this.#tick &&
      last.session !== session &&
      last.size === m.payload.length &&
      last.payload.equals(m.payload.subarray(0, SAMPLE_BYTES))
    ) {
      return;
    }
    this.#samplesInTick++;
    e.sampledInTick++;
    const payload = Buffer.from(m.payload.subarray(0, SAMPLE_BYTES));
    const p = m.properties;
    const sample: Sample = {
      // its own time (a clock read per sample, at most SAMPLES_PER_TICK a tick): the values plot in order
      t: Date.now(),
      session,
      qos: m.qos,
      retain: m.retain,
      size: m.payload.length,
      payload,
      contentType: p?.contentType?.slice(0, MAX_PROPERTY_CHARS) ?? null,
      userProperties: properties(p?.userProperties),
    };
    e.last = preview(payload);
    let bytes = SAMPLE_OVERHEAD + payload.length;
    for (const [k, v] of sample.userProperties) bytes += 2 * (k.length + v.length) + 64;
    const kept: Kept = { sample, entry: e, bytes, tick: this.#tick, gone: false };
    if (e.recent.length >= RECENT) this.#forget(e.recent.shift());
    e.recent.push(kept);
    this.#kept.push(kept);
    this.#bytes += bytes;
    while (this.#bytes > SAMPLE_BUDGET) {
      const oldest = this.#kept.shift();
      if (oldest === undefined) break;
      if (oldest.gone) continue;
      const i = oldest.entry.recent.indexOf(oldest);
      if (i !== -1) oldest.entry.recent.splice(i, 1);
      this.#forget(oldest);
    }
  }

  /** Bytes of the samples kept (at most `SAMPLE_BUDGET`). */
  get sampleBytes(): number {
    return this.#bytes;
  }

  #forget(k: Kept | undefined): void {
    if (k === undefined || k.gone) return;
    k.gone = true;
    this.#bytes -= k.bytes;
  }

  /** Once a tick: rates over `seconds`, and a new sampling budget. */
  tick(now: number, seconds: number): void {
    this.now = now;
    this.#tick++;
    this.#samplesInTick = 0;
    for (const e of this.#topics.values()) {
      e.rate = seconds > 0 ? (e.count - e.counted) / seconds : 0;
      e.counted = e.count;
    }
  }

  /** The topics at or under `prefix`, sorted, at most `LISTED`. */
  list(prefix: string): { total: number; truncated: boolean; items: TopicRowJSON[] } {
    const matched: TopicEntry[] = [];
    for (const e of this.#topics.values()) {
      if (prefix === '' || e.topic === prefix || e.topic.startsWith(`${prefix}/`)) matched.push(e);
    }
    matched.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    const items = matched.slice(0, LISTED).map((e) => ({
      topic: e.topic,
      count: e.count,
      rate: round(e.rate),
      retained: e.retained,
      last: e.last,
      t: e.t,
    }));
    return { total: matched.length, truncated: matched.length > LISTED || this.untracked > 0, items };
  }

  /** One topic's numbers, recent messages and their numeric values; undefined when never seen. */
  detail(topic: string): TopicDetailJSON | undefined {
    const e = this.#topics.get(topic);
    if (e === undefined) return undefined;
    return {
      topic,
      count: e.count,
      rate: round(e.rate),
      retained: e.retained,
      messages: e.recent.map(({ sample: s }) => ({
        t: s.t,
        session: s.session,
        qos: s.qos,
        retain: s.retain,
        size: s.size,
        payload: s.payload.toString('base64'),
        truncated: s.size > s.payload.length,
        contentType: s.contentType,
        userProperties: s.userProperties,
      })),
      series: numericSeries(e.recent.map((k) => k.sample)),
    };
  }
}

/** A row of `TopicTable.list`. */
export interface TopicRowJSON {
  topic: string;
  count: number;
  rate: number;
  retained: boolean;
  last: string;
  t: number;
}

/** What `TopicTable.detail` answers. */
export interface TopicDetailJSON {
  topic: string;
  count: number;
  rate: number;
  retained: boolean;
  messages: {
    t: number;
    session: string;
    qos: 0 | 1 | 2;
    retain: boolean;
    size: number;
    payload: string;
    truncated: boolean;
    contentType: string | null;
    userProperties: [string, string][];
  }[];
  series: { t: number[]; fields: Record<string, (number | null)[]> };
}

/** Text when the bytes are printable UTF-8, else hex; at most `PREVIEW` characters. */
export function preview(payload: Buffer): string {
  const head = payload.subarray(0, PREVIEW * 4);
  const text = head.toString('utf8');
  // U+FFFD: not UTF-8; control characters other than white space: binary
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for them
  if (!text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    return text.length > PREVIEW ? `${text.slice(0, PREVIEW - 1)}…` : text;
  }
  const hex = payload.subarray(0, PREVIEW / 2).toString('hex');
  return payload.length > PREVIEW / 2 ? `0x${hex.slice(0, PREVIEW - 3)}…` : `0x${hex}`;
}

/**
 * The numbers in the samples: `value` for a payload that is a number, or
 * the numeric top-level fields of a JSON object (the first `MAX_FIELDS`
 * found) but its times (`TIME_FIELD`: plotted beside a reading, an epoch
 * in ms flattens it); a sample without one has null there.
 */
export function numericSeries(samples: readonly Sample[]): TopicDetailJSON['series'] {
  const t: number[] = [];
  // no prototype: a payload's field may be called 'toString' or '__proto__'
  const fields: Record<string, (number | null)[]> = Object.create(null);
  let names = 0;
  samples.forEach((s, i) => {
    t.push(s.t);
    const values = numbersOf(s.payload);
    for (const key in values) {
      if (fields[key] === undefined) {
        if (names >= MAX_FIELDS) continue;
        names++;
        fields[key] = new Array<number | null>(i).fill(null);
      }
      fields[key].push(values[key]);
    }
    for (const key in fields) if (fields[key].length < i + 1) fields[key].push(null);
  });
  return { t, fields };
}

function numbersOf(payload: Buffer): Record<string, number> {
  if (payload.length === 0 || payload.length > SAMPLE_BYTES) return {};
  const text = payload.toString('utf8').trim();
  const n = Number(text);
  if (text !== '' && Number.isFinite(n)) return { value: n };
  if (text[0] !== '{') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    const out: Record<string, number> = Object.create(null);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v === 'number' && Number.isFinite(v) && !TIME_FIELD.test(k)) out[k] = v;
      }
    }
    return out;
  } catch {
    return {};
  }
}

/** A message's user properties as a sample keeps them: at most `MAX_PROPERTIES`, each cut to `MAX_PROPERTY_CHARS`. */
function properties(list: readonly (readonly [string, string])[] | undefined): [string, string][] {
  if (list === undefined || list.length === 0) return [];
  const out: [string, string][] = [];
  for (let i = 0; i < list.length && i < MAX_PROPERTIES; i++) {
    out.push([list[i][0].slice(0, MAX_PROPERTY_CHARS), list[i][1].slice(0, MAX_PROPERTY_CHARS)]);
  }
  return out;
}
