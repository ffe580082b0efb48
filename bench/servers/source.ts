/**
 * Benchmark source: an MQTT server that floods each subscriber with
 * pre-encoded PUBLISH packets as fast as the socket takes them, in its own
 * process so that its work does not share a core's time with the client
 * under test.
 *
 *   node --import tsx bench/servers/source.ts [port] [--topic bench/t] [--qos 1] [--size 16] [--count 1000000] [--inflight 65535]
 *
 * Prints `{"port":N}` when listening. Answers CONNECT with a successful
 * CONNACK (the version the CONNECT asks for) and, on SUBSCRIBE, sends the
 * SUBACK (granting the requested QoS) and then `count` PUBLISH packets of
 * `size`-byte payloads on `topic` with QoS min(configured, requested). When
 * every one was written (QoS 0: handed to the kernel) or acknowledged (QoS 1
 * PUBACK, QoS 2 PUBCOMP) it prints
 * `{"done":true,"qos":Q,"sent":N,"acked":A,"ms":T}`; a client that goes away
 * first gets `{"done":false,...,"error":...}`. Each SUBSCRIBE starts a run
 * unless one is going on that connection.
 *
 * Control lines on stdin: a JSON object with any of topic, qos, size, count,
 * inflight changes the configuration of later runs (reply: the whole
 * configuration); `config` prints it. Exits when stdin ends.
 *
 * Sending: the PUBLISH is encoded once (mqttkit's codec) and copied many
 * times into a buffer of about 256 KiB. QoS 0 writes that same buffer again
 * and again. QoS 1 and 2 copy it and write the packet identifiers in, taken
 * from a ring of free identifiers: at most `inflight` (and at most the
 * client's Receive Maximum, MQTT 5) are unacknowledged, and an identifier
 * returns to the ring on PUBACK (QoS 1) or PUBCOMP (QoS 2; PUBREC is
 * answered with PUBREL), so identifiers are always unique among those in
 * flight whatever order the acks come in. Writes stop when `write()` returns
 * false and resume on 'drain'; for QoS 1/2 they also resume as acks free
 * identifiers. Acks are read with a hand-rolled fixed-header scanner; other
 * packets go through mqttkit's decoder, whole.
 */
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { encode, type Packet, PacketDecoder, type ProtocolVersion } from '../../src/codec/index.js';
import {
  DEFAULT_SOURCE_CONFIG,
  portArg,
  printLine,
  ReplyBuffer,
  runServer,
  type SourceConfig,
  type SourceDone,
  sourceConfig,
} from './wire.js';

const BATCH_BYTES = 256 * 1024;

interface Run {
  qos: 0 | 1 | 2;
  count: number;
  sent: number;
  acked: number;
  /** `copies` back-to-back copies of the PUBLISH (identifier 0 for QoS 1/2). */
  template: Buffer;
  copies: number;
  /** Bytes of one PUBLISH. */
  one: number;
  /** Offset of the packet identifier in one PUBLISH. */
  idOffset: number;
  started: number;
}

class SourceConnection {
  private readonly decoder = new PacketDecoder({ protocolVersion: 4 });
  private version: ProtocolVersion = 4;
  private receiveMaximum = 65535;
  private pending: Buffer | undefined = undefined;
  private readonly out: ReplyBuffer;
  private run: Run | undefined = undefined;
  private waitingDrain = false;
  /** Ring of free packet identifiers. */
  private readonly free = new Uint16Array(65536);
  private freeHead = 0;
  private freeCount = 0;
  /** 1 for identifiers in flight. */
  private readonly inFlight = new Uint8Array(65536);

