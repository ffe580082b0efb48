/**
 * The sessions' numbers shared through Redis (what they are: `stats.ts`;
 * the keys: `keys.ts`):
 *
 *   watch   `...:watch`, PX ttl. A node that watches sets it once when its
 *           watch starts, then again in each of its renewals (the renewal's
 *           own EVALSHA: `Membership.setWatching`). The primary of workers
 *           with Redis, which holds no lease, sets it once a period on a
 *           client it keeps while it watches (`RedisStatsWatch`).
 *   check   every renewal answers whether `...:watch` is set
 *           (`Membership.watched`): nobody watching, that is all it costs.
 *   share   while it is set, after each renewal, one EVALSHA: HSET
 *           `...:stats` <node> <rows as JSON>, PEXPIRE ttl, only while the
 *           node's lease key holds its incarnation (a write that lands after
 *           the node left must not bring its rows back). At most one write
 *           out at a time.
 *   read    TIME, ZRANGE of the members and HGETALL `...:stats` (one round
 *           trip): the rows of the live members; this node's own are made
 *           at the call instead.
 *   gone    a node that leaves deletes its field (the LEAVE script), the
 *           renewal script deletes the fields of members whose lease ran
 *           out, and once nobody writes the hash runs out ttl after the
 *           last write.
 *
 * A failed write is not reported: the renewal on the same connection
 * reports Redis's failures, and the next period writes again.
 */
import { requirePeer } from '../core/peer.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type { SharedSessionStats } from '../manager/index.js';
import { OWN_CLIENT_OPTIONS } from '../store/redis-client.js';
import type { ClusterKeys } from './keys.js';
import type { Membership, MembershipClient } from './membership.js';
import { run, script } from './membership-scripts.js';
import { allRows, type LocalStats, readStats, Watchers } from './stats.js';
import { pairs, type StatusClient, withRedisAt } from './status.js';

/** KEYS: stats, node:<id>. ARGV: id, incarnation, rows (JSON), ttl. Writes the rows while the lease is the incarnation's. */
const SHARE = script(
  2,
  `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`,
);

/** What sharing needs of a Redis client: a `FleetNode`'s client has it. */
export type StatsClient = MembershipClient & StatusClient;

/** The rows of the live members in `...:stats`, but `except`'s (read at once), by node. */
export async function readSharedStats(
  client: StatusClient,
  keys: ClusterKeys,
  except?: string,
): Promise<[node: string, rows: SharedSessionStats[]][]> {
  const [time, ranked, fields] = (await Promise.all([
    client.call('TIME'),
    client.call('ZRANGE', keys.nodes, 0, -1, 'WITHSCORES'),
    client.call('HGETALL', keys.stats),
  ])) as [[string, string], unknown, unknown];
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const live = new Set<string>();
  for (const [id, expires] of pairs(ranked)) if (Number(expires) > now) live.add(id);
  const out: [string, SharedSessionStats[]][] = [];
  for (const [node, json] of pairs(fields)) {
    if (node === except || !live.has(node)) continue;
    let wire: unknown;
    try {
      wire = JSON.parse(json);
    } catch {
      continue; // not ours to read
    }
    out.push([node, readStats(node, wire)]);
  }
  return out;
}

/** A node's sharing in Redis, at its membership's renewals (see the file's header). */
export class RedisNodeStats {
  readonly #client: StatsClient;
  readonly #keys: ClusterKeys;
  readonly #membership: Membership;
  readonly #local: LocalStats;
  readonly #watchers: Watchers;
  /** A write is out. */
  #writing = false;
  #on = false;

