/**
 * A fleet the size users run: 2,000 sessions in one manager against one
 * mosquitto, each with its own topic; every route delivers exactly once,
 * before and after a broker restart, and closing leaves nothing open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/manager/index.js';
import { Session } from '../../src/session/index.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const N = 2000;

function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

describe.skipIf(!hasMosquitto())(`a fleet of ${N} sessions`, () => {
  let broker: Broker;
  let m: SessionManager;
  let pub: Session;
  const counts = new Map<string, number>();
  let total = 0;
  let arrivals: { target: number; resolve: () => void } | undefined;
  let baseline = 0;

  beforeAll(async () => {
    broker = await startMosquitto();
    baseline = tcpSockets();
    m = new SessionManager({ concurrency: 200 });
    for (let i = 0; i < N; i++) {
      m.add({
        name: `s${i}`,
        url: broker.url,
        clientId: `fleet-${i}`,
        // spread the reconnect storm after the restart
        reconnect: { initialDelay: 50, maxDelay: 1000, jitter: 0.5 },
      });
      m.handleTo(
        `s${i}`,
        `fleet/${i}`,
        (msg) => {
          counts.set(msg.session, (counts.get(msg.session) ?? 0) + 1);
          if (++total === arrivals?.target) arrivals.resolve();
        },
        { qos: 1 },
      );
    }
    pub = new Session({ url: broker.url, reconnect: { initialDelay: 50, maxDelay: 500 } });
  }, 120_000);

  afterAll(async () => {
    await m?.close({ timeout: 0 });
    await pub?.close({ timeout: 0 });
    await broker?.stop();
  });

  /** Publishes one message to each session's topic and waits until each arrived once. */
  async function roundOfMessages(expected: number): Promise<void> {
    const all = new Promise<void>((resolve) => {
      arrivals = { target: N * expected, resolve };
    });
    await m.waitReady(undefined, 60_000);
    await Promise.all(Array.from({ length: N }, (_, i) => pub.publish(`fleet/${i}`, `${i}`, { qos: 1 })));
    await all;
    // every session got exactly its own messages, once each
    expect(counts.size).toBe(N);
    const wrong = [...counts].filter(([, n]) => n !== expected);
    expect(wrong).toEqual([]);
  }

  it('connects all, and a message routed to each arrives once', async () => {
    await m.connectAll();
    await pub.connect();
    await m.waitReady(undefined, 60_000);
    expect(m.list().filter((n) => !m.isReady(n))).toEqual([]);
    await roundOfMessages(1);
  }, 120_000);

  it('after a broker restart every route still delivers', async () => {
    const readyAgain = new Set<string>();
    const allBack = new Promise<void>((resolve) => {
      m.on('session_ready', ({ name }) => {
        readyAgain.add(name);
        if (readyAgain.size === N) resolve();
      });
    });
    await broker.restart();
    await allBack;
    await roundOfMessages(2);
    expect(m.get('s0')?.metrics().reconnects).toBe(1);
  }, 120_000);

  it('closes all with nothing left open', async () => {
    const sessions = m.list().map((n) => m.get(n) as Session);
    await m.close();
    expect(sessions.filter((s) => s.state !== 'closed')).toEqual([]);
    expect(m.size).toBe(0);
    await pub.close();
    // the sockets are gone once their close events ran
    await expect.poll(() => tcpSockets(), { timeout: 10_000 }).toBeLessThanOrEqual(baseline);
  }, 60_000);
});
