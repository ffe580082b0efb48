/**
 * The strict text-format parser the metrics tests read their output with
 * (test/helpers/prometheus-text.ts): what it accepts and what it refuses.
 */
import { describe, expect, it } from 'vitest';
import { histogramSeries, parsePrometheusText, TextFormatError } from '../helpers/prometheus-text.js';

const ok = `# HELP x_total Things, with a \\\\ and a \\n.
# TYPE x_total counter
x_total{a="q\\"uote",b="back\\\\slash\\nline"} 3
x_total{a="2"} 1e3 1700000000000

# HELP h Latency.
# TYPE h histogram
h_bucket{le="0.5"} 1
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 2.5
h_count 4
# a comment
# TYPE g gauge
g NaN
g{s=""} -Inf
`;

describe('parsePrometheusText', () => {
  it('reads families, escapes, special values and histograms', () => {
    const f = parsePrometheusText(ok);
    expect([...f.keys()]).toEqual(['x_total', 'h', 'g']);
    const x = f.get('x_total')!;
    expect(x.help).toBe('Things, with a \\ and a \n.');
    expect(x.type).toBe('counter');
    expect(x.samples[0]).toEqual({
      name: 'x_total',
      labels: { a: 'q"uote', b: 'back\\slash\nline' },
      value: 3,
    });
    expect(x.samples[1]).toEqual({
      name: 'x_total',
      labels: { a: '2' },
      value: 1000,
      timestamp: 1700000000000,
    });
    expect(f.get('g')!.help).toBeUndefined();
    expect(f.get('g')!.samples.map((s) => s.value)).toEqual([Number.NaN, Number.NEGATIVE_INFINITY]);
    expect(histogramSeries(f.get('h')!)).toEqual([
      {
        labels: {},
        buckets: [
          { le: 0.5, count: 1 },
          { le: 1, count: 3 },
          { le: Number.POSITIVE_INFINITY, count: 4 },
        ],
        sum: 2.5,
        count: 4,
      },
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ['no final newline', '# TYPE a gauge\na 1', /end with a newline/],
    ['a sample without TYPE', 'a 1\n', /without a TYPE/],
    ['HELP only', '# HELP a x\na 1\n', /without a TYPE/],
    ['TYPE after samples', '# TYPE a gauge\na 1\n# TYPE a gauge\n', /apart from the start/],
    ['two HELP', '# HELP a x\n# HELP a y\n# TYPE a gauge\n', /second HELP/],
    ['two TYPE', '# TYPE a gauge\n# TYPE a counter\n', /second TYPE/],
    ['an unknown type', '# TYPE a thing\n', /unknown type/],
    ['samples apart', '# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n', /apart from the family/],
    ['a repeated series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /twice/],
    ['a repeated label', '# TYPE a gauge\na{x="1",x="2"} 1\n', /label 'x' twice/],
    ['a bad escape', '# TYPE a gauge\na{x="\\t"} 1\n', /bad escape/],
    ['an unterminated value', '# TYPE a gauge\na{x="1} 1\n', /unterminated/],
    ['a trailing comma', '# TYPE a gauge\na{x="1",} 1\n', /trailing comma/],
    ['a bad number', '# TYPE a gauge\na 1x\n', /bad number/],
    ['a bad label name', '# TYPE a gauge\na{1x="1"} 1\n', /bad label name/],
    ['a bare histogram sample', '# TYPE h histogram\nh 1\n', /without a TYPE/],
    ['a bucket without le', '# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n', /without le/],
    [
      'buckets not cumulative',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      /not cumulative/,
    ],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no le="\+Inf"/],
    [
      '+Inf other than _count',
      '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
      /\+Inf bucket 2 != _count 3/,
    ],
    ['no _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\n', /no _sum or _count/],
  ];
  it.each(bad)('refuses %s', (_, text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(TextFormatError);
    expect(() => parsePrometheusText(text)).toThrow(message);
  });
});
