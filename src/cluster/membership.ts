/**
 * `Membership`: one node of a named cluster on Redis, its lease, and the
 * list of live members it sees.
 *
 * How it works: a node holds a lease, the key `...:node:<id>` whose value
 * is its incarnation (random, new for each join) with a PX expiry of `ttl`,
 * and a score in the sorted set `...:nodes` (its expiry in Redis's clock);
 * its weight is in the hash `...:weights` (key names in `keys.ts`). One
 * Lua script does a whole renewal in one round trip: refuse if another
 * incarnation holds the key, or (renewing) if the key is gone, else set it
 * again (PX ttl) with the score
 * `TIME + ttl`, drop the members whose score has passed, and return the
 * live ones with their weights. So upkeep is one command per node per
 * period, whatever the number of sessions; every node judges expiry by
 * Redis's clock, never its own.
 *
 *   join()        the script with a new incarnation: refused (ClusterError
 *                 'node-taken') while another process's lease on the id is live
 *   renew()       the same script: the live members; ClusterError 'lapsed'
 *                 (and 'lost') if the lease had run out, 'node-taken' (and
 *                 'lost') if another process took the id
 *
 * An incarnation whose lease ran out never becomes live again: a renewal
 * extends the key only while it still holds the incarnation, and a node
 * whose key is gone is lost and must join again, with a new incarnation,
 * and acquire its sessions again. The session leases (`leases.ts`) rely on
 * this: once another node has seen an owner's lease gone, that owner's
 * records stay dead, so a takeover cannot race the owner coming back.
 *   leave()       deletes the node's keys if they are still its own (and its
 *                 shared numbers, `...:stats`)
 *   start(every)  renews every `every` ms, and once more when another member's
 *                 lease (as last seen) runs out, so a dead node is seen gone at once;
 *                 'renewal_failed', 'unsafe', 'safe'
 *
 * Watching (`FleetCluster.watchStats`, `stats.ts`): with `setWatching(true)`
 * each renewal also sets `...:watch` again (PX ttl), and every renewal says
 * whether that key is set (`watched`): the nodes share their sessions'
 * numbers only then, and nobody pays for a check of its own.
 *
 * Quiet period: one more key, `...:quiet`, holds a time on Redis's clock
 * (ms) before which no node takes a free session (`quiet` is true; the
 * coordinator then acquires only what its own incarnation holds already).
 * The script sets it to `TIME + ttl` when it is missing: in a brand-new
 * cluster, and after Redis lost the cluster's keys (a restart without
 * persistence, a flush; not a failover that lost only the latest writes,
 * where the key survives and the fencing tokens alone protect the store).
 * After such a loss every lease key is gone, so the first node to join
 * again would find every session free while the nodes that ran them still
 * do, until their own renewals fail; but each of those stops by its local
 * deadline, at most `ttl - margin` after the last renewal it sent before
 * the loss, so before the quiet period (a whole `ttl` from a join after
 * the loss) ends. Whoever ran a session before the loss has stopped
 * before anyone starts it again. The cost: a new cluster (an empty Redis) starts its sessions
 * one `ttl` after its first join. The key never expires (one small key
 * per cluster name); the nodes of a cluster are expected to share one
 * `ttl` (the quiet period is the `ttl` of the node that joined first).
 *
 * Safety: the node itself must stop what its lease covers before the lease
 * can run out in Redis. Its own deadline, `safeUntil`, is measured on the
 * local monotonic clock from the moment the last successful renewal was
 * SENT: `sent + ttl - margin`. Redis set the expiry when it ran the script,
 * after that moment, so the deadline comes first by at least `margin`
 * (which covers clock-rate differences, the coarse timer's lateness, event
 * loop stalls and the time to stop sessions). `isSafe(now)` says whether it
 * has passed; an answer that comes late moves it less, or not at all.
 *
 * Scheduling: `start()` puts one `TimerEntry` per membership on a coarse
 * timer (the `CoarseTimer` of `core/timer.ts`, shared by every membership
 * of the process), not a timer of its own. That timer reads
 * `performance.now()` rather than `Date.now()` like `sharedTimer`: the
 * 'unsafe' deadline is monotonic, and a wall clock stepped back by NTP must
 * not delay it. A renewal is sent every period even when the previous one
 * is unanswered (up to {@link MAX_OUTSTANDING}: more would only queue
 * behind those on the same connection), so a command stuck on a connection
 * that is then replaced does not hold up the next; answers apply in send
 * order, a late one never moving the deadline back. A caller
 * may instead call `renew()` on its own schedule and read `isSafe()`.
 */
