/**
 * Router: matches per second of `TopicRouter` against a linear scan of the
 * filters with `topicMatches` and against qlobber (the trie MQTT brokers such
 * as aedes use, through mqemitter), on 10,000 filters and 100,000 topics.
 *
 * qlobber is configured for MQTT: '/' levels, '+' one level, '#' zero or more
 * levels (so `a/#` matches `a`), and `match_empty_levels` so '+' matches an
 * empty level. It does not implement the `$` rule (4.7.2: `#` and `+/...` do
 * not match `$SYS/...`) nor `$share/{group}/`: mqemitter/aedes handle those
 * outside it. So the timed topics have no `$` and the filters no `$share`;
 * the `$` difference is shown once before timing.
 */
import { Qlobber } from 'qlobber';
import { topicMatches } from '../src/router/match.js';
import { TopicRouter } from '../src/router/router.js';
import { compare, fromCompare, type Row, save, table } from './harness.js';

// ---- deterministic data ----

let seed = 0x2545f491;
/** xorshift32: integers in [0, n). */
function rand(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}
function pick<T>(xs: readonly T[]): T {
  return xs[rand(xs.length)];
}

const filters: string[] = [];
for (let i = 0; i < 4000; i++) filters.push(`devices/d${i}/+/state`);
for (let i = 0; i < 2000; i++) filters.push(`devices/d${i}/#`);
for (let n = 0; n < 2000; n++) filters.push(`site/s${n}/+/temp`);
// #-heavy
for (let n = 0; n < 500; n++) filters.push(`site/s${n}/#`);
for (let k = 0; k < 499; k++) filters.push(`fleet/f${k}/#`);
filters.push('$SYS/broker/#');
// +-heavy, some starting with a wildcard
for (let i = 0; i < 400; i++) filters.push(`+/d${i}/+/alarm`);
for (let j = 0; j < 300; j++) filters.push(`devices/+/+/m${j}`);
for (let n = 0; n < 200; n++) filters.push(`+/+/s${n}/+`);
for (let r = 0; r < 100; r++) filters.push(`site/+/r${r}/+`);
if (filters.length !== 10_000) throw new Error(`${filters.length} filters`);

const METRICS = ['temp', 'hum', 'power', 'rssi', 'battery'];
const TOPICS = 100_000;
const topics: string[] = [];
for (let t = 0; t < TOPICS; t++) {
  const r = rand(100);
  let topic: string;
  if (r < 35) topic = `devices/d${rand(5000)}/${pick(METRICS)}/state`;
  else if (r < 50) topic = `devices/d${rand(2500)}/${pick(METRICS)}/raw/${rand(10)}`;
  else if (r < 70) topic = `site/s${rand(2500)}/r${rand(150)}/temp`;
  else if (r < 78) topic = `fleet/f${rand(600)}/truck/${rand(50)}/gps`;
  else if (r < 86) topic = `${pick(['devices', 'gw', 'edge'])}/d${rand(500)}/${pick(METRICS)}/alarm`;
  else if (r < 91) topic = `devices/d${rand(5000)}/${pick(METRICS)}/m${rand(400)}`;
  else if (r < 95) topic = `building/floor${rand(10)}/s${rand(300)}/hvac`;
  else topic = `other/${pick(METRICS)}/${rand(1000)}`;
  topics.push(topic);
}

// ---- the three matchers, values being filter indices ----

const router = new TopicRouter<number>();
const qlobber = new Qlobber<number>({
  separator: '/',
  wildcard_one: '+',
  wildcard_some: '#',
  match_empty_levels: true,
});
for (let i = 0; i < filters.length; i++) {
  router.add(filters[i], i);
  qlobber.add(filters[i], i);
}

function linear(topic: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < filters.length; i++) if (topicMatches(filters[i], topic)) out.push(i);
  return out;
}

// ---- verify: same matches (as multisets of filters) on the topics ----
// router and qlobber on every topic; the linear scan (10,000 topicMatches a
// topic, ~0.4 ms) on every 5th, which keeps this to seconds.
const LINEAR_EVERY = 5;

const byNumber = (a: number, b: number) => a - b;
function same(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  a.sort(byNumber);
  b.sort(byNumber);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

{
  const t0 = Date.now();
  let hits = 0;
  let matches = 0;
  let checked = 0;
  for (let t = 0; t < topics.length; t++) {
    const topic = topics[t];
    const ours = router.match(topic);
    const q = qlobber.match(topic);
    if (!same(ours, q)) throw new Error(`${topic}: router ${ours.length}, qlobber ${q.length} matches`);
    if (t % LINEAR_EVERY === 0) {
      const lin = linear(topic);
      if (!same(ours, lin)) throw new Error(`${topic}: router ${ours.length}, linear ${lin.length} matches`);
      checked++;
    }
    if (ours.length > 0) hits++;
    matches += ours.length;
  }
  process.stderr.write(
    `  verified on ${filters.length} filters: router = qlobber on ${topics.length} topics, ` +
      `router = linear on ${checked} of them; ` +
      `${((hits / topics.length) * 100).toFixed(1)}% hits, ${(matches / topics.length).toFixed(2)} matches/topic ` +
      `(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
  );
  // The $ rule: router and linear agree, qlobber matches wildcard-first filters too.
  for (const topic of ['$SYS/broker/load', '$SYS/d1/x/alarm', '$SYS/s1/s1/x']) {
    const ours = router.match(topic);
    const lin = linear(topic);
    const q = qlobber.match(topic);
    if (!same(ours, lin)) throw new Error(`${topic}: router ${ours.length}, linear ${lin.length}`);
    process.stderr.write(
      `  ${topic}: router ${ours.length}, linear ${lin.length}, qlobber ${q.length} ` +
        `[${q.map((i) => filters[i]).join(', ')}]${q.length === ours.length ? '' : ' (no $ rule in qlobber)'}\n`,
    );
  }
}

// ---- time: one call matches one topic, cycling through all of them ----

let sink = 0;
let a = 0;
let b = 0;
const next = (i: number) => (i + 1 === TOPICS ? 0 : i + 1);
const rows: Row[] = [];

rows.push(
  compare(
    'match: 10k filters, 100k topics (matches/s)',
    () => {
      sink += router.match(topics[a]).length;
      a = next(a);
    },
    'qlobber',
    () => {
      sink += qlobber.match(topics[b]).length;
      b = next(b);
    },
  ),
);

rows.push(
  compare(
    'match: 10k filters, 100k topics (matches/s)',
    () => {
      sink += router.match(topics[a]).length;
      a = next(a);
    },
    'linear topicMatches',
    () => {
      sink += linear(topics[b]).length;
      b = next(b);
    },
  ),
);

if (sink === 0) throw new Error('nothing was measured');
console.log(table(rows));
save(
  'router',
  rows.map((r) => fromCompare(r)),
);
