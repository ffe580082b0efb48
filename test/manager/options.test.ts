/**
 * SessionManager options are checked against their tables: a bad signal or
 * timeout is refused before anything is armed, and misspelt options are
 * refused with the closest known name.
 */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors.js';
import { SessionManager } from '../../src/manager/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { expectRefused, outcome } from '../helpers/outcome.js';

function manager(): SessionManager {
  const m = new SessionManager();
  onCleanup(() => m.close({ timeout: 0 }));
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
      expectRefused(await outcome(() => m.waitReady('a', { timeout: timeout as number })), 'options.timeout');
      if (typeof timeout === 'number')
        expectRefused(await outcome(() => m.waitReady('a', timeout)), 'timeout');
    }
    expectRefused(await outcome(() => m.waitReady('a', 'x' as never)), 'options');
    expectRefused(await outcome(() => m.waitReady('a', { signal: {} as AbortSignal })), 'options.signal');
    const forever = m.waitReady('a', { timeout: 0 });
    // a wait with a 1 ms timeout, started after it, times out: a deadline for the first would have passed as well
    await expect(m.waitReady('a', { timeout: 1 })).rejects.toBeInstanceOf(TimeoutError);
    expect(await outcome(() => forever)).toBe('pending');
  });

  it('connectAll, remove and close refuse bad options and do nothing', async () => {
    const m = manager();
    expectRefused(await outcome(() => m.connectAll({ signal: 'stop' as never })), 'options.signal');
    expectRefused(await outcome(() => m.connectAll({ concurrency: 0 })), 'options.concurrency');
    expect(m.get('a')?.state).toBe('new');
    expectRefused(await outcome(() => m.remove('a', { timeout: Number.NaN })), 'options.timeout');
    expect(m.has('a')).toBe(true);
    expectRefused(await outcome(() => m.close({ timeout: -1 })), 'options.timeout');
    expect(m.get('a')?.state).toBe('new');
    await m.close({ timeout: 0 });
    expect(m.get('a')).toBeUndefined();
  });
});
