/**
 * `FleetNode`: one node of a fleet spread over processes and machines. Every
 * node is given the same fleet definition; each runs, on its own
 * `SessionManager`, the sessions the placement gives it, and each session
 * runs on one live node at a time.
 *
 * How it works: a `Membership` (`membership.ts`) keeps the node's lease,
 * renewed by one command per period; everything else happens at its
 * renewals ('renewed'), in one pass at a time (a renewal during a pass
 * asks for one more after it):
 *
 *   place     weighted rendezvous over the live members (`assignment.ts`),
 *             computed again only when the members or weights change
 *   hand off  sessions held here but placed elsewhere (a node joined):
 *             each is removed from the manager (what is in flight completes
 *             or stays in the store, the store is flushed, DISCONNECT),
 *             then all their leases are released in one batch, so the new
 *             owner takes them at its next renewal, without waiting for
 *             any lease to run out
 *   acquire   sessions placed here and not running: `Leases.acquire` in one
 *             batch; each one taken is fenced (`RedisStore.fence` with its
 *             token) before the manager adds it, then connected, at most
 *             `concurrency` at once; a refusal (its owner still holds it) is
 *             tried again at the next renewal
 *
 * Sessions start only while the membership is safe (its local deadline
 * not passed), and no free session is taken while the cluster is quiet
 * (`membership.quiet`: for one ttl after the first join of a new cluster,
 * or of a Redis that lost its data, so that whoever ran a session before
 * the loss has stopped it first; see membership.ts): a brand-new cluster
 * starts its sessions one ttl after its first node joined. The first pass
 * comes with the first renewal after the join, one period on, so nodes
 * started together see each other before any of them takes sessions.
 * `setWeight(0)` drains a node: its sessions are handed off at the
 * renewals that follow.
 *
 * When the node cannot prove its lease:
 *
 *   'unsafe'  (renewals failing, the local deadline passed) every running
 *             session is closed at once, the leases kept; at 'safe' (a
 *             renewal of the same incarnation succeeded, so nobody can
 *             have taken anything) the next pass acquires them again, which
 *             gives back the same tokens, and starts them
 *   'lost'    (the lease ran out in Redis) every session is closed and
 *             forgotten; the node joins again as a new incarnation (tried
 *             again every period until Redis lets it) and carries on
 *   fenced    a session whose store write was refused for its token
 *             (`FencedError`, the cause of the session's store error) is
 *             closed and forgotten, not released: it is not ours
 *
 * `stop()` leaves gracefully: no more passes; every session removed (as a
 * handoff), their leases released, then the node's own lease deleted, so
 * the others see it gone and take everything at their next renewal.
 *
 * Redis cost per period: one EVALSHA (the renewal), whatever the number of
 * sessions. A change of members costs one acquire batch (at most three
 * round trips) on the nodes that gain sessions and one release batch on
 * those that lose some; a session refused is asked for again once per
 * period until its owner lets go.
 */
import { SafeEmitter } from '../core/emitter.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type { ClusterMetrics } from '../metrics/index.js';
import { Placement } from './assignment.js';
import {
  type FleetNodeEvents,
  type FleetNodeOptions,
  type FleetNodeState,
  type FleetNodeStatus,
  OPTIONS,
  readFleet,
} from './fleet-options.js';
import { type PlacementUnit, placementUnits, UnitForwarders } from './groups.js';
import { type LeaseHolder, Leases } from './leases.js';
import {
  DEFAULT_CONCURRENCY,
  type FleetSession,
  fencedCause,
  type Held,
  LocalSessions,
} from './local-sessions.js';
import { type Member, type MembersChange, Membership } from './membership.js';

export type {
  FleetClient,
  FleetNodeEvents,
  FleetNodeOptions,
  FleetNodeState,
  FleetNodeStatus,
  ReleaseReason,
} from './fleet-options.js';

/** The node's one entry on the shared timer: the next try to join again after a loss. */
class Retry extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}

