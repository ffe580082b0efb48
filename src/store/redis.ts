/**
 * `RedisStore`: session state in Redis, so a session can resume in another
 * process or on another machine.
 *
 * Three keys per client id, all sharing the hash tag `{id:<client id>}` so
 * they live in one Redis Cluster slot (multi-key commands such as the DEL of
 * `clear()` work on a cluster):
 *
 *   <prefix>{id:<base64url of the UTF-8 client id>}:m    hash seq -> message record (record.ts)
 *   <prefix>{id:<base64url of the UTF-8 client id>}:q2   set of incoming QoS 2 packet ids
 *   <prefix>{id:<base64url of the UTF-8 client id>}:s    hash topic filter -> subscription JSON
 *
 * The client id is encoded (base64url, which has no `{`, `}` or `:`) so any
 * id, the empty one included, gives keys that no other id gives.
 *
 * Mutations only append commands to a log of changes; `flush()` sends the
 * ones not sent yet as one pipeline, in one round trip. A flush is not a
 * transaction: if the connection fails in the middle, some of its commands
 * may have been applied, and ioredis may still send those it holds once it
 * reconnects (before any later command). Every command is a last-writer-wins
 * write of one key or field (HSET, HDEL, SADD, SREM, DEL), so the store keeps
 * each change in the log until a flush that covers it succeeds:
 *
 *   log:  [ confirmed ... | base ........ sent ........ end ]
 *                          \_ out or failed _/\_ pending _/
 *
 * A failed flush sets `sent` back to `base`: the next one sends every
 * unconfirmed change again, oldest first, then the new ones. Re-applying a
 * run of such writes in order leaves each key as its last write says,
 * whichever of them had been applied before, so nothing an earlier failure
 * half-did can outlive a later change. A flush confirms its changes (moves
 * `base`) only when its own pipeline succeeded and everything before it was
 * confirmed: flushes settle in call order.
 *
 * Fencing (`fence(clientId, token)`, see `redis-writes.ts`): while a client
 * id has a token, each flush sends its changes for that client as one Lua
 * script call that applies them only while the client's `:fence` key holds
 * the token. A change keeps the token it was made under; one Redis refused
 * is settled like a confirmed one (it can never apply, so it is dropped) and
 * reported as a `FencedError`: by the flush that carried it, and, since one
 * flush carries every client's changes, to its own client only when the
 * flush names one (`flush(clientId)`, as sessions do): another client's
 * session does not see a store failure that is not its own. Without a
 * token, nothing changes: the same plain commands.
 */

import { ClosedError, FencedError, InvalidArgumentError, type MissingPeerError } from '../core/errors.js';
import { checkOptions, type Rule, string, table } from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { decodeMessage, decodeSubscription, encodeMessage, encodeSubscription } from './record.js';
import { ownClient, type RedisClient, type RedisPipeline } from './redis-client.js';
import {
  Change,
  DEL,
  type Entry,
  Fence,
  FencedWrite,
  HDEL,
  HSET,
  isNoScript,
  SADD,
  SREM,
  toEntries,
} from './redis-writes.js';
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';

/**
 * Options of {@link RedisStore}: its own connection (`url`, made with ioredis,
 * an optional peer dependency to install) or your ioredis `client`, and a key
 * prefix.
 */
export interface RedisStoreOptions {
  /**
   * Where to connect (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) when the
   * store makes its own client; `redis://127.0.0.1:6379` when neither `url` nor `client` is given.
   */
  url?: string;
  /**
   * An ioredis client (`Redis` or `Cluster`) to use instead of making one; ioredis itself is then
   * not loaded by the store. The store neither configures nor closes it
   * (nor handles its 'error' events). `flush()` and `load()` still reject once out 2 s without a
   * ready connection, but the client's settings decide whether a connection that stops
   * answering is ever dropped (`socketTimeout`) and when its queued commands are given up.
   */
  client?: RedisClient;
  /** Prepended to every key. @default 'mqttkit:' */
  prefix?: string;
}

/** The table `RedisStoreOptions` are checked against (see `core/schema.ts`). */
const OPTIONS = table({
  url: ((v) =>
    typeof v === 'string' && /^rediss?:\/\//.test(v)
      ? undefined
      : 'must be a redis:// or rediss:// URL') as Rule,
  client: ((v) =>
    typeof (v as Partial<RedisClient> | null)?.pipeline === 'function'
      ? undefined
      : 'must be an ioredis Redis client') as Rule,
  prefix: string,
});

