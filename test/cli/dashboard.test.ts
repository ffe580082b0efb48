/**
 * `mqttkit dashboard`, `demo --dashboard` and `fleet run --dashboard`, the
 * built command as child processes, read through the dashboard's HTTP API
 * (`/api/snapshot`, `/api/publish`) as a script would: the explorer on a
 * private mosquitto sees what is published and publishes from the API; a
 * token keeps requests out and never shows; the demo's and a fleet file's
 * sessions are listed. Every wait polls the snapshot with a bounded wait
 * (`vi.waitFor`) or reads the lines the process prints.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Session } from '../../src/session/session.js';
import type { Message } from '../../src/session/types.js';
import { type RunningCli, runCli, startCli } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const URL_LINE = /^dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/m;
/** No token from the environment the tests run in. */
const NO_TOKEN = { MQTTKIT_DASHBOARD_TOKEN: undefined };
const WAIT = { timeout: 10_000, interval: 100 };

interface Row {
  name: string;
  state: string;
  ready: boolean;
}
interface Snapshot {
  fleet: { total: number; rows: Row[] };
  topics?: { items: { topic: string; count: number; last: string }[] };
  session?: { subscriptions: { filter: string; qos: number }[] };
  rpc: { session: string; route: string }[];
  forwarders: { name: string; from: string[]; to: string }[];
  info?: { title: string; explorer: string | undefined };
}

/** The dashboard's URL, once the command printed it. */
async function dashboardUrl(cli: RunningCli): Promise<string> {
  return (await cli.waitFor(URL_LINE))[1];
}

