/**
 * Session ownership: which node runs which session, with a fencing token,
 * at a cost that does not grow with the number of sessions per period.
 *
 * How this works. Two keys per session, in RedisStore's slot for that
 * session (hash tag `{id:<base64url of the UTF-8 client id>}`):
 *
 *   <prefix>{id:...}:owner   "<node id> <incarnation> <token>"  who owns the session
 *   <prefix>{id:...}:fence   "<token>"                          the session's fencing token
 *
 * and one key per node, written by Membership (`membership.ts`), in the
 * cluster's slot (hash tag `{cluster:<name>}`):
 *
 *   <prefix>{cluster:<name>}:node:<node id>   "<incarnation>", PX ttl
 *
 * A session is owned by the node its `:owner` names while that node's lease
 * key holds the incarnation `:owner` names. Ownership is never renewed per
 * session: it lives exactly as long as the node's lease, which Membership
 * renews once per period for all of the node's sessions. A node that dies,
 * freezes or loses Redis loses every session at once when its lease key
 * expires, and a restarted node (a new incarnation) owns none of what its
 * previous incarnation held.
 *
 * This rests on one promise of Membership: an incarnation, once its lease
 * key has expired or been replaced, never lives again. Renewal extends the
 * key only while it still holds the node's incarnation (compare and
 * PEXPIRE in Lua, never a plain SET), and a node that finds it gone joins
 * again under a new incarnation. So "dead" is final, and a takeover may
 * check liveness and take the session in two steps.
 *
 * Acquire, for a batch of sessions, in groups: the first 32 sessions (the
 * probe), then the rest in groups of up to 1,000 side by side (at least
 * eight groups when that leaves 64 or more in each, so that Redis runs one
 * while this process builds or reads the others), each group in at most
 * three round trips:
 *   1. ACQUIRE, one script call for the group's sessions (on Redis Cluster,
 *      one per slot they fall in): a session that is free, already ours
 *      (same node and incarnation, same token as `:fence`), or owned by an
 *      owner already known dead, is taken (or kept); one owned by anyone
 *      else is refused, and its owner record comes back.
 *   2. One MGET of the lease keys of the nodes those records name (all in
 *      the cluster's slot), once per node for all the groups: an owner
 *      whose lease key is gone, or holds another incarnation, is dead.
 *   3. ACQUIRE again for the sessions of dead owners, naming those owners
 *      (node and incarnation): taken only if `:owner` is free or still names
 *      one of them (so a node that took it in between keeps it).
 * Dead is final, so a `Leases` remembers the last 32 owners it found dead
 * and names them in every step 1. The groups after the probe are sent once
 * the probe has been through step 2: after a node died, the probe finds it
 * dead and every other session of it is taken in step 1, so a takeover
 * costs Redis one pass over the sessions, not two. A group's later steps
 * overlap with Redis running the groups after it. Inside a call each
 * session is decided on its own keys, exactly as if it were alone; the
 * call reads all its keys (GET each: an MGET here would look like a
 * liveness check in Redis's command counts) before it writes them all in
 * one MSET.
 *
 * Taking a session sets `:fence` to max(`:fence` + 1, Redis TIME in
 * microseconds) and `:owner` to `"<node> <incarnation> <token>"`, in one
 * script. Tokens of a session only ever increase while its `:fence` key
 * survives; and since they follow Redis's clock, one handed out after a
 * Redis restart that lost the key (no persistence), or lost its last
 * increments (AOF everysec, an asynchronous replica promoted), is still
 * larger than every token handed out before, as long as the clock of the
 * Redis after is not behind that of the Redis before by more than the time
 * between. RedisStore applies a write carrying token T only while `:fence`
 * equals T, so a holder that wakes up late cannot overwrite the new owner's
 * state.
 *
 * Release deletes `:owner` if it still names this node and incarnation
 * (compare and delete); `:fence` stays, so the next owner's token is
 * higher. Nothing here runs per period: a node acts for a session while it
 * holds a token for it from `acquire()` (not released, not refused since)
 * AND Membership says its own lease is safe (its local deadline, measured
 * from when it sent the renewal that succeeded, has not passed). A node
 * that is not safe pauses every session; it resumes them only if its
 * renewal then succeeds under the same incarnation (the key never expired,
 * so nobody can have taken anything), and otherwise rejoins under a new
 * incarnation and acquires again.
 *
 * Redis Cluster: every script call touches the keys of sessions of one slot
 * (`keySlot`), and the liveness check is one MGET in the cluster's slot, so
 * nothing crosses slots; `ScriptRunner` sends the calls one by one (all at
 * once) to a Cluster instead of in a pipeline. Needs Redis 5 or
 * later (a script that reads TIME and then writes).
 */
