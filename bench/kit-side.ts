/**
 * The mqttkit half of the publishing benchmarks (publish.bench.ts,
 * e2e.bench.ts), driven as a caller that respects backpressure would:
 * - QoS 0: 1,000 publishes per turn of the event loop, then await the last
 *   one, which resolves once written (or, with a full socket, on 'drain');
 * - QoS 1/2: a window of `window` messages in flight, each completion
 *   publishing the next; resolves with the last completion.
 */
import type { Session } from '../src/session/index.js';

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
