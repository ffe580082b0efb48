/** A stand-in for a Session in channel tests on a fake clock: records publishes, settles them on demand. */
import { EventEmitter } from 'node:events';
import type { PublishOptions, PublishResult, Session, SessionState } from '../../src/session/index.js';

export interface Published {
  topic: string;
  payload: Buffer;
  options: PublishOptions | undefined;
  at: number;
  resolve(): void;
  reject(e: Error): void;
}

export class FakeSession extends EventEmitter {
  state: SessionState = 'connected';
  published: Published[] = [];
  hooks = new Set<() => unknown>();
  /** Settle each publish at once (true) or leave it to the test. */
  autoAck = true;

  publish(topic: string, payload: string | Uint8Array, options?: PublishOptions): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      const p: Published = {
        topic,
        payload: Buffer.from(payload),
        options,
        at: Date.now(),
        resolve: () => resolve({ reasonCode: 0, properties: undefined }),
        reject,
      };
      this.published.push(p);
      if (this.autoAck) p.resolve();
    });
  }

  beforeClose(hook: () => unknown): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  async close(): Promise<void> {
    await Promise.all([...this.hooks].map((h) => h()));
    this.state = 'closed';
  }

  asSession(): Session {
    return this as unknown as Session;
  }
}
