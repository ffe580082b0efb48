/** The end of a bench: the summary for people (aligned lines) or one JSON object for machines. */
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

export function printReport(report: Report, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(report.json)}\n`);
    return;
  }
  const width = Math.max(...report.lines.map(([label]) => label.length)) + 2;
  const text = report.lines.map(([label, value]) => `${label.padEnd(width)}${value}`).join('\n');
  process.stdout.write(`${text}\n`);
}

export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function ms(value: number): string {
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

export function mqttVersion(v: 4 | 5 | undefined): string | null {
  return v === undefined ? null : v === 5 ? '5' : '3.1.1';
}

export function latencyLine(l: LatencySummary | null, what: string): string {
  if (l === null) return what;
  return `${l.kind}: p50 ${ms(l.p50)}, p95 ${ms(l.p95)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (mean ${ms(l.mean)}, ${int(l.count)} samples)`;
}

export function errorsLine(run: Run): string {
  if (run.errors === 0) return run.firstError === undefined ? '0' : `0 (${run.firstError})`;
  return `${int(run.errors)} (first: ${run.firstError ?? 'unknown'})`;
}

/** Client CPU µs per unit, 0.1 µs precision; null for nothing done. */
export function cpuPer(run: Run, count: number): number | null {
  return count > 0 ? Math.round((run.cpuTime * 10) / count) / 10 : null;
}

export function cpuLine(perUnit: number | null, unit: string): string {
  return perUnit === null ? 'n/a' : `${perUnit} µs/${unit} (user + system, this process)`;
}

export function stoppedLine(run: Run): [string, string][] {
  return run.interrupted ? [['stopped', 'early, by Ctrl-C (SIGINT) or SIGTERM']] : [];
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function mb(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(2)} MB/s`;
}
