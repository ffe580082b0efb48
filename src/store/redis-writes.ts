/**
 * What a `RedisStore` flush sends: each change as a plain command (HSET,
 * HDEL, SADD, SREM, DEL), or, for a client id with a fencing token, all of
 * that client's changes as one call of a Lua script that Redis refuses to
 * run for a stale token, so a node that wakes up late cannot overwrite the
 * state of the session's new owner.
 *
 * Whoever acquires a session INCRs its `:fence` key and hands the new value
 * to `RedisStore.fence(clientId, token)`. Every change made from then on
 * carries that {@link Fence}, and a flush sends a fenced client's changes as
 * one script call with the client's four keys (they share the hash tag
 * `{id:...}`, so one Redis Cluster slot) and the token:
 *
 *   EVALSHA <sha1> 4 <p>{id:..}:m <p>{id:..}:q2 <p>{id:..}:s <p>{id:..}:fence
 *           <token>  <op> <field> <value>  <op> <field> <value>  ...
 *
 * Redis runs a script without interleaving any other command, so the check
 * (`GET :fence` equals the token) and the writes are one atomic step: all of
 * them apply, or none and the script answers `FENCED` with the token Redis
 * holds. The ops are the store's own last-writer-wins commands (`m`, `q`,
 * `s` for the key, `+` to set or add, `-` to delete; `x` deletes all three);
 * every argument is a binary-safe Redis string, so records with any bytes
 * pass through unchanged (`''` where an op has no field or value).
 *
 * A refusal is final for that token: the Fence keeps the `FencedError`,
 * and the changes made under it are left out of every later flush (they can
 * never apply), which reports that error at once (to the client's own flush:
 * see `RedisStore.flush`).
 *
 * The script goes as EVALSHA, or as EVAL on the first call after the
 * connection was lost and on a resend (the store decides: `full`). A server
 * that answers NOSCRIPT gets, from the store, every change out and not yet
 * confirmed again, in order, with EVAL: pipelines sent after the refused
 * call may have applied while it did not, and re-applying the whole run in
 * order puts every key back to its last write.
 */
import { createHash } from 'node:crypto';
import { FencedError } from '../core/errors.js';
import type { RedisPipeline } from './redis-client.js';

export const HSET = 0;
export const HDEL = 1;
export const SADD = 2;
export const SREM = 3;
export const DEL = 4;
const NAMES = ['HSET', 'HDEL', 'SADD', 'SREM', 'DEL'];

/**
 * KEYS: the client's `:m`, `:q2`, `:s` and `:fence`. ARGV[1]: the token the
 * writes carry; then one triple (op, field, value) per change. The whole
 * ARGV is checked before anything is written, so even a malformed call
 * applies nothing.
 */
export const FENCED_WRITE_LUA = `local current = redis.call('GET', KEYS[4])
if current ~= ARGV[1] then return {'FENCED', current or ''} end
if (#ARGV - 1) % 3 ~= 0 then return redis.error_reply('ERR fenced write: ARGV is not token + triples') end
local ops = {['m+'] = true, ['m-'] = true, ['q+'] = true, ['q-'] = true, ['s+'] = true, ['s-'] = true, x = true}
for i = 2, #ARGV, 3 do
  if not ops[ARGV[i]] then return redis.error_reply('ERR fenced write: unknown op') end
end
for i = 2, #ARGV, 3 do
  local op, field = ARGV[i], ARGV[i + 1]
  if op == 'm+' then redis.call('HSET', KEYS[1], field, ARGV[i + 2])
  elseif op == 'm-' then redis.call('HDEL', KEYS[1], field)
  elseif op == 'q+' then redis.call('SADD', KEYS[2], field)
  elseif op == 'q-' then redis.call('SREM', KEYS[2], field)
  elseif op == 's+' then redis.call('HSET', KEYS[3], field, ARGV[i + 2])
  elseif op == 's-' then redis.call('HDEL', KEYS[3], field)
  else redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
end
return (#ARGV - 1) / 3
`;

/** The script's SHA1, as EVALSHA names it. */
export const FENCED_WRITE_SHA = createHash('sha1').update(FENCED_WRITE_LUA).digest('hex');

type FencedOp = 'm+' | 'm-' | 'q+' | 'q-' | 's+' | 's-' | 'x';

/** Whether a pipeline reply is Redis's NOSCRIPT error (the server does not have the script). */
export function isNoScript(err: Error): boolean {
  return err.message.startsWith('NOSCRIPT');
}

/**
 * The fencing token the store's writes for one client id carry, from one
 * `fence()` call to the next: changes made meanwhile keep it through failed
 * flushes and resends, so a change only ever applies under the token it was
 * made under.
 */
export class Fence {
  /** Set once Redis refused a write carrying this token: its changes are left out from then on. */
  refused: FencedError | undefined = undefined;
  /** The token as Redis holds it (INCR's decimal string). */
  readonly text: string;

  constructor(
    readonly clientId: string,
    readonly token: number,
    /** The client's `:m`, `:q2`, `:s` and `:fence` keys, in the script's KEYS order. */
    readonly keys: readonly [string, string, string, string],
  ) {
    this.text = String(token);
  }