import { InvalidArgumentError, StoreError } from '../core/errors.js';
import { checkOptions, type Rule, string, table } from '../core/schema.js';
import { sessionKeyBase } from '../store/redis.js';
import { type ClusterKeys, clusterKeys, clusterName } from './keys.js';
import {
  type Command,
  keySlot,
  type Reply,
  Script,
  type ScriptCall,
  type ScriptClient,
  ScriptRunner,
} from './scripts.js';

/**
 * Takes sessions, any number of them in one call: KEYS `:owner`, `:fence` of
 * each session in turn; ARGV the holder (`"<node> <incarnation>"`), then the
 * owners known to be dead: each a holder (`"<node> <incarnation>"`, the
 * record up to its token), or a whole record that names no holder. Returns
 * one reply per session: the token (an integer) when the session is taken or
 * was already the holder's, else the current owner record (a string). A
 * session is taken when it is free, already the holder's, or its owner is
 * one of the dead. Each session is decided on its own keys, as if it were
 * alone (one TIME for the call). It reads everything before it writes
 * anything (one MSET), so a `:fence` that holds no integer fails the
 * call with nothing written.
 */
const ACQUIRE = new Script(
  'lease acquire',
  `local me = ARGV[1]
local dead = {}
for j = 2, #ARGV do dead[ARGV[j]] = true end
local n = #KEYS / 2
local out = {}
local fences = {}
local writes = 0
for i = 1, n do
  local cur = redis.call('GET', KEYS[2 * i - 1])
  local fence = redis.call('GET', KEYS[2 * i])
  local take = true
  if cur then
    local holder, token = string.match(cur, '^(.+) (%d+)$')
    if holder == me and token == fence then
      out[i] = tonumber(token)
      take = false
    elseif holder ~= me and not dead[holder or cur] then
      out[i] = cur
      take = false
    end
  end
  if take then
    local token = tonumber(fence or '0')
    if token == nil then return redis.error_reply('ERR ' .. KEYS[2 * i] .. ' does not hold an integer') end
    fences[i] = token
    writes = writes + 1
  end
end
if writes == 0 then return out end
local now = redis.call('TIME')
local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
local kv = {}
for i = 1, n do
  local token = fences[i]
  if token then
    token = token + 1
    if micros > token then token = micros end
    local text = string.format('%d', token)
    kv[#kv + 1] = KEYS[2 * i]
    kv[#kv + 1] = text
    kv[#kv + 1] = KEYS[2 * i - 1]
    kv[#kv + 1] = me .. ' ' .. text
    out[i] = token
  end
end
redis.call('MSET', unpack(kv))
return out`,
);

/**
 * Releases sessions, any number in one call: KEYS the `:owner` of each;
 * ARGV the holder. Deletes each `:owner` the holder owns; one reply per
 * session, 1 if it did.
 */
const RELEASE = new Script(
  'lease release',
  `local out = {}
local gone = {}
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur and string.match(cur, '^(.+) %d+$') == ARGV[1] then
    gone[#gone + 1] = KEYS[i]
    out[i] = 1
  else
    out[i] = 0
  end
end
if #gone > 0 then redis.call('DEL', unpack(gone)) end
return out`,
);

/** A node's identity while it is a member: its id, and the incarnation its lease key holds. */
export interface LeaseHolder {
  /** The node's id (`gw-1`), as in its lease key `...:node:<id>`. */
  readonly id: string;
  /** The incarnation its lease key holds: new each time the node joins; no whitespace. */
  readonly incarnation: string;
}

/** Who owns a session, as its `:owner` key says. */
export interface Owner {
  readonly node: string;
  readonly incarnation: string;
  /** The fencing token the owner got. */
  readonly token: number;
}

