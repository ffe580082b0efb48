/**
 * Listeners cannot stop each other: on `Session`, `SessionManager` and
 * `RpcServer` (one emitter, `core/emitter.ts`) a listener that throws is
 * reported through the owner's error event and counter, and every listener
 * after it still runs.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { SafeEmitter } from '../../src/core/emitter.js';
import { ErrorCode, type MqttError, RejectedError } from '../../src/core/errors.js';
import { SessionManager } from '../../src/manager/index.js';
import { RpcServer } from '../../src/rpc/index.js';
import { type Message, Session } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import type { FakeBroker } from '../helpers/fake-broker.js';
import { fake, publishPacket, session } from './fake-session.js';

/** A fake broker that connects and acknowledges everything, and a session on it without keepalive. */
async function connectable(): Promise<{ b: FakeBroker; s: Session }> {
  const b = await fake({ autoConnack: true, autoAck: true });
  return { b, s: session({ url: b.url, keepalive: 0 }) };
}

const PUBLISH = publishPacket('ev/t');

describe('Session listeners', () => {
  it('a message listener that throws does not stop the listeners after it', async () => {
    const { b, s } = await connectable();
    const errors: MqttError[] = [];
    s.on('error', (e) => errors.push(e));
    await s.connect();
    const conn = await b.nextConnection();
    const order: string[] = [];
    s.on('message', () => {
      order.push('first');
      throw new Error('listener bug');
    });
    s.on('message', (m: Message) => order.push(`second ${m.topic}`));
    const third = new Promise<void>((resolve) =>
      s.on('message', () => {
        order.push('third');
        resolve();
      }),
    );
    const before = s.metrics().errors;
    conn.send(PUBLISH);
    await third;
    expect(order).toEqual(['first', 'second ev/t', 'third']);
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe(ErrorCode.Handler);
    expect(ErrorCode.Handler).toBe('ERR_MQTT_HANDLER');
    expect(errors[0].message).toBe("a 'message' listener threw: listener bug");
    expect((errors[0].cause as Error).message).toBe('listener bug');
    expect(s.metrics().errors).toBe(before + 1);
  });

  it('state and connect listeners that throw do not stop the others, nor the connect', async () => {
    const { s } = await connectable();
    const errors: MqttError[] = [];
    s.on('error', (e) => errors.push(e));
    const states: string[] = [];
    s.on('state', () => {
      throw new Error('state bug');
    });
    s.on('state', (state) => states.push(state));
    let connects = 0;
    s.on('connect', () => {
      throw new Error('connect bug');
    });
    s.on('connect', () => connects++);
    await s.connect();
    expect(states).toEqual(['connecting', 'connected']);
    expect(connects).toBe(1);
    expect(errors.map((e) => e.message)).toEqual([
      "a 'state' listener threw: state bug",
      "a 'state' listener threw: state bug",
      "a 'connect' listener threw: connect bug",
    ]);
  });

  it('an error listener that throws is counted and the next error listener still runs', async () => {
    const { b, s } = await connectable();
    const seen: string[] = [];
    s.on('error', () => {
      throw new Error('error listener bug');
    });
    s.on('error', (e) => seen.push(e.message));
    await s.connect();
    const conn = await b.nextConnection();
    s.on('message', () => {
      throw new Error('boom');
    });
    const arrived = new Promise((resolve) => s.once('message', resolve));
    const before = s.metrics().errors;
    conn.send(PUBLISH);
    await arrived;
    expect(seen).toEqual(["a 'message' listener threw: boom"]);
    // the message listener's error, and the error listener that threw on it
    expect(s.metrics().errors).toBe(before + 2);
  });

  it('listeners may remove themselves or add others while an event is emitted', async () => {
    const { b, s } = await connectable();
    await s.connect();
    const conn = await b.nextConnection();
    const calls: string[] = [];
    const self = () => {
      calls.push('self');
      s.off('message', self);
    };
    const late = () => calls.push('late');
    s.on('message', self);
    s.on('message', () => {
      calls.push('adder');
      if (s.listenerCount('message', late) === 0) s.on('message', late);
    });
    s.once('message', () => calls.push('once'));
    const two = new Promise<void>((resolve) => {
      let n = 0;
      s.on('message', () => {
        if (++n === 2) resolve();
      });
    });
    conn.send(PUBLISH);
    conn.send(PUBLISH);
    await two;
    // the second message: 'self' and 'once' are gone, 'late' came after the last listener
    expect(calls).toEqual(['self', 'adder', 'once', 'adder', 'late']);
  });
});

describe('one emitter for every public emitter', () => {
  it("works with node:events' once()", async () => {
    const { s } = await connectable();
    const connected = once(s, 'connect');
    await s.connect();
    const [info] = await connected;
    expect(info.reasonCode).toBe(0);
    expect(s.listenerCount('connect')).toBe(0);
    expect(s.listenerCount('error')).toBe(0);
  });

  it('Session, SessionManager and RpcServer use it', () => {
    const s = new Session({ url: 'mqtt://127.0.0.1:1' });
    expect(s).toBeInstanceOf(SafeEmitter);
    expect(new SessionManager()).toBeInstanceOf(SafeEmitter);
    expect(new RpcServer(s)).toBeInstanceOf(SafeEmitter);
  });

  it('SessionManager: a listener that throws is reported as session_error and the others run', async () => {
    const m = new SessionManager();
    onCleanup(() => m.close());
    const added: string[] = [];
    const errors: string[] = [];
    m.on('session_added', () => {
      throw new Error('manager listener bug');
    });
    m.on('session_added', (e) => added.push(e.name));
    m.on('session_error', (e) => errors.push(e.error.message));
    m.add({ name: 'a', url: 'mqtt://127.0.0.1:1' });
    expect(added).toEqual(['a']);
    expect(errors).toEqual(["a 'session_added' listener threw: manager listener bug"]);
  });

  it('RpcServer: an error listener that throws does not stop the next one', () => {
    const server = new RpcServer(new Session({ url: 'mqtt://127.0.0.1:1' }));
    const seen: string[] = [];
    server.on('error', () => {
      throw new Error('bug');
    });
    server.on('error', (e) => seen.push(e.message));
    server.emit('error', new RejectedError('refused', 0x87));
    expect(seen).toEqual(['refused']);
  });
});
