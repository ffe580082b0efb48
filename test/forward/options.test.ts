/** Forwarder options are checked against their table: wrong types and misspelt names are refused. */
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/manager/index.js';

describe('forwarder options', () => {
  const m = new SessionManager();
  afterAll(() => m.close());
  const base = { name: 'f', from: 'a', to: 'b', topics: 'x/#' };
  const forward = (o: unknown) => () => m.forward({ ...base, ...(o as object) });

  it('refuses wrong types and unknown names, naming the closest known one', () => {
    expect(forward({ retain: 'yes' })).toThrow(/^retain: must be true, false or 'keep', got a string/);
    expect(forward({ envelope: 'true' })).toThrow(/^envelope: /);
    expect(forward({ maxAttempts: 0 })).toThrow(/^maxAttempts: /);
    expect(forward({ topic: 'x/#' })).toThrow("topic: unknown option 'topic'; did you mean 'topics'?");
    expect(forward({ from: [] })).toThrow(/^from: must be a non-empty string or a non-empty array/);
    expect(() => m.forward({ name: 'f', from: 'a', to: 'b' } as never)).toThrow('topics: is required');
    expect(forward({ retain: 'keep', maxAttempts: Number.POSITIVE_INFINITY, qos: 0 })).not.toThrow();
  });
});
