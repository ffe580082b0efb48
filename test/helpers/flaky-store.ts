/**
 * A durable `SessionStore` in memory whose flushes a test can fail or hold,
 * for tests of what a session does when its store fails (fake-broker tests;
 * the end-to-end tests use a real full disk and a killed Redis).
 *
 * Mutations are recorded in order and applied to `saved` (what a crash
 * would leave) only by a flush that succeeds; a failed flush keeps them for
 * the next one, as FileStore and RedisStore do. `saved` can be read
 * synchronously, for instance from a fake broker's `onPacket`, to check
 * that a packet arrived only after the change it depends on was durable.
 *
 * ```ts
 * const store = new FlakyStore();
 * store.failure = new Error('disk full');  // every flush rejects with it
 * store.hold();                            // flushes wait for store.release()
 * ```
 */
import type {
  PersistedSession,
  SessionStore,
  StoredMessage,
  StoredSubscription,
} from '../../src/store/types.js';

/** What a crash would leave in the store. */
export interface Saved {
  messages: Map<number, StoredMessage>;
  incomingQoS2: Set<number>;
  subscriptions: Map<string, StoredSubscription>;
}

export class FlakyStore implements SessionStore {
  readonly durable = true;
  /** When set, every flush rejects with it (after the hold, if any). */
  failure: Error | undefined = undefined;
  /** What successful flushes made durable, by client id. */
  readonly saved = new Map<string, Saved>();
  /** Calls of flush() so far, and how many of them rejected. */
  flushes = 0;
  failures = 0;
  /** Changes not flushed yet; `log[0]` is change number `applied`. */
  private log: (() => void)[] = [];
  private applied = 0;
  private gate: Promise<void> | undefined = undefined;
  private open: (() => void) | undefined = undefined;
  private onFlush: ((pending: number) => void)[] = [];

  /** Makes flushes wait until `release()`. */
  hold(): void {
    if (this.gate !== undefined) return;
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
    this.open = undefined;
  }

  /** Resolves at the next flush() call, with the number of changes it covers. */
  nextFlush(): Promise<number> {
    return new Promise((resolve) => this.onFlush.push(resolve));
  }

  /** The saved state of `clientId` (empty tables when nothing was saved). */
  of(clientId: string): Saved {
    let s = this.saved.get(clientId);
    if (s === undefined) {
      s = { messages: new Map(), incomingQoS2: new Set(), subscriptions: new Map() };
      this.saved.set(clientId, s);
    }
    return s;
  }

  async load(clientId: string): Promise<PersistedSession> {
    const s = this.of(clientId);
    return {
      messages: [...s.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => ({ ...m })),
      incomingQoS2: [...s.incomingQoS2],
      subscriptions: [...s.subscriptions.values()],
    };
  }

  putMessage(clientId: string, m: StoredMessage): void {
    // a copy: the session passes its live request, whose stage changes later
    const copy: StoredMessage = {
      seq: m.seq,
      packet: { ...m.packet },
      packetId: m.packetId,
      stage: m.stage,
      expiresAt: m.expiresAt,
    };
    this.log.push(() => this.of(clientId).messages.set(copy.seq, copy));
  }

  deleteMessage(clientId: string, seq: number): void {
    this.log.push(() => this.of(clientId).messages.delete(seq));
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.log.push(() => this.of(clientId).incomingQoS2.add(packetId));
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.log.push(() => this.of(clientId).incomingQoS2.delete(packetId));
  }

  putSubscription(clientId: string, sub: StoredSubscription): void {
    this.log.push(() => this.of(clientId).subscriptions.set(sub.topicFilter, sub));
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.log.push(() => this.of(clientId).subscriptions.delete(topicFilter));
  }

  async flush(): Promise<void> {
    this.flushes++;
    const upTo = this.applied + this.log.length;
    for (const f of this.onFlush.splice(0)) f(this.log.length);
    if (this.gate !== undefined) await this.gate;
    if (this.failure !== undefined) {
      this.failures++;
      throw this.failure;
    }
    while (this.applied < upTo) {
      (this.log.shift() as () => void)();
      this.applied++;
    }
  }

  async clear(clientId: string): Promise<void> {
    this.log.push(() => this.saved.delete(clientId));
    await this.flush();
  }

  async close(): Promise<void> {}
}