  /** Records Redis's refusal; `held` is the token it holds ('' for none). Returns the error. */
  refuse(held: string): FencedError {
    if (this.refused !== undefined) return this.refused;
    const current = /^(0|[1-9][0-9]{0,15})$/.test(held) ? Number(held) : undefined;
    const why =
      held === ''
        ? `has no fencing token in Redis (ours ${this.token}; the session was released, or Redis lost it)`
        : current !== undefined && current > this.token
          ? `has a newer owner (fencing token ${current}, ours ${this.token})`
          : `has fencing token ${held} in Redis, not ours ${this.token}`;
    const message = `RedisStore: client '${this.clientId}' ${why}: write refused`;
    this.refused = new FencedError(message, this.clientId, this.token, current);
    return this.refused;
  }
}

/**
 * One change: a command on `key` with `field` (DEL: the second key) and
 * `value` (HSET: the record; DEL: the third key), and the fencing token it
 * was made under, if any. Kept until a flush that sent it is confirmed.
 */
export class Change {
  constructor(
    readonly command: number,
    readonly key: string,
    readonly field: string,
    readonly value: Buffer | string | undefined,
    readonly fence: Fence | undefined,
  ) {}

  /** Appends the command to `p`. */
  addTo(p: RedisPipeline): void {
    switch (this.command) {
      case HSET:
        p.hset(this.key, this.field, this.value as Buffer | string);
        return;
      case HDEL:
        p.hdel(this.key, this.field);
        return;
      case SADD:
        p.sadd(this.key, this.field);
        return;
      case SREM:
        p.srem(this.key, this.field);
        return;
      default:
        p.del(this.key, this.field, this.value as string);
    }
  }

  /** Adds the change to the script call of its client (`w.fence` is its `fence`). */
  addToScript(w: FencedWrite): void {
    const onM = this.key === w.fence.keys[0];
    let op: FencedOp;
    switch (this.command) {
      case HSET:
        op = onM ? 'm+' : 's+';
        break;
      case HDEL:
        op = onM ? 'm-' : 's-';
        break;
      case SADD:
        op = 'q+';
        break;
      case SREM:
        op = 'q-';
        break;
      default:
        w.add('x', '', '');
        return;
    }
    w.add(op, this.field, this.value ?? '');
  }

  /** Command, key and field, for errors: never the record. */
  describe(): string {
    const name = NAMES[this.command];
    return this.command === DEL
      ? `${name} ${this.key} ${this.field} ${this.value as string}`
      : `${name} ${this.key} ${this.field}`;
  }
}

/** The changes of one fenced client in one pipeline: one call of the script. */
export class FencedWrite {
  /** The keys, the token, then a triple per change. */
  readonly args: (Buffer | string)[];
  /** The number of changes in it. */
  size = 0;

  constructor(
    readonly fence: Fence,
    /** Send the script itself (EVAL) rather than its SHA1. */
    readonly full: boolean,
    /** Its first change, for errors. */
    readonly first: Change,
  ) {
    this.args = [...fence.keys, fence.text];
  }

  add(op: FencedOp, field: string, value: Buffer | string): void {
    this.args.push(op, field, value);
    this.size++;
  }

  addTo(p: RedisPipeline): void {
    if (this.full) p.eval(FENCED_WRITE_LUA, 4, this.args);
    else p.evalsha(FENCED_WRITE_SHA, 4, this.args);
  }

  /** The script call and its first change, for errors: never a record. */
  describe(): string {
    const more = this.size > 1 ? ` and ${this.size - 1} more` : '';
    return `fenced write (token ${this.fence.token}) of ${this.first.describe()}${more}`;
  }

  /** The FencedError when `reply` is the script's refusal, else undefined. */
  refusal(reply: unknown): FencedError | undefined {
    if (!Array.isArray(reply) || String(reply[0]) !== 'FENCED') return undefined;
    return this.fence.refuse(String(reply[1] ?? ''));
  }
}

/** What one pipeline entry sends: a change, or a fenced client's changes as one script call. */
export type Entry = Change | FencedWrite;

/** What {@link toEntries} made of a run of changes. */
export interface Entries {
  entries: Entry[];
  /** The errors of the refused tokens changes were left out for, one per token, first seen first. */
  refused: FencedError[];
  /** Whether a script call goes as EVAL. */
  full: boolean;
}

/**
 * The pipeline entries for `changes`, in order: plain commands, and one
 * script call per fenced client, placed at its first change (all as EVAL
 * when `full`, else only the first when `evalFirst`). That keeps each
 * client's changes in order: every change of a client between the first
 * and the last made under one Fence carries that Fence (`fence()` replaces
 * it with a new one). Changes under a refused token are left out.
 */
export function toEntries(changes: readonly Change[], full: boolean, evalFirst: boolean): Entries {
  const entries: Entry[] = [];
  const refused: FencedError[] = [];
  let sentFull = false;
  const writes = new Map<Fence, FencedWrite>();
  for (const c of changes) {
    const fence = c.fence;
    if (fence === undefined) entries.push(c);
    else if (fence.refused !== undefined) {
      if (!refused.includes(fence.refused)) refused.push(fence.refused);
    } else {
      let w = writes.get(fence);
      if (w === undefined) {
        w = new FencedWrite(fence, full || (evalFirst && !sentFull), c);
        sentFull ||= w.full;
        writes.set(fence, w);
        entries.push(w);
      }
      c.addToScript(w);
    }
  }
  return { entries, refused, full: sentFull };
}
