/** The tables the options of `RpcClient` and `RpcServer` are checked against (see `core/schema.ts`). */
import { isValidTopicName } from '../codec/topic.js';
import {
  anyObject,
  boolean,
  either,
  int,
  oneOf,
  qos,
  type Rule,
  signal,
  table,
  timeout,
} from '../core/schema.js';

const topicName: Rule = (v) =>
  typeof v === 'string' && isValidTopicName(v) ? undefined : 'must be a topic name without wildcards';

const group: Rule = (v) =>
  typeof v === 'string' && /^[^/+#]+$/.test(v)
    ? undefined
    : "must be a non-empty name without '/', '+' or '#'";

/** `RpcClientOptions`. */
export const CLIENT_OPTIONS = table({ responseTopic: topicName, timeout, qos, envelopeTrace: boolean });

/** `RequestOptions` of `request()` and `requestJson()`. */
export const REQUEST_OPTIONS = table({ timeout, signal, qos, properties: anyObject });

/** `RpcServerOptions`. */
export const SERVER_OPTIONS = table({
  group,
  concurrency: either('a positive integer or Infinity', int(1), oneOf(Number.POSITIVE_INFINITY)),
  maxQueue: int(0),
  timeout: int(0),
  qos,
});
