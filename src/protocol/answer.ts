/**
 * What the server said instead of CONNACK, in words: a client pointed at a
 * port that does not speak MQTT (an HTTP server, a TLS port reached with
 * mqtt://, Redis, SSH) gets bytes that the decoder reads as some packet
 * with wrong flags. Saying "PUBACK has fixed header flags 0x8" helps nobody;
 * showing the bytes (`"HTTP/1.1 400 Bad Request"`) and asking whether this is
 * an MQTT port does.
 *
 * The engine keeps the first {@link ANSWER_BYTES} bytes of a connection
 * ({@link keepHead}) while it waits for CONNACK (and only then), and asks
 * {@link describeAnswer}.
 * The bytes are the server's, never ours: no credential can show up here.
 */

/** Bytes of the server's first answer that are shown (one more is kept, to know there were more). */
export const ANSWER_BYTES = 32;

/**
 * `head` (the bytes kept so far, if any) with the start of `chunk` after it,
 * up to ANSWER_BYTES + 1 bytes: one more than is shown, to know there were
 * more. `head` itself once it has that many.
 */
export function keepHead(head: Buffer | undefined, chunk: Uint8Array): Buffer {
  const have = head === undefined ? 0 : head.length;
  if (head !== undefined && have > ANSWER_BYTES) return head;
  const take = Math.min(chunk.byteLength, ANSWER_BYTES + 1 - have);
  const next = Buffer.allocUnsafe(have + take);
  if (head !== undefined) head.copy(next);
  next.set(chunk.subarray(0, take), have);
  return next;
}

/**
 * A first byte an MQTT server may open with: CONNACK, DISCONNECT or AUTH
 * with the flags they must have. Anything else is not an answer to CONNECT.
 */
export function isMqttAnswer(firstByte: number): boolean {
  return firstByte === 0x20 || firstByte === 0xe0 || firstByte === 0xf0;
}

/**
 * `head` (the first bytes the server sent, up to ANSWER_BYTES + 1) as a
 * sentence part: `it sent "HTTP/1.1 400 ..."; is this an MQTT port?`, or for
 * a TLS record `it sent 15 03 03 00 02, which is TLS: use mqtts:// (or
 * wss://) for this port`.
 */
export function describeAnswer(head: Uint8Array): string {
  if (looksLikeTls(head)) {
    const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return `it sent ${hex}${head.length > 8 ? ' …' : ''}, which is TLS: use mqtts:// (or wss://) for this port`;
  }
  return `it sent ${printable(head)}; is this an MQTT port?`;
}

/**
 * What the server sent on a connection that closed or timed out without a
 * CONNACK: the start of a packet an MQTT server may send (`it sent 3 bytes
 * of a CONNACK, never the rest`), or {@link describeAnswer}.
 */
export function describeUnanswered(head: Uint8Array): string {
  const first = head[0];
  if (!isMqttAnswer(first)) return describeAnswer(head);
  const name = first === 0x20 ? 'CONNACK' : first === 0xe0 ? 'DISCONNECT' : 'AUTH';
  const n = head.length > ANSWER_BYTES ? `more than ${ANSWER_BYTES}` : String(head.length);
  return `it sent ${n} bytes of a ${name}, never the rest`;
}

/**
 * A TLS record header: content type 20..23 (change cipher spec, alert,
 * handshake, application data), then version 3.x. A TLS server that gets
 * CONNECT instead of a ClientHello answers with an alert (15 03 0x).
 */
function looksLikeTls(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] === 0x03 && (b.length < 3 || b[2] <= 0x04);
}

/** At most ANSWER_BYTES bytes as a quoted string: printable ASCII as it is, the rest escaped. */
function printable(b: Uint8Array): string {
  const n = Math.min(b.length, ANSWER_BYTES);
  let s = '"';
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += '\\\\';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${s}"${b.length > ANSWER_BYTES ? '…' : ''}`;
}
