/**
 * A small reader for V8 `.heapsnapshot` files (as `v8.writeHeapSnapshot()`
 * writes them), for the heap breakdown of sessions-heap.ts: streams the file
 * (snapshots of thousands of sessions outgrow a JavaScript string), keeps
 * nodes and edges in typed arrays, and computes the dominator tree and
 * retained sizes the way DevTools does (weak edges do not retain).
 */
import { closeSync, openSync, readSync } from 'node:fs';

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  edge_fields: string[];
  edge_types: [string[], ...unknown[]];
}

export interface HeapSnapshot {
  nodeCount: number;
  /** Per node: id (stable across snapshots of one process), type (index into `nodeTypes`), name (string index), self size, first edge, edge count. */
  id: Uint32Array;
  type: Uint8Array;
  name: Uint32Array;
  selfSize: Float64Array;
  firstEdge: Uint32Array;
  edgeCount: Uint32Array;
  /** Per edge: type (index into `edgeTypes`), name or index, target node (a node number, not an offset). */
  edgeType: Uint8Array;
  edgeName: Uint32Array;
  edgeTo: Uint32Array;
  strings: string[];
  nodeTypes: string[];
  edgeTypes: string[];
}

/** Growable array of unsigned integers. */
class Numbers {
  data = new Float64Array(1 << 20);
  length = 0;
  push(n: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = n;
  }
}

const CHUNK = 1 << 24;

/** Reads a snapshot file; never holds more than a chunk of its text. */
export function readHeapSnapshot(path: string): HeapSnapshot {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let len = 0;
    let pos = 0;
    const fill = (): boolean => {
      len = readSync(fd, buf, 0, CHUNK, null);
      pos = 0;
      return len > 0;
    };
    const byte = (): number => {
      if (pos === len && !fill()) return -1;
      return buf[pos++];
    };
    /** Consumes input up to and including `marker`; returns what came before it (if `keep`). */
    const skipPast = (marker: string, keep: boolean): string => {
      const m = Buffer.from(marker);
      const kept: number[] = [];
      let matched = 0;
      for (;;) {
        const b = byte();
        if (b < 0) throw new Error(`heap snapshot: ${marker} not found`);
        if (keep) kept.push(b);
        if (b === m[matched]) {
          matched++;
          if (matched === m.length) return keep ? Buffer.from(kept.slice(0, -m.length)).toString() : '';
        } else matched = b === m[0] ? 1 : 0;
      }
    };
    /** Parses a JSON array of unsigned integers (the opening bracket already consumed), one by one. */
    const numbers = (sink: (n: number) => void): void => {
      let n = 0;
      let inNumber = false;
      for (;;) {
        const b = byte();
        if (b >= 48 && b <= 57) {
          n = n * 10 + (b - 48);
          inNumber = true;
        } else {
          if (inNumber) sink(n);
          n = 0;
          inNumber = false;
          if (b === 93 /* ] */) return;
          if (b < 0) throw new Error('heap snapshot: truncated number array');
        }
      }
    };

    const header = skipPast('"nodes":[', true);
    const meta = (JSON.parse(`${header.trim().replace(/,$/, '')}}`) as { snapshot: { meta: Meta } }).snapshot
      .meta;
    const nodes = new Numbers();
    numbers((n) => nodes.push(n));
    const nf = meta.node_fields;
    const nw = nf.length;
    const [fId, fType, fName, fSize, fEdges] = ['id', 'type', 'name', 'self_size', 'edge_count'].map((f) =>
      nf.indexOf(f),
    );
    const nodeCount = nodes.length / nw;
    const id = new Uint32Array(nodeCount);
    const type = new Uint8Array(nodeCount);
    const name = new Uint32Array(nodeCount);
    const selfSize = new Float64Array(nodeCount);
    const firstEdge = new Uint32Array(nodeCount + 1);
    const edgeCount = new Uint32Array(nodeCount);
    let edgeTotal = 0;
    for (let i = 0; i < nodeCount; i++) {
      const o = i * nw;
      id[i] = nodes.data[o + fId];
      type[i] = nodes.data[o + fType];
      name[i] = nodes.data[o + fName];
      selfSize[i] = nodes.data[o + fSize];
      edgeCount[i] = nodes.data[o + fEdges];
      firstEdge[i] = edgeTotal;
      edgeTotal += edgeCount[i];
    }
    firstEdge[nodeCount] = edgeTotal;
    nodes.data = new Float64Array(0);

    // edges straight into their columns: a snapshot of many sessions has hundreds of millions
    skipPast('"edges":[', false);
    const ef = meta.edge_fields;
    const ew = ef.length;
    const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f));
    const edgeType = new Uint8Array(edgeTotal);
    const edgeName = new Uint32Array(edgeTotal);
    const edgeTo = new Uint32Array(edgeTotal);
    let field = 0;
    let edge = 0;
    numbers((n) => {
      if (field === eType) edgeType[edge] = n;
      else if (field === eName) edgeName[edge] = n;
      else if (field === eTo) edgeTo[edge] = n / nw;
      if (++field === ew) {
        field = 0;
        edge++;
      }
    });
    if (edge !== edgeTotal) throw new Error(`heap snapshot: ${edge} edges, nodes count ${edgeTotal}`);
    skipPast('"strings":[', false);
    const strings: string[] = [];
    let lit: number[] | undefined;
    for (;;) {
      const b = byte();
      if (b < 0) throw new Error('heap snapshot: truncated strings');
      if (lit === undefined) {
        if (b === 34 /* " */) lit = [b];
        else if (b === 93 /* ] */) break;
        continue;
      }
      lit.push(b);
      if (b === 92 /* \ */) {
        lit.push(byte());
      } else if (b === 34) {
        strings.push(JSON.parse(Buffer.from(lit).toString()) as string);
        lit = undefined;
      }
    }

    return {
      nodeCount,
      id,
      type,
      name,
      selfSize,
      firstEdge,
      edgeCount,
      edgeType,
      edgeName,
      edgeTo,
      strings,
      nodeTypes: meta.node_types[0],
      edgeTypes: meta.edge_types[0],
    };
  } finally {
    closeSync(fd);
  }
}

