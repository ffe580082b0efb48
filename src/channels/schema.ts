/** The tables `BatchOptions` and `QueueOptions` are checked against (see `core/schema.ts`). */
import { anyObject, boolean, either, func, int, kind, MAX_MS, oneOf, qos, table } from '../core/schema.js';

/** What every channel publishes with. */
const PUBLISH = { qos, retain: boolean, properties: anyObject };

/** `BatchOptions`. */
export const BATCH_OPTIONS = table({
  interval: int(1, MAX_MS),
  maxBytes: int(1),
  combine: either("'json-array', 'concat' or a function", oneOf('json-array', 'concat'), func),
  ...PUBLISH,
});

/** `QueueOptions`. */
export const QUEUE_OPTIONS = table({
  rate: (v) =>
    typeof v === 'number' && v > 0 && Number.isFinite(v)
      ? undefined
      : `must be a positive number of messages per second, got ${kind(v)}`,
  maxMessageBytes: int(1),
  capacity: int(1),
  enqueueTimeout: int(0, MAX_MS),
  ...PUBLISH,
});
