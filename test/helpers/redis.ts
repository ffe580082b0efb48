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
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirs, findBinary, installExitHook, live, signalChild } from './binaries.js';
import { freePort } from './ports.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The server's temporary working directory. */
  dir: string;
  /** The process id while the server runs. */
  readonly pid: number | undefined;
  /** SIGTERM, wait for the exit, remove the directory. Safe to call twice, and after `kill()`. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit (a crash: clients see their connections reset and refused). */
  kill(): Promise<void>;
  /** Stop (SIGTERM) if running, then start again on the same port, directory and arguments. */
  restart(): Promise<void>;
  /** Everything the server printed (its log goes to stdout). */
  log(): string;
}

export interface RedisOptions {
  /** Extra command-line arguments, appended as given (`['--cluster-enabled', 'yes']`). */
  args?: string[];
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;

/** Path of the redis-server binary: /usr/bin/redis-server or on PATH. */
export function redisServerPath(): string | undefined {
  return findBinary('redis-server', ['/usr/bin/redis-server', '/usr/local/bin/redis-server']);
}

/** Whether redis-server is installed; for `describe.skipIf(!hasRedis())`. Prints why when it is not. */
export function hasRedis(): boolean {
  const found = redisServerPath() !== undefined;
  if (!found)
    console.warn('redis-server not found (/usr/bin/redis-server or PATH): skipping tests that need it');
  return found;
}

/** Starts a redis-server. Rejects, with the server's log, if it does not answer PING within 10 s. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const bin = redisServerPath();
  if (bin === undefined) throw new Error('startRedis: redis-server is not installed');
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), 'mqttkit-redis-'));
  dirs.add(dir);
  try {
    // A port freed by freePort() can be taken before redis binds it: retry with new ones.
    for (let tries = 1; ; tries++) {
      const instance = new Instance(bin, dir, await freePort(), options.args ?? []);
      try {
        await instance.start();
        return instance.server();
      } catch (err) {
        await instance.kill();
        if (tries >= 3 || !/address already in use/i.test(instance.log())) throw err;
      }
    }
  } catch (err) {
    dirs.delete(dir);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class Instance {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
    readonly extraArgs: string[],
  ) {}

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
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.#child = child;
    live.add(child);
    const collect = (chunk: Buffer): void => {
      if (this.#output.length < 1 << 20) this.#output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exitInfo: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('error', (err) => {
        exitInfo = `spawn failed: ${err.message}`;
        live.delete(child);
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${code}`}`;
        live.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined)
        throw new Error(`redis-server ${exitInfo} while starting (in ${this.dir}). Log:\n${this.log()}`);
      if (await answersPing(this.port)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `redis-server did not answer PING on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms (in ${this.dir}). Log:\n${this.log()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }

  #signal(signal: NodeJS.Signals): Promise<void> {
    return signalChild(this.#child, this.#exited, signal, STOP_TIMEOUT_MS);
  }

  kill(): Promise<void> {
    return this.#signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.#signal('SIGTERM');
    await this.start();
  }

  async stop(): Promise<void> {
    await this.#signal('SIGTERM');
    dirs.delete(this.dir);
    await rm(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return this.#output;
  }

  server(): RedisServer {
    const pid = (): number | undefined => this.#child?.pid;
    return {
      url: `redis://127.0.0.1:${this.port}`,
      port: this.port,
      dir: this.dir,
      get pid() {
        return pid();
      },
      stop: () => this.stop(),
      kill: () => this.kill(),
      restart: () => this.restart(),
      log: () => this.log(),
    };
  }
}

/** Whether the server answers PING with PONG now (not LOADING, not refused); the connection is closed again. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => finish(false), 500);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}
