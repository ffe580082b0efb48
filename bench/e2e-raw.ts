/**
 * The raw limit of `bench/e2e.bench.ts`: a publisher and a subscriber that
 * are nothing but a TCP socket, pre-encoded packets and a hand-written frame
 * walker (`Frames` from `bench/rpc-raw.ts`), so that what they measure is
 * the broker and the kernel's loopback, not a client library.
 *
 * - CONNECT and SUBSCRIBE are encoded with mqttkit's codec (`encode`), and
 *   so is the PUBLISH template, once per run; a QoS 1 publish is the
 *   template with its packet id patched in.
 * - The publisher, QoS 0: one write of up to 1,000 copies of the template
 *   per event-loop turn (the next turn on `setImmediate`), and when `write()`
 *   returns false it waits for 'drain' first — the same flow control as
 *   mqttkit's QoS 0 loop in the benchmark (1,000 publishes per turn, then
 *   await the last one, which resolves when the output left or, with a full
 *   socket, on 'drain').
 * - The publisher, QoS 1: ack-clocked, `window` publishes in flight: the
 *   first `window` in one write, then per socket read as many new ones as
 *   PUBACKs arrived, in one write.
 * - The subscriber counts PUBLISHes; at QoS 1 it answers each with a PUBACK
 *   (4 bytes: MQTT 5 success without properties is the 3.1.1 form), all of
 *   one socket read in one write, right after the read.
 *
 * Only what this benchmark needs of MQTT 5 and 3.1.1 is understood: CONNACK,
 * SUBACK, PUBLISH and PUBACK; anything unexpected ends the run with an error.
 */
import type { Socket } from 'node:net';
import { encode } from '../src/codec/index.js';
import { Frames, rawSocket, readVbi } from './rpc-raw.js';

const CONNACK = 2;
const PUBLISH = 3;
const PUBACK = 4;
const SUBACK = 9;
const DISCONNECT = Buffer.from([0xe0, 0x00]);
/** QoS 0: copies of the publish per write (per event-loop turn). */
const QOS0_BATCH = 1000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Payloads larger than this are written as their own chunk, not copied into each packet. */
const LARGE = 4096;

export interface RawPublisher {
  /**
   * Publishes `count` copies of `payload` to `topic`; resolves when the last
   * one is written (QoS 0) or acknowledged (QoS 1).
   */
  publish(topic: string, payload: Buffer, qos: 0 | 1, count: number, window: number): Promise<void>;
  close(): Promise<void>;
}

export interface RawSubscriberOptions {
  url: string;
  clientId: string;
  version: 4 | 5;
  topic: string;
  qos: 0 | 1;
  /** `onAll` is called (once) when this many PUBLISHes arrived. */
  count: number;
  onAll: () => void;
  /** The connection failed or the broker sent something unexpected. */
  onError: (err: Error) => void;
}

export interface RawSubscriber {
  received(): number;
  close(): Promise<void>;
}

/** Where a PUBLISH's packet id is: after the topic, in both versions. */
function packetIdAt(buf: Buffer, start: number): number {
  return start + 2 + buf.readUInt16BE(start);
}

/**
 * Connects, sends CONNECT (clean, keepalive off) and waits for a successful
 * CONNACK; with `subscription`, then SUBSCRIBE and a SUBACK granting its QoS.
 */