async function snapshot(url: string, query = '', headers: Record<string, string> = {}): Promise<Snapshot> {
  const res = await fetch(`${url}api/snapshot${query}`, { headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Snapshot;
}

/** Polls the snapshot until `check` passes (it throws until then), within WAIT. */
function until(url: string, query: string, check: (s: Snapshot) => void): Promise<Snapshot> {
  return vi.waitFor(async () => {
    const s = await snapshot(url, query);
    check(s);
    return s;
  }, WAIT);
}

/** `promise`, or a failure naming `what` after WAIT.timeout ms. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${WAIT.timeout} ms`)), WAIT.timeout);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Subscribes `session` to `filter`; then `first` resolves with the first message it receives there. */
async function subscribed(session: Session, filter: string): Promise<{ first: Promise<Message> }> {
  let got!: (m: Message) => void;
  const first = new Promise<Message>((resolve) => (got = resolve));
  await session.subscribe(filter, { qos: 1 }, (m) => got(m));
  return { first };
}

describe('usage', () => {
  it('refuses --bind beyond loopback without a token, before connecting anywhere', async () => {
    const r = await runCli(['dashboard', '-p', '1', '--bind', '0.0.0.0'], { env: NO_TOKEN });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^mqttkit: --bind 0\.0\.0\.0: a token is required beyond loopback .*: set MQTTKIT_DASHBOARD_TOKEN\nUsage: mqttkit dashboard /,
    );
    expect(r.stdout).toBe('');
  });

  it('says which port is in use, with exit 1', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await runCli(['dashboard', '-p', '1', '--http-port', String(port)], { env: NO_TOKEN });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port} is in use`);
      expect(r.stderr).toContain('--http-port 0 for a free one');
    } finally {
      busy.close();
    }
  });

  it('keeps the explorer flags and the fleet flags apart', async () => {
    const both = await runCli(['dashboard', '--config', 'fleet.yaml', '-L', 'mqtt://127.0.0.1:1', '-t', 'a']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(
      /^mqttkit: give either --config .* or a broker to explore, not both: -t\/--topic, -L\/--url are for the explorer\n/,
    );
    const cluster = await runCli(['dashboard', '--workers', '2']);
    expect(cluster.code).toBe(2);
    expect(cluster.stderr).toMatch(/^mqttkit: --workers needs --config <fleet file>\n/);
    const empty = await runCli(['dashboard', '-p', '1'], { env: { MQTTKIT_DASHBOARD_TOKEN: '' } });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("the dashboard's token (MQTTKIT_DASHBOARD_TOKEN or --token) is empty");
    const bind = await runCli(['fleet', 'run', '--config', 'fleet.yaml', '--dashboard-bind', '0.0.0.0']);
    expect(bind.code).toBe(2);
    expect(bind.stderr).toMatch(/^mqttkit: --dashboard-bind needs --dashboard\n/);
  });
});

describe('mqttkit demo --dashboard', () => {
  it("lists the demo's sessions, its RPC route and its forwarder", async () => {
    const demo = startCli(['demo', '--dashboard', '0', '--devices', '2'], { env: NO_TOKEN });
    try {
      const url = await dashboardUrl(demo);
      // the fleet table is sorted by name unless asked otherwise
      const names = ['api', 'cloud', 'console', 'device-1', 'device-2', 'edge'];
      const s = await until(url, '', (s) => {
        expect(s.fleet.rows.map((r) => r.name)).toEqual(names);
        expect(s.fleet.rows.every((r) => r.state === 'connected')).toBe(true);
        expect(s.forwarders).toHaveLength(1);
        expect(s.rpc.length).toBeGreaterThan(0);
      });
      expect(s.info?.title).toBe('mqttkit demo');
      expect(s.forwarders[0]).toMatchObject({ name: 'edge-to-cloud', from: ['edge'], to: 'cloud' });
      expect(s.rpc).toEqual([expect.objectContaining({ session: 'api', route: 'demo/devices/:id/get' })]);
    } finally {
      const r = await demo.stop('SIGINT');
      expect(r.code, r.stderr).toBe(0);
    }
  });
});

describe.skipIf(!hasMosquitto())('on mosquitto', () => {
  let broker: Broker;
  let dir: string;
  let watcher: Session;
  beforeAll(async () => {
    [broker, dir] = await Promise.all([startMosquitto(), mkdtemp(join(tmpdir(), 'mqttkit-dashboard-'))]);
    watcher = new Session({ url: broker.url, reconnect: false });
    await watcher.connect();
  });
  afterAll(async () => {
    await watcher?.close();
    await Promise.all([
      broker?.stop(),
      dir === undefined ? undefined : rm(dir, { recursive: true, force: true }),
    ]);
  });

  it('explores the broker: its session, what is published, and publishing through the API', async () => {
    const cli = startCli(['dashboard', '-L', broker.url, '--http-port', '0', '-t', 'dash/#', '-q', '1'], {
      env: NO_TOKEN,
    });
    try {
      const url = await dashboardUrl(cli);
      // printed once the explorer is subscribed
      const first = await snapshot(url);
      expect(first.fleet.rows).toEqual([
        expect.objectContaining({ name: 'explorer', state: 'connected', ready: true }),
      ]);
      expect(first.info).toMatchObject({ explorer: 'explorer', title: `mqttkit: 127.0.0.1:${broker.port}` });
      const detail = await snapshot(url, '?view=session&session=explorer');
      expect(detail.session?.subscriptions).toEqual([{ filter: 'dash/#', qos: 1 }]);

      await watcher.publish('dash/sensor/1', '{"temperature":21.5}', { qos: 1 });
      await until(url, '?view=topics', (s) => {
        expect(s.topics?.items).toContainEqual(
          expect.objectContaining({ topic: 'dash/sensor/1', count: 1, last: '{"temperature":21.5}' }),
        );
      });

      const { first: arrived } = await subscribed(watcher, 'from-page/#');
      const res = await fetch(`${url}api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'from-page/lamp', payload: 'on', qos: 1 }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, session: 'explorer' });
      const msg = await within(arrived, 'the message published through the API');
      expect(msg.topic).toBe('from-page/lamp');
      expect(msg.payload.toString()).toBe('on');
    } finally {
      const r = await cli.stop('SIGINT');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    }
  });

  it('with MQTTKIT_DASHBOARD_TOKEN: 401 without it, 200 with it, and the token never printed', async () => {
    const token = `tok-${Math.random().toString(36).slice(2)}`;
    const cli = startCli(['dashboard', '-L', broker.url, '--http-port', '0'], {
      env: { MQTTKIT_DASHBOARD_TOKEN: token },
    });
    try {
      const url = await dashboardUrl(cli);
      expect(cli.stdout).toContain('append ?token=');
      const without = await fetch(`${url}api/snapshot`);
      expect(without.status).toBe(401);
      expect(without.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const wrong = await fetch(`${url}api/snapshot`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const s = await snapshot(url, '', { authorization: `Bearer ${token}` });
      expect(s.fleet.rows.map((r) => r.name)).toEqual(['explorer']);
    } finally {
      const r = await cli.stop('SIGTERM');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(token);
    }
  });

  it("fleet run --dashboard and dashboard --config list the file's sessions", async () => {
    const file = join(dir, 'fleet.yaml');
    await writeFile(
      file,
      [
        `defaults: { url: "${broker.url}" }`,
        'sessions:',
        '  - { name: gateway, subscriptions: [{ filter: "plant/#" }] }',
        '  - { name: backend }',
        '',
      ].join('\n'),
    );
    for (const args of [
      ['fleet', 'run', '--config', file, '--dashboard', '0'],
      ['dashboard', '--config', file, '--http-port', '0'],
    ]) {
      const cli = startCli(args, { env: NO_TOKEN });
      try {
        const url = await dashboardUrl(cli);
        const s = await until(url, '', (s) => {
          expect(s.fleet.rows.map((r) => [r.name, r.state])).toEqual([
            ['backend', 'connected'],
            ['gateway', 'connected'],
          ]);
        });
        expect(s.info?.title).toBe('mqttkit: fleet.yaml');
      } finally {
        const r = await cli.stop('SIGTERM');
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
    }
  });
});
