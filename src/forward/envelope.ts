/**
 * What a forwarder adds to the messages it publishes, and how a receiver
 * reads it back. With an MQTT 5 target the metadata travels as user
 * properties, next to the loop marker {@link FORWARDED_PROPERTY}. An MQTT
 * 3.1.1 target has no properties: with `envelope: true` the forwarder sends
 * JSON instead, `{"topic": <source topic>, "metadata": {...}, "payload":
 * <base64>}`.
 */
import type { PublishProperties } from '../codec/types.js';

/**
 * The user property that marks a message a forwarder published, with the id
 * of its manager as value; that manager's forwarders never forward it again.
 */
export const FORWARDED_PROPERTY = 'mqttkit-forwarded';

/** The JSON envelope of a message for an MQTT 3.1.1 target. */
export function envelope(
  sourceTopic: string,
  metadata: Readonly<Record<string, string>>,
  payload: Uint8Array,
): Buffer {
  return Buffer.from(
    JSON.stringify({ topic: sourceTopic, metadata, payload: Buffer.from(payload).toString('base64') }),
  );
}

/** A forwarded message as its receiver sees it, from {@link readForwarded}. */
export interface ForwardedContent {
  /** The forwarded message's payload (taken out of the envelope for MQTT 3.1.1). */
  payload: Buffer;
  /**
   * MQTT 5: the message's user properties without the loop marker, that is
   * the forwarder's metadata and any user properties the message had on its
   * source broker. MQTT 3.1.1: the envelope's metadata.
   */
  metadata: Record<string, string>;
  /** The message's topic on its source broker: in the envelope only (MQTT 5 does not carry it). */
  sourceTopic: string | undefined;
}

/**
 * Reads a message a forwarder published: from its user properties when it
 * carries the loop marker (MQTT 5), or from the JSON envelope (MQTT 3.1.1,
 * `envelope: true`). Returns undefined for a message that is neither, such
 * as one published by someone else on the same topic. Never throws.
 *
 * ```ts
 * session.subscribe('cloud/#', { qos: 1 }, (msg) => {
 *   const f = readForwarded(msg);
 *   if (f !== undefined) store(msg.topic, f.payload, f.metadata.site);
 * });
 * ```
 */
export function readForwarded(message: {
  payload: Uint8Array;
  properties?: PublishProperties;
}): ForwardedContent | undefined {
  const users = message.properties?.userProperties;
  if (users?.some(([k]) => k === FORWARDED_PROPERTY)) {
    // fromEntries: a key such as '__proto__' stays a key
    const metadata = Object.fromEntries(users.filter(([k]) => k !== FORWARDED_PROPERTY));
    return { payload: toBuffer(message.payload), metadata, sourceTopic: undefined };
  }
  const p = message.payload;
  // an envelope is a JSON object: cheap to rule out anything else before parsing
  if (p.length < 2 || p[0] !== 0x7b) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(toBuffer(p).toString('utf8'));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { topic, metadata, payload } = parsed as Record<string, unknown>;
  if (typeof topic !== 'string' || typeof payload !== 'string') return undefined;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  const entries = Object.entries(metadata);
  if (!entries.every(([, v]) => typeof v === 'string')) return undefined;
  return {
    payload: Buffer.from(payload, 'base64'),
    metadata: Object.fromEntries(entries) as Record<string, string>,
    sourceTopic: topic,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
