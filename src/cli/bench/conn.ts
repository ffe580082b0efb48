/**
 * `bench conn`: opens c sessions, --concurrency connects at a time (paced
 * by --rate), timing each from connect() to CONNACK; holds them for -d if
 * asked; then closes them all and times that.
 */
import type { Session } from '../../session/session.js';
import { type ConnectPlan, connectSession } from '../connection.js';
import { sleep } from '../runtime.js';
import { BENCH_SESSION, clientId, closeAll, openSessions } from './connect.js';
import { Latency } from './latency.js';
import { Progress } from './progress.js';
import {
  cpuLine,
  cpuPer,
  errorsLine,
  int,
  latencyLine,
  mqttVersion,
  perSecond,
  type Report,
  round1,
  seconds,
  stoppedLine,
} from './report.js';
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
  let progress: Progress | undefined;
  try {
    // one untimed connection first: a broker that cannot be reached fails the command at once,
    // and a broker without MQTT 5 is found out before the timed connects
    const probe = await connectSession(plan, { ...BENCH_SESSION, clientId: clientId(plan, 'probe', 0) });
    const url = probe.url;
    const version = mqttVersion(probe.protocolVersion);
    await probe.close();

    const latency = new Latency('connect');
    let connected = 0;
    progress = Progress.create(
      {
        label: 'bench conn',
        unit: 'conn/s',
        total: o.connections,
        duration: undefined,
        value: () => connected + run.errors,
        elapsed: () => run.elapsed,
        errors: () => run.errors,
      },
      o.json,
    );
    progress?.start();
    run.begin();
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
    progress?.stop();
    progress = undefined;

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
    const summary = latency.summary();
    const cpu = cpuPer(run, sessions.length);
    const nothing = sessions.length === 0 && !run.interrupted;
    return {
      exitCode: nothing ? 1 : 0,
      json: {
        command: 'conn',
        broker: url,
        mqttVersion: version,
        connections: o.connections,
        concurrency: o.concurrency,
        rate: o.rate > 0 ? o.rate : null,
        connected: sessions.length,
        errors: run.errors,
        firstError: run.firstError ?? null,
        durationMs: round1(durationMs),
        connectRate,
        heldMs: o.hold === undefined ? null : round1(heldMs),
        closeMs: round1(closeMs),
        latency: summary,
        cpuMicrosPerConnection: cpu,
        interrupted: run.interrupted,
      },
      lines: [
        [
          'bench conn',
          `${url}, MQTT ${version}, ${int(o.connections)} connections, ${int(o.concurrency)} at a time` +
            (o.rate > 0 ? `, ${int(o.rate)} conn/s asked` : ''),
        ],
        [
          'connected',
          `${int(sessions.length)} of ${int(o.connections)}` +
            (o.hold !== undefined ? `, held ${seconds(heldMs)}` : '') +
            (lostWhileHeld > 0 ? `, ${int(lostWhileHeld)} lost while held` : ''),
        ],
        ['errors', errorsLine(run)],
        ['duration', `${seconds(durationMs)} to connect, ${seconds(closeMs)} to close all`],
        ['connect rate', `${int(connectRate)} conn/s`],
        ['latency', latencyLine(summary, 'none (nothing connected)')],
        ['client CPU', cpuLine(cpu, 'connection')],
        ...stoppedLine(run),
      ],
    };
  } finally {
    progress?.stop();
    run.stop();
    run.dispose();
    await closeAll(sessions, run, 0);
  }
}
