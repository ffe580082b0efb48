/**
 * What the helpers that spawn a server (mosquitto, redis-server, nats-server)
 * share: a temporary directory removed when the start fails or the process
 * ends, retries when a port from `freePort()` was taken before the server
 * bound it, and one spawned process with its output kept, its exit tracked
 * and a readiness check polled until it passes, the process dies or time runs
 * out (the error then carries the server's log); and `ServerInstance`, the
 * part of a helper's server that does not depend on which server it is: the
 * current process (a new one each start), `kill()`, `restart()`, `stop()`,
 * and the handle a test gets, whose `pid` is read at each access.
 *
 * ```ts
 * class Instance extends ServerInstance {
 *   constructor(bin: string, dir: string, readonly port: number) { super('x', bin, dir); }
 *   async start() {
 *     const proc = this.spawn(['--port', String(this.port)]);
 *     await proc.waitUntil(() => accepts({ port: this.port }), `accept connections on ${this.port}`, () => this.log());
 *   }
 * }
 * return inTempDir('mqttkit-x-', (dir) =>
 *   retryOnPortClash(async () => {
 *     const instance = new Instance(bin, dir, await freePort());
 *     await instance.launch();
 *     return instance.handle({ url: `x://127.0.0.1:${instance.port}`, dir });
 *   }),
 * );
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirs, installExitHook, live, signalChild } from './binaries.js';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;
const MAX_OUTPUT = 1 << 20;

/**
 * Makes a temporary directory (removed by the process-exit hook) and runs
 * `start` in it; when `start` throws, the directory is removed at once.
 */
export async function inTempDir<T>(prefix: string, start: (dir: string) => Promise<T>): Promise<T> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(dir);
  try {
    return await start(dir);
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** Removes a directory `inTempDir` made (and forgets it in the exit hook). */
export async function removeDir(dir: string): Promise<void> {
  dirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs `attempt` again, up to 3 times in all, while it fails with an error
 * that says "address already in use" (a port freed by `freePort()` taken by
 * someone else before the server bound it). `attempt` picks fresh ports and
 * stops its own process before throwing.
 */
export async function retryOnPortClash<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (tries >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

/** One spawned server process: output (first MiB) kept, exit tracked, killed by the exit hook if forgotten. */
export class ServerProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited (or failed to spawn). */
  readonly exited: Promise<void>;
  /** How it ended (`exited with SIGTERM`, `spawn failed: ...`); undefined while it runs. */
  exitInfo: string | undefined;
  #output = '';

  constructor(
    /** Name used in error messages. */
    readonly name: string,
    bin: string,
    args: readonly string[],
    readonly cwd: string,
  ) {
    installExitHook();
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    this.child = child;
    live.add(child);
    const collect = (chunk: Buffer): void => {
      if (this.#output.length < MAX_OUTPUT) this.#output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.exitInfo = `spawn failed: ${err.message}`;
        live.delete(child);
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.exitInfo = `exited with ${signal ?? `code ${code}`}`;
        live.delete(child);
        resolve();
      });
    });
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.exitInfo === undefined ? this.child.pid : undefined;
  }

  /** What the process printed on stdout and stderr. */
  get output(): string {
    return this.#output;
  }

  /**
   * Polls `ready` until it resolves true. Throws, with `log()` in the
   * message, when the process exits first or after 10 s (`what` says what
   * was awaited: "accept connections on 1883").
   */
  async waitUntil(ready: () => Promise<boolean>, what: string, log: () => string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.exitInfo !== undefined)
        throw new Error(`${this.name} ${this.exitInfo} while starting (in ${this.cwd}). Log:\n${log()}`);
      if (await ready()) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} did not ${what} within ${START_TIMEOUT_MS} ms (in ${this.cwd}). Log:\n${log()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after 5 s). Does nothing once it has exited. */
  signal(signal: NodeJS.Signals): Promise<void> {
    if (this.exitInfo !== undefined) return Promise.resolve();
    return signalChild(this.child, this.exited, signal, STOP_TIMEOUT_MS);
  }
}

/** What every started server's handle has to control the process. */
export interface ServerControls {
  /** The process id while the server runs (read at each access). */
  readonly pid: number | undefined;
  /** SIGTERM, wait for the exit, remove the directory. Safe to call twice, and after `kill()`. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit (a crash: clients see their connections reset, then refused); `restart()` brings it back. */
  kill(): Promise<void>;
  /** Stop (SIGTERM) if running, then start again in the same directory, on the same ports, with the same configuration. */
  restart(): Promise<void>;
  /** Everything the server printed. */
  log(): string;
}

/**
 * One server a helper started, across restarts: a subclass writes `start()`
 * (which spawns with `spawn()` and waits until the server is ready) and says
 * with `handle()` which fields its handle has besides the controls.
 */
export abstract class ServerInstance {
  #process: ServerProcess | undefined;
  #stopped = false;

  constructor(
    /** Name used in error messages (`mosquitto`). */
    readonly name: string,
    readonly bin: string,
    /** The temporary directory, removed by `stop()`. */
    readonly dir: string,
  ) {}

  /** Spawns the server and waits until it is ready; rejects with its log when it is not. */
  abstract start(): Promise<void>;

  /** Spawns `bin` with `args` in `dir` as the current process. */
  protected spawn(args: readonly string[]): ServerProcess {
    this.#process = new ServerProcess(this.name, this.bin, args, this.dir);
    return this.#process;
  }

  /** What the current process printed on stdout and stderr. */
  protected get output(): string {
    return this.#process?.output ?? '';
  }

  /** `start()`; when it fails, the process is killed before the error goes on. */
  async launch(): Promise<void> {
    try {
      await this.start();
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  #signal(signal: NodeJS.Signals): Promise<void> {
    return this.#process?.signal(signal) ?? Promise.resolve();
  }

  /** SIGKILL and wait for the exit; the directory stays. */
  kill(): Promise<void> {
    return this.#signal('SIGKILL');
  }

  /** SIGTERM if running, then `start()` again. Refused after `stop()`, which removed the directory. */
  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`${this.name}: stop() was called; start a new one`);
    await this.#signal('SIGTERM');
    await this.start();
  }

  /** SIGTERM, wait for the exit, remove the directory. Safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#signal('SIGTERM');
    await removeDir(this.dir);
  }

  /** What the server printed; a subclass adds its log file. */
  log(): string {
    return this.output;
  }

  /** `fields` and the controls: the object a `startX()` function hands to tests. */
  handle<T extends object>(fields: T): T & ServerControls {
    const current = (): ServerProcess | undefined => this.#process;
    return {
      ...fields,
      get pid() {
        return current()?.pid;
      },
      stop: () => this.stop(),
      kill: () => this.kill(),
      restart: () => this.restart(),
      log: () => this.log(),
    };
  }
}