/** An owner, and whether its node's lease key still holds its incarnation. */
export interface OwnerState extends Owner {
  /** False once the node's lease has expired or it has joined again: the session is free to take. */
  readonly alive: boolean;
}

/** What {@link Leases.acquire} did. */
export interface AcquireResult {
  /** The sessions the holder owns now, each with its token (a session it already owned keeps its token). */
  readonly acquired: Map<string, number>;
  /** The sessions another live node owns, each with that owner. */
  readonly refused: Map<string, Owner>;
}

/** Options of {@link Leases}. */
export interface LeasesOptions {
  /** An ioredis `Redis` (single, or through Sentinel) or `Cluster` client; not closed by `Leases`. */
  client: ScriptClient;
  /** The cluster's name: node lease keys are `<prefix>{cluster:<name>}:node:<id>`. */
  cluster: string;
  /** Prepended to every key; the same as RedisStore's. @default 'mqttkit:' */
  prefix?: string;
}

const OPTIONS = table(
  {
    client: ((v) =>
      typeof (v as Partial<ScriptClient> | null)?.call === 'function' &&
      typeof (v as Partial<ScriptClient> | null)?.pipeline === 'function'
        ? undefined
        : 'must be an ioredis Redis or Cluster client') as Rule,
    cluster: clusterName,
    prefix: string,
  },
  ['client', 'cluster'],
);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The holder an owner record names, as ACQUIRE reads it: all up to the last space before the token. */
const HOLDER = /^(.+) \d+$/s;

/** An owner record: `"<node> <incarnation> <token>"` (a node id may hold spaces, an incarnation does not). */
const RECORD = /^(.+) (\S+) (\d+)$/s;

/** The owner a record names, or undefined when it is not one. */
export function parseOwner(record: string): Owner | undefined {
  const m = RECORD.exec(record);
  return m === null ? undefined : { node: m[1], incarnation: m[2], token: Number(m[3]) };
}

/** Session ownership on Redis (see the file's header). */
export class Leases {
  readonly #runner: ScriptRunner;
  readonly #prefix: string;
  readonly #keys: ClusterKeys;
  /**
   * Owners found dead (holders, or records that name none), the latest
   * DEAD_KEPT: every first step names them, so their sessions are taken in
   * it. Sound for good: an incarnation once dead never lives again.
   */
  readonly #dead = new Set<string>();

  constructor(options: LeasesOptions) {
    checkOptions(options, OPTIONS, 'options');
    this.#runner = new ScriptRunner(options.client);
    this.#prefix = options.prefix ?? 'mqttkit:';
    this.#keys = clusterKeys(this.#prefix, options.cluster);
  }

