/**
 * `mqttkit forward --config fleet.yaml`, the built command as a child
 * process: two private mosquittos, a fleet file whose URLs come from the
 * environment, MQTT.js on both sides (an independent client), a clean
 * Ctrl-C; and the ways it refuses to start (usage, a bad file, a session
 * that does not connect).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqttkit-forward-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes `lines` to a new YAML file in the test directory. */
async function fleetFile(lines: string[]): Promise<string> {
  const file = join(dir, `fleet-${++files}.yaml`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/** The fleet of the tests: its URLs from SRC_URL and DST_URL, a map rule and metadata. */
const FLEET = [
  'sessions:',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
  '  - { name: plant, url: "${SRC_URL}", clientId: fwd-test-plant }',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
  '  - { name: cloud, url: "${DST_URL}", clientId: fwd-test-cloud }',
  'forwarders:',
  '  - name: telemetry',
  '    from: plant',
  '    to: cloud',
  '    topics: plant/+/temp',
  '    map:',
  '      plant/+/temp: cloud/plant/{1}/temp',
  '    qos: 1',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
  '    metadata: { site: "${SITE:-south}", via: gateway }',
];

describe('usage and configuration errors', () => {
  it('exits 2 with the usage without --config', async () => {
    const r = await runCli(['forward']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'mqttkit: --config is required\nUsage: mqttkit forward --config <file> [options]\nSee `mqttkit forward --help`.\n',
    );
  });

  it('exits 2 naming the file when it has no forwarders (a config error: no usage line)', async () => {
    const file = await fleetFile(['sessions:', '  - { name: a, url: "mqtt://127.0.0.1:1" }']);
    const r = await runCli(['forward', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`mqttkit: ${file} has no forwarders\n`);
  });

  it('exits 2 (config) with the path and line of each bad field', async () => {
    const file = await fleetFile([
      'sessions:',
      '  - { name: plant, url: "mqtt://127.0.0.1:1" }',
      'forwarders:',
      '  - name: up',
      '    from: plant',
      '    to: cloud',
      '    topics: plant/#',
      '    map: { "plant/+": "x/{2}" }',
    ]);
    const r = await runCli(['forward', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`mqttkit: ${file}:6: forwarders[0].to: no session named 'cloud'`);
    expect(r.stderr).toContain(
      `${file}:8: forwarders[0].map["plant/+"]: '{2}' refers to a '+' that 'plant/+' does not have (it has 1)`,
    );
    expect(r.stdout).toBe('');
  });

  it('exits 1 naming each session that did not connect, and why', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const file = await fleetFile([
      'sessions:',
      `  - { name: plant, url: "mqtt://127.0.0.1:${a}", reconnect: false }`,
      `  - { name: cloud, url: "mqtt://127.0.0.1:${b}", reconnect: false }`,
      'forwarders:',
      '  - { name: up, from: plant, to: cloud, topics: "#" }',
    ]);
    const r = await runCli(['forward', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mqttkit: 2 of 2 sessions did not connect:');
    expect(r.stderr).toContain(`  plant: connection refused by 127.0.0.1:${a}`);
    expect(r.stderr).toContain(`  cloud: connection refused by 127.0.0.1:${b}`);
  });
});

describe.skipIf(!hasMosquitto())('forwarding between two mosquittos', () => {
  let src: Broker;
  let dst: Broker;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    [src, dst] = await Promise.all([startMosquitto(), startMosquitto()]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  async function client(url: string): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  }

  it('forwards mapped topics with the metadata, counts them, and stops cleanly at Ctrl-C', async () => {
    const file = await fleetFile(FLEET);
    const verifier = await client(dst.url);
    const got: IPublishPacket[] = [];
    const arrived = new Promise<void>((resolve) =>
      verifier.on('message', (_topic, _payload, packet) => {
        got.push(packet);
        resolve();
      }),
    );
    await verifier.subscribeAsync('cloud/#', { qos: 1 });

    const cli = startCli(['forward', '--config', file, '--stats', '100ms', '--verbose'], {
      env: { SRC_URL: src.url, DST_URL: dst.url, SITE: 'north' },
    });
    // printed once the source broker acknowledged the forwarder's subscription
    await cli.waitFor(/forwarding telemetry: plant -> cloud \(plant\/\+\/temp\)\n/, 'stderr');
    // the sessions' own log lines, bound to their names
    expect(cli.stderr).toMatch(
      new RegExp(
        `INFO  connected session=plant url=mqtt://127.0.0.1:${src.port} clientId=\\S+ protocolVersion=5`,
      ),
    );
    expect(cli.stderr).toMatch(
      new RegExp(
        `INFO  connected session=cloud url=mqtt://127.0.0.1:${dst.port} clientId=\\S+ protocolVersion=5`,
      ),
    );

    const publisher = await client(src.url);
    await publisher.publishAsync('plant/7/temp', '21.5', { qos: 1 });
    await publisher.publishAsync('plant/7/humidity', 'not subscribed', { qos: 1 });
    await arrived;
    expect(got).toHaveLength(1);
    const [m] = got;
    expect(m.topic).toBe('cloud/plant/7/temp');
    expect(m.payload.toString()).toBe('21.5');
    expect(m.qos).toBe(1);
    expect(m.properties?.userProperties).toMatchObject({ site: 'north', via: 'gateway' });
    expect(m.properties?.userProperties?.['mqttkit-forwarded']).toEqual(expect.any(String));

    // the counters every --stats interval, once the target acknowledged the copy
    await cli.waitFor(
      /stats telemetry: received 1, forwarded 1, filtered 0, dropped 0, errors 0, waiting 0\n/,
      'stderr',
    );
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /stopped telemetry: received 1, forwarded 1, filtered 0, dropped 0, errors 0, waiting 0\n$/,
    );
    expect(r.stderr).toMatch(/INFO {2}closed session=plant reasonCode=0/);
    expect(r.stderr).not.toContain('mqttkit:');
    expect(r.stdout).toBe('');
  });

  it('prints no session events nor stats without --verbose and --stats', async () => {
    const file = await fleetFile(FLEET);
    const cli = startCli(['forward', '--config', file], { env: { SRC_URL: src.url, DST_URL: dst.url } });
    await cli.waitFor(/forwarding telemetry: /, 'stderr');
    const r = await cli.stop('SIGINT');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      [
        'forwarding telemetry: plant -> cloud (plant/+/temp)',
        'stopped telemetry: received 0, forwarded 0, filtered 0, dropped 0, errors 0, waiting 0',
        '',
      ].join('\n'),
    );
  });
});
