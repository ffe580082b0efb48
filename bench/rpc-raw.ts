/**
 * The raw limit of `bench/rpc.bench.ts`: a requester and a responder that
 * are nothing but a TCP socket, pre-encoded packets and a hand-written
 * frame walker, so that what they measure is the broker (and the kernel's
 * loopback), not a client library.
 *
 * - Packets are encoded once with mqttkit's codec (`encode`); each request
 *   is the template with its packet id and correlation data patched in, and
 *   each response the responder's template with the request's correlation
 *   data, payload and a packet id patched in.
 * - Everything one socket read makes them send (acks, responses, the next
 *   requests) leaves in one write, on `process.nextTick` after the read
 *   (`RAW_FLUSH=immediate`: on `setImmediate`, once per event-loop turn).
 * - Both ack every QoS 1 PUBLISH they receive (a 2-byte MQTT 5 PUBACK:
 *   success, no properties) and ignore the PUBACKs they get.
 *
 * Only what this benchmark needs of MQTT 5 is understood: CONNACK, SUBACK,
 * PUBLISH (QoS 0/1, any properties) and PUBACK; anything unexpected ends the
 * run with an error.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { encode } from '../src/codec/index.js';
import type { Requester, Responder } from './rpc-libs.js';

const CORRELATION_BYTES = 16;
const FLUSH_ON_TICK = process.env.RAW_FLUSH !== 'immediate';
const PUBACK_TYPE = 4;
const PUBLISH_TYPE = 3;

/** Splits a byte stream into MQTT packets: `onPacket(first byte, buffer, body start, body end)`. */
export class Frames {
  private rest: Buffer | undefined = undefined;

  constructor(private readonly onPacket: (first: number, buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let pos = 0;
    const n = buf.length;
    while (pos + 2 <= n) {
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let b = 0;
      let complete = true;
      do {
        if (i >= n) {
          complete = false;
          break;
        }
        b = buf[i++];
        len += (b & 0x7f) * mul;
        mul *= 128;
      } while (b & 0x80);
      if (!complete || i + len > n) break;
      this.onPacket(buf[pos], buf, i, i + len);
      pos = i + len;
    }
    if (pos < n) this.rest = Buffer.from(buf.subarray(pos));
  }
}

/** Where a property's value ends, given the byte after its identifier. */
function skipProperty(buf: Buffer, id: number, p: number): number {
  switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2a:
      return p + 1;
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23:
      return p + 2;
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27:
      return p + 4;
    case 0x0b:
      while (buf[p++] & 0x80) {}
      return p;
    case 0x26:
      p += 2 + buf.readUInt16BE(p);
      return p + 2 + buf.readUInt16BE(p);
    default:
      // strings and binary data: 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f
      return p + 2 + buf.readUInt16BE(p);
  }
}

/** A PUBLISH as the raw clients see it: offsets into the received buffer. */
interface Publish {
  qos: number;
  packetId: number;
  /** Start of the response topic's bytes (after its length), or -1. */
  responseTopic: number;
  responseTopicLength: number;
  /** Start of the correlation data's bytes (after its length), or -1. */
  correlation: number;
  correlationLength: number;
  payload: number;
  end: number;
}

const scratch: Publish = {
  qos: 0,
  packetId: 0,
  responseTopic: -1,
  responseTopicLength: 0,
  correlation: -1,
  correlationLength: 0,
  payload: 0,
  end: 0,
};