async function handshake(
  url: string,
  clientId: string,
  version: 4 | 5,
  subscription?: { topic: string; qos: 0 | 1 },
): Promise<Socket> {
  const socket = await rawSocket(url);
  const replies: { type: number; code: number }[] = [];
  let wake: (() => void) | undefined;
  const frames = new Frames((first, buf, start) => {
    const type = first >> 4;
    let code = -1;
    // CONNACK: return/reason code after the flags; SUBACK: granted QoS after the id (and v5 properties)
    if (type === CONNACK) code = buf[start + 1];
    else if (type === SUBACK) {
      let p = start + 2;
      if (version === 5) {
        const [propsLength, propsStart] = readVbi(buf, p);
        p = propsStart + propsLength;
      }
      code = buf[p];
    }
    replies.push({ type, code });
    wake?.();
  });
  const onData = (chunk: Buffer): void => frames.push(chunk);
  const onClose = (): void => wake?.();
  socket.on('data', onData);
  socket.on('close', onClose);
  const next = async (what: string, expected: number): Promise<number> => {
    if (replies.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`raw ${clientId}: no ${what} within ${HANDSHAKE_TIMEOUT_MS} ms`)),
          HANDSHAKE_TIMEOUT_MS,
        );
        wake = () => {
          wake = undefined;
          clearTimeout(t);
          resolve();
        };
      });
    }
    const reply = replies.shift();
    if (reply === undefined)
      throw new Error(`raw ${clientId}: the broker closed the connection before ${what}`);
    if (reply.type !== expected)
      throw new Error(`raw ${clientId}: packet type ${reply.type} instead of ${what}`);
    return reply.code;
  };
  try {
    socket.write(encode({ type: 'connect', clientId, clean: true, keepalive: 0 }, version));
    const connack = await next('CONNACK', CONNACK);
    if (connack !== 0) throw new Error(`raw ${clientId}: CONNACK code ${connack}`);
    if (subscription !== undefined) {
      socket.write(
        encode(
          {
            type: 'subscribe',
            packetId: 1,
            subscriptions: [{ topicFilter: subscription.topic, qos: subscription.qos }],
          },
          version,
        ),
      );
      const granted = await next('SUBACK', SUBACK);
      if (granted !== subscription.qos) throw new Error(`raw ${clientId}: SUBACK code ${granted}`);
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
  socket.off('data', onData);
  socket.off('close', onClose);
  return socket;
}

/** DISCONNECT, then wait (briefly) for the broker to close the connection. */
async function goodbye(socket: Socket): Promise<void> {
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      socket.destroy();
      resolve();
    }, 1000);
    socket.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    socket.end(DISCONNECT);
  });
}

/** A pre-encoded PUBLISH and the offset of its packet id (-1 at QoS 0). */
function template(topic: string, payload: Buffer, qos: 0 | 1, version: 4 | 5): { bytes: Buffer; id: number } {
  const bytes = Buffer.from(
    encode(
      {
        type: 'publish',
        topic,
        payload,
        qos,
        retain: false,
        dup: false,
        ...(qos > 0 && { packetId: 0xfcfc }),
      },
      version,
    ),
  );
  const [, start] = readVbi(bytes, 1);
  const id = qos > 0 ? packetIdAt(bytes, start) : -1;
  if (qos > 0 && bytes.readUInt16BE(id) !== 0xfcfc) throw new Error('raw: packet id not where expected');
  return { bytes, id };
}

