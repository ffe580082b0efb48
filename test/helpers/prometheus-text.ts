/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests
 * that read back what a registry wrote.
 *
 * Strict where the format is: every sample belongs to a family declared by
 * a `# TYPE` line before it (and `# HELP` and `# TYPE` appear at most once
 * per family); a family's samples are contiguous; metric and label names
 * are valid; label values use only the escapes `\\`, `\"` and `\n`; no
 * label repeats in a sample and no series repeats; values are Go floats
 * (`+Inf`, `-Inf`, `NaN` included); the text ends with a newline. A
 * histogram's samples are `_bucket` (with `le`), `_sum` and `_count`, and per
 * series its buckets are ascending, cumulative, end at `le="+Inf"` and that
 * bucket equals `_count`. Anything else throws `TextFormatError` with the
 * line number.
 *
 * Written here rather than taken from npm: the parsers there
 * (`parse-prometheus-text-format` among them) are lenient and unmaintained,
 * and a test oracle has to refuse what Prometheus would refuse.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum` ... for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface Family {
  name: string;
  help: string | undefined;
  type: MetricType;
  samples: Sample[];
}

/** One series of a histogram: its labels without `le`, buckets in order, sum and count. */
export interface HistogramSeries {
  labels: Record<string, string>;
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export class TextFormatError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'TextFormatError';
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses an exposition; families in the order they appear. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n'))
    throw new TextFormatError(0, 'the text must end with a newline');
  const families = new Map<string, Family>();
  const helps = new Set<string>();
  const typed = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined; // the family being read: its HELP/TYPE, then its samples
  const lines = text.split('\n');
  lines.pop(); // after the final newline
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i];
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (m === null) continue; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new TextFormatError(n, `bad metric name '${name}'`);
      let family = families.get(name);
      if (family === undefined) {
        family = { name, help: undefined, type: 'untyped', samples: [] };
        families.set(name, family);
      } else if (family !== current || family.samples.length > 0) {
        throw new TextFormatError(n, `${kind} of '${name}' apart from the start of its family`);
      }
      current = family;
      if (kind === 'HELP') {
        if (helps.has(name)) throw new TextFormatError(n, `second HELP for '${name}'`);
        helps.add(name);
        family.help = unescapeText(rest, false, n);
      } else {
        if (typed.has(name)) throw new TextFormatError(n, `second TYPE for '${name}'`);
        if (!TYPES.has(rest)) throw new TextFormatError(n, `unknown type '${rest}'`);
        typed.add(name);
        family.type = rest as MetricType;
      }
      continue;
    }
    const sample = parseSample(line, n);
    const family = familyOf(sample.name, families);
    if (family === undefined || !typed.has(family.name)) {
      throw new TextFormatError(n, `sample '${sample.name}' without a TYPE line`);
    }
    if (family !== current) {
      throw new TextFormatError(n, `sample of '${family.name}' apart from the family's other samples`);
    }
    if (family.type === 'histogram' && sample.name === `${family.name}_bucket`) {
      const le = sample.labels.le;
      if (le === undefined) throw new TextFormatError(n, 'histogram bucket without le');
      if (Number.isNaN(parseValue(le, n))) throw new TextFormatError(n, 'le="NaN"');
    }
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (series.has(key)) throw new TextFormatError(n, `series ${key} twice`);
    series.add(key);
    family.samples.push(sample);
  }
  for (const f of families.values()) if (f.type === 'histogram') histogramSeries(f);
  return families;
}

