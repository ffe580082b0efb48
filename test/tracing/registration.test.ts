/**
 * When sessions trace: only once a tracer provider is registered, found at
 * construction or at a later connection attempt; without one a session
 * holds no tracer and passes trace context through untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, tracerOf } from '../../src/session/index.js';
import { tracerRegistered } from '../../src/tracing/hooks.js';
import { closeAfter } from '../helpers/cleanup.js';
import { received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import type { Otel } from '../helpers/otel.js';

describe.skipIf(!hasMosquitto())('tracing starts when a tracer provider is registered', () => {
  let broker: Broker;
  let otel: Otel | undefined;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
    await otel?.shutdown();
  });

  it('traces nothing before, and sessions made or connected after registration trace', async () => {
    expect(tracerRegistered()).toBe(false);
    const early = closeAfter(new Session({ url: broker.url }));
    await early.connect();
    expect(tracerOf(early)).toBeUndefined();
    const got = received(early, 1);
    await early.subscribe('r/#', { qos: 1 });
    const theirs = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await early.publish('r/1', 'x', { qos: 1, properties: { userProperties: [['traceparent', theirs]] } });
    expect((await got)[0].properties?.userProperties).toEqual([['traceparent', theirs]]);

    const made = closeAfter(new Session({ url: broker.url, name: 'made-before' }));
    // the application starts its SDK after making a session, before connecting it (as NodeSDK users do)
    const { registerOtel } = await import('../helpers/otel.js');
    otel = registerOtel();
    expect(tracerRegistered()).toBe(true);
    await made.connect();
    expect(tracerOf(made)).toBeDefined();
    await made.publish('r/2', 'y', { qos: 1 });
    const [span] = await otel.waitFor('publish');
    expect(span.attributes['mqttkit.session.name']).toBe('made-before');
    // one already connected keeps going untraced until its next connection
    expect(tracerOf(early)).toBeUndefined();
  });
});