export async function rawPublisher(url: string, clientId: string, version: 4 | 5): Promise<RawPublisher> {
  const socket = await handshake(url, clientId, version);
  let failure: Error | undefined;
  let onFailure: ((err: Error) => void) | undefined;
  const failed = (err: Error): void => {
    failure ??= err;
    onFailure?.(failure);
  };
  socket.on('error', failed);
  socket.on('close', () => failed(new Error(`raw ${clientId}: the connection closed`)));

  const publishQos0 = async (bytes: Buffer, count: number): Promise<void> => {
    const len = bytes.length;
    const batch = Buffer.allocUnsafe(len * Math.min(QOS0_BATCH, count));
    for (let i = 0; i < batch.length; i += len) bytes.copy(batch, i);
    let drained: (() => void) | undefined;
    const onDrain = (): void => drained?.();
    socket.on('drain', onDrain);
    try {
      for (let sent = 0; sent < count; ) {
        if (failure !== undefined) throw failure;
        const n = Math.min(QOS0_BATCH, count - sent);
        sent += n;
        // the same bytes every time (QoS 0 has no packet id): a write may share the buffer
        const ok = socket.write(n * len === batch.length ? batch : batch.subarray(0, n * len));
        await new Promise<void>((resolve) => {
          if (ok) setImmediate(resolve);
          else drained = resolve;
        });
        drained = undefined;
      }
    } finally {
      socket.off('drain', onDrain);
    }
  };

  const publishQos1 = (
    bytes: Buffer,
    idAt: number,
    payloadLength: number,
    count: number,
    window: number,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const len = bytes.length;
      let packetId = 0;
      let sent = 0;
      let acked = 0;
      let acks = 0;
      // large payloads: a head per message and the one payload buffer, in one writev (no copy)
      const headLength = len - payloadLength;
      const payload = bytes.subarray(headLength);
      const send = (n: number): void => {
        if (payloadLength > LARGE) {
          socket.cork();
          for (let i = 0; i < n; i++) {
            const head = Buffer.allocUnsafe(headLength);
            bytes.copy(head, 0, 0, headLength);
            packetId = packetId === 0xffff ? 1 : packetId + 1;
            head.writeUInt16BE(packetId, idAt);
            socket.write(head);
            socket.write(payload);
          }
          socket.uncork();
          sent += n;
          return;
        }
        const out = Buffer.allocUnsafe(n * len);
        for (let i = 0, at = 0; i < n; i++, at += len) {
          bytes.copy(out, at);
          packetId = packetId === 0xffff ? 1 : packetId + 1;
          out.writeUInt16BE(packetId, at + idAt);
        }
        sent += n;
        socket.write(out);
      };
      const frames = new Frames((first) => {
        if (first >> 4 === PUBACK) acks++;
        else socket.destroy(new Error(`raw ${clientId}: unexpected packet type ${first >> 4}`));
      });
      const onData = (chunk: Buffer): void => {
        acks = 0;
        frames.push(chunk);
        if (acks === 0) return;
        acked += acks;
        if (acked >= count) {
          finish();
          if (acked > count) reject(new Error(`raw ${clientId}: ${acked} PUBACKs for ${count} publishes`));
          else resolve();
        } else if (sent < count) send(Math.min(acks, count - sent));
      };
      const finish = (): void => {
        socket.off('data', onData);
        onFailure = undefined;
      };
      onFailure = (err) => {
        finish();
        reject(err);
      };
      socket.on('data', onData);
      if (failure !== undefined) onFailure(failure);
      else send(Math.min(window, count));
    });

  return {
    async publish(topic, payload, qos, count, window) {
      if (count === 0) return;
      if (window < 1 || window > 65_000) throw new RangeError('window: 1..65000');
      const t = template(topic, payload, qos, version);
      if (qos === 0) await publishQos0(t.bytes, count);
      else await publishQos1(t.bytes, t.id, payload.length, count, window);
    },
    close: () => goodbye(socket),
  };
}

export async function rawSubscriber(o: RawSubscriberOptions): Promise<RawSubscriber> {
  const socket = await handshake(o.url, o.clientId, o.version, { topic: o.topic, qos: o.qos });
  let received = 0;
  let closing = false;
  const failed = (err: Error): void => {
    if (!closing) o.onError(err);
  };
  socket.on('error', failed);
  socket.on('close', () => failed(new Error(`raw ${o.clientId}: the connection closed`)));
  // the PUBACKs of one read; a read holds at most 64 KiB, i.e. well under 16,384 publishes
  const acks = Buffer.allocUnsafe(4 * 16_384);
  let n = 0;
  const frames = new Frames((first, buf, start) => {
    if (first >> 4 !== PUBLISH) {
      socket.destroy(new Error(`raw ${o.clientId}: unexpected packet type ${first >> 4}`));
      return;
    }
    if ((first & 0x06) !== 0) {
      const at = n * 4;
      acks[at] = PUBACK << 4;
      acks[at + 1] = 2;
      acks.writeUInt16BE(buf.readUInt16BE(packetIdAt(buf, start)), at + 2);
      n++;
    }
    if (++received === o.count) o.onAll();
  });
  socket.on('data', (chunk: Buffer) => {
    n = 0;
    frames.push(chunk);
    // a copy: the scratch buffer is reused on the next read, the write may wait
    if (n > 0) socket.write(Buffer.from(acks.subarray(0, n * 4)));
  });
  return {
    received: () => received,
    async close() {
      closing = true;
      await goodbye(socket);
    },
  };
}
