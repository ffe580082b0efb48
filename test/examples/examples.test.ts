/**
 * Runs every program in examples/ to its end, as a user would
 * (`npx tsx examples/<name>.ts`): once with nothing set, against the
 * embedded MQTT 3.1.1 broker the example starts itself, and once against a
 * private mosquitto given by URL (MQTT 5). Each must exit 0, write nothing
 * to stderr, and print what its comments promise.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, startProcess } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Every URL variable an example reads: unset (empty) means the embedded broker. */
const NO_URLS = { MQTT_URL: '', MQTT_VERSION: '', EDGE_URL: '', CLOUD_URL: '' };

function runExample(name: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return startProcess(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
    env: { ...NO_URLS, EXAMPLE_SECONDS: '1', NO_COLOR: '1', ...env },
    cwd: ROOT, // tsx finds tsconfig.json there, whose paths map 'mqttkit' to src/
    timeout: 30_000,
  }).exited;
}

/** The example ended well: exit 0, an empty stderr (its text in the failure message otherwise). */
function expectClean(r: CliResult): void {
  expect({ code: r.code, stderr: r.stderr }, r.stdout).toEqual({ code: 0, stderr: '' });
}

/** The JSON after `prefix` on the line that starts with it. */
function jsonAfter(stdout: string, prefix: string): Record<string, number> {
  const line = stdout.split('\n').find((l) => l.startsWith(prefix));
  expect(line, `a line starting with '${prefix}'`).toBeDefined();
  return JSON.parse((line as string).slice(prefix.length));
}

/** The checks per example, for a run on a broker of `version`. */
const EXAMPLES: Record<string, (out: string, version: '3.1.1' | '5') => void> = {
  pubsub(out, version) {
    expect(out).toContain(`MQTT ${version}`);
    expect(out).toContain('got example/sensors/a/temp = 21.5 (QoS 0)');
    expect(out).toContain('got example/sensors/b/temp = 19.0 (QoS 1)');
    expect(out).toContain('got example/sensors/c/temp = 23.25 (QoS 2)');
    expect(out).toContain('retained example/status = online (retain flag true)');
    expect(out).toMatch(/refused: ERR_MQTT_INVALID_ARGUMENT: topic: contains the wildcard '\+'/);
    expect(out).toContain('done: 6 published, 4 received');
  },
  'device-telemetry'(out) {
    const state = jsonAfter(out, 'device: state ');
    const data = jsonAfter(out, 'device: data ');
    // a snapshot and 5 readings every 100 ms for a second, all of them delivered
    expect(state.pushed).toBeGreaterThanOrEqual(5);
    expect(state).toMatchObject({ failed: 0, rejected: 0, pending: 0 });
    expect(data).toMatchObject({
      pushed: 5 * state.pushed,
      published: 5 * state.pushed,
      failed: 0,
      queued: 0,
    });
    expect(out).toMatch(/^cloud: state batch of \d+ snapshots$/m);
    expect(out).toContain(`cloud: ${state.published} state messages, ${data.published} readings`);
  },
  'rpc-api'(out) {
    expect(out).toContain('get lamp-1: Desk lamp, off, brightness 40');
    expect(out).toContain('set lamp-1: Desk lamp, on, brightness 80');
    expect(out).toContain("devices/lamp-9/get: error 404: no device 'lamp-9'");
    expect(out).toContain('devices/lamp-2/set: error 400: brightness must be an integer from 0 to 100');
    expect(out).toContain('done: 4 requests, 2 answered 200, 2 with an error');
  },
  'multi-session-forwarding'(out) {
    expect(out.match(/^cloud got plants\/a\/k[12]\/temp = [\d.]+ \(site plant-a\)$/gm)).toHaveLength(3);
    expect(out).toContain('mqttkit_messages_received_total{session="cloud"} 3');
    expect(jsonAfter(out, 'forwarder: ')).toMatchObject({ received: 3, forwarded: 3, errors: 0 });
  },
  'fleet-from-config'(out) {
    expect(out).toContain('loaded 5 sessions: device-1, device-2, device-3, gateway, archive');
    for (const name of ['device-1', 'device-2', 'device-3', 'gateway', 'archive']) {
      expect(out).toContain(`${name} ready`);
    }
    expect(out).toMatch(
      /^archive: archive\/device-1\/telemetry \{"t":\d+,"temperature":[\d.]+\} \(site north\)$/m,
    );
    expect(out).toContain("device-2 got command 'reboot'");
    const [, archived, sent] = out.match(/^archive: (\d+) of (\d+) readings$/m) ?? [];
    expect(Number(sent)).toBeGreaterThanOrEqual(3);
    expect(archived).toBe(sent);
  },
};

describe('examples, against the embedded broker (nothing set)', () => {
  for (const [name, check] of Object.entries(EXAMPLES)) {
    it(name, async () => {
      const r = await runExample(name, {});
      expectClean(r);
      expect(r.stdout).toMatch(/URL not set: an embedded MQTT 3\.1\.1 broker at mqtt:\/\/127\.0\.0\.1:\d+/);
      check(r.stdout, '3.1.1');
    }, 40_000);
  }
});

describe.skipIf(!hasMosquitto())('examples, against mosquitto given by URL (MQTT 5)', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  for (const [name, check] of Object.entries(EXAMPLES)) {
    it(name, async () => {
      // MQTT_URL alone, as the README says: the forwarding example puts both its brokers there
      const r = await runExample(name, { MQTT_URL: broker.url });
      expectClean(r);
      expect(r.stdout).not.toContain('embedded');
      check(r.stdout, '5');
    }, 40_000);
  }
});

describe('examples/fleet.yaml as it is', () => {
  it('loads with nothing set: mqtt://127.0.0.1:1883, MQTT 5 or 3.1.1, metadata in an envelope toward 3.1.1', async () => {
    const { loadFleetConfig } = await import('../../src/manager/config.js');
    const config = await loadFleetConfig(`${ROOT}/examples/fleet.yaml`, { env: {} });
    expect(config.sessions.map((s) => [s.url, s.protocolVersion])).toEqual(
      Array(5).fill(['mqtt://127.0.0.1:1883', 'auto']),
    );
    expect(config.forwarders[0]).toMatchObject({ envelope: true, metadata: { site: 'north' } });
  });
});

it('every example in examples/ is run here', async () => {
  const programs = (await readdir(`${ROOT}/examples`))
    .filter((f) => f.endsWith('.ts') && f !== 'broker.ts')
    .map((f) => f.slice(0, -3))
    .sort();
  expect(programs).toEqual(Object.keys(EXAMPLES).sort());
});