/**
 * `flush()` and `load()` reject once they have been out this long while the
 * connection is not ready (lost, or not yet made), whatever the client's
 * settings; while it is ready they wait (the own client's `socketTimeout`
 * drops a connection that stops answering). ioredis does not bound this
 * itself for commands that were sent just before the connection was lost: it
 * keeps them to resend once ready, and fails them only if no reconnection
 * even gets as far as a TCP connection (a Redis behind a proxy or a load
 * balancer that accepts and then says nothing would hold them forever).
 *
 * The bound is an entry on the shared coarse timer (`core/timer.ts`), so it
 * fires up to 100 ms late; an operation whose bound has already passed when
 * the connection is lost fails at once.
 */
const OUTAGE_MS = 2_000;

/**
 * The error of an operation given up because Redis did not answer and the
 * connection was not made again: the same whether the store's bound gave it
 * up or ioredis did first (its `maxRetriesPerRequest` reconnections failed),
 * since the two race.
 */
function noAnswer(ms: number): Error {
  return new Error(`no answer from Redis after ${ms} ms, and no ready connection`);
}

/** ioredis's error for a command it gave up after `maxRetriesPerRequest` failed reconnections. */
function givenUp(err: unknown): boolean {
  return err instanceof Error && err.name === 'MaxRetriesPerRequestError';
}

/** A flush or load out on the connection; on the shared timer while the connection is not ready. */
class InFlight extends TimerEntry {
  // deadline: `started + OUTAGE_MS` while the connection is not ready; 0 while it is
  /** Rejects the operation's race. */
  reject: (err: Error) => void = () => {};

  constructor(
    readonly started: number,
    /** The store's operations out: this one leaves it when it settles or fails. */
    private readonly out: Set<InFlight>,
  ) {
    super();
  }

  /** Counts from `started`: fails now when the bound has passed, else when it does. */
  bound(now: number): void {
    this.deadline = this.started + OUTAGE_MS;
    if (this.deadline <= now) this.expire();
    else sharedTimer.add(this);
  }

  /** The connection is ready again: no bound while it is. */
  unbound(): void {
    this.deadline = 0;
    sharedTimer.remove(this);
  }

  expire(): void {
    this.out.delete(this);
    this.reject(noAnswer(OUTAGE_MS));
  }
}

interface Keys {
  m: string;
  q2: string;
  s: string;
}

type Pipeline = RedisPipeline;

/** One `flush()`: its outcome never rejects (the error, or undefined); `settled` once it is known. */
interface FlushRecord {
  settled: boolean;
  outcome: Promise<Error | undefined>;
}

/** The outcome of a pipeline some of whose script calls the server did not have (NOSCRIPT). */
class NoScriptError extends Error {}

/** Lone UTF-16 surrogates: they have no UTF-8 form, so two such ids would share keys. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A `SessionStore` in Redis. `durable` is true: a resolved `flush()` means
 * Redis has applied every change, so the changes survive a crash of this
 * process. They are only as durable as the Redis server's own persistence:
 * with `appendonly yes` and `appendfsync always` they survive a crash of
 * Redis too; with `appendfsync everysec` (the usual setting) a Redis crash can
 * lose about the last second; with RDB snapshots only, or no persistence,
 * everything since the last snapshot. Replication is asynchronous: a failover
 * can lose what the old primary had not yet sent to its replica.
 *
 * When Redis is unreachable, `flush()` and `load()` reject once they have
 * been out 2 s and the connection is not ready (sooner when the store's own
 * client gives up first, as it does within a few hundred ms when connections
 * are refused); the own client also drops a connection that stops answering
 * for 2 s. So with the own client they never hang: a flush against a dead or
 * hung Redis fails within about 2 s, with "no answer from Redis" in its
 * message whichever gave it up. A failed flush loses nothing: its
 * changes are sent again, in order and before any later change, by every
 * flush until one succeeds (so a change Redis refuses, such as an HSET on a
 * key of another type, fails every flush until the key is fixed).
 *
 * The store's own client is an ioredis client: ioredis is an optional peer
 * dependency (`npm install ioredis`), loaded by the first store that makes
 * one. Without it, the constructor throws {@link MissingPeerError}.
 */
