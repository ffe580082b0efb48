/**
 * `npm run bench`: the whole suite. Runs every `bench/*.bench.ts` in its own
 * process, one after another (so that one benchmark's heap and JIT state do
 * not colour the next), then prints one markdown table of every row that
 * has a target, then every row, and writes them with the machine they ran
 * on to `bench/results/latest.json` (and the tables to `latest.md`).
 *
 * Pass names to run a subset (`npm run bench -- codec e2e`): the tables are
 * printed, and `latest.json` is left as the last full run wrote it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SuiteRow } from './harness.js';

const dir = dirname(fileURLToPath(import.meta.url));
const results = join(dir, 'results');
/** The order of the table: start-up and the codec first, the broker-bound runs last. */
const ORDER = [
  'startup',
  'codec',
  'publish',
  'receive',
  'tracing',
  'e2e',
  'sessions',
  'rpc',
  'router',
  'cluster',
];

const only = process.argv.slice(2);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const names = all.filter((n) => only.length === 0 || only.some((o) => n.startsWith(o)));
if (names.length === 0) {
  process.stderr.write(`no benchmark matches ${only.join(' ')}; there are: ${all.join(', ')}\n`);
  process.exit(2);
}

function rank(name: string): number {
  const i = ORDER.indexOf(name);
  return i === -1 ? ORDER.length : i;
}

interface Ran {
  name: string;
  ok: boolean;
  seconds: number;
  rows: SuiteRow[];
}

const started = new Date();
const ran: Ran[] = [];
for (const name of names) {
  process.stdout.write(`\n## ${name}\n\n`);
  const t0 = Date.now();
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(dir, `${name}.bench.ts`)], {
    stdio: 'inherit',
  });
  const file = join(results, `${name}.json`);
  // only what this run wrote: a benchmark that failed leaves an older file behind
  const fresh = existsSync(file) && statSync(file).mtimeMs >= t0;
  const rows: SuiteRow[] = fresh ? JSON.parse(readFileSync(file, 'utf8')).rows : [];
  ran.push({ name, ok: res.status === 0 && fresh, seconds: (Date.now() - t0) / 1000, rows });
}

const cell = (s: string): string => s.replaceAll('|', '\\|');
const ratio = (r: SuiteRow): string => (r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`);
const verdict = (r: SuiteRow): string =>
  r.target === undefined ? '' : `${r.target} ${r.met ? 'met' : 'MISSED'}`;
const cpu = (r: SuiteRow): string => {
  const c = r.cpuUs;
  if (c === undefined) return '';
  const f = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(2));
  return `${f(c.mqttkit)} / ${f(c.peer)}`;
};

function table(rows: { bench: string; row: SuiteRow }[]): string {
  const lines = [
    '| scenario | mqttkit | peer | ratio | target | client CPU µs/msg, mqttkit / peer |',
    '|---|---:|---:|---:|---|---:|',
  ];
  for (const { row: r } of rows) {
    const peer = r.peer === '' ? '' : `${r.peer} (${r.peerName})`;
    lines.push(
      `| ${cell(r.scenario)} | ${cell(r.mqttkit)} | ${cell(peer)} | ${ratio(r)} | ${verdict(r)} | ${cpu(r)} |`,
    );
  }
  return lines.join('\n');
}

function version(pkg: string): string {
  try {
    const require = createRequire(import.meta.url);
    return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    return '?';
  }
}

function command(file: string, args: string[], pattern: RegExp): string {
  try {
    const out = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(out)?.[1] ?? '?';
  } catch (err) {
    // mosquitto -h prints its version and exits 3
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return pattern.exec(out)?.[1] ?? '?';
  }
}

const machine = {
  cpu: cpus()[0]?.model.trim() ?? '?',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  mosquitto: command('mosquitto', ['-h'], /mosquitto version (\S+)/),
  mqttjs: version('mqtt'),
  mqttPacket: version('mqtt-packet'),
  commit: command('git', ['rev-parse', '--short', 'HEAD'], /(\S+)/),
};

const flat = ran.flatMap((r) => r.rows.map((row) => ({ bench: r.name, row })));
const targeted = flat.filter((r) => r.row.target !== undefined);
const met = targeted.filter((r) => r.row.met).length;
const failed = ran.filter((r) => !r.ok);
const heading =
  `${started.toISOString().slice(0, 10)}, ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB} GiB), ` +
  `Linux ${machine.kernel}, Node ${machine.node}, mosquitto ${machine.mosquitto}, MQTT.js ${machine.mqttjs}, ` +
  `mqtt-packet ${machine.mqttPacket}, mqttkit ${machine.commit}`;
const summary =
  `${met} of ${targeted.length} targets met` +
  (failed.length > 0 ? `; FAILED to run: ${failed.map((r) => r.name).join(', ')}` : '');
const markdown = [
  `# mqttkit benchmarks\n\n${heading}\n`,
  `## Targets: ${summary}\n\n${table(targeted)}\n`,
  `## Every row\n\n${table(flat)}\n`,
].join('\n');
process.stdout.write(`\n${markdown}`);

const complete = only.length === 0;
if (complete) {
  const json = {
    date: started.toISOString(),
    machine,
    benches: ran.map(({ name, ok, seconds }) => ({ name, ok, seconds })),
    summary: { targets: targeted.length, met, failed: failed.map((r) => r.name) },
    rows: flat.map(({ bench, row }) => ({ bench, ...row })),
  };
  writeFileSync(join(results, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(results, 'latest.md'), markdown);
  process.stdout.write('\n(written to bench/results/latest.json and latest.md)\n');
} else {
  process.stdout.write('\n(a partial run: bench/results/latest.json left as it was)\n');
}
process.exit(failed.length === 0 ? 0 : 1);