  constructor(client: StatsClient, keys: ClusterKeys, membership: Membership, local: LocalStats) {
    this.#client = client;
    this.#keys = keys;
    this.#membership = membership;
    this.#local = local;
    this.#watchers = new Watchers(
      () => {
        membership.setWatching(true);
        // at once, not at the next renewal: the others see it at theirs (not joined yet: the join sets it)
        if (membership.state !== 'joined') return;
        this.#client.call('SET', this.#keys.watch, '1', 'PX', membership.ttl).catch(() => {});
      },
      () => membership.setWatching(false),
    );
  }

  /** Shares from now on, whenever the renewals say someone watches. */
  start(): void {
    if (this.#on) return;
    this.#on = true;
    this.#local.start();
    this.#membership.on('renewed', this.#onRenewed);
  }

  /** Shares no more (the node leaves: its field goes with its lease). */
  stop(): void {
    this.#on = false;
    this.#membership.off('renewed', this.#onRenewed);
    this.#membership.setWatching(false);
    this.#local.stop();
  }

  /** See `FleetCluster.watchStats`. */
  watch(): () => void {
    return this.#watchers.watch();
  }

  /** See `FleetCluster.sharedStats`: this node's rows made now, the others' from Redis. */
  async shared(): Promise<SharedSessionStats[]> {
    const node = this.#membership.node;
    const others = await readSharedStats(this.#client, this.#keys, node);
    const own = this.#local.rows(node);
    return allRows(own.length === 0 ? others : [[node, own], ...others]);
  }

  readonly #onRenewed = (): void => {
    const m = this.#membership;
    const incarnation = m.incarnation;
    if (!this.#on || !m.watched || this.#writing || incarnation === undefined) return;
    this.#writing = true;
    const json = JSON.stringify(this.#local.wire());
    run(this.#client, SHARE, [this.#keys.stats, this.#keys.node(m.node), m.node, incarnation, json, m.ttl])
      .catch(() => {}) // see the file's header
      .finally(() => {
        this.#writing = false;
      });
  };
}

/** The primary's one entry on the shared timer while it watches: the watch key set again. */
class Refresh extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}

/**
 * The watch of a process that holds no lease (the primary of workers with
 * Redis): its own client while it watches, the watch key set once a
 * period; `shared()` on that client, or on one made for the call.
 */
export class RedisStatsWatch {
  readonly #url: string;
  readonly #keys: ClusterKeys;
  readonly #ttl: number;
  readonly #period: number;
  readonly #watchers: Watchers;
  readonly #refresh = new Refresh(() => this.#set());
  #client: (StatusClient & { disconnect(): void }) | undefined;
  #stopped = false;

  constructor(url: string, keys: ClusterKeys, ttl: number, period: number) {
    this.#url = url;
    this.#keys = keys;
    this.#ttl = ttl;
    this.#period = period;
    this.#watchers = new Watchers(
      () => this.#open(),
      () => this.#close(),
    );
  }

  /** See `FleetCluster.watchStats`. */
  watch(): () => void {
    return this.#watchers.watch();
  }

  /** See `FleetCluster.sharedStats` (this process runs no session). */
  async shared(): Promise<SharedSessionStats[]> {
    const client = this.#client;
    const read = (c: StatusClient) => readSharedStats(c, this.#keys).then(allRows);
    return client === undefined ? withRedisAt(this.#url, 'cluster stats', read) : read(client);
  }

  /** Watches no more (the fleet stops): the watch key runs out by itself. */
  stop(): void {
    this.#stopped = true;
    this.#close();
  }

  /** Stops refreshing and closes the client. */
  #close(): void {
    sharedTimer.remove(this.#refresh);
    this.#client?.disconnect();
    this.#client = undefined;
  }

  #open(): void {
    if (this.#stopped) return;
    const { Redis } = requirePeer<typeof import('ioredis')>('ioredis', 'cluster stats');
    const client = new Redis(this.#url, { ...OWN_CLIENT_OPTIONS });
    client.on('error', () => {}); // a failed refresh is tried again next period
    this.#client = client as unknown as StatusClient & { disconnect(): void };
    this.#set();
  }

  #set(): void {
    const client = this.#client;
    if (client === undefined) return;
    client.call('SET', this.#keys.watch, '1', 'PX', this.#ttl).catch(() => {});
    this.#refresh.deadline = Date.now() + this.#period;
    sharedTimer.add(this.#refresh);
  }
}
