/**
 * A promise with its `resolve` and `reject` held outside it, for a result
 * that arrives through another path (an acknowledgement, a flush, a
 * response). `Promise.withResolvers` does this from Node 22; mqttkit runs
 * on Node 20.
 */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
