/**
 * What the entry points export (issue 18): the root has what an application
 * uses; the topic trie is at `mqttkit/router`; the session builder presets
 * are `SessionBuilder.quick` and `.secure`; internals (the latency bucket
 * bounds, the lower-case builder functions) are not exported; responses are
 * made by the RPC client only.
 */
import { describe, expect, it } from 'vitest';
import * as root from '../../src/index.js';
import * as router from '../../src/router/index.js';

describe('entry points', () => {
  it('the root has none of the names that moved or went internal', () => {
    for (const name of ['TopicRouter', 'LATENCY_BOUNDS', 'session', 'quick', 'secure']) {
      expect(Object.keys(root), name).not.toContain(name);
    }
  });

  it("mqttkit/router has TopicRouter and topicMatches (the root's too)", () => {
    expect(Object.keys(router).sort()).toEqual(['TopicRouter', 'topicMatches']);
    expect(router.topicMatches).toBe(root.topicMatches);
    const r = new router.TopicRouter<string>();
    r.add('a/+', 'x');
    expect(r.lookup('a/b')).toEqual(['x']);
  });

  it('RpcResponse is a class to test against, not one to construct', () => {
    expect(root.RpcResponse).toBeTypeOf('function');
    // checked by tsc (the test files are type-checked): the constructor is private
    const construct = () =>
      // @ts-expect-error RpcResponse's constructor is private
      new root.RpcResponse('t', Buffer.alloc(0), undefined);
    expect(construct).toBeTypeOf('function');
  });
});
