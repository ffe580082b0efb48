/**
 * `bench conn`: opens c sessions, --concurrency connects at a time (paced
 * by --rate), timing each from connect() to CONNACK; holds them for -d if
 * asked; then closes them all and times that.
 */
import type { Session } from '../../session/index.js';
import { type ConnectPlan, connectSession } from '../connection.js';
import { sleep } from '../runtime.js';
import { BENCH_SESSION, clientId, closeAll, openSessions } from './connect.js';
import { Latency } from './latency.js';
import { Progress } from './progress.js';
import { perSecond, type Report, report, round1, seconds, thousands } from './report.js';
import { Run } from './run.js';

export interface ConnOptions {
  connections: number;
  concurrency: number;
  /** Connects per second in total; 0 = as fast as possible. */
  rate: number;
  /** ms to hold the sessions open before closing them; undefined closes at once. */
  hold: number | undefined;
  json: boolean;
  signal: AbortSignal;
}

export async function benchConn(o: ConnOptions, plan: ConnectPlan): Promise<Report> {
  const run = new Run({ rate: o.rate, signal: o.signal, target: plan.target });
  let sessions: Session[] = [];
  try {
    // one untimed connection first: a broker that cannot be reached fails the command at once,
    // and a broker without MQTT 5 is found out before the timed connects
    const probe = await connectSession(plan, { ...BENCH_SESSION, clientId: clientId(plan, 'probe', 0) });
    await probe.close();

    const latency = new Latency('connect');
    let connected = 0;
    run.begin(
      Progress.create(run, {
        label: 'bench conn',
        unit: 'conn/s',
        total: o.connections,
        duration: undefined,
        value: () => connected + run.errors,
        json: o.json,
      }),
    );
    sessions = await openSessions(plan, {
      role: 'c',
      from: 0,
      count: o.connections,
      concurrency: o.concurrency,
      run,
      pacer: run.pacer,
      latency,
      connected: () => {
        connected++;
      },
    });
    run.end();
    const connectErrors = run.errors;

    let heldMs = 0;
    if (o.hold !== undefined && !run.interrupted && sessions.length > 0) {
      const t = performance.now();
      await sleep(o.hold, o.signal);
      heldMs = performance.now() - t;
    }
    const lostWhileHeld = run.errors - connectErrors;
    const closeStart = performance.now();
    await closeAll(sessions, run, 0);
    const closeMs = performance.now() - closeStart;

    const durationMs = run.elapsed;
    const connectRate = perSecond(sessions.length, durationMs);
    return report(run, {
      command: 'conn',
      // closed, but it knows where it connected and with which MQTT version
      session: probe,
      setup:
        `${thousands(o.connections)} connections, ${thousands(o.concurrency)} at a time` +
        (o.rate > 0 ? `, ${thousands(o.rate)} conn/s asked` : ''),
      fields: {
        connections: o.connections,
        concurrency: o.concurrency,
        rate: o.rate > 0 ? o.rate : null,
        connected: sessions.length,
      },
      lines: [
        [
          'connected',
          `${thousands(sessions.length)} of ${thousands(o.connections)}` +
            (o.hold !== undefined ? `, held ${seconds(heldMs)}` : '') +
            (lostWhileHeld > 0 ? `, ${thousands(lostWhileHeld)} lost while held` : ''),
        ],
      ],
      durationMs,
      durationLine: `${seconds(durationMs)} to connect, ${seconds(closeMs)} to close all`,
      rates: {
        connectRate,
        heldMs: o.hold === undefined ? null : round1(heldMs),
        closeMs: round1(closeMs),
      },
      rateLine: ['connect rate', `${thousands(connectRate)} conn/s`],
      latency: latency.summary(),
      noLatency: 'none (nothing connected)',
      cpu: { field: 'cpuMicrosPerConnection', per: sessions.length, unit: 'connection' },
      exitCode: sessions.length === 0 && !run.interrupted ? 1 : 0,
    });
  } finally {
    run.dispose();
    await closeAll(sessions, run, 0);
  }
}
