/**
 * The ways a fleet file and the session builder may write the MQTT version,
 * each with the `SessionOptions.protocolVersion` it stands for: one table
 * for both.
 */

/**
 * Protocol versions `version()` accepts: 5 or `'5'`/`'5.0'` for MQTT 5.0, 4 or `'3.1.1'`/`'4'` for
 * MQTT 3.1.1, `'auto'` for 5 falling back to 3.1.1.
 */
export type ProtocolVersionInput = 4 | 5 | '3.1.1' | '4' | '5' | '5.0' | 'auto';

/** Each way of writing a version and what it means, in the order error messages list them. */
export const PROTOCOL_VERSIONS: ReadonlyMap<ProtocolVersionInput, 4 | 5 | 'auto'> = new Map<
  ProtocolVersionInput,
  4 | 5 | 'auto'
>([
  [5, 5],
  [4, 4],
  ['3.1.1', 4],
  ['5.0', 5],
  ['5', 5],
  ['4', 4],
  ['auto', 'auto'],
]);
