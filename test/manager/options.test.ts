/**
 * SessionManager options are checked against their tables: a bad signal or
 * timeout is refused before anything is armed, and misspelt options are
 * refused with the closest known name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { SessionManager } from '../../src/manager/index.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

/**
 * How `call` ended within a few turns of the event loop (not a time): the error it rejected
 * with, 'resolved', or 'pending'.
 */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  const settled = call().then(
    () => 'resolved',
    (e: unknown) => e,
  );
  let turns = 0;
  const pending = new Promise<string>((resolve) => {
    const next = () => (++turns === 5 ? resolve('pending') : setImmediate(next));
    setImmediate(next);
  });
  return Promise.race([settled, pending]);
}

function refused(err: unknown, field: string): void {
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as InvalidArgumentError).field).toBe(field);
}

function manager(): SessionManager {
  const m = new SessionManager();
  cleanup.push(() => m.close({ timeout: 0 }));
  m.add({ name: 'a', url: 'mqtt://127.0.0.1:1', reconnect: false });
  return m;
}

describe('SessionManager', () => {
  it('refuses misspelt and mistyped constructor options', () => {
    expect(() => new SessionManager({ concurency: 5 } as never)).toThrow(
      "concurency: unknown option 'concurency'; did you mean 'concurrency'?",
    );
    expect(() => new SessionManager({ metricsInterval: '1s' } as never)).toThrow(/^metricsInterval: /);
  });

  it('waitReady refuses a bad timeout or signal instead of waiting for ever', async () => {
    const m = manager();
    for (const timeout of [-1, Number.NaN, 'x', Number.POSITIVE_INFINITY]) {
      refused(await outcome(() => m.waitReady('a', { timeout: timeout as number })), 'options.timeout');
      if (typeof timeout === 'number') refused(await outcome(() => m.waitReady('a', timeout)), 'timeout');
    }
    refused(await outcome(() => m.waitReady('a', 'x' as never)), 'options');
    refused(await outcome(() => m.waitReady('a', { signal: {} as AbortSignal })), 'options.signal');
    expect(await outcome(() => m.waitReady('a', { timeout: 0 }))).toBe('pending');
  });

  it('connectAll, remove and close refuse bad options and do nothing', async () => {
    const m = manager();
    refused(await outcome(() => m.connectAll({ signal: 'stop' as never })), 'options.signal');
    refused(await outcome(() => m.connectAll({ concurrency: 0 })), 'options.concurrency');
    expect(m.get('a')?.state).toBe('new');
    refused(await outcome(() => m.remove('a', { timeout: Number.NaN })), 'options.timeout');
    expect(m.has('a')).toBe(true);
    refused(await outcome(() => m.close({ timeout: -1 })), 'options.timeout');
    expect(m.get('a')?.state).toBe('new');
    await m.close({ timeout: 0 });
    expect(m.get('a')).toBeUndefined();
  });
});
