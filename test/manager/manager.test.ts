/**
 * SessionManager against a private mosquitto: sessions, routes across them,
 * readiness, events and their order, and what survives a broker restart.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, StoreError, TimeoutError } from '../../src/core/errors.js';
import {
  FleetConnectError,
  type FleetMessage,
  type ManagerEvents,
  SessionManager,
} from '../../src/manager/index.js';
import { Session } from '../../src/session/index.js';
import { FileStore } from '../../src/store/file.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

const FAST = { initialDelay: 20, maxDelay: 100, factor: 2, jitter: 0 };

function manager(): SessionManager {
  const m = new SessionManager();
  onCleanup(() => m.close({ timeout: 0 }));
  return m;
}

/** Resolves with the next `n` messages `push` receives. */
function collector(n: number): { push: (m: FleetMessage) => void; done: Promise<FleetMessage[]> } {
  const got: FleetMessage[] = [];
  let resolve!: (v: FleetMessage[]) => void;
  const done = new Promise<FleetMessage[]>((r) => {
    resolve = r;
  });
  return {
    push: (m) => {
      got.push(m);
      if (got.length === n) resolve(got);
    },
    done,
  };
}

/** Publishes from a separate session, QoS 1 so it reached the broker when this resolves. */
async function publisher(broker: Broker): Promise<Session> {
  const p = new Session({ url: broker.url });
  await p.connect();
  return p;
}

