/**
 * `bench sub`: c subscriber sessions on `<prefix>/#`, and (unless
 * --no-publish) publisher sessions publishing -n messages (or for -d) that
 * every subscriber receives; end-to-end latency from the payload's send
 * time. Ends once every subscriber has every message, or when nothing
 * arrived for IDLE_MS after publishing ended (messages lost at QoS 0, or
 * dropped by the broker), reporting what was lost.
 */
import type { Message, Session } from '../../session/index.js';
import type { ConnectPlan } from '../connection.js';
import { CliError } from '../errors.js';
import { CONNECT_CONCURRENCY, closeAll, connectSessions, openSessions } from './connect.js';
import { Latency } from './latency.js';
import { now, sentAt } from './payload.js';
import { Progress } from './progress.js';
import type { CommonOptions } from './pub.js';
import { publishLoop } from './pump.js';
import { mb, perSecond, type Report, report, seconds, thousands } from './report.js';
import { GRACE_MS, Run } from './run.js';

export interface SubOptions extends CommonOptions {
  publishers: number;
  /** false with --no-publish: only listen. */
  publish: boolean;
}

/** Nothing arrived for this long once publishing ended: the rest is lost. */
export const IDLE_MS = 2000;
const CHECK_MS = 100;

export async function benchSub(o: SubOptions, plan: ConnectPlan): Promise<Report> {
  const run = new Run({
    count: o.publish ? o.count : undefined,
    duration: o.duration,
    rate: o.rate,
    signal: o.signal,
    target: plan.target,
  });
  const subscribers: Session[] = [];
  const publishers: Session[] = [];
  const latency = new Latency('end-to-end');
  let checker: NodeJS.Timeout | undefined;
  // what the subscribers have seen: epoch ms of the first and the last bench message
  let firstAt = 0;
  let lastAt = 0;
  let foreign = 0;
  let target = Number.POSITIVE_INFINITY;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const onMessage = (m: Message): void => {
    const ts = sentAt(m.payload);
    if (Number.isNaN(ts)) {
      foreign++;
      return;
    }
    const t = now();
    latency.record(t - ts);
    if (firstAt === 0) firstAt = t;
    lastAt = t;
    if (++run.received >= target) finish();
  };
  try {
    const first = await connectSessions(plan, run, 's', o.connections, subscribers);
    const filter = `${o.topic}/#`;
    await Promise.all(subscribers.map((s) => s.subscribe(filter, { qos: o.qos }, onMessage)));
    if (!o.publish) {
      // the cue to start the publisher elsewhere
      const until =
        o.duration !== undefined
          ? `for ${seconds(o.duration)}`
          : `for ${thousands(o.count ?? 0)} messages each`;
      process.stderr.write(
        `listening: ${subscribers.length} subscriber${subscribers.length === 1 ? '' : 's'} on ${filter} (QoS ${o.qos}), ${until}\n`,
      );
    }
    if (o.publish) {
      publishers.push(
        ...(await openSessions(plan, {
          role: 'p',
          from: 0,
          count: o.publishers,
          concurrency: CONNECT_CONCURRENCY,
          run,
        })),
      );
      if (publishers.length === 0 && !run.stopping) {
        throw new CliError(`no publisher could connect: ${run.firstError ?? 'unknown error'}`);
      }
    }

    const subs = subscribers.length;
    // -n messages published, each to every subscriber (listening only: -n per subscriber)
    const total = o.count === undefined ? undefined : o.count * subs;
    run.begin(
      Progress.create(run, {
        label: 'bench sub',
        unit: 'msg/s',
        total,
        duration: o.duration,
        value: () => run.received,
        json: o.json,
      }),
    );
    const publishStart = now();
    let publishedAt = 0;
    let publishing: Promise<unknown> = Promise.resolve();
    if (o.publish) {
      const settings = { qos: o.qos, size: o.size, inflight: o.inflight };
      const loops = publishers.map((s, i) => publishLoop(s, `${o.topic}/${i}`, settings, run, undefined));
      publishing = Promise.all(loops).then(() => {
        publishedAt = now();
        target = run.sent * subs;
        if (run.received >= target) finish();
      });
    } else if (total !== undefined) {
      target = total;
    }
    checker = setInterval(() => {
      const t = now();
      if (o.publish) {
        if (publishedAt !== 0 && t - Math.max(lastAt, publishedAt) >= IDLE_MS) finish();
      } else if (run.stopping || (lastAt !== 0 && t - lastAt >= IDLE_MS)) {
        // listening only: -d elapsed, or the publisher elsewhere went quiet
        finish();
      }
    }, CHECK_MS);
    // Ctrl-C: listening only, stop at once; else stop publishing and wait (a while) for what is on its way
    void run.stopped().then(() => {
      if (run.interrupted && !o.publish) finish();
    });
    void run.graceAfterInterrupt(GRACE_MS).then(finish);
    await finished;
    run.stop();
    await Promise.race([publishing, run.graceAfterInterrupt(GRACE_MS)]);
    run.end(lastAt === 0 ? undefined : lastAt - performance.timeOrigin);
    clearInterval(checker);

    const durationMs = lastAt === 0 ? 0 : o.publish ? lastAt - publishStart : lastAt - firstAt;
    const throughput = perSecond(run.received, durationMs);
    const sent = o.publish ? run.sent : null;
    const expected = o.publish ? run.sent * subs : total === undefined || run.interrupted ? null : total;
    const lost = expected === null ? null : Math.max(0, expected - run.received);
    const pubs = publishers.length;
    return report(run, {
      command: 'sub',
      session: first,
      setup:
        `${subs} subscriber${subs === 1 ? '' : 's'}, ` +
        (o.publish ? `${pubs} publisher${pubs === 1 ? '' : 's'}` : 'listening only') +
        `, QoS ${o.qos}` +
        (o.publish ? `, ${o.size}-byte payloads` : '') +
        (o.publish && o.rate > 0 ? `, ${thousands(o.rate)} msg/s asked` : ''),
      fields: {
        connections: subs,
        publishers: o.publish ? pubs : 0,
        qos: o.qos,
        size: o.publish ? o.size : null,
        sent,
        acked: o.publish && o.qos > 0 ? run.done : null,
        received: run.received,
        expected,
        lost,
        foreign,
      },
      lines: [
        [
          'messages',
          (sent === null ? '' : `${thousands(sent)} published, `) +
            `${thousands(run.received)} received` +
            (expected === null ? '' : ` of ${thousands(expected)}, ${thousands(lost ?? 0)} lost`) +
            (foreign > 0 ? ` (${thousands(foreign)} others ignored)` : ''),
        ],
      ],
      durationMs,
      rates: { throughput, bytesPerSecond: o.publish ? Math.round(throughput * o.size) : null },
      rateLine: [
        'throughput',
        `${thousands(throughput)} msg/s received${o.publish ? `, ${mb(throughput * o.size)} of payload` : ''}`,
      ],
      latency: latency.summary(),
      noLatency: 'none (nothing received)',
      cpu: { field: 'cpuMicrosPerMessage', per: run.received, unit: 'msg received' },
    });
  } finally {
    clearInterval(checker);
    run.dispose();
    await closeAll(publishers, run, run.interrupted ? 0 : undefined);
    await closeAll(subscribers, run, 0);
  }
}
