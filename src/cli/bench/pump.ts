/**
 * The send loops: one per connection, each keeping up to `--inflight`
 * operations outstanding (QoS 1/2 publishes, requests), or writing QoS 0
 * publishes in batches that wait for the socket. Per message: a header
 * written into a reused buffer and one call; no closure, timer or buffer.
 */
import type { QoS } from '../../codec/types.js';
import type { PublishResult, Session } from '../../session/index.js';
import { Lane, type Slot } from './lane.js';
import type { Latency } from './latency.js';
import { makePayload, now, writeHeader } from './payload.js';
import type { Run } from './run.js';

/** QoS 0 publishes between two waits for the socket (each wait is one turn of the event loop). */
const QOS0_BATCH = 500;

/**
 * Sends with `send(slot)` while the run claims messages and `alive()`,
 * keeping at most `lane.depth` in flight; resolves when all have settled.
 */
export async function pump<T>(
  lane: Lane<T>,
  run: Run,
  alive: () => boolean,
  send: (slot: Slot<T>) => void,
): Promise<void> {
  const pacer = run.pacer;
  while (!run.stopping && alive()) {
    const slot = lane.take();
    if (slot === undefined) {
      await lane.room();
      continue;
    }
    if (pacer !== undefined && !pacer.take()) {
      lane.untake(slot);
      await pacer.wait();
      continue;
    }
    if (!run.claim()) {
      lane.untake(slot);
      break;
    }
    const t = now();
    writeHeader(slot.payload, run.seq++, t);
    slot.sentAt = t;
    run.sent++;
    send(slot);
  }
  await lane.drain();
}

export interface PublishSettings {
  qos: QoS;
  size: number;
  inflight: number;
}

/** Publishes on `session` to `topic` until the run stops; records publish-to-ack latency for QoS 1/2. */
export function publishLoop(
  session: Session,
  topic: string,
  s: PublishSettings,
  run: Run,
  latency: Latency | undefined,
): Promise<void> {
  const alive = (): boolean => session.state === 'connected';
  if (s.qos === 0) return publishQos0(session, topic, s.size, run, alive);
  const lane = new Lane<PublishResult>(s.inflight, s.size, {
    succeeded(slot) {
      latency?.record(now() - slot.sentAt);
      run.done++;
    },
    failed(_slot, error) {
      run.fail(error);
    },
  });
  const options = { qos: s.qos };
  return pump(lane, run, alive, (slot) => {
    session.publish(topic, slot.payload, options).then(slot.ok, slot.fail);
  });
}

/**
 * QoS 0: publishes of one turn share one promise, settled once they are
 * written (later, when the socket has drained: the session's
 * backpressure); waiting for it every QOS0_BATCH messages bounds memory.
 * The payload buffer is reused: a connected session encodes a QoS 0
 * publish at once.
 */
async function publishQos0(
  session: Session,
  topic: string,
  size: number,
  run: Run,
  alive: () => boolean,
): Promise<void> {
  const payload = makePayload(size);
  const options = { qos: 0 as const };
  const pacer = run.pacer;
  let last: Promise<PublishResult> | undefined;
  let batch = 0;
  const written = async (): Promise<boolean> => {
    const p = last;
    const n = batch;
    last = undefined;
    batch = 0;
    if (p === undefined) return true;
    try {
      await p;
      run.done += n;
      return true;
    } catch (err) {
      run.fail(err, n);
      return false;
    }
  };
  while (!run.stopping && alive()) {
    if (pacer !== undefined && !pacer.take()) {
      if (!(await written())) break;
      await pacer.wait();
      continue;
    }
    if (!run.claim()) break;
    writeHeader(payload, run.seq++, now());
    run.sent++;
    last = session.publish(topic, payload, options);
    if (++batch >= QOS0_BATCH && !(await written())) break;
  }
  await written();
}
