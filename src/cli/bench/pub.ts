/** `bench pub`: c publisher sessions share -n messages (or publish for -d). */
import type { QoS } from '../../codec/types.js';
import type { Session } from '../../session/index.js';
import type { ConnectPlan } from '../connection.js';
import { closeAll, connectSessions } from './connect.js';
import { Latency } from './latency.js';
import { Progress } from './progress.js';
import { publishLoop } from './pump.js';
import { mb, perSecond, type Report, report, thousands } from './report.js';
import { Run } from './run.js';

export interface CommonOptions {
  connections: number;
  count: number | undefined;
  duration: number | undefined;
  qos: QoS;
  size: number;
  inflight: number;
  rate: number;
  topic: string;
  json: boolean;
  signal: AbortSignal;
}

export async function benchPub(o: CommonOptions, plan: ConnectPlan): Promise<Report> {
  const run = new Run({
    count: o.count,
    duration: o.duration,
    rate: o.rate,
    signal: o.signal,
    target: plan.target,
  });
  const sessions: Session[] = [];
  try {
    const first = await connectSessions(plan, run, 'p', o.connections, sessions);
    const latency = o.qos > 0 ? new Latency('publish-to-ack') : undefined;
    run.begin(
      Progress.create(run, {
        label: 'bench pub',
        unit: 'msg/s',
        total: o.count,
        duration: o.duration,
        value: () => (o.qos > 0 ? run.done : run.sent),
        json: o.json,
      }),
    );
    const settings = { qos: o.qos, size: o.size, inflight: o.inflight };
    const loops = sessions.map((s, i) => publishLoop(s, `${o.topic}/${i}`, settings, run, latency));
    await run.finish(Promise.all(loops));

    const durationMs = run.elapsed;
    const throughput = perSecond(run.done, durationMs);
    const n = sessions.length;
    return report(run, {
      command: 'pub',
      session: first,
      setup:
        `${n} connection${n === 1 ? '' : 's'}, QoS ${o.qos}, ${o.size}-byte payloads` +
        (o.qos > 0 ? `, ${o.inflight} in flight each` : '') +
        (o.rate > 0 ? `, ${thousands(o.rate)} msg/s asked` : ''),
      fields: {
        connections: n,
        qos: o.qos,
        size: o.size,
        inflight: o.qos > 0 ? o.inflight : null,
        rate: o.rate > 0 ? o.rate : null,
        sent: run.sent,
        acked: o.qos > 0 ? run.done : null,
        received: null,
      },
      lines: [
        [
          'messages',
          o.qos > 0
            ? `${thousands(run.sent)} sent, ${thousands(run.done)} acknowledged`
            : `${thousands(run.sent)} sent, ${thousands(run.done)} written (QoS 0: nothing is acknowledged)`,
        ],
      ],
      durationMs,
      rates: { throughput, bytesPerSecond: Math.round(throughput * o.size) },
      rateLine: ['throughput', `${thousands(throughput)} msg/s, ${mb(throughput * o.size)} of payload`],
      latency: latency?.summary() ?? null,
      noLatency: 'none at QoS 0 (nothing is acknowledged)',
      cpu: { field: 'cpuMicrosPerMessage', per: run.done, unit: 'msg' },
    });
  } finally {
    run.dispose();
    await closeAll(sessions, run, run.interrupted ? 0 : undefined);
  }
}
