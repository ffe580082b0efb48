/**
 * Start-up cost: what importing the library and making one client adds to a
 * fresh process, the price every short-lived process (a CLI call, a function,
 * a small device process) pays. mqttkit is the BUILT package (dist/, as a
 * dependency gets it; built first when src/ is newer), `import('mqttkit')`
 * plus `new Session()`; the peer is `import('mqtt')` plus
 * `mqtt.connect(url, { manualConnect: true })` (MQTT.js 5). Neither
 * connects.
 *
 * Each measurement is a fresh `node` process that reads the clock and its
 * RSS, imports, constructs, and reads them again: time and RSS added, not
 * Node's own start. The sides alternate, RUNS processes each; the medians
 * are reported. Target: no more than MQTT.js on either (the ratio is
 * MQTT.js / mqttkit, so >= 1 is met).
 *
 * MQTTKIT_DIST=/path/to/dist measures another build (e.g. an older commit's).
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildDistIfStale } from '../test/helpers/build.js';
import { median, type SuiteRow, save } from './harness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.STARTUP_RUNS ?? 11);

/** dist/ of this checkout, built when src/ is newer; or MQTTKIT_DIST. */
function distEntry(): string {
  const given = process.env.MQTTKIT_DIST;
  if (given !== undefined) return join(resolve(given), 'index.js');
  buildDistIfStale(ROOT, true);
  return join(ROOT, 'dist/index.js');
}

/** A child's program: measure around `body`, print `{ ms, rss }`, exit. */
const program = (body: string): string => `
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
${body}
const ms = performance.now() - t0;
const rss = process.memoryUsage().rss - rss0;
process.stdout.write(JSON.stringify({ ms, rss }));
process.exit(0);
`;

const URL = 'mqtt://127.0.0.1:1883';
const SIDES = {
  mqttkit: program(`
const { Session } = await import(${JSON.stringify(pathToFileURL(distEntry()).href)});
const client = new Session({ url: '${URL}', clientId: 'startup' });
`),
  'MQTT.js': program(`
const mqtt = await import('mqtt');
const client = mqtt.connect('${URL}', { manualConnect: true, clientId: 'startup' });
`),
};

interface Sample {
  ms: number;
  rss: number;
}

function once(side: keyof typeof SIDES): Sample {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', SIDES[side]], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as Sample;
}

// one of each first, not counted: the files' pages into the OS cache
once('mqttkit');
once('MQTT.js');
const samples: Record<keyof typeof SIDES, Sample[]> = { mqttkit: [], 'MQTT.js': [] };
for (let i = 0; i < RUNS; i++) {
  const order: (keyof typeof SIDES)[] = i % 2 === 0 ? ['mqttkit', 'MQTT.js'] : ['MQTT.js', 'mqttkit'];
  for (const side of order) samples[side].push(once(side));
}

const MiB = 1024 * 1024;
const rows: SuiteRow[] = [];
for (const [what, unit, pick, scale] of [
  ['time', 'ms', (s: Sample) => s.ms, 1],
  ['RSS', 'MiB', (s: Sample) => s.rss, MiB],
] as const) {
  const ours = median(samples.mqttkit.map(pick)) / scale;
  const theirs = median(samples['MQTT.js'].map(pick)) / scale;
  const ratio = theirs / ours;
  rows.push({
    scenario: `start-up: import + one client, ${what} added (median of ${RUNS} processes)`,
    mqttkit: `${ours.toFixed(unit === 'ms' ? 0 : 1)} ${unit}`,
    peer: `${theirs.toFixed(unit === 'ms' ? 0 : 1)} ${unit}`,
    peerName: 'MQTT.js',
    ratio,
    target: '<= MQTT.js',
    met: ratio >= 1,
    values: { mqttkit: ours, peer: theirs },
  });
  process.stderr.write(
    `  start-up ${what}: mqttkit ${ours.toFixed(1)} ${unit}, MQTT.js ${theirs.toFixed(1)} ${unit}\n`,
  );
}

console.log(
  [
    '| scenario | mqttkit | MQTT.js | ratio (MQTT.js / mqttkit) | target |',
    '|---|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.mqttkit} | ${r.peer} | ${r.ratio?.toFixed(2)}x | ${r.target} ${r.met ? 'met' : 'MISSED'} |`,
    ),
  ].join('\n'),
);
save('startup', rows, { runs: RUNS, samples, mqttkit: distEntry() });