import { randomBytes } from 'node:crypto';
import { SafeEmitter } from '../core/emitter.js';
import { ClusterError, InvalidArgumentError } from '../core/errors.js';
import { checkOptions, func, int, MAX_MS, number, type Rule, string, table } from '../core/schema.js';
import { CoarseTimer, TimerEntry } from '../core/timer.js';
import { type ClusterKeys, clusterKeys, clusterName, nodeId } from './keys.js';
import { LEAVE, type MembershipClient, RENEW, run } from './membership-scripts.js';

export type { MembershipClient } from './membership-scripts.js';

/** Options of {@link Membership}. */
export interface MembershipOptions {
  /** The Redis client; the membership neither configures nor closes it. */
  client: MembershipClient;
  /** The cluster's name: 1 to 200 characters, no white space, `{` or `}`. */
  cluster: string;
  /** This node's id, unique among the live members: 1 to 200 characters, no white space. */
  node: string;
  /** Prepended to every key. @default 'mqttkit:' */
  prefix?: string;
  /** This node's share of the sessions relative to the others' (0: none). @default 1 */
  weight?: number;
  /** How long a lease lasts after a renewal, in ms (100 or more). @default 10_000 */
  ttl?: number;
  /** How long before the lease could run out in Redis `safeUntil` is, in ms (below `ttl`). @default ttl / 5 */
  margin?: number;
  /** The local monotonic clock `safeUntil` is measured on, in ms. @default performance.now */
  clock?: () => number;
}

/** A live member of the cluster, as the last renewal saw it. */
export interface Member {
  /** The node's id. */
  readonly id: string;
  /** Its weight. */
  readonly weight: number;
  /** When its lease runs out unless renewed: ms since the epoch on Redis's clock. */
  readonly expires: number;
}

/** A change of the member list between two renewals (a weight that changed counts). */
export interface MembersChange {
  /** The live members now, by id. */
  readonly members: readonly Member[];
  /** Ids that are members now and were not before. */
  readonly joined: readonly string[];
  /** Ids that were members before and are not now (left, or their lease ran out). */
  readonly left: readonly string[];
}

/** The events of a {@link Membership}: each name with its listeners' arguments. */
export interface MembershipEvents {
  /** The member list changed (the first successful join or renewal counts: from none). */
  members: [change: MembersChange];
  /**
   * This node's lease is gone: it ran out, Redis lost it (`reason`
   * 'lapsed'), or another process took the id ('node-taken'). It is no
   * longer a member: stop what the lease covered, then join again.
   */
  lost: [error: ClusterError];
  /** A renewal of `start()`'s schedule failed (`renew()`'s own caller gets its rejection instead). */
  renewal_failed: [error: Error];
  /** `safeUntil` passed with no newer successful renewal (`start()` only; up to 100 ms late). */
  unsafe: [];
  /** A renewal succeeded after 'unsafe', and the node is safe again. */
  safe: [];
  /**
   * A renewal (or the join) succeeded: emitted after 'members' and 'safe',
   * once per answer, with the live members as they are now. What runs "at
   * each renewal" (retrying what was refused) listens here, not to a timer
   * of its own.
   */
  renewed: [members: readonly Member[]];
  /** A listener threw. */
  error: [error: unknown];
}

/** Where a membership is. */
export type MembershipState = 'idle' | 'joining' | 'joined' | 'left' | 'lost';

