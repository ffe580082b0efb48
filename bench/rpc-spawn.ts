/**
 * Spawning for `bench/rpc.bench.ts`: one `rpc-child.ts` per requester and
 * per responder, driven over its stdin/stdout (one JSON line each way per
 * command). Every child is SIGKILLed if this process exits or is signalled
 * first; a child also exits by itself when its stdin ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onProcessEnd } from '../test/helpers/binaries.js';
import type { ChildConfig, Command, Mark, RunResult } from './rpc-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const live = new Set<ChildProcess>();
onProcessEnd(() => {
  for (const child of live) child.kill('SIGKILL');
});

type Line = Record<string, unknown>;

export class RpcChild {
  private readonly lines: Line[] = [];
  private waiter: { resolve: (l: Line) => void; reject: (e: Error) => void } | undefined;
  private exitError: Error | undefined = undefined;
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(
    readonly config: ChildConfig,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    child.stdin!.on('error', () => {}); // EPIPE once the child is gone
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-4096);
      process.stderr.write(`[${config.lib} ${config.role}] ${text}`);
    });
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        process.stderr.write(`[${config.lib} ${config.role}] ${text}\n`);
        return;
      }
      const w = this.waiter;
      if (w === undefined) this.lines.push(line);
      else {
        this.waiter = undefined;
        w.resolve(line);
      }
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitError = new Error(
          `${config.lib} ${config.role} exited (${signal ?? `code ${code}`})` +
            (this.stderr === '' ? '' : `: ${this.stderr.trim().slice(-1500)}`),
        );
        const w = this.waiter;
        this.waiter = undefined;
        w?.reject(this.exitError);
        resolve();
      });
    });
  }

  /** Starts a child and waits for its `{"ready":true}`. `nodeArgs` go before the script. */
  static async start(config: ChildConfig, nodeArgs: string[] = []): Promise<RpcChild> {
    const child = spawn(
      process.execPath,
      [...nodeArgs, '--import', 'tsx', join(here, 'rpc-child.ts'), JSON.stringify(config)],
      { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const c = new RpcChild(config, child);
    try {
      await c.next('ready', 30_000);
    } catch (err) {
      await c.kill();
      throw err;
    }
    return c;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The next line, which must have `key`. */
  next(key: string, timeoutMs: number): Promise<Line> {
    const check = (line: Line): Line => {
      if (!(key in line))
        throw new Error(
          `${this.config.lib} ${this.config.role}: expected ${key}, got ${JSON.stringify(line)}`,
        );
      return line;
    };
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued).then(check);
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    return new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`${this.config.lib} ${this.config.role}: no ${key} line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    }).then(check);
  }

  send(command: Command): void {
    if (this.exitError !== undefined) throw this.exitError;
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  async warm(command: Omit<Extract<Command, { cmd: 'run' }>, 'cmd'>): Promise<void> {
    this.send({ cmd: 'run', ...command });
    await this.next('warm', command.warmupMs + 60_000);
  }

  async go(durationMs: number): Promise<RunResult> {
    this.send({ cmd: 'go' });
    return (await this.next('result', durationMs + 60_000)).result as RunResult;
  }

  async mark(profile?: string): Promise<Mark> {
    this.send({ cmd: 'mark', ...(profile !== undefined && { profile }) });
    return (await this.next('mark', 10_000)).mark as Mark;
  }

  /** Asks the child to close and exit; SIGKILL if it has not within 10 s. */
  async stop(): Promise<void> {
    if (this.exitError === undefined) {
      try {
        this.send({ cmd: 'exit' });
        await this.next('closed', 10_000);
      } catch {
        // killed below
      }
      this.child.stdin!.end();
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