export class RedisStore implements SessionStore {
  readonly durable = true;
  readonly #client: RedisClient;
  readonly #owned: boolean;
  readonly #prefix: string;
  /** Changes not yet confirmed, oldest first; `#log[0]` is change number `#base`. */
  #log: Change[] = [];
  /** Number of the oldest change not confirmed (every one before it is in Redis). */
  #base = 0;
  /** Number of the first change no flush has sent since the last failure. */
  #sent = 0;
  #lastFlush: FlushRecord | undefined;
  #lastConnectionError: Error | undefined;
  readonly #inFlight = new Set<InFlight>();
  readonly #onDown = (): void => this.#down();
  readonly #onReady = (): void => this.#ready();
  readonly #onError = (err: Error): void => {
    this.#lastConnectionError = err;
  };
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The keys of the client id used last: sessions change state in bursts for one client. */
  #cachedId: string | undefined;
  #cachedKeys: Keys | undefined;
  /** The fencing tokens set by `fence()`, by client id. */
  readonly #fences = new Map<string, Fence>();
  /**
   * Refusals not yet reported to a `flush(clientId)` of their client, by client id (the first
   * one): a flush carries every client's changes, and reports a refusal to its own client only.
   */
  readonly #unreported = new Map<string, FencedError>();
  /** `fence()` has set a token once: flushes take the path that knows script calls. */
  #fencing = false;
  /** The next script call goes as EVAL: the connection may be new, to a server without the script. */
  #evalNext = true;

  constructor(options: RedisStoreOptions = {}) {
    checkOptions(options, OPTIONS, 'options');
    const { url, client, prefix = 'mqttkit:' } = options;
    if (url !== undefined && client !== undefined)
      throw new InvalidArgumentError('options.url', 'cannot be given with options.client');
    this.#prefix = prefix;
    this.#owned = client === undefined;
    this.#client = client ?? ownClient(url ?? 'redis://127.0.0.1:6379');
    // On its own client, connection errors reach callers through the operations that fail,
    // the last one named in the error (and the listener stops ioredis printing each one). A
    // client passed in keeps its own error handling.
    if (this.#owned) this.#client.on('error', this.#onError);
    this.#client.on('close', this.#onDown);
    this.#client.on('end', this.#onDown);
    this.#client.on('ready', this.#onReady);
  }

  #keys(clientId: string): Keys {
    if (clientId === this.#cachedId && this.#cachedKeys !== undefined) return this.#cachedKeys;
    if (typeof clientId !== 'string') throw new InvalidArgumentError('clientId', 'must be a string');
    if (LONE_SURROGATE.test(clientId))
      throw new InvalidArgumentError('clientId', 'is not valid UTF-16 (it holds a lone surrogate)');
    const base = sessionKeyBase(this.#prefix, clientId);
    const keys = { m: `${base}m`, q2: `${base}q2`, s: `${base}s` };
    this.#cachedId = clientId;
    this.#cachedKeys = keys;
    return keys;
  }

  /** Appends a change to the log, with the fencing token of `clientId` if it has one. */
  #queue(clientId: string, command: number, key: string, field: string, value?: Buffer | string): void {
    if (this.#closed) throw new ClosedError('The RedisStore is closed');
    const fence = this.#fences.size === 0 ? undefined : this.#fences.get(clientId);
    this.#log.push(new Change(command, key, field, value, fence));
  }

  /**
   * Sets the fencing token the store's writes for `clientId` carry from now
   * on (`undefined`: none, the plain commands again). A write carrying a
   * token applies only while the client's `<prefix>{id:...}:fence` key in
   * Redis holds it, checked atomically by Redis; when it does not, nothing of
   * that flush's changes for the client applies, they are dropped, and the
   * flush rejects with {@link FencedError}, as does every later flush with
   * changes made under the same token, at once, and every `flush(clientId)`,
   * until `fence()` is called again (see `flush()` for whose flush reports
   * it). Changes made before the call keep the token they were made under.
   * `load()` is not fenced: it reads whatever Redis holds.
   */
  fence(clientId: string, token: number | undefined): void {
    if (this.#closed) throw new ClosedError('The RedisStore is closed');
    const k = this.#keys(clientId);
    if (token === undefined) {
      this.#fences.delete(clientId);
      this.#unreported.delete(clientId);
      return;
    }
    if (!Number.isSafeInteger(token) || token < 0)
      throw new InvalidArgumentError('token', 'must be a non-negative integer (the value INCR gave)');
    const fenceKey = `${k.m.slice(0, -1)}fence`; // <prefix>{id:...}:m -> <prefix>{id:...}:fence
    this.#fences.set(clientId, new Fence(clientId, token, [k.m, k.q2, k.s, fenceKey]));
    // a new owner's session: what the old token's refusals meant is over (changes still made under
    // it are refused again, and reported, when a flush carries them)
    this.#unreported.delete(clientId);
    this.#fencing = true;
  }

  async load(clientId: string): Promise<PersistedSession> {
    if (this.#closed) throw new ClosedError('The RedisStore is closed');
    const k = this.#keys(clientId);
    // Send what is pending first: the reads then see it (one connection keeps the order).
    const writes = this.#sent < this.#base + this.#log.length ? this.flush() : undefined;
    const names = [`HGETALL ${k.m}`, `SMEMBERS ${k.q2}`, `HGETALL ${k.s}`];
    const started = Date.now();
    const reads = this.#track(this.#client.pipeline().hgetallBuffer(k.m).smembers(k.q2).hgetall(k.s).exec());
    // both settle before either is reported, the reads' own failure first: which of the two
    // rejects first is a matter of timing when the connection is lost
    const [written, read] = await Promise.allSettled([writes, reads]);
    if (read.status === 'rejected')
      throw commandError(names.join(', '), lost(read.reason, started), 3, 3, this.#lastConnectionError);
    const results = read.value;
    for (const [i, [err]] of (results ?? []).entries()) {
      if (err) throw commandError(names[i], lost(err, started), 1, 3);
    }
    // a write Redis refused for its stale token is not this read's failure: the read shows what the
    // owner wrote, and the refusal is reported by flush()
    if (written.status === 'rejected' && !(written.reason instanceof FencedError)) throw written.reason;
    if (results === null || results.length !== 3) throw new Error('RedisStore: load got no replies');
    const messageHash = results[0][1] as Record<string, Buffer>;
    const ids = results[1][1] as string[];
    const subscriptionHash = results[2][1] as Record<string, string>;

    const messages: StoredMessage[] = [];
    for (const [field, record] of Object.entries(messageHash ?? {})) {
      try {
        messages.push(decodeMessage(record));
      } catch (err) {
        throw new Error(`RedisStore: ${k.m} field ${field}: ${(err as Error).message}`);
      }
    }
    messages.sort((a, b) => a.seq - b.seq);
    const incomingQoS2 = (ids ?? []).map(Number).sort((a, b) => a - b);
    const subscriptions: StoredSubscription[] = [];
    for (const [field, text] of Object.entries(subscriptionHash ?? {})) {
      try {
        subscriptions.push(decodeSubscription(text));
      } catch (err) {
        throw new Error(`RedisStore: ${k.s} field ${field}: ${(err as Error).message}`);
      }
    }
    return { messages, incomingQoS2, subscriptions };
  }

  putMessage(clientId: string, message: StoredMessage): void {
    this.#queue(clientId, HSET, this.#keys(clientId).m, String(message.seq), encodeMessage(message));
  }

  deleteMessage(clientId: string, seq: number): void {
    this.#queue(clientId, HDEL, this.#keys(clientId).m, String(seq));
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.#queue(clientId, SADD, this.#keys(clientId).q2, String(packetId));
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.#queue(clientId, SREM, this.#keys(clientId).q2, String(packetId));
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    const key = this.#keys(clientId).s;
    this.#queue(clientId, HSET, key, subscription.topicFilter, encodeSubscription(subscription));
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.#queue(clientId, HDEL, this.#keys(clientId).s, topicFilter);
  }

  /**
   * Sends every change not sent yet in one pipeline (after a failed flush:
   * every change not confirmed, oldest first) and resolves when Redis has
   * answered them all. Rejects with an Error naming the first command that
   * failed (command, key and field; never the record). Flushes settle in
   * call order: one that is called while an earlier one is still out also
   * waits for it, and rejects with its error if it failed, since the
   * changes made before the call are then not all in Redis. The changes of
   * a failed flush are kept and sent again by the next one, except those
   * Redis refused for a stale fencing token (see `fence()`): they are
   * dropped, and the refusal is reported as a {@link FencedError} naming the
   * client. `flush()` rejects with the first refusal among the changes it
   * sends, whoever's. `flush(clientId)`, a session's flush, sends the same
   * (every client's changes) but rejects only with `clientId`'s own refusal:
   * one not reported to a `flush(clientId)` yet, whichever flush carried the
   * refused change, or, while the client's current token is refused, that
   * one (every time). Another client's refusal does not fail it, since that
   * client's changes can never apply and its own flush reports it.
   */
  flush(clientId?: string): Promise<void> {
    const from = this.#sent;
    const to = this.#base + this.#log.length;
    this.#sent = to;
    const earlier =
      this.#lastFlush !== undefined && !this.#lastFlush.settled ? this.#lastFlush.outcome : undefined;
    // exec() now, not after the earlier flush: one connection keeps the order, and this
    // flush's round trip overlaps the earlier one's.
    let own: Promise<Error | undefined> | undefined;
    if (from < to) {
      const changes = this.#log.slice(from - this.#base);
      if (this.#fencing) own = this.#sendFenced(changes, to);
      else {
        const pipeline = this.#client.pipeline();
        for (const c of changes) c.addTo(pipeline);
        own = this.#exec(pipeline, changes);
      }
    }
    const record: FlushRecord = { settled: false, outcome: Promise.resolve(undefined) };
    record.outcome = (async () => {
      const [before, mine] = await Promise.all([earlier, own]);
      record.settled = true;
      // everything before `from` must be confirmed too, by the earlier flushes
      const inherited =
        this.#base < from ? (before ?? new Error('RedisStore: an earlier flush failed')) : undefined;
      // a write refused for its stale token is settled (it can never apply): reported once the
      // rest is, like a success
      const refused = mine instanceof FencedError ? mine : undefined;
      const error = refused === undefined ? (mine ?? inherited) : (inherited ?? refused);
      if (error === undefined || error === refused) this.#confirm(to);
      // send every change not confirmed again, in order, with the next flush
      else if (this.#sent > this.#base) this.#sent = this.#base;
      return error;
    })();
    this.#lastFlush = record;
    if (clientId === undefined)
      return record.outcome.then((err) => {
        if (err !== undefined) throw err;
      });
    return record.outcome.then((err) => {
      if (err !== undefined && !(err instanceof FencedError)) throw err;
      const refused = this.#unreported.get(clientId) ?? this.#fences.get(clientId)?.refused;
      this.#unreported.delete(clientId);
      if (refused !== undefined) throw refused;
    });
  }

  /** Redis refused a write for its stale token (now or before): reported to its client's flush. */
  #refused(err: FencedError): void {
    if (!this.#unreported.has(err.clientId)) this.#unreported.set(err.clientId, err);
  }

  /** Every change before number `to` is in Redis: drops them from the log. */
  #confirm(to: number): void {
    if (to <= this.#base) return;
    const n = to - this.#base;
    if (n >= this.#log.length) this.#log = [];
    else this.#log.splice(0, n);
    this.#base = to;
    if (this.#sent < to) this.#sent = to;
  }

  /**
   * Sends `changes` when fencing is in use: fenced clients' changes as script calls. A refused
   * write gives its FencedError; a server without the script (NOSCRIPT), every change out and not
   * confirmed sent again, in order, as EVAL (see redis-writes.ts).
   */
  async #sendFenced(changes: Change[], to: number): Promise<Error | undefined> {
    const first = toEntries(changes, false, this.#evalNext);
    if (first.full) this.#evalNext = false;
    let { entries, refused } = first;
    for (const r of refused) this.#refused(r);
    // every change was made under a token Redis already refused: at once, without a round trip
    if (entries.length === 0) return refused[0];
    let error = await this.#exec(this.#pipeline(entries), entries);
    if (error instanceof NoScriptError) {
      const out = this.#log.slice(0, Math.max(this.#sent, to) - this.#base);
      ({ entries, refused } = toEntries(out, true, true));
      for (const r of refused) this.#refused(r);
      error = entries.length === 0 ? undefined : await this.#exec(this.#pipeline(entries), entries);
    }
    return error ?? refused[0];
  }

  #pipeline(entries: readonly Entry[]): Pipeline {
    const pipeline = this.#client.pipeline();
    for (const e of entries) e.addTo(pipeline);
    return pipeline;
  }

  /**
   * Execs one pipeline; the outcome is the error to report, or undefined. Never rejects. Failed
   * commands come first; then NOSCRIPT (a NoScriptError: send again); then a write refused for
   * its fencing token (its FencedError).
   */
  async #exec(pipeline: Pipeline, changes: readonly Entry[]): Promise<Error | undefined> {
    let results: [Error | null, unknown][] | null;
    const started = Date.now();
    try {
      results = await this.#track(pipeline.exec());
    } catch (err) {
      const first = changes[0].describe();
      const what = changes.length > 1 ? `${first} and the ${changes.length - 1} commands after it` : first;
      return commandError(what, lost(err, started), 1, 1, this.#lastConnectionError);
    }
    if (results === null)
      return new Error(`RedisStore: pipeline of ${changes.length} commands got no replies`);
    let failed = 0;
    let first = -1;
    let noScript = false;
    let refused: FencedError | undefined;
    for (let i = 0; i < results.length; i++) {
      const [err, reply] = results[i];
      const entry = changes[i];
      if (err) {
        if (entry instanceof FencedWrite && isNoScript(err)) {
          noScript = true;
          continue;
        }
        failed++;
        if (first < 0) first = i;
      } else if (entry instanceof FencedWrite) {
        const r = entry.refusal(reply);
        if (r !== undefined) {
          this.#refused(r);
          refused ??= r;
        }
      }
    }
    // the server lacks the script: the next script call goes as EVAL, whatever else failed
    if (noScript) this.#evalNext = true;
    if (first < 0) {
      if (noScript) return new NoScriptError('RedisStore: the server does not have the fenced-write script');
      return refused;
    }
    return commandError(
      changes[first].describe(),
      lost(results[first][0], started),
      failed,
      changes.length,
      this.#lastConnectionError,
    );
  }

  /** `promise`, or a rejection once it has been out OUTAGE_MS and the connection is not ready. */
  #track<T>(promise: Promise<T>): Promise<T> {
    const now = Date.now();
    const entry = new InFlight(now, this.#inFlight);
    const aborted = new Promise<never>((_, reject) => {
      entry.reject = reject;
    });
    this.#inFlight.add(entry);
    if (this.#client.status !== 'ready') entry.bound(now);
    return Promise.race([promise, aborted]).finally(() => {
      this.#inFlight.delete(entry);
      sharedTimer.remove(entry);
    });
  }

  /**
   * The connection was lost: what is out fails OUTAGE_MS after it was sent (at once if that is
   * past); the next connection may be to a server without the fenced-write script.
   */
  #down(): void {
    this.#evalNext = true;
    const now = Date.now();
    for (const entry of this.#inFlight) if (entry.deadline === 0) entry.bound(now);
  }

  #ready(): void {
    this.#lastConnectionError = undefined;
    for (const entry of this.#inFlight) entry.unbound();
  }

  async clear(clientId: string): Promise<void> {
    const k = this.#keys(clientId);
    this.#queue(clientId, DEL, k.m, k.q2, k.s);
    try {
      await this.flush(clientId);
    } catch (err) {
      // a refusal of an earlier token's write: not this DEL's
      if (!(err instanceof FencedError) || this.#fences.get(clientId)?.refused === err) throw err;
    }
  }

  /** Flushes, then quits the client if the store made it (a client passed in is left open). */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closing = (async () => {
        let error: unknown;
        try {
          await this.flush();
        } catch (err) {
          error = err;
        }
        const client = this.#client;
        client.off('close', this.#onDown);
        client.off('end', this.#onDown);
        client.off('ready', this.#onReady);
        if (this.#owned) {
          if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
          else client.disconnect();
          // the error listener stays: errors after close are nobody's concern, and not to be printed
        }
        if (error !== undefined) throw error;
      })();
      // Mutations made while the final flush is out would never be sent.
      this.#closed = true;
    }
    return this.#closing;
  }
}

/** `err`, or the store's no-answer error when ioredis gave the command up (see `noAnswer`). */
function lost(err: unknown, started: number): unknown {
  return givenUp(err) ? noAnswer(Date.now() - started) : err;
}

/**
 * The Error for a failed command: `what` names it (command, key, field).
 * The ioredis error is not attached as `cause`: it carries the command's
 * arguments, which hold message payloads.
 */
function commandError(what: string, err: unknown, failed: number, total: number, connection?: Error): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const more = failed > 1 ? ` (${failed} of ${total} commands failed)` : '';
  const why =
    connection !== undefined && connection.message !== e.message
      ? `; last connection error: ${connection.message}`
      : '';
  return new Error(`RedisStore: ${what} failed${more}: ${e.name}: ${e.message}${why}`);
}

/**
 * The start of a client's keys: `<prefix>{id:<base64url of the UTF-8 client
 * id>}:`. The hash tag puts all of them (and the cluster's `:owner` and
 * `:fence`) in one Redis Cluster slot, so one script may touch them all.
 */
export function sessionKeyBase(prefix: string, clientId: string): string {
  return `${prefix}{id:${Buffer.from(clientId, 'utf8').toString('base64url')}}:`;
}
