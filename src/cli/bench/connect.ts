/**
 * Opening many sessions: the first with `connectSession` (which falls back
 * to MQTT 3.1.1 and records that in the plan), the rest with the plan as it
 * then is, `concurrency` at a time, paced by `--rate` when given.
 */
import { setMaxListeners } from 'node:events';
import { Session, type SessionOptions } from '../../session/index.js';
import { type ConnectPlan, connectSession } from '../connection.js';
import type { Latency } from './latency.js';
import { now } from './payload.js';
import type { Pacer, Run } from './run.js';

/** Connects at once while opening the sessions of pub, sub and rpc. */
export const CONNECT_CONCURRENCY = 100;

/** Options every bench session gets: a lost connection is an error of the run, not something to hide. */
export const BENCH_SESSION: Partial<SessionOptions> = { reconnect: false };

/** `<client id or mqttkit-bench-…>-<role><i>` */
export function clientId(plan: ConnectPlan, role: string, i: number): string {
  return `${plan.options.clientId ?? 'mqttkit-bench'}-${role}${i}`;
}

/** Connects the first session of a run; its failure is the command's failure (exit 1). */
export async function connectFirst(plan: ConnectPlan, role: string, run: Run): Promise<Session> {
  const session = await connectSession(plan, { ...BENCH_SESSION, clientId: clientId(plan, role, 0) });
  watch(session, plan, run);
  return session;
}

/**
 * Opens `count` sessions into `sessions` (for the caller's `finally` to
 * close): the first alone, its failure the command's, then the rest
 * CONNECT_CONCURRENCY at a time. Resolves with the first.
 */
export async function connectSessions(
  plan: ConnectPlan,
  run: Run,
  role: string,
  count: number,
  sessions: Session[],
): Promise<Session> {
  const first = await connectFirst(plan, role, run);
  sessions.push(first);
  if (count > 1) {
    const o = { role, from: 1, count: count - 1, concurrency: CONNECT_CONCURRENCY, run };
    sessions.push(...(await openSessions(plan, o)));
  }
  return first;
}

/** Counts a lost connection as an error of the run (and prints it with --verbose). */
export function watch(session: Session, plan: ConnectPlan, run: Run): void {
  session.on('disconnect', (error) => {
    if (error === undefined || run.closing) return;
    run.fail(error);
    plan.logger?.warn({ clientId: session.clientId, error: error.message }, 'connection lost');
  });
}

export interface OpenOptions {
  role: string;
  /** Index of the first session (its client id suffix). */
  from: number;
  count: number;
  concurrency: number;
  run: Run;
  pacer?: Pacer;
  /** Records each connect's time (connect() to CONNACK). */
  latency?: Latency;
  /** Called with each session as it connects. */
  connected?(session: Session, i: number): void;
}

/**
 * Opens `count` sessions; a failed connect is counted in the run's errors
 * and the others go on. Stops starting new ones when the run stops. Resolves
 * with the connected sessions, in no particular order.
 */
export async function openSessions(plan: ConnectPlan, o: OpenOptions): Promise<Session[]> {
  const sessions: Session[] = [];
  const { run } = o;
  let next = o.from;
  const end = o.from + o.count;
  const stop = new AbortController();
  // every connect in flight listens to it
  setMaxListeners(0, stop.signal);
  void run.stopped().then(() => stop.abort());
  const worker = async (): Promise<void> => {
    while (next < end && !run.stopping) {
      if (o.pacer !== undefined && !o.pacer.take()) {
        await o.pacer.wait();
        continue;
      }
      const i = next++;
      const session = new Session({ ...plan.options, ...BENCH_SESSION, clientId: clientId(plan, o.role, i) });
      const started = now();
      try {
        await session.connect({ signal: stop.signal });
      } catch (err) {
        if (!run.stopping) {
          run.fail(err);
          plan.logger?.warn({ clientId: session.clientId, error: (err as Error).message }, 'connect failed');
        }
        await session.close();
        continue;
      }
      o.latency?.record(now() - started);
      watch(session, plan, run);
      sessions.push(session);
      o.connected?.(session, i);
    }
  };
  const workers: Promise<void>[] = [];
  for (let k = 0; k < Math.min(o.concurrency, o.count); k++) workers.push(worker());
  await Promise.all(workers);
  stop.abort();
  return sessions;
}

/** Closes every session (in parallel); resolves when all are closed. */
export async function closeAll(sessions: readonly Session[], run: Run, timeout?: number): Promise<void> {
  run.closing = true;
  await Promise.all(sessions.map((s) => s.close(timeout === undefined ? undefined : { timeout })));
}
