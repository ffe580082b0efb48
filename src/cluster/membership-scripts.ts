/**
 * The Lua scripts of `Membership` (`membership.ts`): the renewal (which is
 * also the join) and the leave, and how they are run (EVALSHA, then EVAL
 * when Redis does not have the script). Every key of both is one cluster's
 * (`keys.ts`), so they run on Redis Cluster too.
 */
import { createHash } from 'node:crypto';

/**
 * What a membership uses of a Redis client: an ioredis `Redis` (or
 * `Cluster`: the script's keys share one hash tag) has it. Declared here so
 * that the package's types do not name ioredis, an optional peer.
 */
export interface MembershipClient {
  /** `EVALSHA sha1 numkeys key... arg...` */
  evalsha(sha1: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** `EVAL script numkeys key... arg...` */
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** A Lua script, its SHA1 (EVALSHA first; EVAL when Redis does not have it) and how many keys a call has. */
export interface Script {
  readonly text: string;
  readonly sha: string;
  readonly keys: number;
}

/** A script of `text` taking `keys` keys. */
export function script(keys: number, text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex'), keys };
}

/**
 * KEYS: nodes, node:<id>, weights, quiet, watch, stats. ARGV: id,
 * incarnation, ttl, weight, mode ('join' or 'renew'), watching ('1': set
 * watch again, PX ttl). Returns {0, pttl} when another incarnation holds
 * the id, {2} when renewing and the key is gone (never set again for this
 * incarnation), else {1, now, fresh, quiet until, watched (1 or 0), id,
 * expiry, weight, id, expiry, weight, ...}; sets quiet to now + ttl when it
 * is missing; the members gone lose their weight and their shared numbers.
 * (TIME before writes needs effects replication: the default since Redis
 * 5, the only mode since 7.)
 */
export const RENEW = script(
  6,
  `
if redis.replicate_commands then redis.replicate_commands() end
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[2] then
  return {0, redis.call('PTTL', KEYS[2])}
end
if not held and ARGV[5] == 'renew' then return {2} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local quiet = tonumber(redis.call('GET', KEYS[4]) or '')
if not quiet then
  quiet = now + ttl
  redis.call('SET', KEYS[4], string.format('%d', quiet))
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
if ARGV[6] == '1' then redis.call('SET', KEYS[5], '1', 'PX', ttl) end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #gone do
  redis.call('ZREM', KEYS[1], gone[i])
  redis.call('HDEL', KEYS[3], gone[i])
  redis.call('HDEL', KEYS[6], gone[i])
end
local weights = {}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do weights[all[i]] = all[i + 1] end
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {1, now, held and 0 or 1, quiet, redis.call('EXISTS', KEYS[5])}
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  out[#out + 1] = weights[live[i]] or '1'
end
return out
`,
);

/**
 * KEYS: nodes, node:<id>, weights, stats; ARGV: id, incarnation. Removes
 * the node (and its shared numbers) if its lease is its own or gone.
 */
export const LEAVE = script(
  4,
  `
local held = redis.call('GET', KEYS[2])
if held and held ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`,
);

/** EVALSHA, then EVAL if Redis does not have the script (a restart, SCRIPT FLUSH). */
export async function run(client: MembershipClient, s: Script, args: (string | number)[]): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, s.keys, ...args);
  } catch (err) {
    if (!String((err as Error | null)?.message).startsWith('NOSCRIPT')) throw err;
    return client.eval(s.text, s.keys, ...args);
  }
}
