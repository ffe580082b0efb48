/**
 * A worker's side of the shared numbers (`WorkerMember` without Redis):
 * driven here through a channel of the test's own instead of a primary's
 * IPC, on a real manager whose sessions connect to a private mosquitto.
 * The primary's side runs in `workers.test.ts`, over real worker processes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readStats, type StatsWire } from '../../src/cluster/stats.js';
import { type WorkerChannel, WorkerMember } from '../../src/cluster/worker-member.js';
import { NODE_ENV, type ToPrimary, type ToWorker, WORKER_ENV } from '../../src/cluster/worker-messages.js';
import { SessionManager } from '../../src/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const WAIT = { timeout: 20_000, interval: 20 };

/** A channel to a primary played by the test: what the worker sent, and a way to answer. */
function channel() {
  const sent: ToPrimary[] = [];
  const listeners = new Set<(m: unknown) => void>();
  const ch: WorkerChannel = {
    send: (m) => {
      sent.push(m);
    },
    on: (event: string, listener: (m?: unknown) => void) => {
      if (event === 'message') listeners.add(listener);
    },
    off: (event: string, listener: (m?: unknown) => void) => {
      if (event === 'message') listeners.delete(listener);
    },
    exit: () => {},
  } as WorkerChannel;
  const deliver = (m: ToWorker) => {
    for (const l of listeners) l(structuredClone(m));
  };
  return { ch, sent, deliver };
}

describe.skipIf(!hasMosquitto())("a worker's shared numbers, over its channel", () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('answers stats with its rows, tells the primary about its watch, and reads every worker through it', async () => {
    const env = { worker: process.env[WORKER_ENV], node: process.env[NODE_ENV] };
    process.env[WORKER_ENV] = '0';
    process.env[NODE_ENV] = 'wx';
    onCleanup(() => {
      for (const [k, v] of [
        [WORKER_ENV, env.worker],
        [NODE_ENV, env.node],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    });
    const manager = new SessionManager();
    onCleanup(() => manager.close());
    const { ch, sent, deliver } = channel();
    const config = {
      manager: {},
      sessions: ['ws-0', 'ws-1'].map((name) => ({ name, clientId: name, url: broker.url })),
      forwarders: [],
      everyNode: [],
    };
    const member = new WorkerMember(
      { manager, config, options: { workers: 2 }, path: '', emit: () => {} },
      ch,
    );
    onCleanup(() => member.stop());
    await member.start();
    expect(member.node).toBe('wx-w0');
    expect(sent).toEqual([{ t: 'ready' }]);
    deliver({ t: 'add', units: ['ws-0', 'ws-1'] });
    await vi.waitFor(
      () => expect(manager.list().map((n) => manager.get(n)?.state)).toEqual(['connected', 'connected']),
      WAIT,
    );

    // a watch here: the primary is told once, at the first and after the last
    const stop = member.watchStats();
    const again = member.watchStats();
    stop();
    stop();
    again();
    expect(sent.filter((m) => m.t === 'watch')).toEqual([
      { t: 'watch', on: true },
      { t: 'watch', on: false },
    ]);

    // the primary asks: the worker answers with its rows
    deliver({ t: 'stats' });
    const answer = sent.findLast((m) => m.t === 'stats') as { stats: StatsWire };
    const own = readStats('wx-w0', structuredClone(answer.stats));
    expect(own.map((r) => [r.name, r.node, r.state, r.url, r.version])).toEqual([
      ['ws-0', 'wx-w0', 'connected', broker.url, 5],
      ['ws-1', 'wx-w0', 'connected', broker.url, 5],
    ]);

    // sharedStats: every worker's latest rows from the primary, this worker's own made now
    const other: StatsWire = {
      t: 1,
      u: ['mqtt://elsewhere:1883'],
      s: [['ws-9', 0, 4, 'disconnected', 0, 1, 2, 3, 4, 5, 6, 7, ['gone', 'ERR_X', 1]]],
    };
    const stale: StatsWire = { t: 1, u: [], s: [] };
    const reading = member.sharedStats();
    const ask = sent.findLast((m) => m.t === 'shared') as { id: number };
    deliver({
      t: 'shared',
      id: ask.id,
      stats: [
        ['wx-w1', other],
        ['wx-w0', stale],
      ],
    });
    const rows = await reading;
    expect(rows.map((r) => [r.name, r.node])).toEqual([
      ['ws-0', 'wx-w0'],
      ['ws-1', 'wx-w0'],
      ['ws-9', 'wx-w1'],
    ]);
    expect(rows[2]).toEqual({
      name: 'ws-9',
      node: 'wx-w1',
      url: 'mqtt://elsewhere:1883',
      version: 4,
      state: 'disconnected',
      ready: false,
      inflight: 1,
      queued: 2,
      in: 3,
      out: 4,
      reconnects: 5,
      errors: 6,
      dropped: 7,
      lastError: { message: 'gone', code: 'ERR_X', t: 1 },
      t: 1,
    });

    // stopped: no rows any more, and sharedStats refuses
    await member.stop();
    await expect(member.sharedStats()).rejects.toThrow(/not running/);
  });
});
