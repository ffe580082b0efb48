/**
 * Commands and Lua scripts sent to Redis in batches, one round trip a batch,
 * on a single Redis (or one behind Sentinel) and on Redis Cluster alike.
 *
 * How it works:
 * - A batch on a single Redis is one pipeline: every command written at
 *   once, the replies read back in order.
 * - On Redis Cluster (an ioredis `Cluster`, `isCluster` true) each command
 *   is sent on its own, all of them at once, and ioredis routes each to the
 *   node serving its key's slot: an ioredis pipeline refuses keys served by
 *   different nodes. Still one round trip of latency; one write per node
 *   per tick with the client's `enableAutoPipelining`. So every command and
 *   every script call of a batch must touch the keys of ONE slot (one hash
 *   tag); `keySlot` tells which, for callers that put the keys of many
 *   sessions into one call where they share a slot.
 * - Scripts run by SHA (EVALSHA), so a batch of 10,000 calls does not carry
 *   10,000 copies of the source. A runner's first batch of a script starts
 *   with SCRIPT LOAD (same batch, no extra round trip); batches sent while
 *   it is on its way count on it. A Redis that does
 *   not know the SHA (its cache emptied by a restart, a failover or SCRIPT
 *   FLUSH; on Cluster, every node but the one the load reached) answers
 *   NOSCRIPT, and those calls are sent once more in a second batch: after
 *   SCRIPT LOAD on a single Redis, as EVAL of the source on Cluster.
 *
 * Redis answers each command of a batch on its own: a batch resolves with
 * one `[error, reply]` per command, and rejects only when the batch as a
 * whole got no answer (the connection failed).
 */
import { createHash } from 'node:crypto';

/** One command: its name, then its arguments (`['MGET', 'k1', 'k2']`). */
export type Command = readonly [name: string, ...args: (string | number)[]];

/** The answer to one command of a batch: an error, or `null` and the reply. */
export type Reply = [error: Error | null, reply: unknown];

/** A pipeline of a {@link ScriptClient}: an ioredis `Pipeline` has it. */
export interface ScriptPipeline {
  /** Queues a command. */
  call(command: string, ...args: (string | number)[]): unknown;
  /** Sends the queued commands in one round trip; one `[error, reply]` per command. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * What a `ScriptRunner` uses of a Redis client: an ioredis `Redis` or
 * `Cluster` has it. Declared here so that the package's types do not depend
 * on ioredis, an optional peer dependency.
 */
export interface ScriptClient {
  /** True on an ioredis `Cluster`: commands are then routed one by one, never pipelined together. */
  readonly isCluster?: boolean;
  /** Sends one command. */
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  /** A new pipeline (used on a single Redis only). */
  pipeline(): ScriptPipeline;
}

/** One call of a script: its keys (all in one slot), then its other arguments. */
export type ScriptCall = readonly [keys: readonly string[], args: readonly string[]];

/** A Lua script: its source and its SHA1. */
export class Script {
  /** The SHA1 of `lua`, in hex: what EVALSHA names it by. */
  readonly sha: string;

  constructor(
    /** What the script does, for errors (`lease acquire`). */
    readonly name: string,
    readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

/** Whether `err` is Redis saying it does not know a script's SHA. */
function noScript(err: Error | null): boolean {
  return err?.message.startsWith('NOSCRIPT') === true;
}

/** Sends batches of commands and script calls on one client (see the file's header). */
export class ScriptRunner {
  /** The SHAs this runner has loaded on its client since it last saw NOSCRIPT for them. */
  readonly #loaded = new Set<string>();

  constructor(readonly client: ScriptClient) {}

  /**
   * Sends `commands` as one batch (one pipeline; on Cluster, all at once);
   * one reply per command, in order. Rejects when the batch got no answer.
   */
  async send(commands: readonly Command[]): Promise<Reply[]> {
    if (commands.length === 0) return [];
    const client = this.client;
    if (client.isCluster === true) {
      return Promise.all(
        commands.map((c) =>
          client.call(...c).then(
            (reply): Reply => [null, reply],
            (err: unknown): Reply => [err instanceof Error ? err : new Error(String(err)), null],
          ),
        ),
      );
    }
    const p = client.pipeline();
    for (const c of commands) p.call(...c);
    const replies = await p.exec();
    if (replies === null || replies.length !== commands.length)
      throw new Error(`a pipeline of ${commands.length} commands got ${replies?.length ?? 'no'} replies`);
    return replies;
  }

  /**
   * Calls `script` once per element of `calls` (each: its keys, then its
   * other arguments), as one batch; one reply per call, in order.
   */
  async run(script: Script, calls: readonly ScriptCall[]): Promise<Reply[]> {
    if (calls.length === 0) return [];
    const replies = await this.#batch(script, calls, 'EVALSHA');
    const again: number[] = [];
    for (let i = 0; i < replies.length; i++) if (noScript(replies[i][0])) again.push(i);
    if (again.length === 0) return replies;
    // The script cache was emptied since the load. A single Redis loads the script again ahead
    // of the calls; a Cluster's nodes get the source itself, since a SCRIPT LOAD reaches one node.
    this.#loaded.delete(script.sha);
    const how = this.client.isCluster === true ? 'EVAL' : 'EVALSHA';
    const retried = await this.#batch(
      script,
      again.map((i) => calls[i]),
      how,
    );
    for (let j = 0; j < again.length; j++) replies[again[j]] = retried[j];
    return replies;
  }

  /** One batch of calls of `script`, by SHA (after a SCRIPT LOAD in the same batch if not loaded yet) or by source. */
  async #batch(script: Script, calls: readonly ScriptCall[], how: 'EVALSHA' | 'EVAL'): Promise<Reply[]> {
    const load = how === 'EVALSHA' && !this.#loaded.has(script.sha);
    const head = how === 'EVAL' ? script.lua : script.sha;
    const commands: Command[] = load ? [['SCRIPT', 'LOAD', script.lua]] : [];
    for (const [keys, args] of calls) commands.push([how, head, keys.length, ...keys, ...args]);
    // Counted as loaded from now: a batch sent after this one on the same connection runs after
    // the load (and one that does not, on Cluster, gets NOSCRIPT and is sent again).
    if (load) this.#loaded.add(script.sha);
    let replies: Reply[];
    try {
      replies = await this.send(commands);
    } catch (err) {
      if (load) this.#loaded.delete(script.sha);
      throw err;
    }
    if (how === 'EVAL') this.#loaded.add(script.sha); // EVAL leaves the script in the node's cache
    if (!load) return replies;
    const loadError = replies[0][0];
    if (loadError !== null) {
      this.#loaded.delete(script.sha);
      throw loadError;
    }
    return replies.slice(1);
  }
}

/** CRC16-CCITT (XMODEM) of each byte value, as Redis Cluster hashes keys. */
const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();

/**
 * The Redis Cluster slot of `key` (0 to 16383): CRC16 of its hash tag (what
 * is between the first `{` and the next `}`, if not empty), else of the
 * whole key, over its UTF-8 bytes.
 */
export function keySlot(key: string): number {
  let bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ b) & 0xff];
  return crc & 16383;
}
