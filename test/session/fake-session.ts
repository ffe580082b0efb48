/**
 * Sessions against the fake broker, for the session tests: each session and
 * broker made here is closed after the test (`onCleanup`, helpers/cleanup.ts).
 */
import type { ConnackPacket, PublishPacket } from '../../src/codec/index.js';
import type { SessionOptions } from '../../src/session/index.js';
import { Session } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type FakeBroker, type FakeConnection, startFakeBroker } from '../helpers/fake-broker.js';

/** A fake broker that answers the routine acknowledgements itself. */
export async function fake(
  options: Parameters<typeof startFakeBroker>[0] = { autoAck: true },
): Promise<FakeBroker> {
  const b = await startFakeBroker(options);
  onCleanup(() => b.close());
  return b;
}

export function session(options: SessionOptions): Session {
  const s = new Session(options);
  onCleanup(() => s.close({ timeout: 0 }));
  return s;
}

/** Reconnect at once and without jitter: delays 10, 20, 40, 40 ms. */
export const FAST = { initialDelay: 10, maxDelay: 40, factor: 2, jitter: 0 };

/** Takes the next connection and answers its CONNECT (with `properties` in the CONNACK when given). */
export async function accept(
  b: FakeBroker,
  sessionPresent = false,
  properties?: ConnackPacket['properties'],
): Promise<FakeConnection> {
  const conn = await b.nextConnection();
  await conn.nextPacket('connect');
  conn.send({ type: 'connack', sessionPresent, reasonCode: 0, ...(properties && { properties }) });
  return conn;
}

/** A PUBLISH as a broker sends it: QoS 0, payload `x`, neither retained nor a duplicate, unless `fields` say otherwise. */
export function publishPacket(
  topic: string,
  fields: Partial<Omit<PublishPacket, 'type'>> = {},
): PublishPacket {
  return { type: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false, ...fields };
}

/** A session connected to a fake broker that acknowledges nothing by itself. */
export async function connectedToFake(
  options: Partial<SessionOptions> = {},
): Promise<{ s: Session; conn: FakeConnection; b: FakeBroker }> {
  const b = await fake({});
  const s = session({ url: b.url, reconnect: FAST, ...options });
  const c = s.connect();
  const conn = await accept(b);
  await c;
  return { s, conn, b };
}

/** The next `event` of `s`, with its arguments. */
export function once<T extends unknown[]>(
  s: Session,
  event: 'reconnecting' | 'offline' | 'connect' | 'fallback',
): Promise<T> {
  return new Promise((resolve) => s.once(event, (...args: unknown[]) => resolve(args as T)));
}
