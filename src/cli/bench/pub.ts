/** `bench pub`: c publisher sessions share -n messages (or publish for -d). */
import type { QoS } from '../../codec/types.js';
import type { Session } from '../../session/session.js';
import type { ConnectPlan } from '../connection.js';
import { closeAll, connectFirst, openSessions } from './connect.js';
import { Latency } from './latency.js';
import { Progress } from './progress.js';
import { publishLoop } from './pump.js';
import {
  cpuLine,
  cpuPer,
  errorsLine,
  int,
  latencyLine,
  mb,
  mqttVersion,
  perSecond,
  type Report,
  round1,
  seconds,
  stoppedLine,
} from './report.js';
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

/** Connects at once while opening the sessions of pub, sub and rpc. */
export const CONNECT_CONCURRENCY = 100;
/** How long in-flight work may still finish after Ctrl-C. */
export const GRACE_MS = 2000;

export async function benchPub(o: CommonOptions, plan: ConnectPlan): Promise<Report> {
  const run = new Run({
    count: o.count,
    duration: o.duration,
    rate: o.rate,
    signal: o.signal,
    target: plan.target,
  });
  const sessions: Session[] = [];
  let progress: Progress | undefined;
  try {
    const first = await connectFirst(plan, 'p', run);
    sessions.push(first);
    if (o.connections > 1) {
      const rest = await openSessions(plan, {
        role: 'p',
        from: 1,
        count: o.connections - 1,
        concurrency: CONNECT_CONCURRENCY,
        run,
      });
      sessions.push(...rest);
    }
    const latency = o.qos > 0 ? new Latency('publish-to-ack') : undefined;
    progress = Progress.create(
      {
        label: 'bench pub',
        unit: 'msg/s',
        total: o.count,
        duration: o.duration,
        value: () => (o.qos > 0 ? run.done : run.sent),
        elapsed: () => run.elapsed,
        errors: () => run.errors,
      },
      o.json,
    );
    progress?.start();
    run.begin();
    const settings = { qos: o.qos, size: o.size, inflight: o.inflight };
    const loops = sessions.map((s, i) => publishLoop(s, `${o.topic}/${i}`, settings, run, latency));
    await Promise.race([Promise.all(loops), run.graceAfterInterrupt(GRACE_MS)]);
    run.end();
    run.stop();
    progress?.stop();
    progress = undefined;

    const durationMs = run.elapsed;
    const throughput = perSecond(run.done, durationMs);
    const summary = latency?.summary() ?? null;
    const cpu = cpuPer(run, run.done);
    const version = mqttVersion(first.protocolVersion);
    return {
      json: {
        command: 'pub',
        broker: first.url,
        mqttVersion: version,
        connections: sessions.length,
        qos: o.qos,
        size: o.size,
        inflight: o.qos > 0 ? o.inflight : null,
        rate: o.rate > 0 ? o.rate : null,
        sent: run.sent,
        acked: o.qos > 0 ? run.done : null,
        received: null,
        errors: run.errors,
        firstError: run.firstError ?? null,
        durationMs: round1(durationMs),
        throughput,
        bytesPerSecond: Math.round(throughput * o.size),
        latency: summary,
        cpuMicrosPerMessage: cpu,
        interrupted: run.interrupted,
      },
      lines: [
        [
          'bench pub',
          `${first.url}, MQTT ${version}, ${sessions.length} connection${sessions.length === 1 ? '' : 's'}, QoS ${o.qos}, ${o.size}-byte payloads` +
            (o.qos > 0 ? `, ${o.inflight} in flight each` : '') +
            (o.rate > 0 ? `, ${int(o.rate)} msg/s asked` : ''),
        ],
        [
          'messages',
          o.qos > 0
            ? `${int(run.sent)} sent, ${int(run.done)} acknowledged`
            : `${int(run.sent)} sent, ${int(run.done)} written (QoS 0: nothing is acknowledged)`,
        ],
        ['errors', errorsLine(run)],
        ['duration', seconds(durationMs)],
        ['throughput', `${int(throughput)} msg/s, ${mb(throughput * o.size)} of payload`],
        ['latency', latencyLine(summary, 'none at QoS 0 (nothing is acknowledged)')],
        ['client CPU', cpuLine(cpu, 'msg')],
        ...stoppedLine(run),
      ],
    };
  } finally {
    progress?.stop();
    run.stop();
    run.dispose();
    await closeAll(sessions, run, run.interrupted ? 0 : undefined);
  }
}
