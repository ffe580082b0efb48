/**
 * What a session writes to its store between flushes: QoS 1/2 messages
 * (when made, given a packet id, moved to PUBREL), their deletion once they
 * are done, incoming QoS 2 ids and subscriptions. Each change marks the
 * journal `dirty`; the writer flushes the store before a turn's output when
 * it is (write-ahead: no packet that depends on a change leaves before the
 * change is durable).
 *
 * A store that is not durable (memory) holds the live requests themselves:
 * messages go into it only when the session closes (what is left, for a
 * session that resumes), not one by one.
 */
import type { SessionStore, StoredSubscription } from '../store/types.js';
import { PublishRequest } from './requests.js';

export class Journal {
  /** The store has changes no flush was asked for yet. */
  dirty = false;

  constructor(
    readonly store: SessionStore,
    /** The key of this session in the store: the client id of the options (not one the broker assigned). */
    readonly clientId: string,
  ) {}

  /** Records a QoS 1/2 publish in a durable store (made, given its packet id, or at PUBREL). */
  putMessage(req: PublishRequest): void {
    if (!this.store.durable) return;
    this.store.putMessage(this.clientId, req);
    this.dirty = true;
  }

  /** Removes a publish from the store once it is acknowledged, dropped or failed. */
  forget(req: PublishRequest): void {
    if (req.seq !== 0 && this.store.durable) {
      this.store.deleteMessage(this.clientId, req.seq);
      this.dirty = true;
    }
  }

  /** Leaves an unfinished publish in a store that is not durable, for a session that resumes (at close). */
  keepUnfinished(req: PublishRequest): void {
    if (req.seq !== 0 && !this.store.durable)
      this.store.putMessage(this.clientId, PublishRequest.snapshot(req));
  }

  /** An incoming QoS 2 id was answered with PUBREC (`added`), or its flow completed. */
  incomingQoS2(packetId: number, added: boolean): void {
    if (added) this.store.addIncomingQoS2(this.clientId, packetId);
    else this.store.deleteIncomingQoS2(this.clientId, packetId);
    this.dirty = true;
  }

  putSubscription(sub: StoredSubscription): void {
    this.store.putSubscription(this.clientId, sub);
    this.dirty = true;
  }

  deleteSubscription(filter: string): void {
    this.store.deleteSubscription(this.clientId, filter);
    this.dirty = true;
  }

  /** Flushes the store; the promise never rejects: it resolves with the error, or undefined. */
  flush(): Promise<unknown> {
    return this.store.flush(this.clientId).then(noError, storeFailure);
  }
}

const noError = (): undefined => undefined;
/** A flush's rejection as a value (never undefined, which means success). */
const storeFailure = (err: unknown): unknown => err ?? new Error('the store failed');
