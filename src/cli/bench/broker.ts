/**
 * The embedded broker for a bench given no broker: `mqttkit broker` in a
 * child process, so the broker's work does not share the event loop (or
 * the CPU time) being measured. The child runs in its own process group,
 * so a Ctrl-C at the terminal reaches only the bench, which then stops it.
 * It holds an IPC channel to the bench and ends when that closes, so it
 * goes with the bench however the bench ends (SIGKILL, SIGHUP, a crash).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { missingPeers } from '../../core/peer.js';
import { CliError, Exit, missingPackagesMessage } from '../errors.js';

export interface BrokerChild {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the broker and waits for the process to end (SIGKILL after 3 s). Safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

export async function startBrokerChild(signal: AbortSignal): Promise<BrokerChild> {
  // said here, as main.ts says what every command needs, rather than by a child that exits at start
  const missing = missingPeers(['aedes']);
  if (missing.length > 0) throw new CliError(missingPackagesMessage(missing), undefined, Exit.MissingPackage);
  const args = [...process.execArgv, process.argv[1], 'broker', '-p', '0', '--bind', '127.0.0.1'];
  const child = spawn(process.execPath, args, {
    // the channel: `mqttkit broker` ends when it closes (see commands/broker.ts)
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
    env: { ...process.env, NO_COLOR: '1' },
  });
  // an exit of this process that runs its handlers: the broker ends at once, not on the channel's close
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', killOnExit);
      await signalAndWait(child, exited);
    })();
    return stopping;
  };
  try {
    const url = await readUrl(child, exited, signal);
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function readUrl(child: ChildProcess, exited: Promise<void>, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (mqtt:\/\/[^\s;]+)/.exec(out);
      if (m !== null) finish(undefined, m[1]);
    };
    const onErr = (chunk: Buffer): void => {
      if (err.length < 4096) err += chunk.toString();
    };
    const onAbort = (): void => finish(new CliError('interrupted while starting the embedded broker'));
    const timer = setTimeout(
      () => finish(new CliError(`the embedded broker did not start within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    const finish = (error: Error | undefined, url?: string): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      signal.removeEventListener('abort', onAbort);
      // keep reading whatever it prints later, so its pipes never fill
      child.stdout?.resume();
      if (error !== undefined) reject(error);
      else resolve(url as string);
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('error', (e) => finish(new CliError(`cannot start the embedded broker: ${e.message}`)));
    void exited.then(() => {
      // its own `mqttkit: ` off: the bench's line has one
      const line = (err.trim().split('\n').pop() ?? '').replace(/^mqttkit: /, '');
      finish(new CliError(`the embedded broker exited at start${line === '' ? '' : `: ${line}`}`));
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function signalAndWait(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 3000)));
  const how = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (how === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}
