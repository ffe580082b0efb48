/**
 * A uPlot time chart as a component. The uPlot instance is made once and fed
 * with setData() on every tick; it is rebuilt only when the theme or the set
 * of series changes (canvas colors come from the theme's custom properties,
 * read when the chart is built). A ResizeObserver keeps it as wide as its box.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { clock } from './format.js';
import { cssColor, type Theme } from './theme.js';

export interface ChartSeries {
  label: string;
  /** A custom property of the theme: `--c-in`. */
  color: string;
  dash?: number[];
  /** Fill the area under the line, faintly. */
  fill?: boolean;
}

interface ChartProps {
  testid: string;
  title: string;
  series: ChartSeries[];
  /** [timestamps (ms), ...one array per series]. */
  data: uPlot.AlignedData;
  theme: Theme;
  format: (value: number) => string;
  /** The y axis starts at 0 (rates, latencies); otherwise it fits the values. */
  zero?: boolean;
  /** Charts with the same key share the cursor. */
  sync?: string;
  height?: number;
}

/** `#2563eb` or `rgb(37 99 235)` with an alpha, for area fills. */
function faint(color: string): string {
  const hex = /^#([0-9a-f]{6})$/i.exec(color);
  if (hex === null) return 'transparent';
  const n = Number.parseInt(hex[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, 0.12)`;
}

function options(props: ChartProps, width: number): uPlot.Options {
  const text = cssColor('--muted');
  const grid = cssColor('--grid');
  const font = '11px system-ui, sans-serif';
  const axis = (): uPlot.Axis => ({
    stroke: text,
    font,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1, size: 4 },
  });
  const value = (_u: uPlot, v: number | null): string => (v === null ? '–' : props.format(v));
  const colors = ['', ...props.series.map((s) => cssColor(s.color))];
  return {
    width,
    height: props.height ?? 200,
    ms: 1,
    cursor: {
      drag: { x: false, y: false, setScale: false },
      sync: props.sync === undefined ? undefined : { key: props.sync },
    },
    legend: { markers: { width: 0, fill: (_u, i) => colors[i] } },
    scales: {
      x: { time: true },
      y: props.zero ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } : {},
    },
    axes: [axis(), { ...axis(), size: 64, values: (_u, splits) => splits.map((v) => props.format(v)) }],
    series: [
      { label: 'time', value: (_u, v) => (v === null ? '–' : clock(v)) },
      ...props.series.map(
        (s, i): uPlot.Series => ({
          label: s.label,
          stroke: colors[i + 1],
          width: 1.5,
          dash: s.dash,
          fill: s.fill ? faint(colors[i + 1]) : undefined,
          points: { show: false },
          spanGaps: false,
          value,
        }),
      ),
    ],
  };
}

export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const shape = props.series.map((s) => `${s.label}:${s.color}`).join('|');

  useEffect(() => {
    const el = host.current!;
    const p = latest.current;
    const u = new uPlot(options(p, el.clientWidth || 600), p.data, el);
    plot.current = u;
    let width = el.clientWidth;
    const resize = new ResizeObserver(() => {
      if (el.clientWidth === width || el.clientWidth === 0) return;
      width = el.clientWidth;
      u.setSize({ width, height: latest.current.height ?? 200 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [props.theme, shape]);

  useEffect(() => {
    const u = plot.current;
    if (u !== null && u.data !== props.data) u.setData(props.data);
  }, [props.data]);

  return (
    <figure class="chart" data-testid={props.testid}>
      <figcaption>{props.title}</figcaption>
      <div class="chart-plot" ref={host} />
    </figure>
  );
}

/** A row's last 60 s of in+out msgs/s as an inline SVG line: cheap enough for 500 rows a tick. */
export function Spark({ values }: { values: number[] }) {
  const w = 80;
  const h = 20;
  if (values.length < 2) return <svg class="spark" width={w} height={h} aria-hidden="true" />;
  let max = 0;
  for (const v of values) if (v > max) max = v;
  const step = w / (values.length - 1);
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (max > 0 ? (v / max) * (h - 2) : 0)).toFixed(1)}`)
    .join(' ');
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} aria-hidden="true">
      <polyline points={points} />
    </svg>
  );
}
