/**
 * `mqttkit bench`: the built command against a private mosquitto (and, with
 * no broker given, against the embedded broker it starts in a child
 * process). Each run's --json output must parse and carry every documented
 * field with sane values.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/session/session.js';
import { startAedes } from '../helpers/aedes.js';
import { runCli, startCli } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

type Json = Record<string, unknown>;

/** The fields of `--json`, per sub-command, as the help documents them. */
const FIELDS = {
  pub: [
    'command',
    'broker',
    'mqttVersion',
    'connections',
    'qos',
    'size',
    'inflight',
    'rate',
    'sent',
    'acked',
    'received',
    'errors',
    'firstError',
    'durationMs',
    'throughput',
    'bytesPerSecond',
    'latency',
    'cpuMicrosPerMessage',
    'interrupted',
  ],
  sub: [
    'command',
    'broker',
    'mqttVersion',
    'connections',
    'publishers',
    'qos',
    'size',
    'sent',
    'acked',
    'received',
    'expected',
    'lost',
    'foreign',
    'errors',
    'firstError',
    'durationMs',
    'throughput',
    'bytesPerSecond',
    'latency',
    'cpuMicrosPerMessage',
    'interrupted',
  ],
  conn: [
    'command',
    'broker',
    'mqttVersion',
    'connections',
    'concurrency',
    'rate',
    'connected',
    'errors',
    'firstError',
    'durationMs',
    'connectRate',
    'heldMs',
    'closeMs',
    'latency',
    'cpuMicrosPerConnection',
    'interrupted',
  ],
  rpc: [
    'command',
    'broker',
    'mqttVersion',
    'connections',
    'served',
    'qos',
    'size',
    'inflight',
    'rate',
    'requests',
    'responses',
    'timeouts',
    'errors',
    'firstError',
    'durationMs',
    'throughput',
    'bytesPerSecond',
    'latency',
    'cpuMicrosPerMessage',
    'interrupted',
  ],
} as const;

/** Parses the one JSON object on stdout and checks its fields against the documented set. */
function report(stdout: string, command: keyof typeof FIELDS): Json {
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const json = JSON.parse(lines[0]) as Json;
  expect(Object.keys(json).sort()).toEqual([...FIELDS[command]].sort());
  expect(json.command).toBe(command);
  return json;
}

/** A latency object: the kind, the count, and ordered, positive percentiles. */
function checkLatency(value: unknown, kind: string, count: number): void {
  const l = value as Record<string, number | string>;
  expect(Object.keys(l).sort()).toEqual(['count', 'kind', 'max', 'mean', 'p50', 'p95', 'p99']);
  expect(l.kind).toBe(kind);
  expect(l.count).toBe(count);
  const [p50, p95, p99, max, mean] = [l.p50, l.p95, l.p99, l.max, l.mean] as number[];
  expect(p50).toBeGreaterThan(0);
  expect(p50).toBeLessThanOrEqual(p95);
  expect(p95).toBeLessThanOrEqual(p99);
  expect(p99).toBeLessThanOrEqual(max);
  expect(mean).toBeGreaterThan(0);
  expect(mean).toBeLessThanOrEqual(max);
}

/** Resolves with the error code of a TCP connect to the port (undefined: it accepted). */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

/** Whether connects to the port are refused within `ms`: tried again every 25 ms until then. */
async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if ((await connectError(port)) === 'ECONNREFUSED') return true;
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const EMBEDDED =
  /no broker given: started the embedded broker \(aedes, MQTT 3\.1\.1\) at mqtt:\/\/127\.0\.0\.1:(\d+)/;

