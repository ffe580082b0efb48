/**
 * A private redis-server for integration tests, spawned on a free loopback
 * port with no persistence (`--save '' --appendonly no`) and its working
 * directory in a temporary folder.
 *
 * ```ts
 * describe.skipIf(!hasRedis())('with redis', () => {
 *   let redis: RedisServer;
 *   beforeAll(async () => { redis = await startRedis(); });
 *   afterAll(() => redis.stop());
 * });
 * ```
 *
 * `stop()` ends the server (SIGTERM) and removes its directory; `kill()`
 * (SIGKILL) crashes it, for tests of what a client does when Redis goes away
 * (`stop()` afterwards still removes the directory); `restart()` brings it
 * back on the same port and directory (with `--appendonly yes` in `args`,
 * with the data it had). A process-exit hook
 * (also run on SIGTERM, SIGINT and SIGHUP, which skip 'exit') SIGKILLs
 * whatever a test forgot and removes its directory.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { findBinary, hasBinary } from './binaries.js';
import { exchange, freePort } from './ports.js';
import { inTempDir, retryOnPortClash, type ServerControls, ServerInstance } from './server-process.js';

/** A running redis-server; its log goes to stdout, so `log()` has it. */
export interface RedisServer extends ServerControls {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The server's temporary working directory. */
  dir: string;
}

export interface RedisOptions {
  /** Extra command-line arguments, appended as given (`['--cluster-enabled', 'yes']`). */
  args?: string[];
}

const REDIS_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];

/** Path of the redis-server binary: /usr/bin/redis-server or on PATH. */
export function redisServerPath(): string | undefined {
  return findBinary('redis-server', REDIS_PATHS);
}

/** Whether redis-server is installed; for `describe.skipIf(!hasRedis())`. Prints why when it is not. */
export function hasRedis(): boolean {
  return hasBinary('redis-server', REDIS_PATHS);
}

/**
 * Inside a `describe`: a private redis-server for the block, started before
 * its tests and stopped after them, with a connected admin client; `use`
 * gets both once they are up.
 */
export function redisForBlock(use: (server: RedisServer, admin: Redis) => void): void {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url, { lazyConnect: true });
    await admin.connect();
    use(server, admin);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
}

/** Starts a redis-server. Rejects, with the server's log, if it does not answer PING within 10 s. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const bin = redisServerPath();
  if (bin === undefined) throw new Error('startRedis: redis-server is not installed');
  return inTempDir('mqttkit-redis-', (dir) =>
    retryOnPortClash(async () => {
      const instance = new Instance(bin, dir, await freePort(), options.args ?? []);
      await instance.launch();
      return instance.server();
    }),
  );
}

/**
 * A one-node Redis Cluster that owns every slot: a command or script whose
 * keys span two slots still fails with CROSSSLOT, as on a real cluster.
 * Resolves once the node reports `cluster_state:ok` (it is asked every
 * 50 ms, for up to 10 s).
 */
export async function startRedisClusterNode(): Promise<RedisServer> {
  const server = await startRedis({
    args: ['--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1'],
  });
  const admin = new Redis(server.url, { lazyConnect: true });
  try {
    await admin.connect();
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    const deadline = Date.now() + 10_000;
    while (!/cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO')))) {
      if (Date.now() > deadline)
        throw new Error('startRedisClusterNode: the node did not reach cluster_state:ok');
      await delay(50);
    }
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    admin.disconnect();
  }
}

class Instance extends ServerInstance {
  constructor(
    bin: string,
    dir: string,
    readonly port: number,
    readonly extraArgs: string[],
  ) {
    super('redis-server', bin, dir);
  }

  async start(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
      ...this.extraArgs,
    ];
    const proc = this.spawn(args);
    await proc.waitUntil(
      () => answersPing(this.port),
      `answer PING on 127.0.0.1:${this.port}`,
      () => this.log(),
    );
  }

  server(): RedisServer {
    return this.handle({ url: `redis://127.0.0.1:${this.port}`, port: this.port, dir: this.dir });
  }
}

/** Whether the server answers PING with PONG now (not LOADING, not refused); the connection is closed again. */
function answersPing(port: number): Promise<boolean> {
  return exchange(
    { port },
    'PING\r\n',
    (reply) => {
      const text = reply.toString('latin1');
      return text.includes('\r\n') ? text.startsWith('+PONG') : undefined;
    },
    () => false,
  );
}
