/**
 * Starts the benchmark servers (sink.ts, source.ts) as child processes and
 * talks to them over their stdin/stdout control protocol (see wire.ts).
 *
 * ```ts
 * const sink = await startSink();
 * // ... publish to sink.url ...
 * const stats = await sink.control<SinkStats>('stats');
 * await sink.stop();
 * ```
 *
 * A child dies with its parent: it exits when its stdin ends, which happens
 * however the parent goes (even SIGKILL), and the parent also kills every
 * child still running when it exits. Call `stop()` all the same: a running
 * child keeps the parent's event loop alive.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SourceConfig, SourceDone } from './wire.js';

export type { SinkStats, SourceConfig, SourceDone } from './wire.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

export type ServerKind = 'sink' | 'source';

export interface BenchServer {
  readonly kind: ServerKind;
  readonly port: number;
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string;
  readonly child: ChildProcess;
  /**
   * Sends one control line (an object is sent as JSON) and resolves with the
   * server's reply; rejects if the reply is `{"error":...}`, the server
   * exits, or after `timeoutMs` (default 10 s).
   */
  control<T = Record<string, unknown>>(command: string | object, timeoutMs?: number): Promise<T>;
  /**
   * The source's next `{"done":...}` line not handed out yet (one per run,
   * oldest first, whether it was printed before or after the call).
   */
  nextDone(timeoutMs?: number): Promise<SourceDone>;
  /** Ends the child's stdin and waits for it to exit (SIGKILL after 3 s). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** Milliseconds to wait for `{"port":N}`. @default 15000 */
  startTimeoutMs?: number;
}

/** Starts `bench/servers/sink.ts`. */
export function startSink(options: StartOptions = {}): Promise<BenchServer> {
  return startServer('sink', [String(options.port ?? 0)], options);
}

/** Starts `bench/servers/source.ts` with an initial configuration. */
export function startSource(options: StartOptions & Partial<SourceConfig> = {}): Promise<BenchServer> {
  const args = [String(options.port ?? 0)];
  for (const key of ['topic', 'qos', 'size', 'count', 'inflight'] as const) {
    if (options[key] !== undefined) args.push(`--${key}`, String(options[key]));
  }
  return startServer('source', args, options);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

interface Waiter {
  accept: (line: Record<string, unknown>) => boolean;
  resolve: (line: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export async function startServer(
  kind: ServerKind,
  args: string[],
  options: StartOptions = {},
): Promise<BenchServer> {
  installExitHook();
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, `${kind}.ts`), ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8192);
    process.stderr.write(`[${kind}] ${s}`);
  });
  child.stdin!.on('error', () => {}); // EPIPE once the child is gone

  // Lines nobody asked for yet, and callers waiting for a line.
  const unclaimed: Record<string, unknown>[] = [];
  const waiters: Waiter[] = [];
  let exitError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      exitError = new Error(
        `${kind} server exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim().slice(-2000)}` : ''}`,
      );
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(exitError);
      }
      resolve();
    });
  });

  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      process.stderr.write(`[${kind}] ${text}\n`);
      return;
    }
    const i = waiters.findIndex((w) => w.accept(line));
    if (i < 0) {
      unclaimed.push(line);
      return;
    }
    const [w] = waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(line);
  });

  function take(
    accept: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, unknown>> {
    const i = unclaimed.findIndex(accept);
    if (i >= 0) return Promise.resolve(unclaimed.splice(i, 1)[0]);
    if (exitError) return Promise.reject(exitError);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        accept,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${kind} server: no ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      waiters.push(w);
    });
  }

  const isPort = (l: Record<string, unknown>) => typeof l.port === 'number';
  const isDone = (l: Record<string, unknown>) => 'done' in l;
  const isReply = (l: Record<string, unknown>) => !isDone(l) && !isPort(l);

  let port: number;
  try {
    port = (await take(isPort, options.startTimeoutMs ?? 15_000, '{"port":N} line')).port as number;
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    kind,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    child,
    async control<T>(command: string | object, timeoutMs = 10_000): Promise<T> {
      if (exitError) throw exitError;
      const text = typeof command === 'string' ? command : JSON.stringify(command);
      if (text.includes('\n')) throw new Error('a control line must not contain a newline');
      const reply = take(isReply, timeoutMs, `reply to ${text}`);
      child.stdin!.write(`${text}\n`);
      const line = await reply;
      if (typeof line.error === 'string') throw new Error(`${kind} server: ${line.error}`);
      return line as T;
    },
    async nextDone(timeoutMs = 60_000): Promise<SourceDone> {
      return (await take(isDone, timeoutMs, '{"done":...} line')) as unknown as SourceDone;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          child.stdin!.end();
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