  /**
   * Takes every session of `sessions` that is free, already `holder`'s, or
   * owned by a node whose lease is gone: at most three round trips of
   * latency for 32 sessions, five for more (one more right after Redis
   * lost its scripts); one script call per 1,000 sessions or fewer (on
   * Cluster, per slot), one more per call taken from owners not yet known
   * dead, and one
   * MGET of the lease keys of the owners met (a node read once).
   * Rejects (StoreError) if Redis failed on any of them: some may have been
   * taken, and calling again gives those back with the same tokens.
   */
  async acquire(sessions: Iterable<string>, holder: LeaseHolder): Promise<AcquireResult> {
    const me = holderString(holder);
    const ids = this.#ids(sessions);
    const out: AcquireResult = { acquired: new Map(), refused: new Map() };
    const bases = ids.map((id) => sessionKeyBase(this.#prefix, id));
    const owners = bases.map((b) => `${b}owner`);
    // a chain of steps per group of batches (about BATCH sessions), the groups side by side: a
    // group's later steps overlap with Redis running the first step of the groups after it. The
    // first group is small, and the others are sent once it knows which owners it met are dead
    const all = ids.map((_, i) => i);
    const groups: number[][][] = [this.#batches(all.slice(0, PROBE), owners)];
    // eight groups at least (of 64 or more), so that Redis runs one while this process builds or reads the others
    const most = Math.min(BATCH, Math.max(MIN_GROUP, Math.ceil((ids.length - PROBE) / 8)));
    let size = most;
    for (const batch of this.#batches(all.slice(PROBE), owners, most)) {
      if (size + batch.length > most) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1].push(batch);
      size += batch.length;
    }
    const [probe, ...rest] = groups;
    if (probe.length === 0) return out;
    const leases: Known = new Map();
    let learned = (): void => {};
    const ready = new Promise<void>((resolve) => {
      learned = resolve;
    });
    const first = this.#acquireGroup(probe, ids, bases, owners, me, leases, out, learned);
    await Promise.race([ready, first]);
    await Promise.all([
      first,
      ...rest.map((g) => this.#acquireGroup(g, ids, bases, owners, me, leases, out)),
    ]);
    return out;
  }

  /**
   * The three steps of `acquire` for the sessions of `batches` (indexes
   * into `ids`), into `out`. `leases` holds what each owner node's lease
   * key holds, read once for all the groups of one `acquire`. Calls
   * `learned` once the dead owners it met are remembered (before its third
   * step), if it met any.
   */
  async #acquireGroup(
    batches: readonly (readonly number[])[],
    ids: readonly string[],
    bases: readonly string[],
    owners: readonly string[],
    me: string,
    leases: Known,
    out: AcquireResult,
    learned?: () => void,
  ): Promise<void> {
    const first = await this.#acquire(batches, ids, bases, owners, [me, ...this.#dead]);
    const taken: number[] = []; // indexes into ids of sessions owned by someone else
    const records: string[] = [];
    for (let b = 0, k = 0; b < batches.length; b++)
      for (const i of batches[b]) {
        const reply = first[k++];
        if (typeof reply === 'number') out.acquired.set(ids[i], reply);
        else {
          taken.push(i);
          records.push(String(reply));
        }
      }
    if (taken.length === 0) return;

    const parsed = records.map(parseOwner);
    const alive = await this.#alive(parsed, leases);
    const dead: number[] = []; // indexes into ids of sessions of dead owners
    const gone = new Set<string>(); // those owners: holders, or records that name none
    for (let j = 0; j < taken.length; j++) {
      const owner = parsed[j];
      if (owner !== undefined && alive(owner)) out.refused.set(ids[taken[j]], owner);
      else {
        // a record that names no node (not one of ours) names no live one
        dead.push(taken[j]);
        gone.add(HOLDER.exec(records[j])?.[1] ?? records[j]);
      }
    }
    for (const g of gone) this.#remember(g);
    learned?.();
    if (dead.length === 0) return;

    const again = this.#batches(dead, owners);
    const second = await this.#acquire(again, ids, bases, owners, [me, ...gone]);
    for (let b = 0, k = 0; b < again.length; b++)
      for (const i of again[b]) {
        const reply = second[k++];
        const id = ids[i];
        if (typeof reply === 'number') {
          out.acquired.set(id, reply);
          continue;
        }
        // another node took it between the two steps: it is theirs
        const owner = parseOwner(String(reply));
        if (owner === undefined)
          throw new StoreError(`lease acquire: session '${id}' has an owner record that is not one`);
        out.refused.set(id, owner);
      }
  }

  /**
   * Gives up every session of `sessions` that `holder` owns (one round
   * trip; one script call per batch of sessions); resolves with those it
   * owned. Their `:fence` stays, so whoever takes them next gets a higher
   * token.
   */
  async release(sessions: Iterable<string>, holder: LeaseHolder): Promise<string[]> {
    const me = holderString(holder);
    const ids = this.#ids(sessions);
    const owners = ids.map((id) => `${sessionKeyBase(this.#prefix, id)}owner`);
    const batches = this.#batches(
      ids.map((_, i) => i),
      owners,
    );
    const replies = await this.#run(
      RELEASE,
      batches.map((b) => [b.map((i) => owners[i]), [me]]),
      batches,
      ids,
    );
    const out: string[] = [];
    let k = 0;
    for (const b of batches) for (const i of b) if (replies[k++] === 1) out.push(ids[i]);
    return out;
  }

