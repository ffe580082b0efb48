/**
 * Fault tests with real processes: a mosquitto with persistence restarted
 * again and again under a stream of QoS 1 and QoS 2 publishes. Counted, not
 * timed: nothing lost, no QoS 2 duplicate the client could have prevented.
 *
 * mosquitto 2.0.11 can itself send a QoS 2 message again after it has sent
 * its PUBREL, which MQTT forbids (5.0 4.3.3: the sender MUST NOT re-send the
 * PUBLISH once it has sent the PUBREL). Its persistence file keeps each
 * outgoing message's state, but on restore only the first
 * `max_inflight_messages` (20) in-flight messages of a client go back in
 * flight with that state; the rest are put on the client's queue, and on
 * reconnect every queued QoS 2 message is reset to "send PUBLISH". When more
 * than 20 messages are in flight to the subscriber at the SIGTERM (mosquitto
 * lets the window grow past 20) and some beyond the 20th are awaiting
 * PUBCOMP (the subscriber's PUBCOMP still in the socket), the new broker
 * sends them again as PUBLISH (DUP=1, same packet id). The subscriber
 * completed those with PUBCOMP, so it must treat them as new messages (4.3.3)
 * and delivers them again: no client can tell them from new messages.
 *
 * So the subscriber's traffic goes through a proxy that decodes what the
 * broker and the client send, independently of the client under test, and
 * a duplicate is put down to the broker only when the wire shows exactly
 * that: between the two copies (same packet id), the broker's PUBREL, passed
 * on to the client, and the client's PUBCOMP for that id. The PUBCOMP counts
 * even when the proxy could not pass it on because the broker had just gone
 * (it proves the client completed the message; the broker sent its PUBREL
 * first, so it must not send the PUBLISH again). Every other QoS 2
 * duplicate fails the test.
 */
import { describe, expect, it } from 'vitest';
import { type Packet, PacketDecoder } from '../../src/codec/index.js';
import { Session } from '../../src/session/index.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { startProxy } from '../helpers/proxy.js';

const FAST = { initialDelay: 50, maxDelay: 500, factor: 2, jitter: 0.2 };

describe.skipIf(!hasMosquitto())('broker restarts', () => {
  it('loses nothing and duplicates no QoS 2 message across 5 restarts of a persistent mosquitto', async () => {
    const broker = await startMosquitto({ persistence: true, config: 'max_queued_messages 100000' });
    const wire = new Wire();
    const proxy = await startProxy(
      { port: broker.port },
      { tap: (c, d, chunk, dropped) => wire.push(c, d, chunk, dropped) },
    );
    const sub = new Session({
      url: proxy.url,
      clientId: 'survival-sub',
      clean: false,
      sessionExpiry: 3600,
      reconnect: FAST,
    });
    const pub = new Session({
      url: broker.url,
      clientId: 'survival-pub',
      clean: false,
      sessionExpiry: 3600,
      reconnect: FAST,
      offlineQueue: { maxMessages: 100_000 },
    });
    try {
      const Q1 = 20_000;
      const Q2 = 5_000;
      const seen = new Map<string, number>();
      const order = new Map<string, number[]>();
      let unique = 0;
      let q2dups = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((resolve) => {
        done = resolve;
      });
      await sub.connect();
      await sub.subscribe('survival/#', { qos: 2 }, (m) => {
        const text = m.payload.toString();
        let stream = order.get(m.topic);
        if (stream === undefined) order.set(m.topic, (stream = []));
        stream.push(Number(text.slice(text.lastIndexOf(':') + 1)));
        const n = (seen.get(text) ?? 0) + 1;
        seen.set(text, n);
        if (n > 1) {
          if (m.topic.startsWith('survival/q2/')) q2dups++;
          return;
        }
        if (++unique === Q1 + Q2) done();
      });
      await pub.connect();

      let acked = 0;
      let restarts = 0;
      let restarting: Promise<void> = Promise.resolve();
      const maybeRestart = () => {
        if (restarts < 5 && acked >= (restarts + 1) * 4_000) {
          restarts++;
          restarting = restarting.then(() => broker.restart());
        }
      };
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < Q1 + Q2; i++) {
        const qos2 = i % 5 === 4;
        const topic = `survival/${qos2 ? 'q2' : 'q1'}/${i % 4}`;
        sends.push(
          pub.publish(topic, `${topic}:${i}`, { qos: qos2 ? 2 : 1 }).then(() => {
            acked++;
            maybeRestart();
          }),
        );
      }
      await Promise.all(sends);
      await restarting;
      await all;
      expect(restarts).toBe(5);
      expect(unique).toBe(Q1 + Q2);
      const dups = wire.explain(seen, 'survival/q2/');
      expect(dups.total).toBe(q2dups);
      // a duplicate the client could have prevented (or the wire cannot explain) fails, with its packets
      expect(dups.unexplained).toEqual([]);
      // Order across restarts is not asserted here: mosquitto 2.0.11 sometimes delivers messages it
      // restored from its persistence file after newer ones, for QoS 1 and QoS 2 alike (seen with an
      // MQTT.js subscriber too). The order in which this session sends and replays is covered by the
      // engine and reconnect tests.
      expect(order.size).toBe(8);
      expect(pub.metrics().reconnects).toBeGreaterThanOrEqual(5);
    } finally {
      await pub.close({ timeout: 0 });
      await sub.close({ timeout: 0 });
      await proxy.close();
      await broker.stop();
    }
  }, 120_000);
});

