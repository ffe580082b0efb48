/**
 * Device channels: `session.batch(topic, …)` and `session.queue(topic, …)`.
 * Built on the public Session API; importing this module (the package entry
 * does) adds the two methods to `Session`.
 */
import { Session } from '../session/session.js';
import { BatchChannel, type BatchOptions } from './batch.js';
import { QueueChannel, type QueueOptions } from './queue.js';

export { BatchChannel, type BatchMetrics, type BatchOptions, type Combine } from './batch.js';
export { QueueChannel, type QueueMetrics, type QueueOptions } from './queue.js';

declare module '../session/session.js' {
  interface Session {
    /** Items batched into one message every `interval` ms or at `maxBytes` (see `BatchChannel`). */
    batch(topic: string, options?: BatchOptions): BatchChannel;
    /** A rate-limited FIFO of messages (see `QueueChannel`). */
    queue(topic: string, options?: QueueOptions): QueueChannel;
  }
}

Session.prototype.batch = function batch(this: Session, topic: string, options?: BatchOptions): BatchChannel {
  return new BatchChannel(this, topic, options);
};

Session.prototype.queue = function queue(this: Session, topic: string, options?: QueueOptions): QueueChannel {
  return new QueueChannel(this, topic, options);
};