/** How long after another member's lease runs out (on Redis's clock, as last seen) the watch renews. */
const EXPIRY_SLACK_MS = 50;

/** Renewals of `start()` out at once at most (beyond that, Redis is not answering anyway). */
export const MAX_OUTSTANDING = 2;

const monotonic = (): number => performance.now();

/** The coarse timer of every membership's schedule, on the monotonic clock (see the module header). */
const TIMER = new CoarseTimer(monotonic);

/** A membership's one entry on {@link TIMER}. */
class Tick extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}

/** The checks of the membership's own options, which `FleetNode` takes too. */
export const MEMBERSHIP_FIELDS = {
  cluster: clusterName,
  node: nodeId,
  prefix: string,
  weight: number(0),
  ttl: int(100, MAX_MS),
  margin: int(0, MAX_MS),
};

const OPTIONS = table(
  {
    client: ((v) =>
      typeof (v as Partial<MembershipClient> | null)?.evalsha === 'function' &&
      typeof (v as Partial<MembershipClient>).eval === 'function'
        ? undefined
        : 'must be an ioredis client (with eval and evalsha)') as Rule,
    ...MEMBERSHIP_FIELDS,
    clock: func,
  },
  ['client', 'cluster', 'node'],
);

/**
 * One node's membership of a cluster on Redis: its lease, its deadline to
 * stop, and the live members it sees (see the module header).
 */
export class Membership extends SafeEmitter<MembershipEvents> {
  /** The cluster's name. */
  readonly cluster: string;
  /** This node's id. */
  readonly node: string;
  /** Lease length, in ms. */
  readonly ttl: number;
  /** How long before the lease could run out `safeUntil` is, in ms. */
  readonly margin: number;
  readonly #client: MembershipClient;
  readonly #keys: ClusterKeys;
  readonly #nodeKey: string;
  readonly #clock: () => number;
  #weight: number;
  #state: MembershipState = 'idle';
  /** The incarnation of this join; kept after a failed join or leave, so a retry is the same. */
  #incarnation: string | undefined;
  #safeUntil = Number.NEGATIVE_INFINITY;
  #members: readonly Member[] = [];
  #lastRenewal: number | undefined;
  /** When the renewal whose list is `#members` was sent (an older answer does not replace it). */
  #listSentAt = Number.NEGATIVE_INFINITY;
  /** What that renewal said of the quiet period: its end (Redis's clock), and whether it was still on. */
  #quietUntil = Number.POSITIVE_INFINITY;
  #quiet = true;
  readonly #tick = new Tick(() => this.#onTick());
  /** `start()`'s period in ms; 0 when stopped. */
  #interval = 0;
  /** When the next renewal is due, on the timer's clock. */
  #due = 0;
  /**
   * When (monotonic ms) the soonest lease of another member runs out, as the
   * last renewal saw it, plus a little: `start()`'s schedule renews then, so
   * a dead member is seen gone at once, not up to a period later. A live
   * member renews before that, and the next renewal moves it on.
   */
  #watch = Number.POSITIVE_INFINITY;
  /** Renewals of the schedule not answered yet. */
  #outstanding = 0;
  /** 'unsafe' was emitted and no renewal has made the node safe since. */
  #unsafe = false;
  /** Renewals set the watch key again. */
  #watching = false;
  /** The watch key was set at the last answered renewal. */
  #watched = false;

  constructor(options: MembershipOptions) {
    super();
    checkOptions(options, OPTIONS, 'options');
    const {
      client,
      cluster,
      node,
      prefix = 'mqttkit:',
      weight = 1,
      ttl = 10_000,
      clock = monotonic,
    } = options;
    const margin = options.margin ?? Math.floor(ttl / 5);
    if (margin >= ttl)
      throw new InvalidArgumentError('options.margin', `must be below ttl (${ttl}), got ${margin}`);
    this.cluster = cluster;
    this.node = node;
    this.ttl = ttl;
    this.margin = margin;
    this.#client = client;
    this.#keys = clusterKeys(prefix, cluster);
    this.#nodeKey = this.#keys.node(node);
    this.#clock = clock;
    this.#weight = weight;
  }