interface Copy {
  /** Position in the wire's packet order. */
  seq: number;
  conn: number;
  id: number;
  dup: boolean;
}

/** The subscriber's QoS 2 traffic as seen between it and the broker, in order. */
class Wire {
  private seq = 0;
  private readonly decoders = new Map<string, PacketDecoder>();
  /** QoS 2 PUBLISH packets from the broker, by payload (each payload is one message). */
  private readonly publishes = new Map<string, Copy[]>();
  private readonly pubrels = new Map<number, number[]>();
  private readonly pubcomps = new Map<number, number[]>();
  private failed: string | undefined;

  /**
   * `dropped`: the proxy did not pass the chunk on. It is still decoded (the stream goes on after it);
   * a dropped PUBLISH or PUBREL from the broker is not recorded (the client never saw it), a dropped
   * PUBCOMP from the client is (the client sent it).
   */
  push(conn: number, direction: 'up' | 'down', chunk: Buffer, dropped: boolean): void {
    if (this.failed !== undefined) return;
    const key = `${conn}${direction}`;
    let decoder = this.decoders.get(key);
    if (decoder === undefined) this.decoders.set(key, (decoder = new PacketDecoder({ protocolVersion: 5 })));
    let packets: Packet[];
    try {
      packets = decoder.push(chunk);
    } catch (err) {
      this.failed = `connection ${conn} ${direction}: ${(err as Error).message}`;
      return;
    }
    for (const p of packets) {
      const seq = ++this.seq;
      if (direction === 'down' && dropped) continue;
      if (direction === 'down' && p.type === 'publish' && p.qos === 2) {
        const text = Buffer.from(p.payload).toString();
        let copies = this.publishes.get(text);
        if (copies === undefined) this.publishes.set(text, (copies = []));
        copies.push({ seq, conn, id: p.packetId as number, dup: p.dup });
      } else if (direction === 'down' && p.type === 'pubrel') add(this.pubrels, p.packetId, seq);
      else if (direction === 'up' && p.type === 'pubcomp') add(this.pubcomps, p.packetId, seq);
    }
  }

  /**
   * Sorts the duplicates among `seen` (delivery counts by payload) into those the broker
   * re-sent after completing them (its PUBREL passed on and the client's PUBCOMP sent between
   * two copies under the same id) and the rest, described packet by packet.
   */
  explain(
    seen: Map<string, number>,
    prefix: string,
  ): { total: number; broker: number; unexplained: string[] } {
    let total = 0;
    let broker = 0;
    const unexplained: string[] = [];
    for (const [text, n] of seen) {
      if (n < 2 || !text.startsWith(prefix)) continue;
      total += n - 1;
      const copies = this.publishes.get(text) ?? [];
      let resent = 0;
      for (let i = 1; i < copies.length; i++) {
        const a = copies[i - 1];
        const b = copies[i];
        const between = (seqs: number[] | undefined) => seqs?.some((s) => s > a.seq && s < b.seq) ?? false;
        if (
          this.failed === undefined &&
          a.id === b.id &&
          between(this.pubrels.get(a.id)) &&
          between(this.pubcomps.get(a.id))
        )
          resent++;
      }
      broker += Math.min(resent, n - 1);
      if (resent < n - 1) {
        const ids = new Set(copies.map((c) => c.id));
        const acks = [...ids].map(
          (id) =>
            `id ${id}: PUBREL at ${this.pubrels.get(id) ?? []}, PUBCOMP at ${this.pubcomps.get(id) ?? []}`,
        );
        unexplained.push(
          `${text} delivered ${n} times; PUBLISH copies ${JSON.stringify(copies)}; ${acks.join('; ')}` +
            (this.failed === undefined ? '' : `; wire undecodable: ${this.failed}`),
        );
      }
    }
    return { total, broker, unexplained };
  }
}

function add(map: Map<number, number[]>, id: number, seq: number): void {
  const list = map.get(id);
  if (list === undefined) map.set(id, [seq]);
  else list.push(seq);
}
