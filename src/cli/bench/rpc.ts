/**
 * `bench rpc`: c `RpcClient` sessions with --inflight requests outstanding
 * each, against one in-process `RpcServer` on its own session echoing
 * `<prefix>/rpc` (or, with --no-serve, a responder elsewhere, e.g.
 * `mqttkit serve -t <prefix>/rpc`). Latency from the send time in the
 * payload, which the echo brings back.
 */
import { TimeoutError } from '../../core/errors.js';
import { RpcClient, type RpcResponse } from '../../rpc/client.js';
import { RpcServer } from '../../rpc/server.js';
import type { RpcRequest } from '../../rpc/types.js';
import type { Session } from '../../session/index.js';
import type { ConnectPlan } from '../connection.js';
import { CliError } from '../errors.js';
import { CONNECT_CONCURRENCY, closeAll, connectFirst, openSessions } from './connect.js';
import { Lane } from './lane.js';
import { Latency } from './latency.js';
import { now, sentAt } from './payload.js';
import { Progress } from './progress.js';
import type { CommonOptions } from './pub.js';
import { pump } from './pump.js';
import { mb, perSecond, type Report, report, seconds, thousands } from './report.js';
import { Run } from './run.js';

export interface RpcOptions extends CommonOptions {
  /** false with --no-serve: a responder runs elsewhere. */
  serve: boolean;
  /** ms a request waits for its response. */
  timeout: number;
}

const echo = (req: RpcRequest): Buffer => req.payload;

export async function benchRpc(o: RpcOptions, plan: ConnectPlan): Promise<Report> {
  const run = new Run({
    count: o.count,
    duration: o.duration,
    rate: o.rate,
    signal: o.signal,
    target: plan.target,
  });
  const sessions: Session[] = [];
  const clients: RpcClient[] = [];
  let serverSession: Session | undefined;
  let server: RpcServer | undefined;
  const requestTopic = `${o.topic}/rpc`;
  try {
    let first: Session;
    if (o.serve) {
      serverSession = await connectFirst(plan, 'server', run);
      first = serverSession;
      const outstanding = o.connections * o.inflight;
      server = new RpcServer(serverSession, {
        qos: o.qos,
        concurrency: Math.max(256, outstanding),
        maxQueue: Math.max(10_000, outstanding),
      });
      server.on('error', (err) => run.fail(err));
      await server.route(requestTopic, echo);
      await server.start();
    } else {
      first = await connectFirst(plan, 'r', run);
      sessions.push(first);
    }
    const more = o.connections - sessions.length;
    if (more > 0) {
      sessions.push(
        ...(await openSessions(plan, {
          role: 'r',
          from: sessions.length,
          count: more,
          concurrency: CONNECT_CONCURRENCY,
          run,
        })),
      );
    }
    if (sessions.length === 0 && !run.stopping) {
      throw new CliError(`no client could connect: ${run.firstError ?? 'unknown error'}`);
    }
    for (const s of sessions) clients.push(new RpcClient(s, { qos: o.qos, timeout: o.timeout }));
    await Promise.all(clients.map((c) => c.start()));

    const latency = new Latency('request-to-response');
    run.begin(
      Progress.create(run, {
        label: 'bench rpc',
        unit: 'req/s',
        total: o.count,
        duration: o.duration,
        value: () => run.done,
        json: o.json,
      }),
    );
    const handlers = {
      succeeded(slot: { sentAt: number }, response: RpcResponse) {
        const ts = sentAt(response.payload);
        latency.record(now() - (Number.isNaN(ts) ? slot.sentAt : ts));
        run.done++;
      },
      failed(_slot: unknown, error: unknown) {
        if (!(error instanceof TimeoutError)) return run.fail(error);
        run.timeouts++;
        if (run.done === 0 && !run.stopping) {
          // nothing answers: every other request would wait its timeout too
          run.firstError ??= `no response on ${requestTopic} within ${seconds(o.timeout)}: is a responder running? (mqttkit serve -t ${requestTopic})`;
          run.stop();
        }
      },
    };
    const loops = clients.map((client) => {
      const lane = new Lane<RpcResponse>(o.inflight, o.size, handlers);
      const options = { qos: o.qos };
      const session = client.session;
      return pump(
        lane,
        run,
        () => session.state === 'connected',
        (slot) => {
          client.request(requestTopic, slot.payload, options).then(slot.ok, slot.fail);
        },
      );
    });
    await run.finish(Promise.all(loops));

    const durationMs = run.elapsed;
    const throughput = perSecond(run.done, durationMs);
    const n = sessions.length;
    return report(run, {
      command: 'rpc',
      session: first,
      setup:
        `${n} client${n === 1 ? '' : 's'}, ` +
        `${o.serve ? 'echo server in this process' : 'server elsewhere'}, QoS ${o.qos}, ` +
        `${o.size}-byte payloads, ${o.inflight} in flight each` +
        (o.rate > 0 ? `, ${thousands(o.rate)} req/s asked` : ''),
      fields: {
        connections: n,
        served: o.serve,
        qos: o.qos,
        size: o.size,
        inflight: o.inflight,
        rate: o.rate > 0 ? o.rate : null,
        requests: run.sent,
        responses: run.done,
        timeouts: run.timeouts,
      },
      lines: [
        [
          'requests',
          `${thousands(run.sent)} sent, ${thousands(run.done)} answered, ${thousands(run.timeouts)} timed out (after ${seconds(o.timeout)})`,
        ],
      ],
      durationMs,
      rates: { throughput, bytesPerSecond: Math.round(throughput * o.size) },
      rateLine: [
        'throughput',
        `${thousands(throughput)} req/s, ${mb(throughput * o.size)} of response payload`,
      ],
      latency: latency.summary(),
      noLatency: 'none (no response)',
      cpu: {
        field: 'cpuMicrosPerMessage',
        per: run.done,
        unit: o.serve ? 'request (clients and server)' : 'request',
      },
      exitCode: run.done === 0 && run.sent > 0 && !run.interrupted ? 1 : 0,
    });
  } finally {
    run.dispose();
    run.closing = true;
    await Promise.all(clients.map((c) => c.close()));
    await server?.stop();
    await closeAll(sessions, run, run.interrupted ? 0 : undefined);
    if (serverSession !== undefined) await closeAll([serverSession], run, 0);
  }
}
