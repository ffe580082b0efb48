/**
 * Spawning for the idle-sessions benchmark (sessions.bench.ts) and its heap
 * breakdown (sessions-heap.ts): the private mosquitto, and one
 * `sessions-child.ts` per library run. Every child is SIGKILLed if this
 * process exits or is signalled first; a child also exits by itself when its
 * stdin (a pipe from this process) ends. mosquitto is the test helper's, with
 * its own exit hook.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onProcessEnd } from '../test/helpers/binaries.js';
import { type Broker, startMosquitto } from '../test/helpers/mosquitto.js';
import type { ChildConfig, ChildResult } from './sessions-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const live = new Set<ChildProcess>();
onProcessEnd(() => {
  for (const child of live) child.kill('SIGKILL');
});

/** A child that ended without a result: how, and how far it got. */
export class ChildFailure extends Error {
  constructor(
    readonly lib: ChildConfig['lib'],
    readonly reason: string,
    /** Sessions connected when last reported (every 500). */
    readonly connected: number,
  ) {
    super(`${lib} child failed: ${reason}, after ${connected} sessions connected`);
  }
}

/**
 * Runs one child to completion; resolves with its result line, rejects with
 * {@link ChildFailure}. `nodeArgs` go before the script (e.g.
 * `--max-old-space-size=8192`).
 */
export function runChild(
  config: ChildConfig,
  nodeArgs: string[] = [],
  timeoutMs = 15 * 60_000,
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        ...nodeArgs,
        '--import',
        'tsx',
        join(here, 'sessions-child.ts'),
        JSON.stringify(config),
      ],
      { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    live.add(child);
    child.stdin!.on('error', () => {}); // EPIPE once the child is gone
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4096);
      process.stderr.write(text);
    });
    let result: ChildResult | undefined;
    let connected = 0;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: ChildResult | { progress: number };
      try {
        parsed = JSON.parse(line) as ChildResult | { progress: number };
      } catch {
        process.stderr.write(`[${config.lib}] ${line}\n`);
        return;
      }
      if ('progress' in parsed) connected = parsed.progress;
      else result = parsed;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0 && result !== undefined) return resolve(result);
      const how = signal ?? `code ${code}`;
      const said = /sessions-child: (.*)/.exec(stderr)?.[1];
      const reason = timedOut
        ? `no result within ${timeoutMs} ms`
        : /heap out of memory/i.test(stderr)
          ? `JavaScript heap out of memory (${how})`
          : `exited (${how})${said === undefined ? '' : `: ${said.slice(0, 200)}`}`;
      reject(new ChildFailure(config.lib, reason, connected));
    });
  });
}

/** User + system CPU time of a process, ms, from /proc (Linux); undefined elsewhere. */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 Hz)
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** mosquitto with no connection limit and no log line per connection. */
export function startBroker(): Promise<Broker> {
  return startMosquitto({ config: 'max_connections -1\nconnection_messages false' });
}
