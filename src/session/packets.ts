/**
 * The packets a session sends for its callers, built from what they passed
 * and what the broker allows: a PUBLISH (options checked, user properties
 * as pairs, QoS and retain within the broker's limits) and a SUBSCRIBE
 * (MQTT 5 options only on MQTT 5; shared, wildcard and identified
 * subscriptions only where the broker has them). A refusal throws before
 * anything is queued. The encoder's own complaints about what a caller
 * passed become the API's argument errors here too (`toArgumentError`).
 */
import type {
  PublishPacket,
  QoS,
  SubscribePacket,
  UnsubscribePacket,
  Subscription as WireSubscription,
} from '../codec/types.js';
import { EncodeError, InvalidArgumentError, RejectedError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { userPropertyPairs, withUserPropertyPairs } from '../core/user-properties.js';
import { toBytes } from '../core/validate.js';
import type { ClientEngine } from '../protocol/engine.js';
import { matchFilter } from '../router/match.js';
import { PUBLISH_OPTIONS } from './schema.js';
import type { PublishOptions, SubscribeOptions } from './types.js';

/** The PUBLISH for `publish(topic, payload, o)`; the packet id comes from the engine. */
export function buildPublish(
  engine: ClientEngine,
  topic: string,
  payload: string | Uint8Array,
  o: PublishOptions | undefined,
): PublishPacket {
  if (typeof topic !== 'string') throw new InvalidArgumentError('topic', 'must be a string');
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : toBytes(payload, 'payload');
  let qos: QoS = 0;
  let retain = false;
  let properties: PublishPacket['properties'];
  if (o !== undefined) {
    // timeout and signal too: nothing is armed or sent with a bad one
    checkOptions(o, PUBLISH_OPTIONS, 'options');
    qos = o.qos ?? 0;
    retain = o.retain === true;
    const given = o.properties;
    if (given !== undefined) {
      refuseClientProperties(given);
      properties = withUserPropertyPairs(given, 'options.properties');
    }
    const limits = engine.limits;
    if (qos > limits.maximumQoS) {
      throw new RejectedError(`the broker accepts QoS ${limits.maximumQoS} at most, not ${qos}`, 0x9b);
    }
    if (retain && !limits.retainAvailable)
      throw new RejectedError('the broker does not support retain', 0x9a);
  }
  return {
    type: 'publish',
    topic,
    payload: bytes,
    qos,
    retain,
    dup: false,
    packetId: undefined,
    properties,
  };
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

/** The SUBSCRIBE for `filters` (options checked by `subscribe()`, or restored from the store). */
export function buildSubscribe(
  engine: ClientEngine,
  filters: string[],
  o: SubscribeOptions,
): SubscribePacket {
  const qos = o.qos ?? 0;
  const v5 = engine.version === 5;
  const subscriptions: WireSubscription[] = filters.map((topicFilter) =>
    v5
      ? {
          topicFilter,
          qos,
          noLocal: o.noLocal === true,
          retainAsPublished: o.retainAsPublished === true,
          retainHandling: o.retainHandling ?? 0,
        }
      : { topicFilter, qos },
  );
  if (
    !v5 &&
    (o.noLocal || o.retainAsPublished || o.retainHandling || o.subscriptionIdentifier || o.userProperties)
  ) {
    throw new InvalidArgumentError(
      'options',
      'noLocal, retainAsPublished, retainHandling, subscriptionIdentifier and userProperties need MQTT 5',
    );
  }
  const limits = engine.limits;
  for (const f of filters) {
    if (!limits.sharedSubscriptionAvailable && f.startsWith('$share/')) {
      throw new RejectedError(`the broker does not support shared subscriptions ('${f}')`, 0x9e);
    }
    if (!limits.wildcardSubscriptionAvailable && /[+#]/.test(matchFilter(f))) {
      throw new RejectedError(`the broker does not support wildcard subscriptions ('${f}')`, 0xa2);
    }
  }
  let properties: SubscribePacket['properties'];
  if (o.subscriptionIdentifier !== undefined || o.userProperties !== undefined) {
    if (o.subscriptionIdentifier !== undefined && !limits.subscriptionIdentifiersAvailable) {
      throw new RejectedError('the broker does not support subscription identifiers', 0xa1);
    }
    const up = o.userProperties;
    properties = {
      subscriptionIdentifier: o.subscriptionIdentifier,
      userProperties: up === undefined ? undefined : userPropertyPairs(up, 'options.userProperties'),
    };
  }
  return { type: 'subscribe', packetId: 0, subscriptions, properties };
}

/** The UNSUBSCRIBE for `filters` (checked by the caller). */
export function buildUnsubscribe(filters: string[]): UnsubscribePacket {
  return { type: 'unsubscribe', packetId: 0, topicFilters: filters };
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
