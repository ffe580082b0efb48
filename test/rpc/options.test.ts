/**
 * RpcClient and RpcServer options are checked against their tables: a bad
 * signal or timeout on `request()` is refused before its entry or timer
 * exists, and misspelt options are refused with the closest known name.
 */
import { describe, expect, it } from 'vitest';
import { sharedTimer } from '../../src/core/timer.js';
import { RpcClient, RpcServer } from '../../src/rpc/index.js';
import { Session } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startFakeBroker } from '../helpers/fake-broker.js';
import { expectRefused } from '../helpers/outcome.js';

/** The error `call` threw or rejected with (a call that resolves fails the test). */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('RpcClient.request', () => {
  it('refuses a signal that is not an AbortSignal, and a bad timeout, leaving nothing pending', async () => {
    const b = await startFakeBroker({ autoConnack: true, autoAck: true });
    onCleanup(() => b.close());
    const s = new Session({ url: b.url, keepalive: 0 });
    onCleanup(() => s.close({ timeout: 0 }));
    await s.connect();
    const rpc = new RpcClient(s);
    await rpc.start();
    const timers = sharedTimer.size;
    for (const signal of [{}, 'abort']) {
      expectRefused(
        await failure(() => rpc.request('api/x', '', { signal: signal as never })),
        'options.signal',
      );
      expectRefused(
        await failure(() => rpc.requestJson('api/x', {}, { signal: signal as never })),
        'options.signal',
      );
    }
    for (const timeout of [Number.NaN, -1, 'x', Number.POSITIVE_INFINITY]) {
      expectRefused(
        await failure(() => rpc.request('api/x', '', { timeout: timeout as number })),
        'options.timeout',
      );
    }
    const typo = await failure(() => rpc.request('api/x', '', { timout: 5 } as never));
    expectRefused(typo, 'options.timout');
    expect((typo as Error).message).toMatch("did you mean 'timeout'?");
    expect(rpc.metrics().pending).toBe(0);
    expect(rpc.metrics().sent).toBe(0);
    expect(sharedTimer.size).toBe(timers);
  });
});

describe('options of new RpcClient() and new RpcServer()', () => {
  it('refuses wrong types and unknown names', () => {
    const s = new Session({ url: 'mqtt://127.0.0.1:1' });
    const client = (o: unknown) => () => new RpcClient(s, o as never);
    const server = (o: unknown) => () => new RpcServer(s, o as never);
    expect(client({ timeot: 5 })).toThrow("options.timeot: unknown option 'timeot'; did you mean 'timeout'?");
    expect(client({ timeout: Number.NaN })).toThrow(/^options\.timeout: /);
    expect(client({ responseTopic: 'a/+' })).toThrow(/^options\.responseTopic: /);
    expect(server({ concurency: 4 })).toThrow(
      "options.concurency: unknown option 'concurency'; did you mean 'concurrency'?",
    );
    expect(server({ timeout: -1 })).toThrow(/^options\.timeout: /);
    expect(server({ group: 'a/b' })).toThrow(/^options\.group: /);
    expect(server({ qos: '1' })).toThrow(/^options\.qos: /);
    expect(server({ concurrency: 0 })).toThrow(/^options\.concurrency: /);
    expect(server({ concurrency: Number.POSITIVE_INFINITY, group: 'g', maxQueue: 0 })).not.toThrow();
  });
});
