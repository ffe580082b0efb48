import { afterEach, describe, expect, it } from 'vitest';
import { onCleanup } from './cleanup.js';
import { CleanupStack } from './cleanup-stack.js';

const ran: string[] = [];
// registered after the hook of helpers/cleanup.ts (imported above), so it runs before it
afterEach(() => {
  ran.push('file hook');
});

describe('CleanupStack', () => {
  it('runs last added first, each awaited before the next', async () => {
    const stack = new CleanupStack();
    const log: string[] = [];
    stack.push(() => log.push('broker'));
    stack.push(async () => {
      await Promise.resolve();
      log.push('session');
    });
    stack.push(() => log.push('stream'));
    await stack.run();
    expect(log).toEqual(['stream', 'session', 'broker']);
    await stack.run(); // nothing left
    expect(log).toHaveLength(3);
  });

  it('runs everything when one fails, then throws the first failure', async () => {
    const stack = new CleanupStack();
    const log: string[] = [];
    stack.push(() => log.push('first'));
    stack.push(() => {
      throw new Error('second failed');
    });
    stack.push(() => Promise.reject(new Error('third failed')));
    await expect(stack.run()).rejects.toThrow('third failed');
    expect(log).toEqual(['first']);
  });
});

describe('onCleanup', () => {
  it('registers', () => {
    ran.length = 0;
    onCleanup(() => ran.push('a'));
    onCleanup(() => ran.push('b'));
    expect(ran).toEqual([]);
  });

  it('ran them after the previous test, after the file hooks, last registered first', () => {
    expect(ran).toEqual(['file hook', 'b', 'a']);
  });
});
