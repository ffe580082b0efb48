/**
 * `mqttkit demo`, run as the built command: on its embedded broker for a
 * --duration, stopped with Ctrl-C while a client watches the broker it
 * printed, and on a private mosquitto with MQTT 5.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/session/session.js';
import type { Message } from '../../src/session/types.js';
import { startAedes } from '../helpers/aedes.js';
import { runCli, startCli } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const BROKER_LINE =
  /embedded broker \(aedes, MQTT 3\.1\.1\) at mqtt:\/\/127\.0\.0\.1:(\d+) — try: mqttkit sub -p (\d+) -t 'demo\/#' -v/;

/** The number `pattern` captures in `text` (thousands separators allowed); fails the test when absent. */
function count(text: string, pattern: RegExp): number {
  const m = text.match(pattern);
  expect(m, `${pattern} in:\n${text}`).not.toBeNull();
  return Number((m as RegExpMatchArray)[1].replaceAll(',', ''));
}

/** The final summary: every part did its work, nothing failed. */
function expectSummary(stdout: string, sessions = 8): void {
  expect(stdout).toMatch(/summary after \d+\.\d s/);
  expect(count(stdout, /([\d,]+) telemetry readings sent/)).toBeGreaterThan(0);
  expect(count(stdout, /([\d,]+) state batches carrying [\d,]+ readings · 0 failed/)).toBeGreaterThan(0);
  const answered = count(stdout, /([\d,]+) calls answered/);
  expect(answered).toBeGreaterThan(0);
  expect(count(stdout, /([\d,]+) ok, [\d,]+ not found \(on purpose\) · 0 failed/)).toBeGreaterThan(0);
  expect(count(stdout, /the api's middleware saw ([\d,]+) requests/)).toBeGreaterThanOrEqual(answered);
  const forwarded = count(stdout, /([\d,]+) forwarded edge → cloud with metadata · 0 dropped/);
  expect(forwarded).toBeGreaterThan(0);
  expect(count(stdout, /(\d+) sessions · [\d,]+ messages sent/)).toBe(sessions);
  expect(stdout).toMatch(/ 0 reconnects · 0 errors · all closed/);
}

/** Resolves with the first message `session` receives on `filter`. */
async function firstMessage(session: Session, filter: string): Promise<Message> {
  let got!: (m: Message) => void;
  const first = new Promise<Message>((resolve) => (got = resolve));
  await session.subscribe(filter, { qos: 1 }, (m) => got(m));
  return first;
}

describe('mqttkit demo', () => {
  it('runs the fleet on the embedded broker for --duration, one status line a second, and exits 0', async () => {
    const r = await runCli(['demo', '--duration', '3']);
    expect(r.code, r.stderr).toBe(0);
    const m = r.stdout.match(BROKER_LINE);
    expect(m, r.stdout).not.toBeNull();
    expect(m?.[2]).toBe(m?.[1]);
    // not a terminal: a plain line each second, no escape codes, and nothing on stderr
    const lines = r.stdout.match(
      /^t=\ds sessions=8\/8 ready out=\d+\/s in=\d+\/s rpc=\d+ ok forwarded=\d+ /gm,
    );
    expect(lines?.map((l) => l.slice(0, 3))).toEqual(['t=1', 't=2', 't=3']);
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stderr).toBe('');
    expectSummary(r.stdout);
    expect(r.stdout).toContain('embedded aedes at mqtt://127.0.0.1:');
  });

  it('stops at Ctrl-C with the summary; the printed broker serves other clients meanwhile', async () => {
    const demo = startCli(['demo', '--devices', '2']);
    const [, port] = await demo.waitFor(BROKER_LINE);
    const watcher = new Session({ url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4, reconnect: false });
    try {
      await watcher.connect();
      // MQTT 3.1.1 has no user properties: the forwarder's metadata travels in a JSON envelope
      const msg = await firstMessage(watcher, 'demo/cloud/devices/+/telemetry');
      expect(msg.topic).toMatch(/^demo\/cloud\/devices\/[12]\/telemetry$/);
      const envelope = JSON.parse(msg.payload.toString()) as {
        topic: string;
        metadata: object;
        payload: string;
      };
      expect(envelope.topic).toBe(msg.topic.replace('/cloud', ''));
      expect(envelope.metadata).toEqual({ site: 'demo-plant', via: 'edge' });
      expect(JSON.parse(Buffer.from(envelope.payload, 'base64').toString())).toHaveProperty('vibration');
      await demo.waitFor(/^t=1s sessions=6\/6 ready /m);
    } finally {
      await watcher.close();
    }
    const r = await demo.stop('SIGINT');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Ctrl-C: stopping');
    expectSummary(r.stdout, 6);
    expect(r.stderr).toBe('');
  });

  it('refuses flags the embedded broker cannot honour, and reports a broker that is not there', async () => {
    const v5 = await runCli(['demo', '-V', '5']);
    expect(v5.code).toBe(2);
    expect(v5.stderr).toContain('the embedded broker (aedes) speaks MQTT 3.1.1 only');
    const tls = await runCli(['demo', '--cafile', 'ca.pem']);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain('need your broker (-h, -p or -L)');
    const refused = await runCli(['demo', '-h', '127.0.0.1', '-p', '1', '--duration', '1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('connection refused by 127.0.0.1:1');
    expect(refused.stdout).not.toContain('summary');
  });
});

describe('mqttkit demo on a broker given by -L', () => {
  it('prints the broker and the sub hint without credentials or the query string', async () => {
    const aedes = await startAedes();
    try {
      const url = `mqtt://user:hunter2@127.0.0.1:${aedes.port}/?token=SECRET`;
      const r = await runCli(['demo', '-L', url, '--duration', '1', '--devices', '1']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        `broker 127.0.0.1:${aedes.port} (MQTT 3.1.1) — try: mqttkit sub -L mqtt://127.0.0.1:${aedes.port} -t 'demo/#' -v`,
      );
      for (const secret of ['SECRET', 'hunter2']) {
        expect(r.stdout + r.stderr).not.toContain(secret);
      }
    } finally {
      await aedes.stop();
    }
  });
});

describe.skipIf(!hasMosquitto())('mqttkit demo on mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(() => broker?.stop());

  it('runs with MQTT 5 on -L: the metadata travels as user properties', async () => {
    const watcher = new Session({ url: broker.url, reconnect: false });
    await watcher.connect();
    try {
      const first = firstMessage(watcher, 'demo/cloud/devices/+/telemetry');
      const r = await runCli(['demo', '-L', broker.url, '-V', '5', '--duration', '2']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        `broker 127.0.0.1:${broker.port} (MQTT 5) — try: mqttkit sub -L ${broker.url}`,
      );
      expect(r.stdout).not.toContain('embedded');
      expect(r.stderr).toBe('');
      expectSummary(r.stdout);
      expect(r.stdout).toContain(`127.0.0.1:${broker.port}, left running`);
      const msg = await first;
      const props = msg.properties?.userProperties ?? [];
      expect(props).toContainEqual(['site', 'demo-plant']);
      expect(props.map(([k]) => k)).toContain('mqttkit-forwarded');
      expect(JSON.parse(msg.payload.toString())).toHaveProperty('vibration');
    } finally {
      await watcher.close();
    }
  });
});