  /**
   * ACQUIRE, one call per batch (indexes into `ids`), in one round trip; the
   * replies of all the batches' sessions in turn. `args`: the holder, then
   * the dead owners (see ACQUIRE).
   */
  #acquire(
    batches: readonly (readonly number[])[],
    ids: readonly string[],
    bases: readonly string[],
    owners: readonly string[],
    args: readonly string[],
  ): Promise<unknown[]> {
    const calls = batches.map((b): ScriptCall => {
      const keys: string[] = new Array(b.length * 2);
      for (let k = 0; k < b.length; k++) {
        keys[2 * k] = owners[b[k]];
        keys[2 * k + 1] = `${bases[b[k]]}fence`;
      }
      return [keys, args];
    });
    return this.#run(ACQUIRE, calls, batches, ids);
  }

  /**
   * Splits the sessions `which` (indexes; `keys[k]` a key of session k) into
   * the batches of one script call each: at most BATCH sessions, and on
   * Redis Cluster only sessions whose keys share a slot.
   */
  #batches(which: readonly number[], keys: readonly string[], size = BATCH): number[][] {
    const out: number[][] = [];
    if (this.#runner.client.isCluster !== true) {
      for (let k = 0; k < which.length; k += size) out.push(which.slice(k, k + size));
      return out;
    }
    const bySlot = new Map<number, number[]>();
    for (const k of which) {
      const slot = keySlot(keys[k]);
      let batch = bySlot.get(slot);
      if (batch === undefined || batch.length === BATCH) {
        batch = [];
        bySlot.set(slot, batch);
        out.push(batch);
      }
      batch.push(k);
    }
    return out;
  }

  /**
   * Who owns each of `sessions` (undefined: nobody), and whether that
   * owner's lease is alive: two round trips, one GET per session (one MGET
   * on a single Redis) and one MGET of the owners' lease keys.
   */
  async owners(sessions: Iterable<string>): Promise<Map<string, OwnerState | undefined>> {
    const ids = this.#ids(sessions);
    const keys = ids.map((id) => `${sessionKeyBase(this.#prefix, id)}owner`);
    const records = await this.#read(keys, 'lease owners');
    const owners = records.map((r) => (r === null ? undefined : parseOwner(r)));
    const alive = await this.#alive(owners);
    const out = new Map<string, OwnerState | undefined>();
    for (let i = 0; i < ids.length; i++) {
      const owner = owners[i];
      out.set(ids[i], owner === undefined ? undefined : { ...owner, alive: alive(owner) });
    }
    return out;
  }

  #remember(owner: string): void {
    this.#dead.delete(owner);
    this.#dead.add(owner);
    if (this.#dead.size > DEAD_KEPT) this.#dead.delete(this.#dead.values().next().value as string);
  }

  /** The distinct, checked client ids of `sessions`. */
  #ids(sessions: Iterable<string>): string[] {
    if (
      typeof sessions !== 'object' ||
      sessions === null ||
      typeof (sessions as Partial<Iterable<string>>)[Symbol.iterator] !== 'function'
    )
      throw new InvalidArgumentError('sessions', 'must be an iterable of client ids');
    const ids = [...new Set(sessions)];
    for (let i = 0; i < ids.length; i++) {
      if (typeof ids[i] !== 'string') throw new InvalidArgumentError(`sessions[${i}]`, 'must be a string');
      if (LONE_SURROGATE.test(ids[i]))
        throw new InvalidArgumentError(`sessions[${i}]`, 'is not valid UTF-16 (it holds a lone surrogate)');
    }
    return ids;
  }

  /**
   * Whether each owner is alive: one MGET of the lease keys of the nodes
   * they name (in the cluster's slot) that `known` does not hold yet (no
   * round trip when there are none); those are added to `known`.
   */
  async #alive(
    owners: readonly (Owner | undefined)[],
    known: Known = new Map(),
  ): Promise<(owner: Owner) => boolean> {
    const nodes = [...new Set(owners.flatMap((o) => (o === undefined ? [] : [o.node])))];
    const fresh = nodes.filter((n) => !known.has(n));
    if (fresh.length > 0) {
      const read = this.#send([['MGET', ...fresh.map((n) => this.#keys.node(n))]], 'lease liveness').then(
        ([[err, reply]]) => {
          if (err !== null)
            throw new StoreError(`lease liveness: MGET of ${fresh.length} node keys failed: ${err.message}`);
          return reply as unknown[];
        },
      );
      read.catch(() => {}); // whoever awaits it gets the error; the others need not
      for (let i = 0; i < fresh.length; i++) known.set(fresh[i], [read, i]);
    }
    const live = new Map<string, unknown>();
    for (const n of nodes) {
      const [read, i] = known.get(n) as [Promise<unknown[]>, number];
      live.set(n, (await read)[i]);
    }
    return (owner) => live.get(owner.node) === owner.incarnation;
  }

  /** GET of every key (MGETs on a single Redis, whose keys may span slots). */
  async #read(keys: readonly string[], what: string): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    const cluster = this.#runner.client.isCluster === true;
    const commands: Command[] = [];
    for (let i = 0; i < keys.length; i += cluster ? 1 : MGET_KEYS)
      commands.push(cluster ? ['GET', keys[i]] : ['MGET', ...keys.slice(i, i + MGET_KEYS)]);
    const replies = await this.#send(commands, what);
    const out: (string | null)[] = [];
    for (const [err, reply] of replies) {
      if (err !== null)
        throw new StoreError(`${what}: reading ${keys.length} owner keys failed: ${err.message}`);
      if (cluster) out.push(reply as string | null);
      else out.push(...(reply as (string | null)[]));
    }
    return out;
  }

  async #send(commands: readonly Command[], what: string): Promise<Reply[]> {
    try {
      return await this.#runner.send(commands);
    } catch (err) {
      throw failed(what, commands.length, err);
    }
  }

  /**
   * Runs `script` once per call, call c for the sessions `batches[c]`
   * (indexes into `ids`); one reply per session, the batches' in turn. Rejects with
   * StoreError if any call failed (naming the first session of the first).
   */
  async #run(
    script: Script,
    calls: readonly ScriptCall[],
    batches: readonly (readonly number[])[],
    ids: readonly string[],
  ): Promise<unknown[]> {
    let sessions = 0;
    for (const b of batches) sessions += b.length;
    let replies: Reply[];
    try {
      replies = await this.#runner.run(script, calls);
    } catch (err) {
      throw failed(script.name, sessions, err);
    }
    const out: unknown[] = [];
    let bad: Error | undefined;
    let badId = '';
    let count = 0;
    for (let c = 0; c < calls.length; c++) {
      const [err, reply] = replies[c];
      const batch = batches[c];
      if (err !== null || !Array.isArray(reply) || reply.length !== batch.length) {
        count += batch.length;
        if (bad === undefined) {
          bad = err ?? new Error(`a call for ${batch.length} sessions got ${JSON.stringify(reply)}`);
          badId = ids[batch[0]];
        }
        continue;
      }
      for (const r of reply) out.push(r);
    }
    if (bad !== undefined)
      throw new StoreError(
        `${script.name} failed for ${count} of ${sessions} sessions, the first '${badId}': ${bad.message}`,
        { cause: bad },
      );
    return out;
  }
}

