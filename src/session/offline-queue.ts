/**
 * The offline queue's policy. While the session connects or reconnects,
 * publishes wait in the engine's queue; here is what may join it (option
 * `offlineQueue`: `maxMessages`, `maxBytes`, `qos0`) and what a full queue
 * does: refuse the new publish (`'reject'`), drop the oldest queued one
 * (`'drop-oldest'`) or drop the new one (`'drop-newest'`). Also the end of a
 * publish the engine let go of unsent or unacknowledged (expired, too many
 * attempts): counted as dropped, out of the store, rejected with
 * `DroppedError`.
 */
import type { PublishPacket } from '../codec/types.js';
import { DroppedError } from '../core/errors.js';
import type { SessionContext } from './context.js';
import { handled, PublishRequest } from './requests.js';
import type { PublishResult } from './types.js';

export class OfflineQueue {
  constructor(private readonly ctx: SessionContext) {}

  /**
   * Offline: applies the queue's bounds to a new publish. Returns a rejected
   * promise when the publish must not be queued, undefined when it may.
   */
  makeRoom(packet: PublishPacket): Promise<PublishResult> | undefined {
    const ctx = this.ctx;
    const q = ctx.options.offlineQueue;
    if (packet.qos === 0 && !q.qos0) {
      ctx.counters.dropped++;
      ctx.log?.dropped('offline');
      return handled(new DroppedError(`QoS 0 publish to '${packet.topic}' dropped while offline`, 'offline'));
    }
    const engine = ctx.engine;
    const size = packet.payload.byteLength + packet.topic.length;
    const full = () => engine.pendingCount + 1 > q.maxMessages || engine.pendingBytes + size > q.maxBytes;
    if (!full()) return undefined;
    if (q.overflow === 'drop-oldest') {
      while (full()) {
        const old = engine.dropOldest();
        if (old === undefined) break;
        ctx.counters.dropped++;
        ctx.log?.dropped('overflow');
        if (old instanceof PublishRequest) {
          ctx.journal.forget(old);
          old.fail(
            new DroppedError(
              `publish to '${old.packet.topic}' dropped: the offline queue overflowed`,
              'overflow',
            ),
          );
        }
      }
      if (!full()) return undefined;
    }
    ctx.counters.dropped++;
    ctx.log?.dropped(q.overflow === 'reject' ? 'queue-full' : 'overflow');
    const why = `the offline queue is full (${q.maxMessages} messages, ${q.maxBytes} bytes)`;
    return handled(
      q.overflow === 'reject'
        ? new DroppedError(`publish to '${packet.topic}' refused: ${why}`, 'queue-full')
        : new DroppedError(`publish to '${packet.topic}' dropped: ${why}`, 'overflow'),
    );
  }

  /** A queued publish passed its message expiry before it could be sent. */
  expired(req: PublishRequest): void {
    this.drop(req, 'expired', 'expired before it could be sent');
  }

  /** A publish reached `maxDeliveryAttempts` (the engine has let go of it). */
  abandoned(req: PublishRequest): void {
    this.drop(
      req,
      'attempts',
      `given up: ${req.attempts} connections ended before the broker acknowledged it`,
    );
  }

  /** A publish the engine let go of unsent or unacknowledged: counted, out of the store, rejected. */
  private drop(req: PublishRequest, reason: DroppedError['reason'], why: string): void {
    const ctx = this.ctx;
    ctx.counters.dropped++;
    ctx.log?.dropped(reason);
    ctx.journal.forget(req);
    req.fail(new DroppedError(`publish to '${req.packet.topic}' ${why}`, reason));
    ctx.operations.checkIdle();
  }
}
