/**
 * The hook plumbing shared by every transport: reading starts when the owner
 * sets `onData`, and a close that happens before the owner set `onClose` is
 * delivered (on the next tick) once it does. Hooks are called unbound.
 */
import type { Transport } from './types.js';

const noop = (): void => {};

export abstract class BaseTransport implements Transport {
  abstract readonly kind: string;
  abstract readonly bufferedAmount: number;
  abstract write(chunks: Uint8Array | readonly Uint8Array[]): boolean;
  abstract end(): void;
  abstract destroy(error?: Error): void;

  onDrain: () => void = noop;

  #onData: (chunk: Buffer) => void = noop;
  #reading = false;
  #onClose: (error?: Error) => void = noop;
  #onCloseSet = false;
  #closed = false;
  /** A close that came before the owner set onClose. */
  #pendingClose: { error: Error | undefined } | undefined;

  get onData(): (chunk: Buffer) => void {
    return this.#onData;
  }

  set onData(hook: (chunk: Buffer) => void) {
    this.#onData = hook;
    this.ensureReading();
  }

  get onClose(): (error?: Error) => void {
    return this.#onClose;
  }

  set onClose(hook: (error?: Error) => void) {
    this.#onClose = hook;
    this.#onCloseSet = true;
    const pending = this.#pendingClose;
    if (pending !== undefined) {
      this.#pendingClose = undefined;
      process.nextTick(() => {
        const call = this.#onClose;
        call(pending.error);
      });
    }
  }

  /** Start delivering bytes: called once, when the owner first sets onData (or ends the transport). */
  protected abstract startReading(): void;

  /** Reads from now on: needed to see the peer's close after end(), even if onData was never set. */
  protected ensureReading(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.startReading();
  }

  protected emitData(chunk: Buffer): void {
    const call = this.#onData;
    call(chunk);
  }

  protected emitDrain(): void {
    const call = this.onDrain;
    call();
  }

  /** Reports the close; only the first call counts. */
  protected emitClose(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#onCloseSet) {
      this.#pendingClose = { error };
      return;
    }
    const call = this.#onClose;
    call(error);
  }
}