/** One node of a fleet across processes and machines (see the file's header). */
export class FleetNode extends SafeEmitter<FleetNodeEvents> {
  /** The node's membership: read it (members, safeUntil); `start()` and `stop()` join and leave. */
  readonly membership: Membership;
  readonly #leases: Leases;
  readonly #local: LocalSessions;
  /** The fleet, by client id, in the definition's order. */
  readonly #fleet: ReadonlyMap<string, FleetSession>;
  /** What is placed together (a forwarder's sessions), by client id; and the units' keys. */
  readonly #units: ReadonlyMap<string, PlacementUnit>;
  readonly #unitKeys: readonly string[];
  readonly #forwarders: UnitForwarders;
  readonly #interval: number;
  #state: FleetNodeState = 'idle';
  /** The pass running, if one is. */
  #passing: Promise<void> | undefined;
  /** A renewal came during the pass: one more after it. */
  #again = false;
  /** The placement's members (ids and weights) and the client ids it gives this node. */
  #placedFor = '';
  #placed: ReadonlySet<string> = new Set();
  /** The members this node has announced ('node_joined' without 'node_left' since). */
  readonly #known = new Set<string>();
  #rejoining: Promise<void> | undefined;
  readonly #retry = new Retry(() => this.#rejoin());
  #stopped: Promise<void> | undefined;
  /** What `metrics()` shows. */
  readonly #count = {
    acquired: 0,
    released: {} as Record<string, number>,
    handoffs: 0,
    handoffMs: 0,
    renewals: 0,
    renewalMs: 0,
  };

  constructor(options: FleetNodeOptions) {
    super();
    checkOptions(options, OPTIONS, 'options');
    const { manager, sessions, client, store, cluster, node, prefix, weight, ttl, margin } = options;
    this.membership = new Membership({ client, cluster, node, prefix, weight, ttl, margin });
    this.#leases = new Leases({ client, cluster, prefix });
    const room = this.membership.ttl - this.membership.margin;
    this.#interval = options.interval ?? Math.max(1, Math.floor(room / 3));
    if (this.#interval >= room)
      throw new InvalidArgumentError('options.interval', `must be below ttl - margin (${room})`);
    this.#fleet = readFleet(sessions, store);
    const forwarders = options.forwarders ?? [];
    this.#units = placementUnits([...this.#fleet.values()], forwarders);
    this.#unitKeys = [...new Set([...this.#units.values()].map((u) => u.key))];
    this.#forwarders = new UnitForwarders(manager, forwarders, (err) => this.#fail(err));
    this.#local = new LocalSessions(
      manager,
      store,
      options.concurrency ?? DEFAULT_CONCURRENCY,
      options.handoffTimeout ?? Math.min(5_000, Math.floor(room / 2)),
      (err) => this.#fail(err),
      (name) => this.#forwarders.detachFor(name),
    );
  }

  /** Where the node is. */
  get state(): FleetNodeState {
    return this.#state;
  }

  /**
   * Joins the cluster and starts renewing; the sessions placed here start at
   * the renewals that follow, from the first (one period on). Rejects as `join()` does
   * (`ClusterError` 'node-taken' while another process holds the node id);
   * `ClosedError` after `stop()`. Calling it again while started does nothing.
   */
  async start(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped')
      throw new ClosedError('the fleet node is stopped');
    if (this.#state !== 'idle') return;
    this.#state = 'joining';
    this.#listen(true);
    try {
      await this.membership.join();
    } catch (err) {
      this.#listen(false);
      if (this.#state === 'joining') this.#state = 'idle';
      throw err;
    }
    if (this.#state !== 'joining') return; // stopped meanwhile: stop() leaves
    // the first pass comes with the first renewal, one period on: nodes started together see each
    // other by then, so no session starts on one of them only to move at once
    this.membership.start(this.#interval);
    this.#state = 'running';
  }

  /** Sets this node's weight; the next renewal writes it and every node places again (0 hands everything over). */
  setWeight(weight: number): void {
    this.membership.setWeight(weight);
  }

  /**
   * Leaves gracefully: no more acquiring; every session removed (what is in
   * flight completes or stays in the store, then DISCONNECT), their leases
   * released, then the node's lease deleted. Rejects only if Redis could not
   * delete the node's lease (it then runs out by itself). Later calls
   * return the same promise.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stopNow();
    return this.#stopped;
  }

  /** The node, its members, its lease's age and the sessions it holds. */
  status(): FleetNodeStatus {
    const m = this.membership;
    const sentAt = m.safeUntil - (m.ttl - m.margin);
    const now = Date.now();
    const sessions: FleetNodeStatus['sessions'][number][] = [];
    for (const def of this.#fleet.values()) {
      const h = this.#local.held.get(def.clientId);
      if (h !== undefined)
        sessions.push({
          name: def.name,
          clientId: def.clientId,
          token: h.token,
          heldFor: now - h.since,
          running: h.session !== undefined,
        });
    }
    return {
      cluster: m.cluster,
      node: m.node,
      state: this.#state,
      incarnation: m.incarnation,
      members: m.members,
      leaseAge: Number.isFinite(sentAt) ? performance.now() - sentAt : undefined,
      sessions,
    };
  }

  /** This node's counters since it was made (the manager's `mqttkit_cluster_*` metrics). */
  metrics(): ClusterMetrics {
    const c = this.#count;
    let owned = 0;
    for (const h of this.#local.held.values()) if (h.session !== undefined) owned++;
    const age = this.status().leaseAge;
    return {
      owned,
      members: this.membership.members.length,
      acquired: c.acquired,
      released: { ...c.released },
      handoffs: c.handoffs,
      handoffSeconds: c.handoffMs / 1000,
      renewals: c.renewals,
      renewalSeconds: c.renewalMs / 1000,
      leaseAgeSeconds: age === undefined ? undefined : age / 1000,
    };
  }

  // ---------------------------------------------------------------------------
  // membership events

  readonly #onRenewed = (): void => {
    const latency = this.membership.lastRenewalLatency;
    if (latency !== undefined) {
      this.#count.renewals++;
      this.#count.renewalMs += latency;
    }
    this.#kick();
  };

  readonly #onMembers = (change: MembersChange): void => {
    const live = new Set(change.members.map((m) => m.id));
    for (const id of live)
      if (!this.#known.has(id)) {
        this.#known.add(id);
        this.emit('node_joined', { id });
      }
    for (const id of this.#known)
      if (!live.has(id)) {
        this.#known.delete(id);
        this.emit('node_left', { id });
      }
  };

  readonly #onUnsafe = (): void => {
    if (this.#state !== 'running') return;
    this.#state = 'unsafe';
    for (const h of this.#local.held.values()) if (h.session !== undefined) this.#halt(h, 'unsafe');
  };

  readonly #onSafe = (): void => {
    if (this.#state === 'unsafe') this.#state = 'running'; // the pass of this renewal starts them again
  };

  readonly #onLost = (): void => {
    if (this.#state !== 'running' && this.#state !== 'unsafe') return;
    this.#state = 'rejoining';
    const held = this.#local.held;
    for (const h of held.values()) if (h.session !== undefined) this.#halt(h, 'lost');
    held.clear(); // the old incarnation's leases are dead: nothing to release
    this.#rejoin();
  };

  readonly #onRenewalFailed = (err: Error): void => this.#fail(err);
  readonly #onMembershipError = (err: unknown): void => this.#fail(err);

  readonly #onSessionError = ({ error }: { error: unknown }): void => {
    const fenced = fencedCause(error);
    if (fenced === undefined) return;
    const h = this.#local.held.get(fenced.clientId);
    if (h === undefined || h.token !== fenced.token) return; // an older token's refusal
    this.#local.held.delete(fenced.clientId);
    if (h.session !== undefined) this.#halt(h, 'fenced');
  };

  #listen(on: boolean): void {
    const m = this.membership;
    const manager = this.#local.manager;
    const how = on ? 'on' : 'off';
    m[how]('renewed', this.#onRenewed);
    m[how]('members', this.#onMembers);
    m[how]('unsafe', this.#onUnsafe);
    m[how]('safe', this.#onSafe);
    m[how]('lost', this.#onLost);
    m[how]('renewal_failed', this.#onRenewalFailed);
    m[how]('error', this.#onMembershipError);
    manager[how]('session_error', this.#onSessionError);
  }

  /** Joins again after a loss, as a new incarnation; tried again every period while Redis refuses. */
  #rejoin(): void {
    if (this.#state !== 'rejoining' || this.#rejoining !== undefined) return;
    this.#rejoining = (async () => {
      try {
        await this.membership.join();
        if (this.#state !== 'rejoining') return; // stopping: stop() leaves
        this.membership.start(this.#interval);
        this.#state = 'running';
        this.#kick();
      } catch (err) {
        this.#fail(err);
        const after = (err as { retryAfter?: number }).retryAfter;
        this.#retry.deadline = Date.now() + Math.max(this.#interval, after ?? 0);
        if (this.#state === 'rejoining') sharedTimer.add(this.#retry);
      } finally {
        this.#rejoining = undefined;
      }
    })();
  }

  // ---------------------------------------------------------------------------
  // the pass

  /** Runs a pass now, or one more after the one running. */
  #kick(): void {
    if (this.#passing !== undefined) {
      this.#again = true;
      return;
    }
    this.#passing = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pass().catch((err: unknown) => this.#fail(err));
        } while (this.#again && this.#state === 'running');
      } finally {
        this.#passing = undefined;
      }
    })();
  }

  async #pass(): Promise<void> {
    const m = this.membership;
    const incarnation = m.incarnation;
    if (this.#state !== 'running' || incarnation === undefined || !m.isSafe()) return;
    const holder: LeaseHolder = { id: m.node, incarnation };
    const placed = this.#placement(m.members);
    const local = this.#local;
    const leaving: Held[] = [];
    for (const h of local.held.values()) if (!placed.has(h.def.clientId)) leaving.push(h);
    const taking: string[] = [];
    for (const id of placed) {
      const h = local.held.get(id);
      // quiet: only what this incarnation holds already (paused), nothing free (see the header)
      if (h?.session === undefined && !local.closing(id) && (h !== undefined || !m.quiet)) taking.push(id);
    }
    local.retryConnects();
    // both run to their end before the pass does (a failure of one does not cut the other short)
    const results = await Promise.allSettled([
      this.#handOff(leaving, holder, 'handoff'),
      this.#acquire(taking, holder),
    ]);
    for (const r of results) if (r.status === 'rejected') this.#fail(r.reason);
  }

  /** The client ids placed on this node by `members`; the placement is made again only when they change. */
  #placement(members: readonly Member[]): ReadonlySet<string> {
    const key = members.map((m) => `${m.id}\n${m.weight}`).join('\n');
    if (key !== this.#placedFor) {
      const mine = new Placement(members).assign(this.#unitKeys).get(this.membership.node) ?? [];
      const placed = new Set<string>();
      for (const unitKey of mine) for (const id of this.#units.get(unitKey)?.clientIds ?? []) placed.add(id);
      this.#placed = placed;
      this.#placedFor = key;
    }
    return this.#placed;
  }

  /** Takes the sessions of `ids` that are free or this node's, and starts those it may start now. */
  async #acquire(ids: string[], holder: LeaseHolder): Promise<void> {
    if (ids.length === 0) return;
    const { acquired, refused } = await this.#leases.acquire(ids, holder);
    // lost meanwhile: what that incarnation acquired is dead already
    if (this.membership.incarnation !== holder.incarnation) return;
    const held = this.#local.held;
    for (const id of refused.keys()) if (held.get(id)?.session === undefined) held.delete(id);
    for (const [id, token] of acquired) {
      let h = held.get(id);
      if (h === undefined || h.token !== token) {
        h = {
          def: this.#fleet.get(id) as FleetSession,
          token,
          since: Date.now(),
          session: undefined,
          queued: false,
        };
        held.set(id, h);
      }
      // unsafe or stopping meanwhile: held (stop() releases it, 'safe' starts it), not started
      if (this.#state !== 'running' || !this.membership.isSafe()) continue;
      if (h.session !== undefined || this.#local.closing(id)) continue;
      if (this.#local.run(h)) {
        this.#count.acquired++;
        this.emit('session_acquired', { name: h.def.name, clientId: id, token });
      }
    }
  }

  /**
   * Stops the running sessions of `list` gracefully, then releases the
   * leases of those still held under `holder` (one batch). A release that
   * fails keeps them held, not running: the next pass tries again.
   */
  async #handOff(list: readonly Held[], holder: LeaseHolder, reason: 'handoff' | 'leave'): Promise<void> {
    if (list.length === 0) return;
    const began = performance.now();
    await Promise.all(
      list.map(async (h) => {
        if (h.session === undefined) return this.#local.retire(h); // paused: already announced
        await this.#local.retire(h);
        this.#released(reason);
        this.emit('session_released', { name: h.def.name, clientId: h.def.clientId, reason });
      }),
    );
    const held = this.#local.held;
    const still = list.filter((h) => held.get(h.def.clientId) === h);
    if (still.length === 0 || this.membership.incarnation !== holder.incarnation) return;
    await this.#leases.release(
      still.map((h) => h.def.clientId),
      holder,
    );
    for (const h of still)
      if (held.get(h.def.clientId) === h && h.session === undefined) held.delete(h.def.clientId);
    this.#count.handoffs++;
    this.#count.handoffMs += performance.now() - began;
  }

  #released(reason: string): void {
    this.#count.released[reason] = (this.#count.released[reason] ?? 0) + 1;
  }

  /** Stops a session at once and announces it. */
  #halt(h: Held, reason: 'unsafe' | 'lost' | 'fenced'): void {
    this.#local.halt(h);
    this.#released(reason);
    this.emit('session_released', { name: h.def.name, clientId: h.def.clientId, reason });
  }

  async #stopNow(): Promise<void> {
    const joined = this.#state !== 'idle';
    this.#state = 'stopping';
    sharedTimer.remove(this.#retry);
    await this.#rejoining;
    await this.#passing;
    const m = this.membership;
    const incarnation = m.incarnation;
    if (incarnation !== undefined) {
      const holder = { id: m.node, incarnation };
      await this.#handOff([...this.#local.held.values()], holder, 'leave').catch((err: unknown) =>
        this.#fail(err),
      ); // a release that failed ends with the node's lease, deleted below
    }
    await this.#local.settled();
    await this.#forwarders.close().catch((err: unknown) => this.#fail(err));
    this.#local.held.clear();
    this.#listen(false);
    this.#state = 'stopped';
    if (joined) await m.leave();
  }

  #fail(err: unknown): void {
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  protected override listenerFailed(error: unknown, event: keyof FleetNodeEvents): void {
    if (event !== 'error') this.#fail(error);
  }
}
