/** Small helpers of the session layer. */

import { isValidTopicFilter } from '../codec/topic.js';
import { EncodeError, InvalidArgumentError } from '../core/errors.js';

/** A rejected promise that never counts as an unhandled rejection (callers of fire-and-forget publishes). */
export function handled<T>(error: Error): Promise<T> {
  const p = Promise.reject(error);
  p.catch(noop);
  return p;
}

export function noop(): void {}

export function filterList(filters: string | readonly string[], field: string): string[] {
  const list = typeof filters === 'string' ? [filters] : Array.isArray(filters) ? [...filters] : undefined;
  if (list === undefined || list.length === 0) {
    throw new InvalidArgumentError(field, 'must be a topic filter or a non-empty array of them');
  }
  for (let i = 0; i < list.length; i++) {
    if (!isValidTopicFilter(list[i])) {
      throw new InvalidArgumentError(
        typeof filters === 'string' ? field : `${field}[${i}]`,
        `'${String(list[i])}' is not a valid topic filter`,
      );
    }
  }
  return list;
}

/**
 * PUBLISH properties only the server side or the engine may set. A
 * Subscription Identifier in a client's PUBLISH is a protocol error
 * (MQTT-3.3.4-6). Topic aliases belong to the connection: the engine assigns
 * them (option `topicAliases`), maps them anew on each connection and
 * replays a message with its full topic; one set by hand would be sent as
 * it is, past the broker's Topic Alias Maximum or to a connection that never
 * saw it mapped.
 */
export function refuseClientProperties(p: { subscriptionIdentifier?: unknown; topicAlias?: unknown }): void {
  if (p.subscriptionIdentifier !== undefined) {
    throw new InvalidArgumentError(
      'options.properties.subscriptionIdentifier',
      'a client must not send it in PUBLISH (MQTT-3.3.4-6); the broker adds it to the messages it delivers',
    );
  }
  if (p.topicAlias !== undefined) {
    throw new InvalidArgumentError(
      'options.properties.topicAlias',
      'is assigned by the session (option topicAliases), not per publish',
    );
  }
}

/**
 * An encoder complaint about what the caller passed, as the API's error.
 * `properties` names where the packet's properties came from, for the
 * field of the error: `'options.properties'` for a publish
 * (`options.properties.contentType`), `''` for the CONNECT properties,
 * which are options of their own (`userProperties[0][1]`).
 */
export function toArgumentError(err: unknown, properties?: string): Error {
  if (err instanceof EncodeError) {
    let field = err.field;
    if (properties !== undefined && (field === 'properties' || field.startsWith('properties.'))) {
      const rest = field.slice('properties.'.length);
      field = rest === '' ? properties || 'options' : properties === '' ? rest : `${properties}.${rest}`;
    }
    return new InvalidArgumentError(field, err.reason, err.reasonCode, {
      cause: err,
    });
  }
  return err as Error;
}

/** Filters as they appear in messages: `'a/#', 'b/+'`. */
export function quoted(filters: readonly string[]): string {
  return filters.map((f) => `'${f}'`).join(', ');
}
