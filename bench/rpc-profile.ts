/**
 * Summarizes the CPU profiles `PROFILE_DIR=dir npm run bench -- rpc`
 * writes (one per child and measured cell, of the measured phase only):
 *
 *   npx tsx bench/rpc-profile.ts DIR [FILTER] [TOP]
 *
 * For each `.cpuprofile` in DIR whose name contains FILTER (e.g.
 * `mqttkit-requester-qos1-c100`): the share of sampled time per area (this
 * repository's src/ directories, the bench code, MQTT.js and its
 * dependencies, Node's own JavaScript, GC, native code outside JavaScript,
 * idle), then the TOP functions by self time (default 25), and the top
 * functions of each src/ area (rpc, session, protocol, codec, transport).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [dir, filter = '', topArg = '25'] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: npx tsx bench/rpc-profile.ts DIR [FILTER] [TOP]');
  process.exit(2);
}
const TOP = Number(topArg);

function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'native (program)';
    if (functionName === '(root)') return 'root';
    return 'native (builtins)';
  }
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src !== null && !url.includes('node_modules')) return `src/${src[1]}`;
  if (url.includes('/bench/')) return 'bench';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('node_modules/mqtt/') || url.includes('node_modules/mqtt-packet/')) return 'MQTT.js';
  if (url.includes('node_modules')) return 'other node_modules';
  return 'other';
}

function where(frame: CallFrame): string {
  const file = frame.url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} ${file}${file === '' ? '' : `:${frame.lineNumber + 1}`}`;
}

function summarize(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, { us: number; area: string }>();
  const areas = new Map<string, number>();
  let total = 0;
  let busy = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const a = area(frame);
    total += us;
    if (a !== 'idle') busy += us;
    areas.set(a, (areas.get(a) ?? 0) + us);
    const key = where(frame);
    const f = fns.get(key) ?? { us: 0, area: a };
    f.us += us;
    fns.set(key, f);
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(`\n### ${file}\n`);
  console.log(
    `${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (shares below are of busy time)\n`,
  );
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) {
    if (a !== 'idle') console.log(`  ${pct(us)}  ${a}`);
  }
  const sorted = [...fns].filter(([, f]) => f.area !== 'idle').sort((x, y) => y[1].us - x[1].us);
  console.log(`\n  top ${TOP} by self time:`);
  for (const [key, f] of sorted.slice(0, TOP)) console.log(`  ${pct(f.us)}  ${key}  [${f.area}]`);
  for (const a of [
    'src/rpc',
    'src/session',
    'src/protocol',
    'src/codec',
    'src/transport',
    'node internals',
  ]) {
    const inArea = sorted.filter(([, f]) => f.area === a).slice(0, 8);
    if (inArea.length === 0) continue;
    console.log(`\n  ${a}:`);
    for (const [key, f] of inArea) console.log(`  ${pct(f.us)}  ${key}`);
  }
}

for (const name of readdirSync(dir).sort()) {
  if (name.endsWith('.cpuprofile') && name.includes(filter)) summarize(join(dir, name));
}
