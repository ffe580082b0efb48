/**
 * mqttkit's own RPC envelope for MQTT 3.1.1, which has no Response Topic or
 * Correlation Data: the payload carries them, ahead of the body. It is
 * mqttkit's format, not a standard: mqttkit talks to mqttkit over it. With
 * MQTT 5 the properties are used and no envelope is sent.
 *
 * All integers are big-endian; strings are UTF-8.
 *
 * ```
 * request:  'M' 'K' 'R' 0x01 | 0x01 | u8 n, correlation[n] | u16 n, responseTopic[n]
 *           | u8 n, contentType[n] | body (the rest)
 * response: 'M' 'K' 'R' 0x01 | 0x02 | u8 n, correlation[n] | u16 status (0: success)
 *           | u16 n, message[n] | u8 n, contentType[n] | body (the rest)
 * ```
 *
 * A traced request (version 2) carries the W3C trace context after the
 * correlation data: `u8 n, traceparent[n] | u16 n, tracestate[n]`. It is
 * sent only with a trace context, so a server of before version 2 still
 * takes every untraced request.
 */
import type { TraceCarrier } from '../tracing/hooks.js';

const MAGIC = [0x4d, 0x4b, 0x52] as const; // "MKR"
/** The envelope's version: 1, or 2 with trace context. */
const V1 = 1;
const V2 = 2;
const REQUEST = 1;
const RESPONSE = 2;

export interface EnvelopeRequest {
  correlation: Uint8Array;
  responseTopic: string;
  contentType: string | undefined;
  body: Buffer;
  /** The requester's trace context (version 2), or undefined. */
  trace: TraceCarrier | undefined;
}

export interface EnvelopeResponse {
  correlation: Uint8Array;
  /** 0 for success, else an error status. */
  status: number;
  message: string;
  contentType: string | undefined;
  body: Buffer;
}

function header(
  kind: number,
  correlation: Uint8Array,
  size: number,
  version = V1,
): { buf: Buffer; pos: number } {
  if (correlation.length > 255) throw new RangeError('correlation data longer than 255 bytes');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = MAGIC[0];
  buf[1] = MAGIC[1];
  buf[2] = MAGIC[2];
  buf[3] = version;
  buf[4] = kind;
  buf[5] = correlation.length;
  buf.set(correlation, 6);
  return { buf, pos: 6 + correlation.length };
}

function shortString(value: string | undefined, field: string): Buffer {
  const b = Buffer.from(value ?? '');
  if (b.length > 255) throw new RangeError(`${field} longer than 255 bytes`);
  return b;
}

export function encodeRequest(
  correlation: Uint8Array,
  responseTopic: string,
  contentType: string | undefined,
  body: Uint8Array,
  trace?: TraceCarrier,
): Buffer {
  const topic = Buffer.from(responseTopic);
  if (topic.length > 0xffff) throw new RangeError('response topic longer than 65,535 bytes');
  const ct = shortString(contentType, 'content type');
  const parent = trace === undefined ? undefined : shortString(trace.traceparent, 'traceparent');
  const state = trace === undefined ? undefined : Buffer.from(trace.tracestate ?? '');
  if (state !== undefined && state.length > 0xffff)
    throw new RangeError('tracestate longer than 65,535 bytes');
  const traced = parent === undefined || state === undefined ? 0 : 1 + parent.length + 2 + state.length;
  const { buf, pos } = header(
    REQUEST,
    correlation,
    6 + correlation.length + traced + 2 + topic.length + 1 + ct.length + body.length,
    traced === 0 ? V1 : V2,
  );
  let p = pos;
  if (parent !== undefined && state !== undefined) {
    buf[p++] = parent.length;
    p += parent.copy(buf, p);
    p = buf.writeUInt16BE(state.length, p);
    p += state.copy(buf, p);
  }
  p = buf.writeUInt16BE(topic.length, p);
  p += topic.copy(buf, p);
  buf[p++] = ct.length;
  p += ct.copy(buf, p);
  buf.set(body, p);
  return buf;
}

