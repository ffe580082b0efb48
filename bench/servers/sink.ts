/**
 * Benchmark sink: an MQTT server that takes publishes as cheaply as it can,
 * run in its own process so that its work does not share a core's time with
 * the client under test.
 *
 *   node --import tsx bench/servers/sink.ts [port]
 *
 * Prints `{"port":N}` when listening. Answers CONNECT with a successful
 * CONNACK (3.1.1 or 5.0, as the CONNECT asks), PUBLISH QoS 1 with PUBACK,
 * QoS 2 with PUBREC and PUBREL with PUBCOMP, SUBSCRIBE with a SUBACK granting
 * the requested QoS, UNSUBSCRIBE with UNSUBACK, PINGREQ with PINGRESP; counts
 * PUBLISH packets. Control lines on stdin: `stats` prints
 * `{"publishes":N,"bytes":M,"connections":C}` (bytes: everything received),
 * `reset` zeroes publishes and bytes. Exits when stdin ends.
 *
 * Per read it scans fixed headers by hand: a PUBLISH is counted and its
 * packet identifier read in place, without building a packet object; its
 * payload is skipped even when it continues into later reads (nothing is
 * buffered for it). Replies go into one preallocated buffer, written once
 * per read. Every reply is at most as long as the packet it answers, so the
 * bytes read bound the room a read's replies need. Malformed input closes
 * the connection.
 */
import { createServer, type Socket } from 'node:net';
import { portArg, ReplyBuffer, runServer, type SinkStats, writeVbi } from './wire.js';

let publishes = 0;
let bytes = 0;
let connections = 0;

class SinkConnection {
  /** 4 (3.1.1) or 5, from the CONNECT. */
  private version = 4;
  /** Start of a packet that did not fit in the last read (a view of that read). */
  private pending: Buffer | undefined = undefined;
  /** Bytes of a PUBLISH still to come that are to be skipped. */
  private skip = 0;
  private readonly out: ReplyBuffer;

  constructor(private readonly socket: Socket) {
    this.out = new ReplyBuffer(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private onData(chunk: Buffer): void {
    bytes += chunk.length;
    let buf = chunk;
    let pos = 0;
    if (this.skip > 0) {
      if (this.skip >= chunk.length) {
        this.skip -= chunk.length;
        return;
      }
      pos = this.skip;
      this.skip = 0;
    }
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, pos === 0 ? chunk : chunk.subarray(pos)]);
      this.pending = undefined;
      pos = 0;
    }
    const len = buf.length;
    const w = this.out;
    w.begin(len - pos);
    const out = w.buf;
    let o = w.pos;
    let end = false;

    scan: while (len - pos >= 2) {
      const first = buf[pos];
      // remaining length: variable byte integer, at most 4 bytes
      let i = pos + 1;
      let rem = 0;
      let mult = 1;
      let b: number;
      do {
        if (i >= len) break scan;
        if (mult > 2_097_152) {
          this.socket.destroy();
          return;
        }
        b = buf[i++];
        rem += (b & 0x7f) * mult;
        mult *= 128;
      } while (b & 0x80);
      const next = i + rem; // i: start of the body; next: start of the next packet
      const type = first >> 4;

      if (type === 3) {
        const qos = (first >> 1) & 3;
        if (qos !== 0) {
          if (i + 2 > len) break;
          const idAt = i + 2 + ((buf[i] << 8) | buf[i + 1]);
          if (idAt + 2 > next || qos === 3) {
            this.socket.destroy();
            return;
          }
          if (idAt + 2 > len) break;
          out[o] = qos === 1 ? 0x40 : 0x50; // PUBACK / PUBREC, reason code left out: Success
          out[o + 1] = 2;
          out[o + 2] = buf[idAt];
          out[o + 3] = buf[idAt + 1];
          o += 4;
        }
        publishes++;
        if (next > len) {
          this.skip = next - len;
          pos = len;
          break;
        }
        pos = next;
        continue;
      }

      if (next > len) break;
      switch (type) {
        case 6: // PUBREL -> PUBCOMP
          if (rem < 2) return void this.socket.destroy();
          out[o] = 0x70;
          out[o + 1] = 2;
          out[o + 2] = buf[i];
          out[o + 3] = buf[i + 1];
          o += 4;
          break;
        case 12: // PINGREQ -> PINGRESP
          out[o] = 0xd0;
          out[o + 1] = 0;
          o += 2;
          break;
        case 1: {
          // CONNECT: protocol name (2-byte length + bytes), then the protocol level
          if (rem < 3) return void this.socket.destroy();
          const levelAt = i + 2 + ((buf[i] << 8) | buf[i + 1]);
          if (levelAt >= next) return void this.socket.destroy();
          this.version = buf[levelAt] === 5 ? 5 : 4;
          out[o++] = 0x20;
          if (this.version === 5) {
            out[o++] = 3;
            out[o++] = 0; // session present: no
            out[o++] = 0; // Success
            out[o++] = 0; // no properties
          } else {
            out[o++] = 2;
            out[o++] = 0;
            out[o++] = 0;
          }
          break;
        }
        case 8: // SUBSCRIBE -> SUBACK granting the requested QoS
          o = this.suback(buf, i, next, out, o);
          if (o < 0) return void this.socket.destroy();
          break;
        case 10: // UNSUBSCRIBE -> UNSUBACK
          o = this.unsuback(buf, i, next, out, o);
          if (o < 0) return void this.socket.destroy();
          break;
        case 14: // DISCONNECT
          end = true;
          break;
        // anything else a client should not send, or needs no answer: ignored
      }
      pos = next;
    }