/** A variable byte integer at `p`: its value and where the next field starts. */
export function readVbi(buf: Buffer, p: number): [value: number, next: number] {
  let value = 0;
  let mul = 1;
  let b = 0;
  do {
    b = buf[p++];
    value += (b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80);
  return [value, p];
}

/** Parses an MQTT 5 PUBLISH body into `scratch` (reused: read it before the next call). */
function parsePublish(first: number, buf: Buffer, start: number, end: number): Publish {
  const out = scratch;
  out.qos = (first >> 1) & 3;
  let p = start + 2 + buf.readUInt16BE(start);
  out.packetId = 0;
  if (out.qos > 0) {
    out.packetId = buf.readUInt16BE(p);
    p += 2;
  }
  const [propsLength, propsStart] = readVbi(buf, p);
  const propsEnd = propsStart + propsLength;
  out.responseTopic = -1;
  out.correlation = -1;
  p = propsStart;
  while (p < propsEnd) {
    const id = buf[p++];
    if (id === 0x08) {
      out.responseTopicLength = buf.readUInt16BE(p);
      out.responseTopic = p + 2;
    } else if (id === 0x09) {
      out.correlationLength = buf.readUInt16BE(p);
      out.correlation = p + 2;
    }
    p = skipProperty(buf, id, p);
  }
  out.payload = propsEnd;
  out.end = end;
  return out;
}

/** A TCP connection to the broker at `url` (mqtt://host:port), Nagle off. */
export async function rawSocket(url: string): Promise<Socket> {
  const u = new URL(url);
  const socket = connect(Number(u.port || 1883), u.hostname);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** A socket with MQTT 5 CONNECT/CONNACK and one SUBSCRIBE/SUBACK done. */
async function open(url: string, clientId: string, filter: string): Promise<Socket> {
  const socket = await rawSocket(url);
  const replies: number[] = [];
  let wake: (() => void) | undefined;
  const frames = new Frames((first, buf, start) => {
    const type = first >> 4;
    // CONNACK: reason code after the flags; SUBACK: granted QoS after id and properties
    if (type === 2) replies.push(buf[start + 1]);
    else if (type === 9) {
      const [propsLength, propsStart] = readVbi(buf, start + 2);
      replies.push(buf[propsStart + propsLength]);
    } else replies.push(-type);
    wake?.();
  });
  const onData = (chunk: Buffer): void => frames.push(chunk);
  socket.on('data', onData);
  const next = (): Promise<number> =>
    replies.length > 0
      ? Promise.resolve(replies.shift()!)
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`raw ${clientId}: no reply from the broker`)), 10_000);
          wake = () => {
            wake = undefined;
            clearTimeout(t);
            resolve(replies.shift()!);
          };
        });
  socket.write(encode({ type: 'connect', clientId, clean: true, keepalive: 0 }, 5));
  const connack = await next();
  if (connack !== 0) throw new Error(`raw ${clientId}: CONNACK reason ${connack}`);
  socket.write(
    encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos: 1 }] }, 5),
  );
  const granted = await next();
  if (granted !== 1) throw new Error(`raw ${clientId}: SUBACK ${granted}`);
  socket.off('data', onData);
  return socket;
}

function fail(socket: Socket, onError: (err: Error) => void): void {
  socket.on('error', onError);
  socket.on('close', () => onError(new Error('raw: the broker closed the connection')));
}

/** Writes everything queued in one turn as one buffer. */
class Batch {
  private parts: Buffer[] = [];
  private size = 0;
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly socket: Socket) {}

  /** Room for `n` bytes in this turn's output. */
  take(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    this.parts.push(b);
    this.size += n;
    if (!this.scheduled) {
      this.scheduled = true;
      if (FLUSH_ON_TICK) process.nextTick(this.flushNow);
      else setImmediate(this.flushNow);
    }
    return b;
  }

  puback(packetId: number): void {
    const b = this.take(4);
    b[0] = PUBACK_TYPE << 4;
    b[1] = 2;
    b.writeUInt16BE(packetId, 2);
  }

  private flush(): void {
    this.scheduled = false;
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.socket.write(out);
  }
}

/** A pre-encoded PUBLISH and where to patch it. */
interface Template {
  bytes: Buffer;
  /** Offset of the packet id, or -1 (QoS 0). */
  packetId: number;
  correlation: number;
  payload: number;
}

function template(
  topic: string,
  qos: 0 | 1,
  payload: Buffer,
  correlationLength: number,
  responseTopic: string | undefined,
): Template {
  // a marker that cannot occur elsewhere in the packet finds the correlation data
  const marker = Buffer.alloc(correlationLength, 0xfe);
  const payloadMarker = Buffer.alloc(payload.length, 0xfd);
  const bytes = Buffer.from(
    encode(
      {
        type: 'publish',
        topic,
        payload: payloadMarker,
        qos,
        retain: false,
        dup: false,
        ...(qos > 0 && { packetId: 0xfcfc }),
        properties: { correlationData: marker, ...(responseTopic !== undefined && { responseTopic }) },
      },
      5,
    ),
  );
  const [, afterLength] = readVbi(bytes, 1);
  const packetId = qos > 0 ? afterLength + 2 + bytes.readUInt16BE(afterLength) : -1;
  const correlation = correlationLength === 0 ? -1 : bytes.indexOf(marker);
  const payloadAt = bytes.length - payload.length;
  if (
    (qos > 0 && bytes.readUInt16BE(packetId) !== 0xfcfc) ||
    (correlationLength > 0 && correlation < 0) ||
    !bytes.subarray(payloadAt).equals(payloadMarker)
  ) {
    throw new Error('raw: could not find the fields to patch in the template');
  }
  payload.copy(bytes, payloadAt);
  return { bytes, packetId, correlation, payload: payloadAt };
}

/**
 * Requests carry 16 bytes of correlation data (as mqttkit's do): a 32-bit
 * request number, then 12 fixed random bytes.
 */
