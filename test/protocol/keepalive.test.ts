/**
 * Keepalive through the engine (src/protocol/keepalive.ts): PINGREQ when
 * idle, a dead server found, Server Keep Alive, keepalive off. Time is the
 * `now` passed in: no timers, no sleeps.
 */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../src/core/errors.js';
import { EngineState } from '../../src/protocol/engine.js';

import { pub, setup } from './engine-harness.js';

describe('keepalive', () => {
  it('pings when idle and declares the connection dead 1.5 keepalives after the last packet', () => {
    const t = setup({ keepalive: 10 });
    t.connect(undefined, 0);
    expect(t.e.nextDeadline()).toBe(10_000);
    t.e.tick(9_999);
    expect(t.sent(9_999)).toEqual([]);
    t.e.tick(10_000);
    expect(t.sent(10_000)).toEqual([{ type: 'pingreq' }]);
    expect(t.e.roundTrip).toBeUndefined();
    t.deliver({ type: 'pingresp' }, 10_500);
    expect(t.e.roundTrip).toBe(500);
    expect(t.e.nextDeadline()).toBe(20_000);
    t.e.tick(20_000);
    expect(t.sent(20_000)).toEqual([{ type: 'pingreq' }]);
    expect(t.e.nextDeadline()).toBe(10_500 + 15_000);
    t.e.tick(25_499);
    expect(t.h.closed).toEqual([]);
    t.e.tick(25_500);
    expect(t.h.closed[0]).toBeInstanceOf(TimeoutError);
    expect(t.e.state).toBe(EngineState.Idle);
  });

  it('pings a silent server even while publishing QoS 0', () => {
    const t = setup({ keepalive: 10 });
    t.connect(undefined, 0);
    for (let now = 1000; now < 10_000; now += 1000) {
      t.e.publish(pub('t', 0));
      t.sent(now);
      t.e.tick(now);
    }
    t.e.tick(10_000);
    expect(t.sent(10_000)).toEqual([{ type: 'pingreq' }]);
  });

  it('follows Server Keep Alive', () => {
    const t = setup({ keepalive: 60 });
    t.connect({ serverKeepAlive: 5 }, 0);
    expect(t.e.nextDeadline()).toBe(5_000);
  });

  it('is off with keepalive 0', () => {
    const t = setup({ keepalive: 0 });
    t.connect();
    expect(t.e.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});