  /** Where the membership is: 'joined' between a successful `join()` and `leave()` or a loss. */
  get state(): MembershipState {
    return this.#state;
  }

  /** The live members as the last successful renewal saw them, by id (empty when not joined). */
  /** ms from sending the last renewal (or join) that was answered to its answer. */
  get lastRenewalLatency(): number | undefined {
    return this.#lastRenewal;
  }

  /** The live members as the last answered renewal saw them, sorted by id. */
  get members(): readonly Member[] {
    return this.#members;
  }

  /** This join's incarnation id (what the node's lease key holds), while there is one. */
  get incarnation(): string | undefined {
    return this.#incarnation;
  }

  /** This node's weight: what the next renewal writes. */
  get weight(): number {
    return this.#weight;
  }

  /**
   * Until when (on the `clock` of the options) the node may act on its lease:
   * the time the last successful renewal was sent, plus `ttl - margin`.
   * -Infinity before a join, after `leave()` and after a loss.
   */
  get safeUntil(): number {
    return this.#safeUntil;
  }

  /**
   * Whether the cluster was quiet at the last successful renewal (Redis's
   * clock before {@link quietUntil}): no free session may be taken (see the
   * module header). True when not joined.
   */
  get quiet(): boolean {
    return this.#quiet;
  }

  /** When the cluster's quiet period ends (ends, or ended), in ms of Redis's clock, as the last renewal saw it. */
  get quietUntil(): number {
    return this.#quietUntil;
  }

  /** Whether `now` (the `clock` of the options) is before {@link safeUntil}. */
  isSafe(now: number = this.#clock()): boolean {
    return now < this.#safeUntil;
  }

  /**
   * Whether the cluster's watch key was set at the last answered renewal:
   * someone watches the sessions' numbers, and the nodes share theirs. False
   * when not joined.
   */
  get watched(): boolean {
    return this.#watched;
  }

  /** Whether this node's renewals keep the cluster's watch key alive (see {@link setWatching}). */
  get watching(): boolean {
    return this.#watching;
  }

  /**
   * While on, every renewal sets the cluster's watch key again (with the
   * lease's expiry, `ttl`), in the renewal's own command: every node then
   * sees {@link watched} and shares its numbers. Off: the key runs out
   * `ttl` after the last renewal that set it, unless another node keeps it.
   */
  setWatching(on: boolean): void {
    this.#watching = on === true;
  }

  /** Sets the weight; the next renewal writes it (0 hands this node's sessions to the others). */
  setWeight(weight: number): void {
    const bad = number(0)(weight);
    if (bad !== undefined) throw new InvalidArgumentError('weight', bad);
    this.#weight = weight;
  }

