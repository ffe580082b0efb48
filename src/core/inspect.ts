/**
 * What `util.inspect` and `JSON.stringify` show of mqttkit's public
 * objects: a chosen view (state, redacted URL, counters), never the fields
 * that hold a password, a token, a key or the objects that reach them.
 * `Symbol.for('nodejs.util.inspect.custom')` is the key `util.inspect`
 * looks for, so nothing here loads `node:util`.
 */
import type { InspectOptions } from 'node:util';

/** The method name `util.inspect` calls instead of walking an object. */
export const INSPECT: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

/** What a secret is shown as. */
export const REDACTED = '[redacted]';

/** `util.inspect`'s own function, as it passes it to a custom inspect method. */
export type Inspect = (value: unknown, options?: InspectOptions) => string;

/** `name { ...view }` at `depth`, as `util.inspect` prints a class instance. */
export function inspectAs(
  name: string,
  view: object,
  depth: number,
  options: InspectOptions,
  inspect: Inspect,
): string {
  if (depth < 0) return `[${name}]`;
  const d = options.depth;
  return `${name} ${inspect(view, { ...options, depth: d === null || d === undefined ? d : d - 1 })}`;
}

export type { InspectOptions };