    if (pos < len) this.pending = buf.subarray(pos);
    w.pos = o;
    w.flush();
    if (end) this.socket.end();
  }

  /** Skips the MQTT 5 properties at `j`; returns the position after them, or -1. */
  private skipProperties(buf: Buffer, j: number, end: number): number {
    if (this.version !== 5) return j;
    let n = 0;
    let mult = 1;
    let b: number;
    do {
      if (j >= end || mult > 2_097_152) return -1;
      b = buf[j++];
      n += (b & 0x7f) * mult;
      mult *= 128;
    } while (b & 0x80);
    return j + n <= end ? j + n : -1;
  }

  private suback(buf: Buffer, i: number, end: number, out: Buffer, o: number): number {
    if (end - i < 2) return -1;
    const idHi = buf[i];
    const idLo = buf[i + 1];
    const first = this.skipProperties(buf, i + 2, end);
    if (first < 0) return -1;
    let n = 0;
    for (let j = first; j < end; n++) {
      if (j + 2 > end) return -1;
      j += 2 + ((buf[j] << 8) | buf[j + 1]) + 1;
      if (j > end) return -1;
    }
    out[o++] = 0x90;
    o = writeVbi(out, o, 2 + (this.version === 5 ? 1 : 0) + n);
    out[o++] = idHi;
    out[o++] = idLo;
    if (this.version === 5) out[o++] = 0; // no properties
    for (let j = first; j < end; ) {
      j += 2 + ((buf[j] << 8) | buf[j + 1]);
      out[o++] = buf[j++] & 3; // granted: the requested maximum QoS
    }
    return o;
  }

  private unsuback(buf: Buffer, i: number, end: number, out: Buffer, o: number): number {
    if (end - i < 2) return -1;
    const idHi = buf[i];
    const idLo = buf[i + 1];
    let n = 0;
    if (this.version === 5) {
      const first = this.skipProperties(buf, i + 2, end);
      if (first < 0) return -1;
      for (let j = first; j < end; n++) {
        if (j + 2 > end) return -1;
        j += 2 + ((buf[j] << 8) | buf[j + 1]);
        if (j > end) return -1;
      }
    }
    out[o++] = 0xb0;
    o = writeVbi(out, o, this.version === 5 ? 3 + n : 2);
    out[o++] = idHi;
    out[o++] = idLo;
    if (this.version === 5) {
      out[o++] = 0; // no properties
      for (let k = 0; k < n; k++) out[o++] = 0; // Success
    }
    return o;
  }
}

const server = createServer((socket) => {
  connections++;
  new SinkConnection(socket);
});

runServer(server, portArg(process.argv[2]), (line) => {
  switch (line) {
    case 'stats':
      return { publishes, bytes, connections } satisfies SinkStats;
    case 'reset':
      publishes = 0;
      bytes = 0;
      return { reset: true };
    default:
      throw new Error(`unknown command ${JSON.stringify(line)}; expected stats or reset`);
  }
});
