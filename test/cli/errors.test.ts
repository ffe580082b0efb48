/**
 * How the built `mqttkit` fails, one kind at a time (the table in
 * docs/cli.md): every failure is one line starting `mqttkit:`; a usage error
 * adds the command's usage line and where its help is, never the whole help,
 * and exits 2; a bad `--config` file exits 2 with no usage line; a broker
 * that is not there exits 1 with a hint naming the `mqttkit broker` that
 * would be. And that hint's broker: `mqttkit broker --ws-port`, with
 * `mqttkit pub/sub --ws` and MQTT.js over WebSocket on it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type RunningCli, runCli, startCli, startProcess } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

const PUB_USAGE = 'mqttkit pub -t <topic> (-m <text> | -f <path> | -s | -l | -n | --size <bytes>) [options]';
const TOP_USAGE = 'mqttkit [options] [command]';
const BENCH_USAGE = 'mqttkit bench [options] [command]';

describe.concurrent('usage errors: the message, the usage line, where the help is; exit 2', () => {
  it.each([
    // [argv, message, usage line, the command whose --help is named]
    [['pub', '--bogus'], "unknown option '--bogus'", PUB_USAGE, 'mqttkit pub'],
    [
      ['sub', '-t'],
      "option '-t, --topic <filter>' argument missing",
      'mqttkit sub -t <filter>... [options]',
      'mqttkit sub',
    ],
    [
      ['req', '-t', 'a', '-W', 'soon'],
      "option '-W, --timeout <duration>' argument 'soon' is invalid. expected a duration such as 500ms, 5s or 2m (a bare number is seconds)",
      'mqttkit req -t <topic> [-m <text> | -f <path> | -s] [options]',
      'mqttkit req',
    ],
    [
      ['serve'],
      '-t/--topic is required',
      'mqttkit serve -t <pattern>... [--exec <command>] [options]',
      'mqttkit serve',
    ],
    [
      ['forward', 'extra'],
      "too many arguments for 'forward'. Expected 0 arguments but got 1.",
      'mqttkit forward --config <file> [options]',
      'mqttkit forward',
    ],
    [
      ['bench', 'pub', '--bogus'],
      "unknown option '--bogus'",
      'mqttkit bench pub [options]',
      'mqttkit bench pub',
    ],
    [['bench', 'nosuch'], "unknown command 'nosuch'", BENCH_USAGE, 'mqttkit bench'],
    [
      ['demo', '--devices', '0'],
      "option '-n, --devices <n>' argument '0' is invalid. expected an integer from 1 to 100",
      'mqttkit demo [options]',
      'mqttkit demo',
    ],
    [
      ['broker', '--ws-port', 'x'],
      "option '--ws-port <port>' argument 'x' is invalid. expected an integer from 0 to 65535",
      'mqttkit broker [options]',
      'mqttkit broker',
    ],
    // a command of commands given none, and help for a command that is not there, at any level
    [['bench'], 'missing command: pub, sub, conn or rpc', BENCH_USAGE, 'mqttkit bench'],
    [['bench', 'help', 'nope'], "unknown command 'nope'", BENCH_USAGE, 'mqttkit bench'],
    [['help', 'bench', 'nope'], "unknown command 'nope'", BENCH_USAGE, 'mqttkit bench'],
    [['help', 'pub', 'extra'], "unknown command 'extra'", PUB_USAGE, 'mqttkit pub'],
    [['nosuch'], "unknown command 'nosuch'", TOP_USAGE, 'mqttkit'],
    [['help', 'nosuch'], "unknown command 'nosuch'", TOP_USAGE, 'mqttkit'],
    // refused by the library before anything is sent: named as the flag, not as the option field
    [
      ['pub', '-t', 'a', '-m', 'x', '--will-topic', 'a/#'],
      '--will-topic: must be a topic name without wildcards',
      PUB_USAGE,
      'mqttkit pub',
    ],
  ])('mqttkit %j', async (args, message, usage, command) => {
    const r = await runCli(args);
    expect(r).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `mqttkit: ${message}\nUsage: ${usage}\nSee \`${command} --help\`.\n`,
    });
  });
});

describe
  .skipIf(!hasMosquitto())
  .concurrent('MQTT 5 properties the library refuses once connected: named as the flag, exit 2', () => {
    let broker: Broker;
    beforeAll(async () => {
      broker = await startMosquitto();
    });
    afterAll(async () => {
      await broker?.stop();
    });
    const long = 'a'.repeat(70_000);
    const tooLong = 'is 70000 bytes in UTF-8; MQTT strings hold at most 65535';
    const REQ_USAGE = 'mqttkit req -t <topic> [-m <text> | -f <path> | -s] [options]';

    it.each([
      [
        'pub --response-topic a/#',
        ['pub', '-t', 'a', '-m', 'x', '--response-topic', 'a/#'],
        "--response-topic: contains the wildcard '#' at 2; a topic name cannot hold wildcards (only a filter can) (a response topic is a topic name)",
        PUB_USAGE,
        'mqttkit pub',
      ],
      [
        'pub --content-type <70000 bytes>',
        ['pub', '-t', 'a', '-m', 'x', '--content-type', long],
        `--content-type: ${tooLong}`,
        PUB_USAGE,
        'mqttkit pub',
      ],
      [
        'pub -D a=b -D k=<70000 bytes>',
        ['pub', '-t', 'a', '-m', 'x', '-D', 'a=b', '-D', `k=${long}`],
        `-D/--user-property #2 (the value): ${tooLong}`,
        PUB_USAGE,
        'mqttkit pub',
      ],
      [
        'req -D <70000 bytes>=v',
        ['req', '-t', 'a', '-m', 'x', '-D', `${long}=v`],
        `-D/--user-property #1 (the name): ${tooLong}`,
        REQ_USAGE,
        'mqttkit req',
      ],
      [
        'serve -g a/b',
        ['serve', '-t', 'x/#', '-g', 'a/b'],
        "-g/--group: must be a non-empty name without '/', '+' or '#'",
        'mqttkit serve -t <pattern>... [--exec <command>] [options]',
        'mqttkit serve',
      ],
    ])('mqttkit %s', async (_label, args, message, usage, command) => {
      const r = await runCli([...args, '-p', `${broker.port}`, '-V', '5']);
      expect(r).toMatchObject({
        code: 2,
        stdout: '',
        stderr: `mqttkit: ${message}\nUsage: ${usage}\nSee \`${command} --help\`.\n`,
      });
    });
  });

describe.concurrent('config errors: one line per problem naming the file, no usage line; exit 2', () => {
  let dir: string;
  let good: string;
  let bad: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mqttkit-cli-errors-'));
    good = join(dir, 'good.yaml');
    await writeFile(
      good,
      'sessions:\n  - { name: a, url: "mqtt://127.0.0.1:1" }\n  - { name: b, url: "mqtt://127.0.0.1:1" }\n',
    );
    bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${NAME} syntax
      'sessions:\n  - name: a\n    url: mqtt://127.0.0.1:1\n    keepalive: soon\n  - { name: b, url: "${MQTTKIT_TEST_UNSET}" }\n',
    );
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('--config good.yaml --session nope', async () => {
    const r = await runCli(['pub', '--config', good, '--session', 'nope', '-t', 'x', '-m', 'x']);
    expect(r).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `mqttkit: ${good} has no session named "nope" (it has: a, b)\n`,
    });
  });

  it('a bad field and an unset variable', async () => {
    const r = await runCli(['sub', '--config', bad, '-t', 'x']);
    expect(r).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        `mqttkit: ${bad}:4: sessions[0].keepalive: expected a number, got a string\n` +
        `${bad}:5: sessions[1].url: environment variable MQTTKIT_TEST_UNSET is not set\n`,
    });
  });

  it('a file that is not there', async () => {
    const missing = join(dir, 'missing.yaml');
    const r = await runCli(['req', '--config', missing, '-t', 'x']);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: `mqttkit: ${missing}: file not found\n` });
  });
});

describe('runtime failures: exit 1, the hint names the broker that would be there', () => {
  it('--ws to a closed port: try `mqttkit broker --ws-port <port>`; TLS: no embedded broker to suggest', async () => {
    const port = await freePort();
    const ws = await runCli(['pub', '--ws', '-h', '127.0.0.1', '-p', `${port}`, '-t', 'a', '-m', 'x']);
    const at = `ws://127.0.0.1:${port}/mqtt`;
    expect(ws).toMatchObject({
      code: 1,
      stderr: `mqttkit: connection refused by ${at} (is a broker running on ${at}? try \`mqttkit broker --ws-port ${port}\`)\n`,
    });
    const tls = await runCli(['pub', '--insecure', '-h', '127.0.0.1', '-p', `${port}`, '-t', 'a', '-m', 'x']);
    expect(tls).toMatchObject({
      code: 1,
      stderr: `mqttkit: connection refused by mqtts://127.0.0.1:${port} (is a broker running on mqtts://127.0.0.1:${port}?)\n`,
    });
  });
});

/** `script` (util-linux) gives a command a terminal: stdin, stdout and stderr unless redirected. */
const SCRIPT = '/usr/bin/script';

