/**
 * Where a channel publishes and how: the topic and the publish options both
 * channels take (`qos`, `retain`, `properties`), checked once in the
 * channel's constructor and turned into one `PublishOptions` object that
 * every message of the channel is published with (user properties
 * converted to pairs once, not per message).
 */

import { topicOption } from '../codec/topic.js';
import type { QoS } from '../codec/types.js';
import { checkOptions, type Table } from '../core/schema.js';
import { withUserPropertyPairs } from '../core/user-properties.js';
import type { PublishOptions, PublishPropertiesInit } from '../session/index.js';

/** The publish options every channel takes. */
export interface ChannelPublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: PublishPropertiesInit;
}

export interface PublishTarget {
  /** The topic name, checked. */
  readonly topic: string;
  /** What each publish of the channel is given (the same object every time: the session does not keep it). */
  readonly options: PublishOptions;
}

/**
 * Checks `topic` and `options` (against `table`, which has the channel's
 * own options too) and returns the channel's publish target.
 * @throws InvalidArgumentError naming `topic` or `options.<field>`.
 */
export function publishTarget(topic: string, options: ChannelPublishOptions, table: Table): PublishTarget {
  const checked = topicOption(topic, 'topic');
  checkOptions(options, table, 'options');
  const p = options.properties;
  return {
    topic: checked,
    options: {
      qos: options.qos ?? 1,
      retain: options.retain,
      properties: p === undefined ? undefined : withUserPropertyPairs(p, 'options.properties'),
    },
  };
}
