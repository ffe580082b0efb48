/**
 * What `mqttkit demo` prints: on a terminal a table of the sessions redrawn
 * in place every second, elsewhere (pipes, logs, tests) one plain line per
 * second; and the summary at the end.
 */
import pc from 'picocolors';
import type { FleetSnapshot, SessionSnapshot } from '../../metrics/fleet.js';
import { stderrColors } from '../runtime.js';
import { type DemoStats, TELEMETRY_RATE } from './fleet.js';

/** Writes the live frame and keeps log lines above it. */
export class LiveOutput {
  private frameLines: string[] = [];
  private drawn = 0;

  constructor(readonly tty: boolean) {}

  /** A terminal: replaces the frame on screen. */
  frame(lines: string[]): void {
    const width = process.stdout.columns ?? 100;
    this.frameLines = lines.map((l) => clip(l, width - 1));
    process.stdout.write(`${this.erase()}${this.frameLines.join('\n')}\n`);
    this.drawn = this.frameLines.length;
  }

  /** A line on stdout, above the frame. */
  print(line: string): void {
    this.above(process.stdout, line);
  }

  /** A line on stderr, above the frame. */
  error(line: string): void {
    this.above(process.stderr, `${stderrColors.yellow('mqttkit demo:')} ${line}`);
  }

  /** Leaves the last frame on screen; later lines go below it. */
  done(): void {
    this.drawn = 0;
  }

  private above(stream: NodeJS.WriteStream, line: string): void {
    if (this.drawn === 0) {
      stream.write(`${line}\n`);
      return;
    }
    process.stdout.write(this.erase());
    this.drawn = 0;
    stream.write(`${line}\n`);
    this.frame(this.frameLines);
  }

  /** Cursor up to the first line of the frame, and clear to the end of the screen. */
  private erase(): string {
    return this.drawn === 0 ? '' : `\x1b[${this.drawn}F\x1b[0J`;
  }
}

const MAX_ROWS = 8;

/** The live table: one row per session (devices past the eighth summed up), and a footer per part. */
export function table(
  snap: FleetSnapshot,
  stats: DemoStats,
  roles: ReadonlyMap<string, string>,
  seconds: number,
): string[] {
  const t = snap.total;
  const dot = pc.dim(' · ');
  const head = `${pc.bold('mqttkit demo')}${dot}${seconds}s${dot}${t.ready}/${t.sessions} ready${dot}sent ${fmt(t.rates.messagesOut)}/s${dot}received ${fmt(t.rates.messagesIn)}/s${dot}${pc.dim('Ctrl-C stops')}`;
  const rows: string[][] = [];
  const entries = Object.entries(snap.sessions);
  const devices = entries.filter(([name]) => name.startsWith('device-'));
  const shown = devices.length > MAX_ROWS ? MAX_ROWS - 2 : devices.length;
  for (const [name, s] of entries) {
    const i = devices.findIndex(([n]) => n === name);
    if (i >= shown) {
      if (i === shown) rows.push(sumRow(devices.slice(shown)));
      continue;
    }
    rows.push([name, roles.get(name) ?? '', stateOf(s), ...numbers(s)]);
  }
  const widths = [Math.max(10, ...rows.map((cells) => cells[0].length)), 17, 12, 7, 7, 10, 10];
  const label = (s: string) => pc.cyan(s.padEnd(widths[0]));
  const line = (cells: string[], header = false): string =>
    cells
      .map((c, i) => {
        const padded = i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]);
        return header ? pc.dim(padded) : i === 2 ? stateColor(c)(padded) : padded;
      })
      .join(' ');
  const r = stats.rpc;
  const f = stats.forwarder;
  return [
    '',
    head,
    '',
    line(['session', 'role', 'state', 'sent/s', 'recv/s', 'sent', 'received'], true),
    ...rows.map((cells) => line(cells)),
    '',
    `${label('rpc')} console → api: ${fmt(r.ok)} ok, ${fmt(r.notFound)} not found (on purpose), ${fmt(r.failed)} failed${dot}p50 ${ms(r.p50)}`,
    `${label('forwarder')} edge → cloud: ${fmt(f.forwarded)} forwarded${dot}${fmt(f.waiting + f.inflight)} waiting${dot}${fmt(f.errors)} errors`,
    `${label('devices')} ${fmt(stats.state.batches)} state batches (${fmt(stats.state.readings)} readings)${dot}${fmt(stats.telemetry.sent)} telemetry sent${dot}${fmt(stats.telemetry.queued)} queued`,
  ];
}