describe.skipIf(!hasMosquitto())('bench against mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(() => broker?.stop());

  it('bench pub -q 1 --json: every documented field, every message acknowledged and timed', async () => {
    const r = await runCli(['bench', 'pub', '-L', broker.url, '-n', '1000', '-q', '1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'pub');
    expect(j).toMatchObject({
      broker: broker.url,
      mqttVersion: '5',
      connections: 10,
      qos: 1,
      size: 64,
      inflight: 100,
      rate: null,
      sent: 1000,
      acked: 1000,
      received: null,
      errors: 0,
      firstError: null,
      interrupted: false,
    });
    expect(j.durationMs).toBeGreaterThan(0);
    expect(j.throughput).toBeGreaterThan(0);
    expect(j.bytesPerSecond).toBe(Math.round((j.throughput as number) * 64));
    expect(j.cpuMicrosPerMessage).toBeGreaterThan(0);
    checkLatency(j.latency, 'publish-to-ack', 1000);
  });

  it('bench pub -q 2 prints the text summary', async () => {
    const r = await runCli([
      'bench',
      'pub',
      '-L',
      broker.url,
      '-n',
      '200',
      '-q',
      '2',
      '-c',
      '2',
      '--size',
      '100',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^bench pub +mqtt:\/\/127\.0\.0\.1:\d+, MQTT 5, 2 connections, QoS 2, 100-byte payloads/,
    );
    expect(r.stdout).toMatch(/\nmessages +200 sent, 200 acknowledged\n/);
    expect(r.stdout).toMatch(/\nerrors +0\n/);
    expect(r.stdout).toMatch(/\nthroughput +[\d,]+ msg\/s, [\d.]+ MB\/s of payload\n/);
    expect(r.stdout).toMatch(
      /\nlatency +publish-to-ack: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms/,
    );
    expect(r.stdout).toMatch(/\nclient CPU +[\d.]+ µs\/msg/);
  });

  it('bench pub -d with --rate: runs for the duration at the rate, QoS 0 has no latency', async () => {
    const r = await runCli([
      'bench',
      'pub',
      '-L',
      broker.url,
      '-d',
      '1s',
      '--rate',
      '500',
      '-c',
      '2',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'pub');
    expect(j).toMatchObject({ qos: 0, inflight: null, rate: 500, acked: null, latency: null, errors: 0 });
    // 500/s for 1 s; the pacer starts with one message due at once
    expect(j.sent).toBeGreaterThanOrEqual(450);
    expect(j.sent).toBeLessThanOrEqual(510);
  });

  it('bench sub -n 500 -c 2 -q 1: every subscriber gets every message, end-to-end latency', async () => {
    const r = await runCli(['bench', 'sub', '-L', broker.url, '-n', '500', '-c', '2', '-q', '1', '--json']);
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'sub');
    expect(j).toMatchObject({
      mqttVersion: '5',
      connections: 2,
      publishers: 1,
      qos: 1,
      size: 64,
      sent: 500,
      acked: 500,
      received: 1000,
      expected: 1000,
      lost: 0,
      foreign: 0,
      errors: 0,
      firstError: null,
      interrupted: false,
    });
    expect(j.throughput).toBeGreaterThan(0);
    checkLatency(j.latency, 'end-to-end', 1000);
  });

  it('bench sub --no-publish counts what a bench pub elsewhere sends', async () => {
    const sub = startCli([
      'bench',
      'sub',
      '-L',
      broker.url,
      '--no-publish',
      '-c',
      '2',
      '-n',
      '300',
      '-q',
      '1',
      '-t',
      'nopub',
      '--json',
    ]);
    await sub.waitFor(/listening: 2 subscribers on nopub\/# \(QoS 1\), for 300 messages each/, 'stderr');
    const pub = await runCli([
      'bench',
      'pub',
      '-L',
      broker.url,
      '-n',
      '300',
      '-q',
      '1',
      '-t',
      'nopub',
      '--json',
    ]);
    expect(pub.code).toBe(0);
    const r = await sub.exited;
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'sub');
    expect(j).toMatchObject({ publishers: 0, sent: null, received: 600, expected: 600, lost: 0 });
    checkLatency(j.latency, 'end-to-end', 600);
  });

  it('bench conn -c 50: all connect, connect latency per session, close time', async () => {
    const r = await runCli(['bench', 'conn', '-L', broker.url, '-c', '50', '--concurrency', '10', '--json']);
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'conn');
    expect(j).toMatchObject({
      mqttVersion: '5',
      connections: 50,
      concurrency: 10,
      rate: null,
      connected: 50,
      errors: 0,
      firstError: null,
      heldMs: null,
      interrupted: false,
    });
    expect(j.connectRate).toBeGreaterThan(0);
    expect(j.closeMs).toBeGreaterThanOrEqual(0);
    expect(j.cpuMicrosPerConnection).toBeGreaterThan(0);
    checkLatency(j.latency, 'connect', 50);
  });

  it('bench rpc -n 500: every request answered by the in-process echo server', async () => {
    const r = await runCli(['bench', 'rpc', '-L', broker.url, '-n', '500', '--json']);
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'rpc');
    expect(j).toMatchObject({
      mqttVersion: '5',
      connections: 10,
      served: true,
      qos: 1,
      inflight: 10,
      requests: 500,
      responses: 500,
      timeouts: 0,
      errors: 0,
      firstError: null,
      interrupted: false,
    });
    checkLatency(j.latency, 'request-to-response', 500);
  });
});

