/**
 * The mqttkit half of the publishing and receiving benchmarks
 * (publish.bench.ts, receive.bench.ts, e2e.bench.ts, tracing.bench.ts).
 *
 * Publishing is driven as a caller that respects backpressure would:
 * - QoS 0: 1,000 publishes per turn of the event loop, then await the last
 *   one, which resolves once written (or, with a full socket, on 'drain');
 * - QoS 1/2: a window of `window` messages in flight, each completion
 *   publishing the next; resolves with the last completion.
 */
import { Session, type SessionOptions } from '../src/session/index.js';
import { type RunResult, timed } from './harness.js';
import type { BenchServer } from './servers/spawn.js';

export async function kitPublishLoop(
  s: Session,
  topic: string,
  payload: Buffer,
  qos: 0 | 1 | 2,
  count: number,
  window: number,
): Promise<void> {
  if (qos === 0) {
    for (let i = 0; i < count; ) {
      let last: Promise<unknown> | undefined;
      for (const end = Math.min(count, i + 1000); i < end; i++) last = s.publish(topic, payload);
      await last;
    }
    return;
  }
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const opts = { qos };
    const next = (): void => {
      if (++done === count) resolve();
      else if (sent < count) {
        sent++;
        s.publish(topic, payload, opts).then(next, reject);
      }
    };
    for (const n = Math.min(window, count); sent < n; ) {
      sent++;
      s.publish(topic, payload, opts).then(next, reject);
    }
  });
}

/**
 * One receiving run: the source is told to send `count` messages of 16
 * bytes on `topic`, and a new session (with `options`; of `SessionClass`,
 * another checkout's for bench/ab.ts) takes them all in a subscription's
 * handler; timed from the subscribe to the last message.
 */
export async function kitReceive(
  source: BenchServer,
  topic: string,
  qos: 0 | 1,
  count: number,
  options: Partial<SessionOptions> = {},
  SessionClass: typeof Session = Session,
): Promise<RunResult> {
  await source.control({ topic, qos, size: 16, count });
  const s = new SessionClass({ url: source.url, keepalive: 0, ...options });
  await s.connect();
  try {
    return await timed(count, async () => {
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        s.subscribe(topic, { qos }, () => {
          if (++received === count) resolve();
        }).catch(reject);
      });
    });
  } finally {
    await s.close();
  }
}