describe.skipIf(!hasMosquitto())('SessionManager', () => {
  let broker: Broker;
  let pub: Session;
  beforeAll(async () => {
    broker = await startMosquitto();
    pub = await publisher(broker);
  });
  afterAll(async () => {
    await pub?.close();
    await broker?.stop();
  });

  describe('sessions', () => {
    it('adds, gets, lists and removes sessions, and refuses a duplicate or bad name', async () => {
      const m = manager();
      const a = m.add({ name: 'a', url: broker.url });
      m.add({ name: 'b', url: broker.url });
      expect(a).toBeInstanceOf(Session);
      expect(m.get('a')).toBe(a);
      expect(m.list()).toEqual(['a', 'b']);
      expect(m.size).toBe(2);
      expect(() => m.add({ name: 'a', url: broker.url })).toThrow(/a session named 'a' exists/);
      expect(() => m.add({ name: '', url: broker.url })).toThrow(InvalidArgumentError);
      expect(() => m.add({ name: 'c', url: 'nope://x' })).toThrow(InvalidArgumentError);
      expect(m.has('c')).toBe(false);
      await m.connectAll();
      expect(await m.remove('a')).toBe(true);
      expect(a.state).toBe('closed');
      expect(await m.remove('a')).toBe(false);
      expect(m.list()).toEqual(['b']);
    });

    it('connects all with a concurrency limit and names the sessions that failed', async () => {
      const m = manager();
      const dead = `mqtt://127.0.0.1:${await freePort()}`;
      for (let i = 0; i < 10; i++) m.add({ name: `s${i}`, url: broker.url });
      m.add({ name: 'down', url: dead, reconnect: false });
      let connecting = 0;
      let most = 0;
      m.on('session_state_changed', ({ state, previous }) => {
        if (state === 'connecting') most = Math.max(most, ++connecting);
        if (previous === 'connecting') connecting--;
      });
      const err = await m.connectAll({ concurrency: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FleetConnectError);
      expect([...(err as FleetConnectError).failures.keys()]).toEqual(['down']);
      expect((err as Error).message).toMatch(/1 of 11 sessions did not connect: down/);
      expect(most).toBe(3);
      for (let i = 0; i < 10; i++) expect(m.get(`s${i}`)?.state).toBe('connected');
    });

    it('publishes through a named session and rejects an unknown one', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const c = collector(1);
      await pub.subscribe('pt/x', { qos: 1 }, (msg) => c.push({ ...msg, session: 'pub' }));
      await m.publishTo('a', 'pt/x', 'hi', { qos: 1 });
      expect((await c.done)[0].payload.toString()).toBe('hi');
      await expect(m.publishTo('zz', 't', 'x')).rejects.toThrow(/no session named 'zz'/);
      await pub.unsubscribe('pt/x');
    });
  });

  describe('routes', () => {
    it('delivers to every route on every session, each message once per route, with the session name', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      m.add({ name: 'b', url: broker.url });
      const one = collector(2);
      const two = collector(2);
      m.handle('r1/+', one.push, { qos: 1 });
      m.handle('r1/+', two.push, { qos: 1 });
      await m.connectAll();
      await m.waitReady();
      await pub.publish('r1/x', 'p', { qos: 1 });
      const got = await one.done;
      expect(got.map((x) => x.session).sort()).toEqual(['a', 'b']);
      expect(got.every((x) => x.topic === 'r1/x' && x.payload.toString() === 'p')).toBe(true);
      expect((await two.done).map((x) => x.session).sort()).toEqual(['a', 'b']);
    });

    it('handleTo and listenTo see one session; a route added later subscribes at once', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      m.add({ name: 'b', url: broker.url });
      const readyEvents: string[] = [];
      m.on('session_ready', ({ name }) => readyEvents.push(name));
      await m.connectAll();
      await m.waitReady();
      const seen: string[] = [];
      m.handleTo('b', 'r2/#', (msg) => seen.push(`${msg.session}:${msg.topic}`));
      expect(m.isReady('b')).toBe(false); // until the new route is subscribed
      const stream = m.listenTo('a', 'r2/#');
      await m.waitReady();
      await pub.publish('r2/1', 'x', { qos: 1 });
      const first = await stream.next();
      expect(first.value?.session).toBe('a');
      expect(first.value?.topic).toBe('r2/1');
      await expect.poll(() => seen).toEqual(['b:r2/1']);
      await stream.stop();
      expect(stream.active).toBe(false);
      // once per connection, however many routes came later
      expect(readyEvents.sort()).toEqual(['a', 'b']);
      expect((await stream.next()).done).toBe(true);
    });

    it('applies a handleTo route to a session added later under that name', async () => {
      const m = manager();
      const c = collector(1);
      m.handleTo('late', 'r3/t', c.push, { qos: 1 });
      m.add({ name: 'late', url: broker.url });
      await m.connectAll();
      await m.waitReady('late');
      await pub.publish('r3/t', 'x', { qos: 1 });
      expect((await c.done)[0].session).toBe('late');
    });

    it('subscribes with the highest QoS any route on the filter asked for', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const low = collector(1);
      m.handle('r4/t', low.push, { qos: 0 });
      await m.waitReady();
      const high = collector(1);
      m.handle('r4/t', high.push, { qos: 2 });
      await expect.poll(() => m.isReady('a')).toBe(true);
      await pub.publish('r4/t', 'x', { qos: 2 });
      const [a] = await low.done;
      const [b] = await high.done;
      expect(a.qos).toBe(2);
      expect(b).toBe(a); // the same message object for both routes
    });

    it('overlapping filters reach each route once, though the broker sends a copy per subscription', async () => {
      const m = manager();
      const s = m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const wide: string[] = [];
      const narrow: string[] = [];
      m.handle('ov/#', (msg) => wide.push(msg.topic), { qos: 1 });
      m.handle('ov/+', (msg) => narrow.push(msg.topic), { qos: 1 });
      const copies: string[] = [];
      s.on('message', (msg) => copies.push(msg.topic));
      await m.waitReady();
      await pub.publish('ov/1', 'x', { qos: 1 });
      await pub.publish('ov/2/deep', 'x', { qos: 1 });
      await expect.poll(() => wide).toEqual(['ov/1', 'ov/2/deep']);
      expect(narrow).toEqual(['ov/1']);
      // mosquitto sends ov/1 twice, once for each subscription
      expect(copies.filter((t) => t === 'ov/1')).toHaveLength(2);
    });

    it('stopping a route unsubscribes only when it was the last on its filter', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const kept: string[] = [];
      const stopped: string[] = [];
      const r1 = m.handle('r5/+', (msg) => stopped.push(msg.topic));
      m.handle('r5/+', (msg) => kept.push(msg.topic));
      const control: string[] = [];
      const ctl = m.handle('r5ctl', (msg) => control.push(msg.topic));
      await m.waitReady();
      await r1.stop();
      expect(r1.active).toBe(false);
      await pub.publish('r5/1', 'x', { qos: 1 });
      await expect.poll(() => kept).toEqual(['r5/1']);
      expect(stopped).toEqual([]);
      // the last route on r5ctl: the broker stops sending
      await ctl.stop();
      const tracker = m.listen('r5/#');
      await expect.poll(() => m.isReady('a')).toBe(true);
      await pub.publish('r5ctl', 'x', { qos: 1 });
      await pub.publish('r5/2', 'x', { qos: 1 });
      expect((await tracker.next()).value?.topic).toBe('r5/2');
      expect(control).toEqual([]);
    });

    it('a route stopped while its subscribe is in flight resolves stop() once the broker unsubscribed', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const route = m.handle('inflight/t', () => {}); // the SUBSCRIBE is on its way
      await route.stop();
      // the filter is gone at the broker: a message to it reaches nobody on this session
      const control = m.listen('inflight/ctl');
      await m.waitReady();
      const copies: string[] = [];
      m.get('a')?.on('message', (msg) => copies.push(msg.topic));
      await pub.publish('inflight/t', 'x', { qos: 1 });
      await pub.publish('inflight/ctl', 'x', { qos: 1 });
      expect((await control.next()).value?.topic).toBe('inflight/ctl');
      expect(copies).toEqual(['inflight/ctl']);
    });

    it('bounds a listen buffer with the drop policy and counts', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const oldest = m.listen('r6/+', { buffer: 2, qos: 1 });
      const newest = m.listen('r6/+', { buffer: 2, qos: 1, drop: 'drop-newest' });
      const all = collector(5);
      m.handle('r6/+', all.push);
      await m.waitReady();
      for (let i = 0; i < 5; i++) await pub.publish(`r6/${i}`, 'x', { qos: 1 });
      await all.done;
      expect([oldest.received, oldest.dropped, oldest.size]).toEqual([5, 3, 2]);
      expect([newest.received, newest.dropped]).toEqual([5, 3]);
      expect((await oldest.next()).value?.topic).toBe('r6/3');
      expect((await newest.next()).value?.topic).toBe('r6/0');
      expect(() => m.listen('r6/#', { buffer: 0 })).toThrow(InvalidArgumentError);
      expect(() => m.listen('r6/#', { drop: 'x' as 'drop-oldest' })).toThrow(/options.drop/);
    });

    it('ends a for-await loop route when the consumer breaks out', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const stream = m.listen('r7/t');
      await m.waitReady();
      await pub.publish('r7/t', 'x', { qos: 1 });
      for await (const msg of stream) {
        expect(msg.topic).toBe('r7/t');
        break;
      }
      expect(stream.active).toBe(false);
    });

    it('reports a route a session cannot subscribe (MQTT 5 options on 3.1.1) once, without retrying in a loop', async () => {
      const m = manager();
      m.add({ name: 'v4', url: broker.url, protocolVersion: 4 });
      await m.connectAll();
      const errors: string[] = [];
      m.on('session_error', (e) => errors.push(e.error.message));
      m.handle('nl/#', () => {}, { noLocal: true });
      await m.waitReady(); // a failed subscribe counts as settled
      // a round trip on the same session: a retry loop would have reported again by the time the PUBACK is back
      await m.publishTo('v4', 'nl/marker', 'x', { qos: 1 });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/need MQTT 5/);
    });

    it('refuses bad filters, handlers and QoS with the field named', () => {
      const m = manager();
      expect(() => m.handle('a/#/b', () => {})).toThrow(/filter/);
      expect(() => m.handle('a', 1 as unknown as () => void)).toThrow(/fn/);
      expect(() => m.handle('a', () => {}, { qos: 3 as 0 })).toThrow(/options.qos/);
      expect(() => m.handleTo('', 'a', () => {})).toThrow(/name/);
      expect(() => m.add({ name: 'x', url: broker.url, subscriptions: [{ filter: '#/a' }] })).toThrow(
        /subscriptions\[0\].filter/,
      );
    });

    it("holds a session's own subscriptions from its options", async () => {
      const m = manager();
      const c = collector(1);
      m.add({ name: 'own', url: broker.url, subscriptions: [{ filter: 'r8/t', qos: 1, handler: c.push }] });
      await m.connectAll();
      await m.waitReady();
      await pub.publish('r8/t', 'x', { qos: 1 });
      expect((await c.done)[0].session).toBe('own');
    });

    it('a throwing route is reported and does not stop the others', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      await m.connectAll();
      const errors: string[] = [];
      m.on('session_error', (e) => errors.push(`${e.name}: ${e.error.message}`));
      m.handle('r9/t', () => {
        throw new Error('boom');
      });
      const c = collector(1);
      m.handle('r9/t', c.push);
      await m.waitReady();
      await pub.publish('r9/t', 'x', { qos: 1 });
      await c.done;
      expect(errors).toEqual(["a: the route for 'r9/t' threw: boom"]);
    });
  });

  describe('readiness and events', () => {
    it('waitReady names the sessions that are not ready, and rejects unknown or removed ones', async () => {
      const m = manager();
      m.add({ name: 'never', url: broker.url });
      m.add({ name: 'ok', url: broker.url });
      await m.get('ok')?.connect();
      await m.waitReady('ok');
      await expect(m.waitReady(undefined, 50)).rejects.toThrow(TimeoutError);
      await expect(m.waitReady(['never', 'ok'], { timeout: 50 })).rejects.toThrow(
        /1 sessions not ready after 50 ms: never/,
      );
      await expect(m.waitReady('ghost')).rejects.toThrow(/no session named 'ghost'/);
      const waiting = m.waitReady('never', 0);
      await m.remove('never');
      await expect(waiting).rejects.toThrow(ClosedError);
      const aborted = new AbortController();
      m.add({ name: 'later', url: broker.url });
      const w = m.waitReady('later', { signal: aborted.signal });
      aborted.abort();
      await expect(w).rejects.toThrow(/aborted/);
    });

    it('emits events in order for a connect, a broker kill and a reconnect', async () => {
      const own = await startMosquitto();
      try {
        const m = manager();
        const log: string[] = [];
        const names: (keyof ManagerEvents)[] = [
          'session_added',
          'session_connecting',
          'session_connected',
          'session_ready',
          'session_disconnected',
          'session_reconnecting',
          'session_state_changed',
          'session_removed',
        ];
        for (const n of names) {
          m.on(n, (e) => {
            const x = e as { previous?: string; state?: string; error?: Error; attempt?: number };
            if (n === 'session_state_changed') log.push(`state ${x.previous}>${x.state}`);
            else if (n === 'session_disconnected') log.push(`disconnected ${x.error ? 'error' : 'clean'}`);
            else if (n === 'session_reconnecting') log.push(`reconnecting ${x.attempt}`);
            else log.push(n.slice('session_'.length));
          });
        }
        m.add({ name: 'e', url: own.url, reconnect: FAST, subscriptions: [{ filter: 'ev/t', qos: 1 }] });
        await m.connectAll();
        await m.waitReady();
        const back = new Promise<void>((resolve) => m.once('session_ready', () => resolve()));
        await own.kill();
        await own.restart();
        await back;
        await m.remove('e');
        // the reconnect attempts that fail while the broker is down repeat the middle part
        const compact = log.filter(
          (l, i) => !(l.startsWith('reconnecting') && log[i - 1]?.startsWith('reconnecting')),
        );
        expect(compact.slice(0, 6)).toEqual([
          'added',
          'state new>connecting',
          'connecting',
          'state connecting>connected',
          'connected',
          'ready',
        ]);
        expect(compact.slice(6, 9)).toEqual([
          'state connected>reconnecting',
          'disconnected error',
          'reconnecting 1',
        ]);
        expect(compact.slice(-7)).toEqual([
          'state reconnecting>connected',
          'connected',
          'ready',
          'state connected>closing',
          'disconnected clean',
          'state closing>closed',
          'removed',
        ]);
      } finally {
        await own.stop();
      }
    });

    it('a listener may call back into the manager, throw, or remove itself', async () => {
      const m = manager();
      m.add({ name: 'a', url: broker.url });
      const seen: string[] = [];
      const errors: string[] = [];
      m.on('session_error', (e) => errors.push(e.error.message));
      m.on('session_connected', ({ name }) => {
        seen.push(`get ${m.get(name)?.state}`);
        // waiting inside the event must not deadlock: ready comes after this listener returns
        m.waitReady(name).then(() => seen.push('ready via waitReady'));
        throw new Error('listener boom');
      });
      const once = () => seen.push('once');
      m.on('session_ready', once);
      m.on('session_ready', () => m.off('session_ready', once));
      m.on('session_ready', ({ name }) => seen.push(`ready ${m.isReady(name)}`));
      await m.connectAll();
      await m.waitReady();
      await expect.poll(() => seen).toEqual(['get connected', 'once', 'ready true', 'ready via waitReady']);
      expect(errors).toEqual(["a 'session_connected' listener threw: listener boom"]);
      // off() took effect: a reconnect does not call it again
      await m.get('a')?.close();
      expect(seen.filter((s) => s === 'once')).toHaveLength(1);
    });

    it('keeps every route delivering after a broker restart', async () => {
      const own = await startMosquitto();
      try {
        const m = manager();
        for (const name of ['a', 'b', 'c']) m.add({ name, url: own.url, reconnect: FAST });
        const got: string[] = [];
        m.handle('rs/+', (msg) => got.push(msg.session), { qos: 1 });
        await m.connectAll();
        await m.waitReady();
        const readyAgain = new Set<string>();
        const allBack = new Promise<void>((resolve) =>
          m.on('session_ready', ({ name }) => {
            readyAgain.add(name);
            if (readyAgain.size === 3) resolve();
          }),
        );
        await own.restart();
        await allBack;
        const p = new Session({ url: own.url });
        await p.connect();
        await p.publish('rs/1', 'x', { qos: 1 });
        await expect.poll(() => got.sort()).toEqual(['a', 'b', 'c']);
        await p.close();
      } finally {
        await own.stop();
      }
    });
  });

  describe('from a config file', () => {
    it('loads a fleet with its defaults, stores and subscriptions', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mqttkit-fleet-'));
      try {
        const file = join(dir, 'fleet.yaml');
        writeFileSync(
          file,
          [
            'concurrency: 2',
            'defaults:',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
            '  url: ${BROKER_URL}',
            '  reconnect: { initialDelay: 20 }',
            'sessions:',
            '  - name: cfg-a',
            '    clean: false',
            '    sessionExpiry: 60',
            '    store: { type: file, dir: ./state }',
            '    subscriptions: [{ filter: cfg/a, qos: 1 }]',
            '  - name: cfg-b',
            '    subscriptions: [{ filter: cfg/b, qos: 1 }]',
          ].join('\n'),
        );
        const m = await SessionManager.fromConfig(file, { env: { BROKER_URL: broker.url } });
        onCleanup(() => m.close({ timeout: 0 }));
        expect(m.list()).toEqual(['cfg-a', 'cfg-b']);
        const got: string[] = [];
        for (const [name, s] of m.entries()) s.on('message', (msg) => got.push(`${name}:${msg.topic}`));
        await m.connectAll();
        await m.waitReady();
        await pub.publish('cfg/a', 'x', { qos: 1 });
        await pub.publish('cfg/b', 'x', { qos: 1 });
        // each session holds only the subscription its entry declares
        await expect.poll(() => got.sort()).toEqual(['cfg-a:cfg/a', 'cfg-b:cfg/b']);
        await m.close();
        // the file store kept cfg-a's session (clean: false) in the directory the file named
        expect(readdirSync(join(dir, 'state')).length).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("reports damage its file store skipped in a session's log as session_error", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mqttkit-fleet-'));
      try {
        // a log for client 'cfg-dmg-id' with a damaged record between two intact ones
        const state = join(dir, 'state');
        const seed = new FileStore(state, { fsync: 'never' });
        const log = seed.pathOf('cfg-dmg-id');
        const sizes: number[] = [];
        for (const sub of ['d/1', 'd/2', 'd/3']) {
          seed.putSubscription('cfg-dmg-id', { topicFilter: sub, qos: 1 });
          await seed.flush();
          sizes.push(readFileSync(log).length);
        }
        await seed.close();
        const bytes = readFileSync(log);
        bytes[sizes[0] + 20] ^= 1; // in the record of 'd/2'
        writeFileSync(log, bytes);
        const file = join(dir, 'fleet.yaml');
        writeFileSync(
          file,
          [
            // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
            'defaults: { url: "${BROKER_URL}" }',
            'sessions:',
            '  - { name: cfg-dmg, clientId: cfg-dmg-id, clean: false, sessionExpiry: 60, store: { type: file, dir: ./state } }',
          ].join('\n'),
        );
        const m = await SessionManager.fromConfig(file, { env: { BROKER_URL: broker.url } });
        onCleanup(() => m.close({ timeout: 0 }));
        const errors: ManagerEvents['session_error'][] = [];
        m.on('session_error', (e) => errors.push(e));
        await m.connectAll();
        expect(errors).toHaveLength(1);
        expect(errors[0].name).toBe('cfg-dmg');
        expect(errors[0].error).toBeInstanceOf(StoreError);
        expect(errors[0].error.message).toMatch(
          new RegExp(
            `FileStore skipped ${sizes[1] - sizes[0]} damaged bytes of .*; the log as it was is .*\\.damaged-`,
          ),
        );
        // the intact records were kept: the session holds 'd/1' and 'd/3'
        await m.close();
        const after = new FileStore(state);
        expect((await after.load('cfg-dmg-id')).subscriptions.map((x) => x.topicFilter).sort()).toEqual([
          'd/1',
          'd/3',
        ]);
        await after.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('rejects a bad file with the path of each bad field', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mqttkit-fleet-'));
      try {
        const file = join(dir, 'fleet.yaml');
        writeFileSync(file, 'sessions:\n  - name: a\n    url: mqtt://x\n    tls: { ca: ./missing.pem }\n');
        await expect(SessionManager.fromConfig(file)).rejects.toThrow(
          /sessions\[0\]\.tls\.ca: file not found/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('close', () => {
    it('closes every session, ends streams and refuses new work', async () => {
      const m = new SessionManager();
      m.add({ name: 'a', url: broker.url });
      m.add({ name: 'b', url: broker.url });
      await m.connectAll();
      const stream = m.listen('cl/#');
      const route = m.handle('cl/x', () => {});
      const a = m.get('a') as Session;
      m.add({ name: 'never', url: broker.url });
      const pending = m.waitReady(['a', 'never']).then(
        () => 'ready',
        (e: Error) => e.name,
      );
      await m.close();
      expect(await pending).toBe('ClosedError');
      expect(a.state).toBe('closed');
      expect(m.size).toBe(0);
      expect((await stream.next()).done).toBe(true);
      expect(route.active).toBe(false);
      expect(() => m.add({ name: 'c', url: broker.url })).toThrow(ClosedError);
      await expect(m.waitReady()).rejects.toThrow(ClosedError);
      await m.close(); // twice is fine
    });
  });
});