/** The plain line printed each second when stdout is not a terminal. */
export function statusLine(snap: FleetSnapshot, stats: DemoStats, seconds: number): string {
  const t = snap.total;
  return (
    `t=${seconds}s sessions=${t.ready}/${t.sessions} ready out=${Math.round(t.rates.messagesOut)}/s ` +
    `in=${Math.round(t.rates.messagesIn)}/s rpc=${stats.rpc.ok} ok forwarded=${stats.forwarder.forwarded} ` +
    `batches=${stats.state.batches} queued=${stats.telemetry.queued}`
  );
}

export interface SummaryTotals {
  sessions: number;
  messagesOut: number;
  messagesIn: number;
  reconnects: number;
  errors: number;
}

/** The final summary, a line per part. */
export function summary(stats: DemoStats, totals: SummaryTotals, seconds: number, broker: string): string[] {
  const r = stats.rpc;
  const f = stats.forwarder;
  const tel = stats.telemetry;
  const unsent = tel.unsent > 0 ? `; ${fmt(tel.unsent)} still waiting at the stop` : '';
  const label = (s: string) => pc.cyan(s.padEnd(10));
  const dot = pc.dim(' · ');
  const more = ' '.repeat(11);
  return [
    '',
    pc.bold(`summary after ${seconds.toFixed(1)} s`),
    `${label('devices')} ${fmt(tel.sent)} telemetry readings sent (queues at ${TELEMETRY_RATE}/s per device${unsent})`,
    `${more}${fmt(stats.state.batches)} state batches carrying ${fmt(stats.state.readings)} readings${dot}${fmt(tel.failed + stats.state.failed)} failed`,
    `${label('rpc')} ${fmt(r.ok + r.notFound)} calls answered: ${fmt(r.ok)} ok, ${fmt(r.notFound)} not found (on purpose)${dot}${fmt(r.failed)} failed${dot}p50 ${ms(r.p50)}, p99 ${ms(r.p99)}`,
    `${more}the api's middleware saw ${fmt(r.served)} requests`,
    `${label('forwarder')} ${fmt(f.forwarded)} forwarded edge → cloud with metadata${dot}${fmt(f.dropped)} dropped`,
    `${label('sessions')} ${totals.sessions} sessions${dot}${fmt(totals.messagesOut)} messages sent, ${fmt(totals.messagesIn)} received${dot}${fmt(totals.reconnects)} reconnects${dot}${fmt(totals.errors)} errors${dot}all closed`,
    `${label('broker')} ${broker}`,
  ];
}

function sumRow(devices: [string, SessionSnapshot][]): string[] {
  const sum = (f: (s: SessionSnapshot) => number) => devices.reduce((a, [, s]) => a + f(s), 0);
  const ready = devices.filter(([, s]) => s.ready).length;
  return [
    `${devices[0][0]}..${devices[devices.length - 1][0].slice('device-'.length)}`,
    `${devices.length} more devices`,
    ready === devices.length ? 'ready' : `${ready}/${devices.length} ready`,
    fmt(sum((s) => s.rates.messagesOut)),
    fmt(sum((s) => s.rates.messagesIn)),
    fmt(sum((s) => s.messagesOut)),
    fmt(sum((s) => s.messagesIn)),
  ];
}

function numbers(s: SessionSnapshot): string[] {
  return [fmt(s.rates.messagesOut), fmt(s.rates.messagesIn), fmt(s.messagesOut), fmt(s.messagesIn)];
}

function stateOf(s: SessionSnapshot): string {
  return s.ready ? 'ready' : s.state;
}

function stateColor(state: string): (s: string) => string {
  if (state.startsWith('ready')) return pc.green;
  if (state.includes('connecting') || state.includes('/')) return pc.yellow;
  return pc.red;
}

/** An integer with thousands separators. */
export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(v: number | undefined): string {
  if (v === undefined) return '-';
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** `s` cut to `width` visible characters, colour codes kept. */
function clip(s: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\x1b') {
      const end = s.indexOf('m', i);
      out += s.slice(i, end + 1);
      i = end;
    } else if (visible < width) {
      out += s[i];
      visible++;
    } else return `${out}\x1b[0m`;
  }
  return out;
}
