/**
 * Checks for single option values that every layer's options share: an
 * integer in a range, a QoS, a payload. Each throws
 * {@link InvalidArgumentError} naming the field. (Whole options objects are
 * checked against a table in `schema.ts`; a topic option is checked by
 * `topicOption` in `codec/topic.ts`, beside the topic rules.)
 */
import { InvalidArgumentError } from './errors.js';

/** An integer option from `min` to `max`. */
export function intOption(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A QoS option (0, 1 or 2). */
export function qosOption(value: unknown, field: string): 0 | 1 | 2 {
  if (value !== 0 && value !== 1 && value !== 2) {
    throw new InvalidArgumentError(field, `must be 0, 1 or 2, got ${describe(value)}`);
  }
  return value;
}

/** A string or bytes as bytes (a string is UTF-8 encoded). */
export function toBytes(value: unknown, field: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  throw new InvalidArgumentError(field, `must be a string, Buffer or Uint8Array, got ${typeof value}`);
}

/** A value as an error message quotes it. */
export function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The fields of `o` that are set: spread over defaults, an explicit `undefined` does not hide them. */
export function definedFields<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (o === undefined) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
