/**
 * MQTT 5 user properties in the two shapes users write them: mqttkit's
 * `[name, value]` pairs (what the wire carries: order kept, names may
 * repeat) and MQTT.js's object, `{ name: 'value' }` or
 * `{ name: ['a', 'b'] }` for a name sent more than once.
 *
 * What goes out is converted to pairs once, where the API takes it
 * (`publish()`, `new Session()`, `subscribe()`, a channel's constructor):
 * an array is passed on as it is, so the usual case costs one
 * `Array.isArray`. What comes in stays pairs; {@link userPropertiesObject}
 * reads them as MQTT.js's object.
 */
import { InvalidArgumentError } from './errors.js';
import { checkValue, kind, userProperties } from './schema.js';

/**
 * MQTT 5 user properties as mqttkit's options take them: `[name, value]`
 * pairs, sent in order (a name may repeat), or MQTT.js's object of names to
 * a value or an array of values, sent in the object's key order (as
 * JavaScript orders keys: integer-like names first), each array element as
 * one pair. An undefined value in the object is left out.
 *
 * ```ts
 * await session.publish('t', 'x', { properties: { userProperties: [['site', 'a'], ['tag', 'x'], ['tag', 'y']] } });
 * await session.publish('t', 'x', { properties: { userProperties: { site: 'a', tag: ['x', 'y'] } } }); // the same pairs
 * ```
 */
export type UserPropertiesInit =
  | readonly (readonly [name: string, value: string])[]
  | { readonly [name: string]: string | readonly string[] | undefined };

/**
 * `value` as `[name, value]` pairs: an array is returned as it is (the
 * encoder checks its pairs), an object is checked and converted. A problem
 * throws `InvalidArgumentError` naming its place under `path`
 * (`options.properties.userProperties.site[1]`).
 */
export function userPropertyPairs(value: UserPropertiesInit, path: string): [string, string][] {
  if (Array.isArray(value)) return value as [string, string][];
  checkValue(value, userProperties, path); // anything but a plain object of strings and arrays of them throws
  const pairs: [string, string][] = [];
  const o = value as { readonly [name: string]: string | readonly string[] | undefined };
  for (const name of Object.keys(o)) {
    const v = o[name];
    if (typeof v === 'string') pairs.push([name, v]);
    else if (v !== undefined) for (const each of v as string[]) pairs.push([name, each]);
  }
  return pairs;
}

/**
 * `properties` with its `userProperties` as pairs: the same object when
 * they are pairs already (or absent), else a copy with the field converted
 * in place (the encoder writes properties in key order).
 */
export function withUserPropertyPairs<P extends { userProperties?: UserPropertiesInit }>(
  properties: P,
  path: string,
): Omit<P, 'userProperties'> & { userProperties?: [string, string][] } {
  const up = properties.userProperties;
  if (up === undefined || Array.isArray(up)) {
    return properties as Omit<P, 'userProperties'> & { userProperties?: [string, string][] };
  }
  return { ...properties, userProperties: userPropertyPairs(up, `${path}.userProperties`) };
}

/**
 * Received user properties (pairs, in wire order) as MQTT.js's object: a
 * name seen once maps to its value, a name seen more than once to an array
 * of its values in order. Undefined (no user properties) gives `{}`. Use
 * the pairs themselves when the order between different names matters.
 *
 * ```ts
 * session.on('message', (msg) => {
 *   const props = userPropertiesObject(msg.properties?.userProperties);
 *   // [['site', 'a'], ['tag', 'x'], ['tag', 'y']] gives { site: 'a', tag: ['x', 'y'] }
 * });
 * ```
 */
export function userPropertiesObject(
  pairs: readonly (readonly [string, string])[] | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (pairs === undefined) return out;
  if (!Array.isArray(pairs)) {
    throw new InvalidArgumentError('pairs', `must be an array of [name, value] pairs, got ${kind(pairs)}`);
  }
  for (let i = 0; i < pairs.length; i++) {
    const pair: unknown = pairs[i];
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== 'string' ||
      typeof pair[1] !== 'string'
    ) {
      throw new InvalidArgumentError(
        `pairs[${i}]`,
        `must be a [name, value] pair of strings, got ${kind(pair)}`,
      );
    }
    const [name, value] = pair as [string, string];
    const prev = Object.hasOwn(out, name) ? out[name] : undefined;
    if (Array.isArray(prev)) prev.push(value);
    else if (name === '__proto__') {
      // a property named __proto__ is a field like any other, not the object's prototype
      const next = prev === undefined ? value : [prev, value];
      Object.defineProperty(out, name, { value: next, enumerable: true, writable: true, configurable: true });
    } else out[name] = prev === undefined ? value : [prev, value];
  }
  return out;
}