/** The name of a node as a grouping key: constructor for objects, kind for strings, numbers, code. */
export function nodeKey(s: HeapSnapshot, i: number): string {
  const type = s.nodeTypes[s.type[i]];
  const name = s.strings[s.name[i]];
  switch (type) {
    case 'string':
    case 'concatenated string':
    case 'sliced string':
    case 'number':
    case 'bigint':
    case 'code':
      return `(${type})`;
    case 'object':
    case 'native':
      return name;
    case 'closure':
      return `closure ${name === '' ? '(anonymous)' : name}`;
    default:
      return `(${type}) ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
  }
}

/** Count and total self size per {@link nodeKey}. */
export function histogram(s: HeapSnapshot): Map<string, { count: number; size: number }> {
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < s.nodeCount; i++) {
    const k = nodeKey(s, i);
    let h = out.get(k);
    if (h === undefined) {
      h = { count: 0, size: 0 };
      out.set(k, h);
    }
    h.count++;
    h.size += s.selfSize[i];
  }
  return out;
}

export interface Dominators {
  /** Immediate dominator per node; the root's is itself, unreachable nodes' is 0xffffffff. */
  idom: Uint32Array;
  retained: Float64Array;
  /** Dominator tree children, CSR: children of n are `kids[kidStart[n] .. kidStart[n + 1])`. */
  kidStart: Uint32Array;
  kids: Uint32Array;
}

const NONE = 0xffffffff;

/** Dominator tree from node 0 (Cooper, Harvey, Kennedy), ignoring weak edges. */
export function dominators(s: HeapSnapshot): Dominators {
  const n = s.nodeCount;
  const weak = s.edgeTypes.indexOf('weak');
  // depth-first postorder from the root
  const post = new Uint32Array(n).fill(NONE); // node -> postorder number
  const order = new Uint32Array(n); // postorder number -> node
  const stack = new Uint32Array(n);
  const cursor = new Uint32Array(n);
  const seen = new Uint8Array(n);
  let sp = 0;
  let count = 0;
  stack[sp++] = 0;
  seen[0] = 1;
  cursor[0] = s.firstEdge[0];
  while (sp > 0) {
    const v = stack[sp - 1];
    const end = s.firstEdge[v + 1];
    let pushed = false;
    while (cursor[v] < end) {
      const e = cursor[v]++;
      if (s.edgeType[e] === weak) continue;
      const w = s.edgeTo[e];
      if (seen[w]) continue;
      seen[w] = 1;
      cursor[w] = s.firstEdge[w];
      stack[sp++] = w;
      pushed = true;
      break;
    }
    if (!pushed) {
      sp--;
      post[v] = count;
      order[count++] = v;
    }
  }
  // predecessors (reachable ones only), CSR by target
  const predStart = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++) {
    if (!seen[v]) continue;
    for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++)
      if (s.edgeType[e] !== weak) predStart[s.edgeTo[e] + 1]++;
  }
  for (let v = 0; v < n; v++) predStart[v + 1] += predStart[v];
  const preds = new Uint32Array(predStart[n]);
  const fillAt = predStart.slice(0, n);
  for (let v = 0; v < n; v++) {
    if (!seen[v]) continue;
    for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) {
      if (s.edgeType[e] !== weak) preds[fillAt[s.edgeTo[e]]++] = v;
    }
  }
  // iterate in reverse postorder until stable; idom kept as postorder numbers
  const dom = new Uint32Array(count).fill(NONE);
  const root = post[0];
  dom[root] = root;
  for (let changed = true; changed; ) {
    changed = false;
    for (let p = count - 1; p >= 0; p--) {
      if (p === root) continue;
      const v = order[p];
      let d = NONE;
      for (let k = predStart[v]; k < predStart[v + 1]; k++) {
        let q = post[preds[k]];
        if (dom[q] === NONE) continue;
        if (d === NONE) {
          d = q;
          continue;
        }
        let a = d;
        while (a !== q) {
          while (a < q) a = dom[a];
          while (q < a) q = dom[q];
        }
        d = a;
      }
      if (d !== dom[p]) {
        dom[p] = d;
        changed = true;
      }
    }
  }
  const idom = new Uint32Array(n).fill(NONE);
  for (let p = 0; p < count; p++) idom[order[p]] = order[dom[p]];
  // retained sizes: children before parents in postorder
  const retained = new Float64Array(n);
  for (let p = 0; p < count; p++) {
    const v = order[p];
    retained[v] += s.selfSize[v];
    if (p !== root) retained[idom[v]] += retained[v];
  }
  const kidStart = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++) if (idom[v] !== NONE && v !== 0) kidStart[idom[v] + 1]++;
  for (let v = 0; v < n; v++) kidStart[v + 1] += kidStart[v];
  const kids = new Uint32Array(kidStart[n]);
  const at = kidStart.slice(0, n);
  for (let v = 0; v < n; v++) if (idom[v] !== NONE && v !== 0) kids[at[idom[v]]++] = v;
  return { idom, retained, kidStart, kids };
}

/** The name of the first edge from `from` to `to`, as a path segment. */
export function edgeLabel(s: HeapSnapshot, from: number, to: number): string | undefined {
  for (let e = s.firstEdge[from]; e < s.firstEdge[from + 1]; e++) {
    if (s.edgeTo[e] !== to) continue;
    const type = s.edgeTypes[s.edgeType[e]];
    if (type === 'element') return `[${s.edgeName[e]}]`;
    if (type === 'hidden') return `<hidden ${s.edgeName[e]}>`;
    const name = s.strings[s.edgeName[e]];
    return type === 'internal' || type === 'context' ? `<${name}>` : name;
  }
  return undefined;
}

/** Up to `max` nodes with an edge to `to` (a scan of every edge), with the edge's label. */
export function retainers(s: HeapSnapshot, to: number, max = 3): { from: number; label: string }[] {
  const out: { from: number; label: string }[] = [];
  const weak = s.edgeTypes.indexOf('weak');
  for (let v = 0; v < s.nodeCount && out.length < max; v++) {
    for (let e = s.firstEdge[v]; e < s.firstEdge[v + 1]; e++) {
      if (s.edgeTo[e] === to && s.edgeType[e] !== weak) {
        out.push({ from: v, label: edgeLabel(s, v, to) ?? '?' });
        break;
      }
    }
  }
  return out;
}
