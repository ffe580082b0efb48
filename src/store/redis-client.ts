/**
 * The Redis client `RedisStore` talks to: what it uses of one (declared
 * here, so that the package's types do not name ioredis, an optional peer
 * dependency), and the ioredis client the store makes for itself when it is
 * not given one, with the settings that bound how long a command waits when
 * Redis goes away.
 */
import { requirePeer } from '../core/peer.js';

/**
 * The commands `RedisStore` queues on a pipeline of its client (see
 * {@link RedisClient}); an ioredis pipeline has them all. Each returns the
 * pipeline.
 */
export interface RedisPipeline {
  /** `HSET key field value` */
  hset(key: string, field: string, value: Buffer | string): RedisPipeline;
  /** `HDEL key field` */
  hdel(key: string, field: string): RedisPipeline;
  /** `SADD key member` */
  sadd(key: string, member: string): RedisPipeline;
  /** `SREM key member` */
  srem(key: string, member: string): RedisPipeline;
  /** `DEL key key key` */
  del(key1: string, key2: string, key3: string): RedisPipeline;
  /** `HGETALL key`, the values as Buffers */
  hgetallBuffer(key: string): RedisPipeline;
  /** `SMEMBERS key` */
  smembers(key: string): RedisPipeline;
  /** `HGETALL key` */
  hgetall(key: string): RedisPipeline;
  /** `EVAL script numKeys key... arg...`: the keys, then the arguments, in one array. */
  eval(script: string, numKeys: number, keysAndArgs: (Buffer | string)[]): RedisPipeline;
  /** `EVALSHA sha1 numKeys key... arg...`: the keys, then the arguments, in one array. */
  evalsha(sha1: string, numKeys: number, keysAndArgs: (Buffer | string)[]): RedisPipeline;
  /** Sends the queued commands; one `[error, reply]` per command. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * What `RedisStore` uses of a Redis client: an ioredis `Redis` (or
 * `Cluster`) has it. Declared here so that the package's types do not
 * depend on ioredis, an optional peer dependency.
 */
export interface RedisClient {
  /** The connection's state; `'ready'` when commands are answered. */
  readonly status: string;
  /** A new pipeline; `exec()` sends its commands in one round trip. */
  pipeline(): RedisPipeline;
  /** Listens for connection errors. */
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** Listens for the connection becoming ready, closing, or ending for good. */
  on(event: 'ready' | 'close' | 'end', listener: () => void): unknown;
  /** Removes a listener added with `on`. */
  off(event: 'ready' | 'close' | 'end', listener: () => void): unknown;
  /** Sends QUIT; the store calls it only on a client it made. */
  quit(): Promise<unknown>;
  /** Closes the connection at once; the store calls it only on a client it made. */
  disconnect(): void;
}

/**
 * How the store's own client behaves when Redis goes away: commands issued
 * while it is disconnected wait in the offline queue (so a blip, a restart or
 * a failover is ridden out), and every command waiting, queued or sent
 * without an answer, fails after at most two reconnection attempts
 * (`maxRetriesPerRequest: 1`) spaced at most 500 ms apart, each bounded by
 * `connectTimeout`. A server that accepts the connection but stops answering
 * is dropped after `socketTimeout`. ioredis's defaults would make a command
 * wait for 20 attempts, or forever with `maxRetriesPerRequest: null`.
 */
export const OWN_CLIENT_OPTIONS = {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
  retryStrategy: (times: number) => Math.min(times * 100, 500),
  connectTimeout: 1_000,
  socketTimeout: 2_000,
} satisfies import('ioredis').RedisOptions;

/**
 * A client of the store's own, made with ioredis, loaded here on first use
 * (`MissingPeerError` when it is not installed).
 */
export function ownClient(url: string): RedisClient {
  const { Redis } = requirePeer<typeof import('ioredis')>('ioredis', 'RedisStore');
  return new Redis(url, { ...OWN_CLIENT_OPTIONS });
}
