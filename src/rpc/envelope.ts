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
 */

const MAGIC = [0x4d, 0x4b, 0x52, 0x01] as const; // "MKR", version 1
const REQUEST = 1;
const RESPONSE = 2;

export interface EnvelopeRequest {
  correlation: Uint8Array;
  responseTopic: string;
  contentType: string | undefined;
  body: Buffer;
}

export interface EnvelopeResponse {
  correlation: Uint8Array;
  /** 0 for success, else an error status. */
  status: number;
  message: string;
  contentType: string | undefined;
  body: Buffer;
}

function header(kind: number, correlation: Uint8Array, size: number): { buf: Buffer; pos: number } {
  if (correlation.length > 255) throw new RangeError('correlation data longer than 255 bytes');
  const buf = Buffer.allocUnsafe(size);
  buf[0] = MAGIC[0];
  buf[1] = MAGIC[1];
  buf[2] = MAGIC[2];
  buf[3] = MAGIC[3];
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
): Buffer {
  const topic = Buffer.from(responseTopic);
  if (topic.length > 0xffff) throw new RangeError('response topic longer than 65,535 bytes');
  const ct = shortString(contentType, 'content type');
  const { buf, pos } = header(
    REQUEST,
    correlation,
    6 + correlation.length + 2 + topic.length + 1 + ct.length + body.length,
  );
  let p = buf.writeUInt16BE(topic.length, pos);
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

function isEnvelope(buf: Buffer, kind: number): boolean {
  return (
    buf.length >= 6 &&
    buf[0] === MAGIC[0] &&
    buf[1] === MAGIC[1] &&
    buf[2] === MAGIC[2] &&
    buf[3] === MAGIC[3] &&
    buf[4] === kind
  );
}

/** The request in `buf`, or undefined when it is not a well-formed envelope. */
export function decodeRequest(buf: Buffer): EnvelopeRequest | undefined {
  if (!isEnvelope(buf, REQUEST)) return undefined;
  let p = 6 + buf[5];
  if (p + 2 > buf.length) return undefined;
  const correlation = buf.subarray(6, p);
  const topicLen = buf.readUInt16BE(p);
  p += 2;
  if (p + topicLen + 1 > buf.length) return undefined;
  const responseTopic = buf.toString('utf8', p, p + topicLen);
  p += topicLen;
  const ctLen = buf[p++];
  if (p + ctLen > buf.length) return undefined;
  const contentType = ctLen === 0 ? undefined : buf.toString('utf8', p, p + ctLen);
  p += ctLen;
  return { correlation, responseTopic, contentType, body: buf.subarray(p) };
}

/** The response in `buf`, or undefined when it is not a well-formed envelope. */
export function decodeResponse(buf: Buffer): EnvelopeResponse | undefined {
  if (!isEnvelope(buf, RESPONSE)) return undefined;
  let p = 6 + buf[5];
  if (p + 4 > buf.length) return undefined;
  const correlation = buf.subarray(6, p);
  const status = buf.readUInt16BE(p);
  const msgLen = buf.readUInt16BE(p + 2);
  p += 4;
  if (p + msgLen + 1 > buf.length) return undefined;
  const message = buf.toString('utf8', p, p + msgLen);
  p += msgLen;
  const ctLen = buf[p++];
  if (p + ctLen > buf.length) return undefined;
  const contentType = ctLen === 0 ? undefined : buf.toString('utf8', p, p + ctLen);
  p += ctLen;
  return { correlation, status, message, contentType, body: buf.subarray(p) };
}
