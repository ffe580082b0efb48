/**
 * Where the heap of an idle session goes: runs the sessions benchmark's
 * child (sessions-child.ts) against a private mosquitto with heap snapshots
 * before and after opening the sessions, and prints, per session:
 *
 * 1. the self size and count of every object kind (constructor) that grew,
 *    from the two snapshots' histograms;
 * 2. the dominator tree under the library's session object (`Session` for
 *    mqttkit, `MqttClient` for MQTT.js), aggregated over every instance, by
 *    field path: what the session alone keeps alive;
 * 3. what grew outside that tree (sockets and their handles, which native
 *    handles keep alive too), by kind, with the `Socket`'s own tree.
 *
 *   npx tsx bench/sessions-heap.ts            # mqttkit, 2,000 sessions
 *   LIB=mqttjs SESSIONS=500 npx tsx bench/sessions-heap.ts
 *
 * `LIB` (mqttkit | mqttjs | both), `SESSIONS` (default 2000), `VERSION`
 * (5 or 4, default 5), `DEPTH` (tree depth, default 5), `MIN_BYTES` (rows
 * smaller per session are left out, default 16), `KEEP_SNAPSHOTS=1` keeps
 * the .heapsnapshot files (printed paths), `WHY=Attempt,closure (anonymous)`
 * prints the dominator chain (what keeps it alive) of two instances of
 * those kinds from outside the session trees. Snapshots are read as a
 * stream into typed arrays, so files of a few GB work too (mqttkit before
 * 6f9f08a: 2,000 sessions made 1.8 GB), given the memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Dominators,
  dominators,
  edgeLabel,
  type HeapSnapshot,
  histogram,
  nodeKey,
  readHeapSnapshot,
  retainers,
} from './heap-snapshot.js';
import type { ChildConfig, ChildResult } from './sessions-child.js';
import { runChild, startBroker } from './sessions-spawn.js';

const SESSIONS = Number(process.env.SESSIONS ?? 2000);
const VERSION = Number(process.env.VERSION ?? 5) as 4 | 5;
const DEPTH = Number(process.env.DEPTH ?? 5);
const MIN_BYTES = Number(process.env.MIN_BYTES ?? 16);
const LIBS: ChildConfig['lib'][] =
  process.env.LIB === 'both' ? ['mqttkit', 'mqttjs'] : [(process.env.LIB ?? 'mqttkit') as ChildConfig['lib']];
const ROOT_CLASS: Record<ChildConfig['lib'], string> = { mqttkit: 'Session', mqttjs: 'MqttClient' };

const bytes = (n: number): string =>
  Math.abs(n) >= 10_240 ? `${(n / 1024).toFixed(1)} KiB` : `${n.toFixed(0)} B`;

interface TreeNode {
  bytes: number;
  count: number;
  kids: Map<string, TreeNode>;
}

const newTree = (): TreeNode => ({ bytes: 0, count: 0, kids: new Map() });

/** Adds the dominator subtree of `node` under `into`, by edge label and kind, `depth` levels down. */
function aggregate(s: HeapSnapshot, d: Dominators, node: number, into: TreeNode, depth: number): void {
  for (let k = d.kidStart[node]; k < d.kidStart[node + 1]; k++) {
    const kid = d.kids[k];
    let label = edgeLabel(s, node, kid) ?? '(reached only through others)';
    if (label.startsWith('[')) label = '[i]';
    if (label.startsWith('<hidden')) label = '<hidden>';
    const key = `${label}: ${nodeKey(s, kid)}`;
    let t = into.kids.get(key);
    if (t === undefined) {
      t = newTree();
      into.kids.set(key, t);
    }
    t.bytes += d.retained[kid];
    t.count++;
    if (depth > 1) aggregate(s, d, kid, t, depth - 1);
  }
}

function printTree(t: TreeNode, per: number, indent: string, lines: string[]): void {
  const kids = [...t.kids].sort((a, b) => b[1].bytes - a[1].bytes);
  let rest = 0;
  for (const [key, kid] of kids) {
    if (kid.bytes / per < MIN_BYTES) {
      rest += kid.bytes;
      continue;
    }
    const each = kid.count / per;
    lines.push(
      `${indent}${bytes(kid.bytes / per).padStart(10)}  ${key}${Math.abs(each - 1) > 0.01 ? ` (x${each.toFixed(2)})` : ''}`,
    );
    printTree(kid, per, `${indent}    `, lines);
  }
  if (rest > 0) lines.push(`${indent}${bytes(rest / per).padStart(10)}  (smaller items)`);
}

function instancesOf(s: HeapSnapshot, name: string): number[] {
  const out: number[] = [];
  const object = s.nodeTypes.indexOf('object');
  for (let i = 0; i < s.nodeCount; i++)
    if (s.type[i] === object && s.strings[s.name[i]] === name) out.push(i);
  return out;
}