describe('bench with no broker given: the embedded broker in a child process', () => {
  it('bench pub -n 1000 --json: names the broker on stderr, exits 0, and the broker is gone after', async () => {
    const r = await runCli(['bench', 'pub', '-n', '1000', '--json']);
    expect(r.code).toBe(0);
    const m = EMBEDDED.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const port = Number(m?.[1]);
    const j = report(r.stdout, 'pub');
    expect(j).toMatchObject({
      broker: `mqtt://127.0.0.1:${port}`,
      mqttVersion: '3.1.1',
      sent: 1000,
      errors: 0,
      latency: null,
    });
    expect(await connectError(port)).toBe('ECONNREFUSED');
  });

  it('Ctrl-C stops a run early, prints the summary and stops the broker', async () => {
    const cli = startCli(['bench', 'pub', '-d', '60s', '-q', '1', '-c', '2', '--json']);
    const [, port] = await cli.waitFor(EMBEDDED, 'stderr');
    // interrupt once messages flow: the first one a subscriber of our own sees
    const watcher = new Session({ url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4, reconnect: false });
    await watcher.connect();
    const first = new Promise<void>((resolve) => {
      void watcher.subscribe('mqttkit/bench/#', { qos: 0 }, () => resolve());
    });
    await first;
    await watcher.close();
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    const j = report(r.stdout, 'pub');
    expect(j.interrupted).toBe(true);
    expect(j.sent).toBeGreaterThan(0);
    expect(j.acked).toBe(j.sent);
    expect(j.errors).toBe(0);
    expect(await connectError(Number(port))).toBe('ECONNREFUSED');
  });

  it('the broker child ends by itself when the bench is SIGKILLed (no handler of the bench runs)', async () => {
    const cli = startCli(['bench', 'pub', '-d', '30s', '-q', '1', '-c', '2', '--json']);
    const [, port] = await cli.waitFor(EMBEDDED, 'stderr');
    expect(await connectError(Number(port))).toBeUndefined();
    const r = await cli.stop('SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    // its IPC channel to the bench closed: `mqttkit broker` closes and exits
    expect(await refusedWithin(Number(port), 5000)).toBe(true);
  });

  it('bench conn fails with exit 1 when nothing can connect', async () => {
    const port = await freePort();
    const r = await runCli(['bench', 'conn', '-p', String(port), '-h', '127.0.0.1', '-c', '5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/connection refused/);
    expect(r.stdout).toBe('');
  });
});

describe('bench flags', () => {
  it.each([
    [['bench', 'pub', '-n', '5', '-d', '1s'], /-n\/--count or -d\/--duration, not both/],
    [['bench', 'pub', '--size', '1'], /--size.*at least|integer from 16/],
    [['bench', 'pub', '-q', '3'], /expected 0, 1 or 2/],
    [['bench', 'sub', '-t', 'a/#'], /not a topic prefix/],
    [['bench', 'rpc', '--inflight', '0'], /integer from 1/],
    // no broker given: flags the embedded broker cannot honour, refused before it starts
    [['bench', 'pub', '-V', '5'], /the embedded broker \(aedes\) speaks MQTT 3\.1\.1 only/],
    [['bench', 'sub', '--ws'], /--ws and the TLS flags need your broker/],
  ])('%j exits 2 with the usage', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Usage: mqttkit bench (pub|sub|rpc)/);
    expect(r.stderr).not.toMatch(/no broker given/);
    expect(r.stdout).toBe('');
  });
});

describe('bench output', () => {
  it('shows the broker without credentials or the query string (it may hold a token)', async () => {
    const aedes = await startAedes();
    try {
      const url = `mqtt://user:pw@127.0.0.1:${aedes.port}/?token=SECRET`;
      const json = await runCli(['bench', 'pub', '-L', url, '-n', '10', '--json']);
      expect(json.code, json.stderr).toBe(0);
      expect(report(json.stdout, 'pub').broker).toBe(`mqtt://127.0.0.1:${aedes.port}`);
      const text = await runCli(['bench', 'pub', '-L', url, '-n', '10', '-c', '1']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(
        new RegExp(`^bench pub +mqtt://127\\.0\\.0\\.1:${aedes.port}, MQTT 3\\.1\\.1,`),
      );
      for (const out of [json.stdout + json.stderr, text.stdout + text.stderr]) {
        expect(out).not.toContain('SECRET');
        expect(out).not.toContain('pw');
      }
    } finally {
      await aedes.stop();
    }
  });
});