describe.skipIf(!existsSync(SCRIPT)).concurrent('colours follow stderr, not stdout', () => {
  // no NO_COLOR (startCli's default), FORCE_COLOR or CI: the streams alone decide
  const env = { NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, TERM: 'xterm' };
  const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const failing = async (): Promise<string> => {
    const port = await freePort();
    return [process.execPath, CLI, 'pub', '-h', '127.0.0.1', '-p', `${port}`, '-t', 'a', '-m', 'x']
      .map(quote)
      .join(' ');
  };

  it('stdout a terminal, stderr a file (`2>err.log`): no escape codes in the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mqttkit-colours-'));
    try {
      const log = join(dir, 'err.log');
      const r = await startProcess(SCRIPT, ['-qec', `${await failing()} 2>${quote(log)}`, '/dev/null'], {
        env,
      }).exited;
      expect(r.code).toBe(1);
      const text = await readFile(log, 'utf8');
      expect(text).toMatch(/^mqttkit: connection refused by 127\.0\.0\.1:\d+ \(is a broker running/);
      expect(text).not.toContain('\x1b[');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stderr a terminal, stdout a pipe: the prefix in red', async () => {
    const r = await startProcess(SCRIPT, ['-qec', `${await failing()} >/dev/null`, '/dev/null'], {
      env,
    }).exited;
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('\x1b[31mmqttkit:\x1b[39m connection refused');
  });
});