  constructor(
    private readonly socket: Socket,
    private readonly config: () => SourceConfig,
  ) {
    this.out = new ReplyBuffer(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.run !== undefined) this.finish('connection closed');
    });
  }

  private readonly onDrain = () => {
    this.waitingDrain = false;
    this.pump();
  };

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const len = buf.length;
    const w = this.out;
    w.begin(len); // replies are never longer than what they answer
    const out = w.buf;
    let o = w.pos;
    let pos = 0;
    let freed = false;

    scan: while (len - pos >= 2) {
      const first = buf[pos];
      let i = pos + 1;
      let rem = 0;
      let mult = 1;
      let b: number;
      do {
        if (i >= len) break scan;
        if (mult > 2_097_152) return void this.socket.destroy();
        b = buf[i++];
        rem += (b & 0x7f) * mult;
        mult *= 128;
      } while (b & 0x80);
      const next = i + rem;
      if (next > len) break;
      const type = first >> 4;
      if (type >= 4 && type <= 7 && type !== 6) {
        // PUBACK, PUBREC, PUBCOMP (MQTT 5 may add a reason code and properties)
        if (rem < 2) return void this.socket.destroy();
        const id = (buf[i] << 8) | buf[i + 1];
        if (this.inFlight[id] === 1 && this.run !== undefined) {
          if (type === 5) {
            if (this.run.qos === 2) {
              out[o] = 0x62; // PUBREL
              out[o + 1] = 2;
              out[o + 2] = buf[i];
              out[o + 3] = buf[i + 1];
              o += 4;
            }
          } else if ((type === 4) === (this.run.qos === 1)) {
            this.inFlight[id] = 0;
            this.free[(this.freeHead + this.freeCount) & 0xffff] = id;
            this.freeCount++;
            this.run.acked++;
            freed = true;
          }
        }
      } else if (type === 12) {
        out[o] = 0xd0; // PINGRESP
        out[o + 1] = 0;
        o += 2;
      } else {
        w.pos = o;
        if (!this.control(buf.subarray(pos, next))) return;
        o = w.pos;
      }
      pos = next;
    }

    if (pos < len) this.pending = buf.subarray(pos);
    w.pos = o;
    w.flush();
    const run = this.run;
    if (run !== undefined) {
      if (run.qos !== 0 && run.acked === run.count) this.finish();
      else if (freed) this.pump();
    }
  }

  /** A whole packet other than an ack or PINGREQ, through mqttkit's decoder. False: connection dropped. */
  private control(bytes: Buffer): boolean {
    let packet: Packet;
    try {
      [packet] = this.decoder.push(bytes);
    } catch {
      this.socket.destroy();
      return false;
    }
    const reply = (p: Packet) => this.out.put(encode(p, this.version));
    switch (packet.type) {
      case 'connect':
        this.version = this.decoder.protocolVersion;
        this.receiveMaximum = packet.properties?.receiveMaximum ?? 65535;
        reply({ type: 'connack', sessionPresent: false, reasonCode: 0 });
        break;
      case 'subscribe': {
        const granted = packet.subscriptions.map((s) => s.qos);
        reply({ type: 'suback', packetId: packet.packetId, reasonCodes: granted });
        if (this.run === undefined) {
          // The SUBACK goes out before the first PUBLISH.
          this.out.flush();
          this.start(Math.min(this.config().qos, ...granted) as 0 | 1 | 2);
        }
        break;
      }
      case 'unsubscribe':
        reply({
          type: 'unsuback',
          packetId: packet.packetId,
          reasonCodes: this.version === 5 ? packet.topicFilters.map(() => 0) : undefined,
        });
        break;
      case 'publish':
        if (packet.qos === 1) reply({ type: 'puback', packetId: packet.packetId! });
        else if (packet.qos === 2) reply({ type: 'pubrec', packetId: packet.packetId! });
        break;
      case 'pubrel':
        reply({ type: 'pubcomp', packetId: packet.packetId });
        break;
      case 'disconnect':
        this.socket.end();
        break;
    }
    return true;
  }

  private start(qos: 0 | 1 | 2): void {
    const c = this.config();
    const one = encode(
      {
        type: 'publish',
        topic: c.topic,
        payload: Buffer.alloc(c.size, 0x61),
        qos,
        packetId: qos === 0 ? undefined : 1,
        retain: false,
        dup: false,
      },
      this.version,
    );
    let i = 1;
    while (one[i++] & 0x80);
    const idOffset = i + 2 + ((one[i] << 8) | one[i + 1]);
    const copies = Math.max(1, Math.floor(BATCH_BYTES / one.length));
    const template = Buffer.allocUnsafe(copies * one.length);
    for (let k = 0; k < copies; k++) template.set(one, k * one.length);
    this.run = {
      qos,
      count: c.count,
      sent: 0,
      acked: 0,
      template,
      copies,
      one: one.length,
      idOffset,
      started: performance.now(),
    };
    // Identifiers 1..window, all free.
    const window = Math.min(c.inflight, this.receiveMaximum);
    this.inFlight.fill(0);
    for (let id = 1; id <= window; id++) this.free[id - 1] = id;
    this.freeHead = 0;
    this.freeCount = window;
    if (c.count === 0) this.finish();
    else this.pump();
  }

  /** Writes until the run is all sent, the socket pushes back or (QoS 1/2) no identifier is free. */
  private pump(): void {
    const r = this.run;
    if (r === undefined || this.waitingDrain || this.socket.destroyed) return;
    while (r.sent < r.count) {
      let n = Math.min(r.copies, r.count - r.sent);
      let chunk: Buffer;
      if (r.qos === 0) {
        chunk = n === r.copies ? r.template : r.template.subarray(0, n * r.one);
      } else {
        n = Math.min(n, this.freeCount);
        if (n === 0) return;
        chunk = Buffer.allocUnsafe(n * r.one);
        r.template.copy(chunk, 0, 0, n * r.one);
        const free = this.free;
        const inFlight = this.inFlight;
        let head = this.freeHead;
        for (let k = 0, at = r.idOffset; k < n; k++, at += r.one) {
          const id = free[head];
          head = (head + 1) & 0xffff;
          inFlight[id] = 1;
          chunk[at] = id >> 8;
          chunk[at + 1] = id & 0xff;
        }
        this.freeHead = head;
        this.freeCount -= n;
      }
      r.sent += n;
      const last = r.sent === r.count && r.qos === 0;
      const more = this.socket.write(
        chunk,
        last ? (err) => this.finish(err ? String(err) : undefined) : undefined,
      );
      if (!more) {
        this.waitingDrain = true;
        this.socket.once('drain', this.onDrain);
        return;
      }
    }
  }

  private finish(error?: string): void {
    const r = this.run;
    if (r === undefined) return;
    this.run = undefined;
    const line: SourceDone = {
      done: error === undefined,
      qos: r.qos,
      sent: r.sent,
      acked: r.qos === 0 ? 0 : r.acked,
      ms: Math.round((performance.now() - r.started) * 1000) / 1000,
    };
    if (error !== undefined) line.error = error;
    printLine(line);
  }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    topic: { type: 'string' },
    qos: { type: 'string' },
    size: { type: 'string' },
    count: { type: 'string' },
    inflight: { type: 'string' },
  },
});

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
let config = sourceConfig(
  Object.fromEntries(
    Object.entries({
      topic: values.topic,
      qos: num(values.qos),
      size: num(values.size),
      count: num(values.count),
      inflight: num(values.inflight),
    }).filter(([, v]) => v !== undefined),
  ) as Partial<SourceConfig>,
  DEFAULT_SOURCE_CONFIG,
);

const server = createServer((socket) => new SourceConnection(socket, () => config));

runServer(server, portArg(positionals[0]), (line) => {
  if (line === 'config') return config;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`unknown command ${JSON.stringify(line)}; expected config or a JSON object`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('expected a JSON object');
  config = sourceConfig(parsed as Partial<SourceConfig>, config);
  return config;
});
