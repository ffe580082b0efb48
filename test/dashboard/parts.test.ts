/** The dashboard's pure parts: rings, quantiles of bucketed latencies, payload previews and numeric series. */
import { describe, expect, it } from 'vitest';
import { histogramDelta, quantile, Ring, Rings } from '../../src/dashboard/ring.js';
import {
  numericSeries,
  preview,
  SAMPLE_BUDGET,
  SAMPLE_BYTES,
  type Sample,
  TopicTable,
} from '../../src/dashboard/topics.js';
import type { Message } from '../../src/index.js';

const sample = (payload: string | Buffer, t = 0): Sample => ({
  t,
  session: 's',
  qos: 0,
  retain: false,
  size: payload.length,
  payload: Buffer.from(payload),
  contentType: null,
  userProperties: [],
});

describe('dashboard parts', () => {
  it('keeps the newest values of a ring, oldest first, NaN as null', () => {
    const r = new Ring(3);
    expect(r.toArray()).toEqual([]);
    expect(r.last()).toBeNaN();
    for (const v of [1, 2, Number.NaN, 4]) r.push(v);
    expect(r.toArray()).toEqual([2, null, 4]);
    expect(r.numbers()).toEqual([2, 0, 4]);
    expect(r.toArray(1)).toEqual([4]);
    expect(r.last()).toBe(4);
    const rs = new Rings(['a', 'b'] as const, 2);
    rs.push(10, { a: 1.234, b: 2 });
    rs.push(20, { a: 3, b: 4 });
    rs.push(30, { a: 5, b: 6 });
    expect(rs.toJSON()).toEqual({ t: [20, 30], a: [3, 5], b: [4, 6] });
    expect(rs.toJSON(1)).toEqual({ t: [30], a: [5], b: [6] });
  });

  it('reads quantiles out of latency buckets', () => {
    const bounds = [1, 10, 100];
    expect(quantile([0, 0, 0, 0], bounds, 0.5)).toBeUndefined();
    // 10 observations in (1, 10]: the median is halfway through the bucket
    expect(quantile([0, 10, 0, 0], bounds, 0.5)).toBeCloseTo(5.5);
    expect(quantile([50, 0, 0, 50], bounds, 0.99)).toBe(100); // above the last bound: its lower bound
    expect(quantile([99, 1, 0, 0], bounds, 0.5)).toBeLessThanOrEqual(1);
    expect(histogramDelta([5, 6], [1, 2])).toEqual([4, 4]);
    expect(histogramDelta([1, 0], [5, 6])).toEqual([1, 0]); // counters restarted
    expect(histogramDelta([1, 2], undefined)).toEqual([1, 2]);
  });

  it('previews text as text and anything else as hex, both cut', () => {
    expect(preview(Buffer.from('{"a":1}'))).toBe('{"a":1}');
    expect(preview(Buffer.from('line 1\nline 2\ttab'))).toBe('line 1\nline 2\ttab');
    expect(preview(Buffer.from([0, 1, 0xfe]))).toBe('0x0001fe');
    expect(preview(Buffer.from([0xc3, 0x28]))).toBe('0xc328'); // not UTF-8
    const long = preview(Buffer.from('x'.repeat(500)));
    expect(long).toHaveLength(80);
    expect(long.endsWith('…')).toBe(true);
    expect(preview(Buffer.alloc(100)).length).toBeLessThanOrEqual(80);
    expect(preview(Buffer.from('ünïcödé'))).toBe('ünïcödé');
  });

  it('plots numbers, numeric fields of JSON objects (eight at most), and leaves gaps for the rest', () => {
    const s = numericSeries([
      sample('21.5', 1),
      sample('{"temp":22,"h":40,"on":true,"name":"x"}', 2),
      sample('off', 3),
      sample('{"temp":23}', 4),
    ]);
    expect(s.t).toEqual([1, 2, 3, 4]);
    expect(s.fields).toEqual({
      value: [21.5, null, null, null],
      temp: [null, 22, null, 23],
      h: [null, 40, null, null],
    });
    // times are not readings: an epoch in ms would flatten them
    const timed = numericSeries([
      sample('{"ts":1796655297683,"sentAt":1,"created_at":2,"heat":3,"flat":4,"T":5}'),
    ]);
    expect(timed.fields).toEqual({ heat: [3], flat: [4] });
    const wide = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, i]));
    expect(Object.keys(numericSeries([sample(JSON.stringify(wide))]).fields)).toHaveLength(8);
    expect(numericSeries([sample('[1,2]'), sample(''), sample('{broken')]).fields).toEqual({});
  });

  it('keeps the samples of every topic within one byte budget, the oldest going first', () => {
    const table = new TopicTable();
    const payload = Buffer.alloc(SAMPLE_BYTES + 100, 7);
    const message = (topic: string): Message => ({
      topic,
      payload,
      qos: 0,
      retain: false,
      dup: false,
      properties: undefined,
    });
    let taken = 0;
    // 200 samples a tick, 2 a topic: 100 topics a tick, 500 topics in turn
    for (let tick = 0; taken * SAMPLE_BYTES < 1.5 * SAMPLE_BUDGET; tick++) {
      table.tick(tick * 1000, 1);
      for (let i = 0; i < 100; i++) {
        const topic = `t/${(tick * 100 + i) % 500}`;
        table.seen('s', message(topic));
        table.seen('s', message(topic));
        taken += 2;
      }
    }
    expect(table.sampleBytes).toBeLessThanOrEqual(SAMPLE_BUDGET);
    expect(table.sampleBytes).toBeGreaterThan(SAMPLE_BUDGET * 0.9);
    expect(table.size).toBe(500);
    const newest = table.detail('t/499');
    expect(newest?.messages.length).toBeGreaterThan(0);
    expect(newest?.messages.at(-1)?.size).toBe(SAMPLE_BYTES + 100);
    expect(newest?.messages.at(-1)?.truncated).toBe(true);
    const all = Array.from({ length: 500 }, (_, i) => table.detail(`t/${i}`)?.messages.length ?? 0);
    expect(all.reduce((a, b) => a + b, 0) * SAMPLE_BYTES).toBeLessThanOrEqual(SAMPLE_BUDGET);
  });

  it('samples once a message that several sessions receive', () => {
    const table = new TopicTable();
    table.tick(1000, 1);
    const m = (payload: string): Message => ({
      topic: 'a',
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
      dup: false,
      properties: undefined,
    });
    table.seen('one', m('x'));
    table.seen('two', m('x'));
    table.tick(2000, 1);
    table.seen('one', m('y'));
    table.seen('two', m('z'));
    const d = table.detail('a');
    expect(d?.count).toBe(4);
    expect(d?.messages.map((x) => [x.session, Buffer.from(x.payload, 'base64').toString()])).toEqual([
      ['one', 'x'],
      ['one', 'y'],
      ['two', 'z'],
    ]);
  });
});
