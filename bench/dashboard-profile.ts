/**
 * Summarizes the fleet's CPU profiles that `PROFILE=dir npm run bench --
 * dashboard` writes (`dashboard-fleet.cpuprofile`: the dashboard on with a
 * browser on the fleet view; `dashboard-off.cpuprofile`: off, for
 * comparison):
 *
 *   npx tsx bench/dashboard-profile.ts DIR [TOP]
 *
 * For each profile: the sampled time, the busy time, and its share per
 * area (this repository's src/ directories, node internals, GC, native),
 * then what the dashboard costs: the time of every sample with a
 * src/dashboard frame on its stack ("under the dashboard", callees such as
 * `session.metrics()`, JSON.stringify and socket writes included), split by
 * the outermost dashboard frame (what the dashboard was doing: the tick, a
 * view, the per-message topic tap) and by the leaf function (where that
 * time went). Then the TOP functions by self time (default 20). Shares are
 * of the busy (not idle) time; "% of a core" is time over the profile's
 * wall-clock duration.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  if (url.includes('node_modules')) return 'node_modules';
  return 'other';
}

const root = `file://${resolve(dirname(fileURLToPath(import.meta.url)), '..')}/`;

/** name file:line:column (tsx's output is what V8 saw: the line and column are of that, not of the .ts) */
function where(frame: CallFrame): string {
  const file = frame.url.startsWith(root) ? frame.url.slice(root.length) : frame.url;
  const at = file === '' ? '' : `:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
  return `${frame.functionName || '(anonymous)'} ${file}${at}`;
}

const isDashboard = (f: CallFrame): boolean => f.url.includes('/src/dashboard/');

function summarize(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const wallUs = profile.endTime - profile.startTime;
  let busy = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { us: number; area: string }>();
  let under = 0;
  const entries = new Map<string, number>();
  const leaves = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number): void => void m.set(k, (m.get(k) ?? 0) + us);
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const a = area(frame);
    if (a === 'idle') continue;
    busy += us;
    add(areas, a, us);
    const key = where(frame);
    const f = fns.get(key) ?? { us: 0, area: a };
    f.us += us;
    fns.set(key, f);
    // the outermost dashboard frame on this sample's stack, if any (an anonymous one named by its caller)
    let outer: number | undefined;
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      if (isDashboard(byId.get(n)!.callFrame)) outer = n;
    }
    if (outer !== undefined) {
      under += us;
      const fr = byId.get(outer)!.callFrame;
      const caller = byId.get(parent.get(outer) ?? -1)?.callFrame.functionName;
      const label = fr.functionName === '' ? `${where(fr)} (called by ${caller || '?'})` : where(fr);
      add(entries, label, us);
      add(leaves, `${key}  [${a}]`, us);
    }
  }
  const share = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const core = (us: number) => `${((100 * us) / wallUs).toFixed(1).padStart(5)}% of a core`;
  const sorted = (m: Map<string, number>) => [...m].sort((x, y) => y[1] - x[1]);
  console.log(`\n### ${file}\n`);
  console.log(
    `${(wallUs / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (${core(busy).trim()}); shares are of busy time\n`,
  );
  for (const [a, us] of sorted(areas)) console.log(`  ${share(us)}  ${core(us)}  ${a}`);
  console.log(`\n  under a src/dashboard frame: ${share(under).trim()} of busy, ${core(under).trim()}`);
  if (under > 0) {
    console.log('\n  by outermost dashboard frame:');
    for (const [k, us] of sorted(entries).slice(0, top)) console.log(`  ${share(us)}  ${core(us)}  ${k}`);
    console.log('\n  by leaf function (self time under the dashboard):');
    for (const [k, us] of sorted(leaves).slice(0, top)) console.log(`  ${share(us)}  ${core(us)}  ${k}`);
  }
  console.log(`\n  top ${top} by self time:`);
  for (const [key, f] of [...fns].sort((x, y) => y[1].us - x[1].us).slice(0, top)) {
    console.log(`  ${share(f.us)}  ${core(f.us)}  ${key}  [${f.area}]`);
  }
}

const [dir, topArg = '20'] = process.argv.slice(2);
if (dir === undefined) {
  console.error('usage: npx tsx bench/dashboard-profile.ts DIR [TOP]');
  process.exit(2);
}
for (const name of readdirSync(dir).sort()) {
  if (name.endsWith('.cpuprofile')) summarize(join(dir, name), Number(topArg));
}