export async function rawRequester(url: string, requestTopic: string, payload: Buffer): Promise<Requester> {
  const clientId = `raw-req-${process.pid}`;
  const responseTopic = `${clientId}/rpc/res`;
  const socket = await open(url, clientId, responseTopic);
  const tail = randomBytes(CORRELATION_BYTES);
  const templates = [0, 1].map((qos) => {
    const t = template(requestTopic, qos as 0 | 1, payload, CORRELATION_BYTES, responseTopic);
    tail.copy(t.bytes, t.correlation);
    return t;
  });
  const waiting: (((err?: Error) => void) | undefined)[] = new Array(65536).fill(undefined);
  let nextId = 0;
  let nextPacketId = 0;
  const batch = new Batch(socket);
  let failure: Error | undefined;
  fail(socket, (err) => {
    failure ??= err;
    for (let i = 0; i < waiting.length; i++) {
      const cb = waiting[i];
      waiting[i] = undefined;
      cb?.(failure);
    }
  });
  const frames = new Frames((first, buf, start, end) => {
    const type = first >> 4;
    if (type === PUBACK_TYPE) return;
    if (type !== PUBLISH_TYPE) {
      socket.destroy(new Error(`raw requester: unexpected packet type ${type}`));
      return;
    }
    const m = parsePublish(first, buf, start, end);
    if (m.qos > 0) batch.puback(m.packetId);
    if (m.correlation < 0 || m.correlationLength !== CORRELATION_BYTES) return;
    const slot = buf.readUInt32BE(m.correlation) & 0xffff;
    const cb = waiting[slot];
    waiting[slot] = undefined;
    cb?.();
  });
  socket.on('data', (chunk: Buffer) => frames.push(chunk));
  return {
    send(qos, done) {
      if (failure !== undefined) {
        done(failure);
        return;
      }
      const t = templates[qos];
      const id = nextId;
      nextId = (nextId + 1) >>> 0;
      waiting[id & 0xffff] = done;
      const out = batch.take(t.bytes.length);
      t.bytes.copy(out);
      out.writeUInt32BE(id, t.correlation);
      if (t.packetId >= 0) {
        nextPacketId = nextPacketId === 0xffff ? 1 : nextPacketId + 1;
        out.writeUInt16BE(nextPacketId, t.packetId);
      }
    },
    async close() {
      socket.end();
      socket.destroy();
    },
  };
}

/**
 * Answers every request on its response topic with its correlation data and
 * payload, at the QoS the request arrived with. Templates are made per
 * response topic, QoS and sizes on first use.
 */
export async function rawResponder(url: string, requestTopic: string): Promise<Responder> {
  const clientId = `raw-res-${process.pid}`;
  const socket = await open(url, clientId, requestTopic);
  const templates = new Map<string, Template>();
  let nextPacketId = 0;
  let served = 0;
  const batch = new Batch(socket);
  fail(socket, () => {});
  const frames = new Frames((first, buf, start, end) => {
    const type = first >> 4;
    if (type === PUBACK_TYPE) return;
    if (type !== PUBLISH_TYPE) {
      socket.destroy(new Error(`raw responder: unexpected packet type ${type}`));
      return;
    }
    const m = parsePublish(first, buf, start, end);
    if (m.qos > 0) batch.puback(m.packetId);
    if (m.responseTopic < 0) return;
    const qos = m.qos > 0 ? 1 : 0;
    const payloadLength = m.end - m.payload;
    const correlationLength = m.correlation < 0 ? 0 : m.correlationLength;
    const topic = buf.toString('latin1', m.responseTopic, m.responseTopic + m.responseTopicLength);
    const key = `${qos}|${correlationLength}|${payloadLength}|${topic}`;
    let t = templates.get(key);
    if (t === undefined) {
      const utf8Topic = buf.toString('utf8', m.responseTopic, m.responseTopic + m.responseTopicLength);
      t = template(utf8Topic, qos, Buffer.alloc(payloadLength), correlationLength, undefined);
      templates.set(key, t);
    }
    const out = batch.take(t.bytes.length);
    t.bytes.copy(out);
    if (correlationLength > 0) buf.copy(out, t.correlation, m.correlation, m.correlation + correlationLength);
    buf.copy(out, t.payload, m.payload, m.end);
    if (t.packetId >= 0) {
      nextPacketId = nextPacketId === 0xffff ? 1 : nextPacketId + 1;
      out.writeUInt16BE(nextPacketId, t.packetId);
    }
    served++;
  });
  socket.on('data', (chunk: Buffer) => frames.push(chunk));
  return {
    served: () => served,
    async close() {
      socket.end();
      socket.destroy();
    },
  };
}
