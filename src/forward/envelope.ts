/**
 * What a forwarder adds to the messages it publishes, and how a receiver
 * reads it back. With an MQTT 5 target the metadata travels as user
 * properties, next to the loop marker {@link FORWARDED_PROPERTY}. An MQTT
 * 3.1.1 target has no properties: with `envelope: true` the forwarder sends
 * JSON instead, `{"topic": <source topic>, "metadata": {...}, "payload":
 * <base64>}`.
 */
import type { PublishProperties } from '../codec/types.js';
import type { TraceCarrier } from '../tracing/hooks.js';

/**
 * The user property that marks a message a forwarder published, with the id
 * of its manager as value; that manager's forwarders never forward it again.
 */
export const FORWARDED_PROPERTY = 'mqttkit-forwarded';

/**
 * The JSON envelope of a message for an MQTT 3.1.1 target. `trace`, the
 * W3C trace context the message travels in, goes into the outermost object
 * as `traceparent` and `tracestate`, where the "Trace Context: MQTT" draft
 * recommends them for JSON payloads on MQTT 3.
 */
export function envelope(
  sourceTopic: string,
  metadata: Readonly<Record<string, string>>,
  payload: Uint8Array,
  trace?: TraceCarrier,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      topic: sourceTopic,
      metadata,
      payload: Buffer.from(payload).toString('base64'),
      ...trace,
    }),
  );
}

/** A forwarded message as its receiver sees it, from {@link readForwarded}. */
export interface ForwardedContent {
  /** The forwarded message's payload (taken out of the envelope for MQTT 3.1.1). */
  payload: Buffer;
  /**
   * MQTT 5: the message's user properties without the loop marker, that is
   * the forwarder's metadata and any user properties the message had on its
   * source broker (with `traceparent` and `tracestate` when it was traced).
   * MQTT 3.1.1: the envelope's metadata, and its `traceparent` and
   * `tracestate` when it has them.
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
  const { topic, metadata, payload, traceparent, tracestate } = parsed as Record<string, unknown>;
  if (typeof topic !== 'string' || typeof payload !== 'string') return undefined;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  const entries = Object.entries(metadata);
  if (!entries.every(([, v]) => typeof v === 'string')) return undefined;
  if (typeof traceparent === 'string') entries.push(['traceparent', traceparent]);
  if (typeof tracestate === 'string') entries.push(['tracestate', tracestate]);
  return {
    payload: Buffer.from(payload, 'base64'),
    metadata: Object.fromEntries(entries) as Record<string, string>,
    sourceTopic: topic,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