function report(
  lib: ChildConfig['lib'],
  result: ChildResult,
  base: HeapSnapshot,
  full: HeapSnapshot,
): string {
  const n = result.sessions;
  const lines: string[] = [];
  const heapDelta = (result.loaded.heapUsed - result.baseline.heapUsed) / n;
  const extDelta = (result.loaded.external - result.baseline.external) / n;
  lines.push(
    `### ${lib}, ${n} idle sessions, MQTT ${VERSION === 5 ? '5' : '3.1.1'}`,
    '',
    `heapUsed +${bytes(heapDelta)} per session, external (ArrayBuffers, native) +${bytes(extDelta)}, ` +
      `RSS +${bytes((result.loaded.rss - result.baseline.rss) / n)}`,
  );

  const h0 = histogram(base);
  const h1 = histogram(full);
  const grew: { key: string; count: number; size: number }[] = [];
  let total = 0;
  for (const [key, after] of h1) {
    const before = h0.get(key) ?? { count: 0, size: 0 };
    const size = after.size - before.size;
    total += size;
    grew.push({ key, count: (after.count - before.count) / n, size: size / n });
  }
  grew.sort((a, b) => b.size - a.size);
  lines.push(
    `snapshot self sizes +${bytes(total / n)} per session`,
    '',
    '#### Self size by kind, per session (top 40)',
    '',
    '| kind | count | bytes |',
    '|---|---:|---:|',
  );
  for (const g of grew.slice(0, 40)) lines.push(`| ${g.key} | ${g.count.toFixed(2)} | ${bytes(g.size)} |`);

  const d = dominators(full);
  const roots = instancesOf(full, ROOT_CLASS[lib]);
  const tree = newTree();
  const inside = new Uint8Array(full.nodeCount);
  let rootRetained = 0;
  for (const r of roots) {
    rootRetained += d.retained[r];
    aggregate(full, d, r, tree, DEPTH);
    // mark the subtree
    const stack = [r];
    while (stack.length > 0) {
      const v = stack.pop()!;
      inside[v] = 1;
      for (let k = d.kidStart[v]; k < d.kidStart[v + 1]; k++) stack.push(d.kids[k]);
    }
  }
  lines.push(
    '',
    `#### Retained by ${ROOT_CLASS[lib]} (${roots.length} instances): ${bytes(rootRetained / roots.length)} each`,
    '',
    '```',
  );
  printTree(tree, roots.length, '', lines);
  lines.push('```');

  // objects new since the baseline (ids persist between snapshots of a process) outside those trees
  const before = new Set<number>();
  for (let i = 0; i < base.nodeCount; i++) before.add(base.id[i]);
  const fresh = new Uint8Array(full.nodeCount);
  for (let i = 0; i < full.nodeCount; i++) if (!before.has(full.id[i])) fresh[i] = 1;
  const outside = new Map<string, { count: number; size: number }>();
  let outTotal = 0;
  for (let i = 0; i < full.nodeCount; i++) {
    if (inside[i] || !fresh[i]) continue;
    const key = nodeKey(full, i);
    const o = outside.get(key) ?? { count: 0, size: 0 };
    o.count++;
    o.size += full.selfSize[i];
    outTotal += full.selfSize[i];
    outside.set(key, o);
  }
  const out = [...outside].map(([key, o]) => ({ key, count: o.count / n, size: o.size / n }));
  out.sort((a, b) => b.size - a.size);
  lines.push(
    '',
    `#### New objects outside the ${ROOT_CLASS[lib]} trees: ${bytes(outTotal / n)} per session (top 25 kinds, self sizes)`,
    '',
    '| kind | count | bytes |',
    '|---|---:|---:|',
  );
  for (const g of out.slice(0, 25)) lines.push(`| ${g.key} | ${g.count.toFixed(2)} | ${bytes(g.size)} |`);

  const sockets = instancesOf(full, 'Socket').filter((i) => !inside[i] && fresh[i]);
  if (sockets.length > 0) {
    const st = newTree();
    let retained = 0;
    for (const sock of sockets) {
      retained += d.retained[sock];
      aggregate(full, d, sock, st, Math.min(DEPTH, 3));
    }
    lines.push(
      '',
      `#### Retained by Socket (${sockets.length} outside the ${ROOT_CLASS[lib]} trees): ${bytes(retained / sockets.length)} each`,
      '',
      '```',
    );
    printTree(st, sockets.length, '', lines);
    lines.push('```');
  }
  const why = (process.env.WHY ?? '').split(',').filter((w) => w !== '');
  for (const kind of why) {
    lines.push('', `#### What keeps \`${kind}\` alive (outside the ${ROOT_CLASS[lib]} trees)`, '', '```');
    let shown = 0;
    for (let i = full.nodeCount - 1; i >= 0 && shown < 2; i--) {
      if (inside[i] || !fresh[i] || nodeKey(full, i) !== kind) continue;
      shown++;
      const chain: string[] = [];
      for (let v = i, steps = 0; v !== 0 && steps < 14; steps++) {
        const up = d.idom[v];
        const label = edgeLabel(full, up, v);
        const via =
          label !== undefined
            ? label
            : retainers(full, v)
                .map((r) => `${nodeKey(full, r.from)}.${r.label}`)
                .join(' | ');
        chain.push(
          `${nodeKey(full, v)}  <- ${label !== undefined ? '' : 'dominated by the next, held by: '}${via}`,
        );
        v = up;
      }
      lines.push(chain.join('\n    '), '');
    }
    lines.push('```');
  }
  return lines.join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'mqttkit-heap-'));
const broker = await startBroker();
try {
  for (const lib of LIBS) {
    process.stderr.write(`${lib}: ${SESSIONS} sessions with snapshots (in ${dir})...\n`);
    const result = await runChild({
      lib,
      url: broker.url,
      sessions: SESSIONS,
      concurrency: 200,
      version: VERSION,
      midpoint: SESSIONS,
      warmup: 50,
      snapshotPrefix: join(dir, lib),
      phaseTimeoutMs: 10 * 60_000,
    });
    const [basePath, fullPath] = result.snapshots ?? [];
    process.stderr.write(`${lib}: reading ${fullPath}...\n`);
    const base = readHeapSnapshot(basePath);
    const full = readHeapSnapshot(fullPath);
    console.log(`${report(lib, result, base, full)}\n`);
    if (process.env.KEEP_SNAPSHOTS !== '1') {
      rmSync(basePath, { force: true });
      rmSync(fullPath, { force: true });
    }
  }
} finally {
  await broker.stop();
  if (process.env.KEEP_SNAPSHOTS !== '1') rmSync(dir, { recursive: true, force: true });
}