describe('mqttkit broker --ws-port: what the hint suggests', () => {
  let broker: RunningCli;
  let tcpPort: string;
  let wsPort: string;
  beforeAll(async () => {
    broker = startCli(['broker', '-p', '0', '--ws-port', '0']);
    [, tcpPort, wsPort] = await broker.waitFor(
      /listening on mqtt:\/\/localhost:(\d+) and ws:\/\/localhost:(\d+)\/mqtt;/,
    );
  });
  afterAll(async () => {
    const r = await broker?.stop('SIGINT');
    expect(r?.code).toBe(0);
  });

  it('mqttkit sub --ws and pub --ws on it, MQTT.js over WebSocket on the other side', async () => {
    const peer = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}/mqtt`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    let sub: RunningCli | undefined;
    try {
      sub = startCli(['sub', '--ws', '-p', wsPort, '-t', 'ws/to-cli', '-q', '1', '-C', '1', '--verbose']);
      await sub.waitFor(/subscribed filter=ws\/to-cli/, 'stderr');
      await peer.publishAsync('ws/to-cli', 'from mqtt.js', { qos: 1 });
      expect(await sub.exited).toMatchObject({ code: 0, stdout: 'from mqtt.js\n' });

      await peer.subscribeAsync('ws/from-cli', { qos: 1 });
      const got = new Promise<string>((resolve) =>
        peer.once('message', (_t, payload) => resolve(String(payload))),
      );
      const pub = await runCli([
        'pub',
        '--ws',
        '-p',
        wsPort,
        '-t',
        'ws/from-cli',
        '-m',
        'from mqttkit',
        '-q',
        '1',
      ]);
      expect(pub).toMatchObject({ code: 0, stderr: '' });
      expect(await got).toBe('from mqttkit');
    } finally {
      await sub?.stop();
      await peer.endAsync();
    }
  });

  it('examples/fleet.yaml as it is (no MQTT_URL, no MQTT_VERSION): its connection, moved with -p', async () => {
    const fleet = fileURLToPath(new URL('../../examples/fleet.yaml', import.meta.url));
    const r = await runCli(
      ['pub', '--config', fleet, '-p', tcpPort, '-t', 'fleet/x', '-m', 'x', '--verbose'],
      {
        env: { MQTT_URL: '', MQTT_VERSION: '' },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    // protocolVersion: auto in the file: MQTT 5 refused by aedes, then 3.1.1
    expect(r.stderr).toMatch(
      new RegExp(`INFO  connected url=mqtt://127.0.0.1:${tcpPort} clientId=\\S+ protocolVersion=4`),
    );
  });
});
