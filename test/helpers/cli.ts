/**
 * Runs the built `mqttkit` command (`dist/cli/main.js`, built by the global
 * setup) as a child process: `runCli` for commands that end, `startCli` for
 * long-running ones (sub, serve, broker, forward) that a test reads and
 * then stops with a signal.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { installExitHook, live } from './binaries.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes. */
  out: Buffer;
}

export interface CliOptions {
  /** Written to stdin, which is then closed (stdin is closed at once without it, unless `openStdin`). */
  input?: string | Buffer;
  /** Leave stdin open: the test writes to `child.stdin` (a terminal the user types into). */
  openStdin?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Working directory. @default this process's */
  cwd?: string;
  /** ms before the child is SIGKILLed (the test then fails on its result). @default 20000 */
  timeout?: number;
}

/** A running `mqttkit`: read its output as it comes, then stop it. */
export interface RunningCli {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), rejects if the process ends first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves when the process ends. */
  readonly exited: Promise<CliResult>;
  /** Sends `signal` (default SIGINT, as Ctrl-C) and resolves with the result. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

/** Starts `mqttkit args` (colours off). */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  return startProcess(process.execPath, [CLI, ...args], {
    ...options,
    env: { NO_COLOR: '1', ...options.env },
  });
}

/** Starts any program the same way (mosquitto_pub and mosquitto_sub as peers of the CLI). */
export function startProcess(command: string, args: readonly string[], options: CliOptions = {}): RunningCli {
  installExitHook();
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', (c: Buffer) => {
    out.push(c);
    changed();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err.push(c);
    changed();
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  else if (!options.openStdin) child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 20_000);
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString(), stderr: Buffer.concat(err).toString(), out: bytes });
      changed();
    });
  });
  let ended = false;
  void exited.then(() => (ended = true));
  const running: RunningCli = {
    child,
    get stdout() {
      return Buffer.concat(out).toString();
    },
    get stderr() {
      return Buffer.concat(err).toString();
    },
    waitFor(pattern, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = (stream === 'stdout' ? running.stdout : running.stderr).match(pattern);
          if (m !== null) {
            waiters.delete(check);
            resolve(m);
          } else if (ended) {
            waiters.delete(check);
            reject(
              new Error(
                `${command} ${args.join(' ')} ended before ${pattern} appeared\nstdout: ${running.stdout}\nstderr: ${running.stderr}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
    exited,
    stop(signal = 'SIGINT') {
      if (!ended) child.kill(signal);
      return exited;
    },
  };
  return running;
}

/** Runs `mqttkit args` to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).exited;
}