/** Sessions in the first group of an `acquire`: the probe that finds dead owners for the rest. */
const PROBE = 32;

/** The fewest sessions in a group after the probe. */
const MIN_GROUP = 64;

/** Dead owners a `Leases` remembers. */
const DEAD_KEPT = 32;

/**
 * Sessions per script call: bounds how long one call holds Redis (a few
 * milliseconds), while 10,000 sessions still make only ten calls.
 */
const BATCH = 1000;

/** Node lease keys read by one `acquire`: node id -> the MGET that read it, and its place in the reply. */
type Known = Map<string, [read: Promise<unknown[]>, index: number]>;

/** Keys per MGET when reading owner records on a single Redis: bounds how long one command holds Redis. */
const MGET_KEYS = 1000;

function failed(what: string, count: number, err: unknown): StoreError {
  const e = err instanceof Error ? err : new Error(String(err));
  return new StoreError(`${what}: no answer from Redis to a batch of ${count}: ${e.message}`, { cause: e });
}

/** `"<node> <incarnation>"`, the start of the holder's owner records; the holder checked. */
function holderString(holder: LeaseHolder): string {
  if (holder === null || typeof holder !== 'object')
    throw new InvalidArgumentError('holder', 'must be an object with id and incarnation');
  if (typeof holder.id !== 'string' || holder.id.length === 0)
    throw new InvalidArgumentError('holder.id', 'must be a non-empty string');
  if (typeof holder.incarnation !== 'string' || !/^\S+$/.test(holder.incarnation))
    throw new InvalidArgumentError('holder.incarnation', 'must be a non-empty string without whitespace');
  return `${holder.id} ${holder.incarnation}`;
}