  /**
   * Joins the cluster: takes the node's lease and resolves with the live
   * members (this node among them). Rejects with `ClusterError`
   * (`'node-taken'`, with `retryAfter`) while another process's lease on
   * the same node id is live. Joining again while joined renews.
   */
  async join(): Promise<readonly Member[]> {
    if (this.#state === 'joined') return this.renew();
    if (this.#state === 'joining') throw this.#notJoined('is already joining');
    this.#state = 'joining';
    const incarnation = (this.#incarnation ??= randomBytes(16).toString('base64url'));
    try {
      const members = await this.#renew(incarnation, false);
      if (this.#state !== 'joining') throw this.#notJoined('left while joining');
      this.#state = 'joined';
      this.#unsafe = false;
      return members;
    } catch (err) {
      if (this.#state === 'joining') this.#state = 'idle';
      throw err;
    }
  }

  /**
   * Renews the lease (one command) and resolves with the live members,
   * emitting 'members' when they changed. Rejects when Redis fails (the
   * deadline stays where it was), and with `ClusterError` `'node-taken'`
   * when another process took the node id after this node's lease ran out
   * (the membership is then 'lost', and 'lost' is emitted).
   */
  async renew(): Promise<readonly Member[]> {
    const incarnation = this.#incarnation;
    if (this.#state !== 'joined' || incarnation === undefined) throw this.#notJoined('has not joined');
    return this.#renew(incarnation, true);
  }

  async #renew(incarnation: string, renewing: boolean): Promise<readonly Member[]> {
    const sentAt = this.#clock();
    const keys = this.#keys;
    const reply = await run(this.#client, RENEW, [
      keys.nodes,
      this.#nodeKey,
      keys.weights,
      keys.quiet,
      keys.watch,
      keys.stats,
      this.node,
      incarnation,
      this.ttl,
      String(this.#weight),
      renewing ? 'renew' : 'join',
      this.#watching ? '1' : '0',
    ]);
    if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1 && reply[0] !== 2))
      throw new Error('Membership: unexpected reply from the renewal script');
    // a leave (or a loss) since: this answer is of no use
    if (this.#incarnation !== incarnation || this.#state === 'left' || this.#state === 'lost')
      throw this.#notJoined('left while renewing');
    if (reply[0] === 0) {
      const pttl = Number(reply[1]);
      const error = new ClusterError(
        `node ${this.node} is live in cluster ${this.cluster} in another process` +
          (pttl >= 0 ? ` (its lease runs out in ${pttl} ms unless renewed)` : ''),
        'node-taken',
        pttl >= 0 ? pttl : undefined,
      );
      if (renewing) this.#lose(error);
      throw error;
    }
    if (reply[0] === 2) {
      const error = new ClusterError(
        `node ${this.node}'s lease in cluster ${this.cluster} ran out before it was renewed: it must join again`,
        'lapsed',
      );
      this.#lose(error);
      throw error;
    }
    const members: Member[] = [];
    for (let i = 5; i + 2 < reply.length; i += 3) {
      const weight = Number(reply[i + 2]);
      members.push({
        id: String(reply[i]),
        weight: Number.isFinite(weight) && weight >= 0 ? weight : 1,
        expires: Number(reply[i + 1]),
      });
    }
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#safeUntil = Math.max(this.#safeUntil, sentAt + this.ttl - this.margin);
    if (sentAt >= this.#listSentAt) {
      this.#listSentAt = sentAt;
      this.#quietUntil = Number(reply[3]);
      this.#quiet = !(Number(reply[1]) >= this.#quietUntil);
      this.#watched = Number(reply[4]) === 1;
      const redisNow = Number(reply[1]);
      let soonest = Number.POSITIVE_INFINITY;
      for (const m of members) if (m.id !== this.node) soonest = Math.min(soonest, m.expires);
      this.#watch = monotonic() + (soonest - redisNow) + EXPIRY_SLACK_MS;
      if (this.#interval !== 0 && this.#state === 'joined') this.#schedule();
      const before = this.#members;
      this.#members = members;
      const change = diff(before, members);
      if (change !== undefined) this.emit('members', change);
    }
    if (this.#unsafe && this.isSafe()) {
      this.#unsafe = false;
      this.emit('safe');
    }
    this.#lastRenewal = this.#clock() - sentAt;
    this.emit('renewed', this.#members);
    return members;
  }

  /**
   * Leaves the cluster: stops the schedule, gives up the deadline at once
   * (`isSafe()` is false from now on: stop what the lease covers first),
   * and deletes the node's keys if they are still its own, so the others
   * see it gone at their next renewal. A failure rejects; the lease then
   * runs out by itself, and calling `leave()` again retries.
   */
  async leave(): Promise<void> {
    this.stop();
    this.#state = 'left';
    this.#forget();
    const incarnation = this.#incarnation;
    if (incarnation === undefined) return;
    const keys = this.#keys;
    await run(this.#client, LEAVE, [
      keys.nodes,
      this.#nodeKey,
      keys.weights,
      keys.stats,
      this.node,
      incarnation,
    ]);
    if (this.#state === 'left' && this.#incarnation === incarnation) this.#incarnation = undefined;
  }

  /**
   * Renews every `interval` ms (default a third of `ttl - margin`; it must be
   * below `ttl - margin`) on the process's coarse timer, until `stop()`,
   * `leave()` or a loss. Failures are emitted as 'renewal_failed'; the
   * deadline passing as 'unsafe', and the next success after it as 'safe'.
   */
  start(interval: number = Math.max(1, Math.floor((this.ttl - this.margin) / 3))): void {
    if (this.#state !== 'joined') throw this.#notJoined('has not joined');
    const most = this.ttl - this.margin - 1;
    if (!Number.isInteger(interval) || interval < 1 || interval > most)
      throw new InvalidArgumentError(
        'interval',
        `must be an integer from 1 to ${most} (below ttl - margin), got ${String(interval)}`,
      );
    this.#interval = interval;
    this.#due = monotonic() + interval;
    this.#schedule();
  }

  /** Stops `start()`'s schedule (the lease then runs out unless `renew()` is called). */
  stop(): void {
    this.#interval = 0;
    TIMER.remove(this.#tick);
  }

  #onTick(): void {
    if (this.#state !== 'joined' || this.#interval === 0) return;
    if (!this.#unsafe && !this.isSafe()) {
      this.#unsafe = true;
      this.emit('unsafe');
      if (this.#state !== 'joined' || this.#interval === 0) return; // a listener left or stopped
    }
    const now = monotonic();
    if (now >= this.#due || now >= this.#watch) {
      if (now >= this.#due) this.#due = now + this.#interval;
      this.#watch = Number.POSITIVE_INFINITY; // the answer arms it again
      if (this.#outstanding < MAX_OUTSTANDING) void this.#scheduledRenewal();
    }
    this.#schedule();
  }

  /** The entry's next deadline: the next renewal, or the safe deadline if that comes first. */
  #schedule(): void {
    const now = monotonic();
    let at = Math.min(this.#due, this.#watch);
    if (!this.#unsafe) at = Math.min(at, now + (this.#safeUntil - this.#clock()));
    // never in the past: the timer fires buckets from its last tick on
    this.#tick.deadline = Math.max(at, now);
    TIMER.add(this.#tick);
  }

  async #scheduledRenewal(): Promise<void> {
    this.#outstanding++;
    try {
      await this.renew();
    } catch (err) {
      if (this.#state === 'joined')
        this.emit('renewal_failed', err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#outstanding--;
    }
  }

  /** The lease ran out or another process took the node id: no longer a member. */
  #lose(error: ClusterError): void {
    this.stop();
    this.#state = 'lost';
    this.#incarnation = undefined;
    this.#forget();
    this.emit('lost', error);
  }

  /** No longer a member: no deadline, no members, quiet (nothing known). */
  #forget(): void {
    this.#safeUntil = Number.NEGATIVE_INFINITY;
    this.#members = [];
    this.#watch = Number.POSITIVE_INFINITY;
    this.#listSentAt = Number.NEGATIVE_INFINITY;
    this.#quietUntil = Number.POSITIVE_INFINITY;
    this.#quiet = true;
    this.#watched = false;
  }

  #notJoined(what: string): ClusterError {
    return new ClusterError(`node ${this.node} of cluster ${this.cluster} ${what}`, 'not-joined');
  }

  protected override listenerFailed(error: unknown, event: keyof MembershipEvents): void {
    if (event !== 'error') this.emit('error', error);
  }
}

/** What changed from `before` to `after` (both by id), or undefined when nothing did. */
function diff(before: readonly Member[], after: readonly Member[]): MembersChange | undefined {
  const old = new Map(before.map((m) => [m.id, m.weight]));
  const joined: string[] = [];
  let same = before.length === after.length;
  for (const m of after) {
    const w = old.get(m.id);
    if (w === undefined) joined.push(m.id);
    if (w !== m.weight) same = false;
  }
  if (same) return undefined;
  const now = new Set(after.map((m) => m.id));
  const left = before.filter((m) => !now.has(m.id)).map((m) => m.id);
  return { members: after, joined, left };
}