export function encodeResponse(
  correlation: Uint8Array,
  status: number,
  message: string,
  contentType: string | undefined,
  body: Uint8Array,
): Buffer {
  let msg = Buffer.from(message);
  if (msg.length > 0xffff) msg = msg.subarray(0, 0xffff);
  const ct = shortString(contentType, 'content type');
  const { buf, pos } = header(
    RESPONSE,
    correlation,
    6 + correlation.length + 2 + 2 + msg.length + 1 + ct.length + body.length,
  );
  let p = buf.writeUInt16BE(status, pos);
  p = buf.writeUInt16BE(msg.length, p);
  p += msg.copy(buf, p);
  buf[p++] = ct.length;
  p += ct.copy(buf, p);
  buf.set(body, p);
  return buf;
}

/**
 * Where the correlation data of a `kind` envelope ends (the next field),
 * or -1 when `buf` is not one or ends before `need` bytes more.
 */
function afterCorrelation(buf: Buffer, kind: number, need: number, versions = 1): number {
  if (
    buf.length < 6 ||
    buf[0] !== MAGIC[0] ||
    buf[1] !== MAGIC[1] ||
    buf[2] !== MAGIC[2] ||
    buf[3] < V1 ||
    buf[3] > versions ||
    buf[4] !== kind
  )
    return -1;
  const p = 6 + buf[5];
  return p + need > buf.length ? -1 : p;
}

/**
 * Reads the tail both envelopes end with, `u8 n, contentType[n] | body`,
 * from `p` into `out`; false when it runs past the end of `buf`.
 */
function readTail(buf: Buffer, p: number, out: { contentType: string | undefined; body: Buffer }): boolean {
  const ctLen = buf[p++];
  if (p + ctLen > buf.length) return false;
  out.contentType = ctLen === 0 ? undefined : buf.toString('utf8', p, p + ctLen);
  out.body = buf.subarray(p + ctLen);
  return true;
}

/** The request in `buf`, or undefined when it is not a well-formed envelope. */
export function decodeRequest(buf: Buffer): EnvelopeRequest | undefined {
  const end = afterCorrelation(buf, REQUEST, 2, V2);
  if (end < 0) return undefined;
  let start = end;
  let trace: TraceCarrier | undefined;
  if (buf[3] === V2) {
    const parentLen = buf[start];
    const stateAt = start + 1 + parentLen;
    if (stateAt + 2 > buf.length) return undefined;
    const stateLen = buf.readUInt16BE(stateAt);
    start = stateAt + 2 + stateLen;
    if (start + 2 > buf.length) return undefined;
    trace = { traceparent: buf.toString('latin1', end + 1, end + 1 + parentLen) };
    if (stateLen > 0) trace.tracestate = buf.toString('latin1', stateAt + 2, start);
  }
  const topicLen = buf.readUInt16BE(start);
  const p = start + 2;
  if (p + topicLen + 1 > buf.length) return undefined;
  const out: EnvelopeRequest = {
    correlation: buf.subarray(6, end),
    responseTopic: buf.toString('utf8', p, p + topicLen),
    contentType: undefined,
    body: buf,
    trace,
  };
  return readTail(buf, p + topicLen, out) ? out : undefined;
}

/** The response in `buf`, or undefined when it is not a well-formed envelope. */
export function decodeResponse(buf: Buffer): EnvelopeResponse | undefined {
  const start = afterCorrelation(buf, RESPONSE, 4);
  if (start < 0) return undefined;
  const msgLen = buf.readUInt16BE(start + 2);
  const p = start + 4;
  if (p + msgLen + 1 > buf.length) return undefined;
  const out: EnvelopeResponse = {
    correlation: buf.subarray(6, start),
    status: buf.readUInt16BE(start),
    message: buf.toString('utf8', p, p + msgLen),
    contentType: undefined,
    body: buf,
  };
  return readTail(buf, p + msgLen, out) ? out : undefined;
}
