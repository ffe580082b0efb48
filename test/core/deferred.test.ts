import { describe, expect, it } from 'vitest';
import { deferred } from '../../src/core/deferred.js';

describe('deferred', () => {
  it('settles its promise from outside', async () => {
    const ok = deferred<number>();
    ok.resolve(7);
    await expect(ok.promise).resolves.toBe(7);
    const bad = deferred();
    bad.reject(new Error('no'));
    await expect(bad.promise).rejects.toThrow('no');
  });
});