/** The family a sample belongs to: its own name, or a histogram's/summary's for the suffixed names. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  for (const [suffix, types] of [
    ['_bucket', ['histogram']],
    ['_sum', ['histogram', 'summary']],
    ['_count', ['histogram', 'summary']],
  ] as const) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f !== undefined && (types as readonly string[]).includes(f.type)) return f;
    }
  }
  const f = families.get(name);
  // a histogram has no sample under its bare name (a summary has: its quantiles)
  return f?.type === 'histogram' ? undefined : f;
}

function parseSample(line: string, n: number): Sample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  if (!METRIC_NAME.test(name)) throw new TextFormatError(n, `bad metric name in '${line}'`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i])) i++;
      const label = line.slice(start, i);
      if (!LABEL_NAME.test(label)) throw new TextFormatError(n, `bad label name '${label}'`);
      if (Object.hasOwn(labels, label)) throw new TextFormatError(n, `label '${label}' twice`);
      if (line[i] !== '=' || line[i + 1] !== '"')
        throw new TextFormatError(n, `expected ="... after '${label}'`);
      i += 2;
      let raw = '';
      for (;;) {
        if (i >= line.length) throw new TextFormatError(n, 'unterminated label value');
        const c = line[i];
        if (c === '"') break;
        if (c === '\\') {
          raw += line.slice(i, i + 2);
          i += 2;
        } else {
          raw += c;
          i++;
        }
      }
      i++; // the closing quote
      Object.defineProperty(labels, label, {
        value: unescapeText(raw, true, n),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      if (line[i] === ',') {
        i++;
        if (line[i] === '}') throw new TextFormatError(n, 'trailing comma in labels');
      } else if (line[i] !== '}') throw new TextFormatError(n, `expected , or } at column ${i + 1}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new TextFormatError(n, `expected a space before the value in '${line}'`);
  const parts = line.slice(i + 1).split(' ');
  if (parts.length > 2 || parts[0] === '') throw new TextFormatError(n, `bad value in '${line}'`);
  const sample: Sample = { name, labels, value: parseValue(parts[0], n) };
  if (parts.length === 2) {
    if (!/^-?\d+$/.test(parts[1])) throw new TextFormatError(n, `bad timestamp '${parts[1]}'`);
    sample.timestamp = Number(parts[1]);
  }
  return sample;
}

function parseValue(s: string, n: number): number {
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  if (!FLOAT.test(s)) throw new TextFormatError(n, `bad number '${s}'`);
  return Number(s);
}

/** Undoes `\\`, `\n` (and in label values `\"`); any other escape is an error. */
function unescapeText(s: string, labelValue: boolean, n: number): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = s[++i];
    if (e === '\\') out += '\\';
    else if (e === 'n') out += '\n';
    else if (e === '"' && labelValue) out += '"';
    else throw new TextFormatError(n, `bad escape '\\${e ?? ''}'`);
  }
  return out;
}

/** A histogram family's series, checked: ascending buckets, cumulative counts, `+Inf` last and equal to `_count`. */
export function histogramSeries(family: Family): HistogramSeries[] {
  if (family.type !== 'histogram') throw new Error(`${family.name} is a ${family.type}, not a histogram`);
  const bySeries = new Map<string, HistogramSeries>();
  const get = (labels: Record<string, string>): HistogramSeries => {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let s = bySeries.get(key);
    if (s === undefined) {
      s = { labels, buckets: [], sum: Number.NaN, count: Number.NaN };
      bySeries.set(key, s);
    }
    return s;
  };
  for (const sample of family.samples) {
    const { le, ...labels } = sample.labels;
    if (sample.name === `${family.name}_bucket`) {
      get(labels).buckets.push({ le: parseValue(le, 0), count: sample.value });
    } else if (sample.name === `${family.name}_sum`) {
      get(sample.labels).sum = sample.value;
    } else if (sample.name === `${family.name}_count`) {
      get(sample.labels).count = sample.value;
    } else throw new TextFormatError(0, `'${sample.name}' in histogram ${family.name}`);
  }
  for (const s of bySeries.values()) {
    const where = `${family.name}${JSON.stringify(s.labels)}`;
    if (s.buckets.length === 0) throw new TextFormatError(0, `${where}: no buckets`);
    if (Number.isNaN(s.sum) || Number.isNaN(s.count))
      throw new TextFormatError(0, `${where}: no _sum or _count`);
    for (let i = 1; i < s.buckets.length; i++) {
      if (!(s.buckets[i].le > s.buckets[i - 1].le))
        throw new TextFormatError(0, `${where}: le not ascending`);
      if (s.buckets[i].count < s.buckets[i - 1].count)
        throw new TextFormatError(0, `${where}: not cumulative`);
    }
    const last = s.buckets[s.buckets.length - 1];
    if (last.le !== Number.POSITIVE_INFINITY) throw new TextFormatError(0, `${where}: no le="+Inf" bucket`);
    if (last.count !== s.count)
      throw new TextFormatError(0, `${where}: +Inf bucket ${last.count} != _count ${s.count}`);
  }
  return [...bySeries.values()];
}
