/**
 * What moves together in a cluster: a forwarder runs on the node that runs
 * its sessions (every `from` and its `to`), so the sessions a forwarder
 * joins are placed as one unit. Why not a lease of its own, anywhere: a
 * forwarder publishes through its target's `Session` object and acknowledges
 * each message to its source only once the target took it (`manualAck`),
 * which needs both sessions in the same process. Placed together, a
 * forwarder costs no extra lease and no hop, and moves with its sessions.
 * The price: the sessions of one forwarder (a fan-in of many sources, say)
 * all run on one node. A move loses nothing the source had not
 * acknowledged: before its sessions close, the forwarder stops without
 * acknowledging what waits or arrives and without unsubscribing (the
 * broker keeps both for the source's next connection); on the new node it
 * subscribes as soon as its sources are connecting, so what the broker
 * hands a source right after its CONNACK finds the handler in place.
 *
 *   placementUnits(sessions, forwarders)   the units, by the client id of each member
 *   UnitForwarders                         starts a node's forwarders once their sessions
 *                                          run here (sources connecting), stops them, holding
 *                                          what is unacknowledged, before one goes
 */
import type { Forwarder, ForwarderOptions } from '../forward/index.js';
import type { ManagedSessionOptions, SessionManager } from '../manager/index.js';

/** Sessions placed together, and the forwarders that join them. */
export interface PlacementUnit {
  /** What the placement hashes: the client id of the unit's first session, in the fleet's order. */
  readonly key: string;
  /** The sessions' names and client ids, in the fleet's order. */
  readonly names: readonly string[];
  /** The same sessions' client ids. */
  readonly clientIds: readonly string[];
  /** The forwarders between them. */
  readonly forwarders: readonly ForwarderOptions[];
}

/** The unit of every session, by its client id (a session without forwarders is a unit of its own). */
export function placementUnits(
  sessions: readonly Pick<ManagedSessionOptions, 'name' | 'clientId'>[],
  forwarders: readonly ForwarderOptions[],
): Map<string, PlacementUnit> {
  const index = new Map<string, number>(sessions.map((s, i) => [s.name, i]));
  const parent = sessions.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const join = (a: number | undefined, b: number | undefined): void => {
    if (a === undefined || b === undefined) return;
    const [x, y] = [root(a), root(b)];
    if (x !== y) parent[Math.max(x, y)] = Math.min(x, y); // the root is the unit's first session
  };
  const sources = (f: ForwarderOptions): readonly string[] =>
    typeof f.from === 'string' ? [f.from] : f.from;
  for (const f of forwarders) for (const from of sources(f)) join(index.get(from), index.get(f.to));

  const byRoot = new Map<number, { names: string[]; clientIds: string[]; forwarders: ForwarderOptions[] }>();
  sessions.forEach((s, i) => {
    const r = root(i);
    let u = byRoot.get(r);
    if (u === undefined) byRoot.set(r, (u = { names: [], clientIds: [], forwarders: [] }));
    u.names.push(s.name);
    u.clientIds.push(s.clientId as string);
  });
  for (const f of forwarders) {
    const i = index.get(f.to);
    if (i !== undefined) byRoot.get(root(i))?.forwarders.push(f);
  }
  const units = new Map<string, PlacementUnit>();
  for (const u of byRoot.values()) {
    const unit: PlacementUnit = { key: u.clientIds[0] as string, ...u };
    for (const id of u.clientIds) units.set(id, unit);
  }
  return units;
}

/**
 * The forwarders of a node: one `Forwarder` per fleet forwarder, made on
 * the manager once; started once all its sessions are on the manager and
 * its sources connecting or connected (tried again at each of their
 * connects), stopped for a move (`acknowledge: false`) before any of them
 * is removed.
 */
export class UnitForwarders {
  readonly #byName = new Map<string, Forwarder[]>();
  readonly #all: Forwarder[] = [];
  readonly #members = new Map<Forwarder, readonly string[]>();

  constructor(
    private readonly manager: SessionManager,
    forwarders: readonly ForwarderOptions[],
    private readonly fail: (err: unknown) => void,
  ) {
    for (const o of forwarders) {
      const f = manager.forward(o);
      const names = [...(typeof o.from === 'string' ? [o.from] : o.from), o.to];
      this.#members.set(f, names);
      this.#all.push(f);
      for (const n of new Set(names)) {
        const list = this.#byName.get(n) ?? [];
        list.push(f);
        this.#byName.set(n, list);
      }
    }
    if (this.#all.length > 0) {
      manager.on('session_connecting', this.#onSession);
      manager.on('session_connected', this.#onSession);
    }
  }

  readonly #onSession = ({ name }: { name: string }): void => {
    for (const f of this.#byName.get(name) ?? []) this.#startIfReady(f);
  };

  #startIfReady(f: Forwarder): void {
    const m = this.manager;
    if (!(this.#members.get(f) ?? []).every((n) => m.get(n) !== undefined)) return;
    const up = (n: string): boolean => m.get(n)?.state === 'connecting' || m.get(n)?.state === 'connected';
    if (!f.sources.every(up)) return;
    f.start().catch((err: unknown) => this.fail(err)); // tried again at the next connect of one of them
  }

  /**
   * Stops the forwarders that use session `name`, before it is removed to
   * run elsewhere: what they hold unacknowledged stays with the broker.
   */
  detachFor(name: string): void {
    for (const f of this.#byName.get(name) ?? []) f.stop({ acknowledge: false }).catch(this.fail);
  }

  /** Stops them all (as a move) and stops listening. */
  async close(): Promise<void> {
    this.manager.off('session_connecting', this.#onSession);
    this.manager.off('session_connected', this.#onSession);
    await Promise.all(this.#all.map((f) => f.stop({ acknowledge: false })));
  }
}
