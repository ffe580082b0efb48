/**
 * Device channels over one session, as classes:
 * `new BatchChannel(session, topic, options)` for state reported about once
 * a second, `new QueueChannel(session, topic, options)` for data at a
 * bounded rate. Both are built on the public Session API.
 */
export { BatchChannel, type BatchMetrics, type BatchOptions, type Combine } from './batch.js';
export { QueueChannel, type QueueMetrics, type QueueOptions } from './queue.js';
