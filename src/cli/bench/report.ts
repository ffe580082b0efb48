/** The end of a bench: the summary for people (aligned lines) or one JSON object for machines. */
import { parseBrokerUrl } from '../../core/url.js';
import type { LatencySummary } from './latency.js';
import type { Run } from './run.js';

export interface Report {
  /** The `--json` object. */
  json: Record<string, unknown>;
  /** The text summary: label, value. */
  lines: [string, string][];
  /** @default 0 */
  exitCode?: number;
}

/** What a bench reports; {@link report} adds the parts every bench shares. */
export interface Results {
  command: 'pub' | 'sub' | 'conn' | 'rpc';
  /** A session of the run: the broker it reached and its MQTT version. */
  session: { readonly url: string; readonly protocolVersion: 4 | 5 | undefined };
  /** The first summary line, after the broker and the MQTT version. */
  setup: string;
  /** The command's own --json fields, after `mqttVersion` and before `errors`. */
  fields: Record<string, unknown>;
  /** The command's own summary lines, after the first and before `errors`. */
  lines: [string, string][];
  durationMs: number;
  /** The duration line. @default the duration in seconds */
  durationLine?: string;
  /** The --json fields after `durationMs`: throughput and the like. */
  rates: Record<string, number | null>;
  /** Their summary line. */
  rateLine: [string, string];
  latency: LatencySummary | null;
  /** The latency line when there is none. */
  noLatency: string;
  /** Client CPU per unit of work: the --json field, the units done, and the unit's name in the summary. */
  cpu: { field: string; per: number; unit: string };
  /** @default 0 */
  exitCode?: number;
}

/**
 * The report: command, broker (no credentials, no query: it may hold a
 * token), MQTT version, the command's fields, then errors, duration, rates,
 * latency, client CPU and whether Ctrl-C stopped the run.
 */
export function report(run: Run, r: Results): Report {
  const broker = brokerDisplay(r.session.url);
  const version = mqttVersion(r.session.protocolVersion);
  const cpu = cpuPer(run, r.cpu.per);
  const stopped: [string, string][] = run.interrupted
    ? [['stopped', 'early, by Ctrl-C (SIGINT) or SIGTERM']]
    : [];
  return {
    exitCode: r.exitCode ?? 0,
    json: {
      command: r.command,
      broker,
      mqttVersion: version,
      ...r.fields,
      errors: run.errors,
      firstError: run.firstError ?? null,
      durationMs: round1(r.durationMs),
      ...r.rates,
      latency: r.latency,
      [r.cpu.field]: cpu,
      interrupted: run.interrupted,
    },
    lines: [
      [`bench ${r.command}`, `${broker}, MQTT ${version}, ${r.setup}`],
      ...r.lines,
      ['errors', errorsLine(run)],
      ['duration', r.durationLine ?? seconds(r.durationMs)],
      r.rateLine,
      ['latency', latencyLine(r.latency, r.noLatency)],
      ['client CPU', cpuLine(cpu, r.cpu.unit)],
      ...stopped,
    ],
  };
}

function brokerDisplay(url: string): string {
  try {
    return parseBrokerUrl(url).display;
  } catch {
    return 'the broker';
  }
}

export function printReport(report: Report, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report.json)}\n`);
    return;
  }
  const width = Math.max(...report.lines.map(([label]) => label.length)) + 2;
  const text = report.lines.map(([label, value]) => `${label.padEnd(width)}${value}`).join('\n');
  process.stdout.write(`${text}\n`);
}

/** A whole number with thousands separators: 12,345. */
export function thousands(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(value: number): string {
  if (value >= 100) return `${value.toFixed(0)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

export function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(valueMs >= 10_000 ? 1 : 3)} s`;
}

/** Per second over `durationMs`, rounded to 0.1; 0 for an empty run. */
export function perSecond(count: number, durationMs: number): number {
  return durationMs > 0 ? Math.round((count * 10_000) / durationMs) / 10 : 0;
}

function mqttVersion(v: 4 | 5 | undefined): string | null {
  return v === undefined ? null : v === 5 ? '5' : '3.1.1';
}

function latencyLine(l: LatencySummary | null, what: string): string {
  if (l === null) return what;
  return `${l.kind}: p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (mean ${ms(l.mean)}, ${thousands(l.count)} samples)`;
}

function errorsLine(run: Run): string {
  if (run.errors === 0) return run.firstError === undefined ? '0' : `0 (${run.firstError})`;
  return `${thousands(run.errors)} (first: ${run.firstError ?? 'unknown'})`;
}

/** Client CPU µs per unit, 0.1 µs precision; null for nothing done. */
function cpuPer(run: Run, count: number): number | null {
  return count > 0 ? Math.round((run.cpuTime * 10) / count) / 10 : null;
}

function cpuLine(perUnit: number | null, unit: string): string {
  return perUnit === null ? 'n/a' : `${perUnit} µs/${unit} (user + system, this process)`;
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function mb(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(2)} MB/s`;
}
