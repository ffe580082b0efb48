/**
 * The built `mqttkit` command as users run it: pub, sub, req, serve and
 * broker as child processes, with mosquitto and its own clients on the other
 * side; usage errors, exit codes, error lines, and a clean Ctrl-C.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PacketDecoder } from '../../src/codec/index.js';
import { findBinary } from '../helpers/binaries.js';
import { closeAfter } from '../helpers/cleanup.js';
import { runCli, startCli, startProcess } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { startProxy } from '../helpers/proxy.js';
import { startTcpServer } from '../helpers/tcp-server.js';

const mosquittoSub = findBinary('mosquitto_sub', []);
/** mosquitto_sub's stdout is block-buffered into a pipe: stdbuf makes it line-buffered, so SUBACK shows at once. */
const stdbuf = findBinary('stdbuf', []);
const mosquittoPub = findBinary('mosquitto_pub', []);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('usage', () => {
  it('exits 2 with the usage for an unknown flag', async () => {
    const r = await runCli(['pub', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mqttkit: unknown option '--bogus'");
    expect(r.stderr).toContain('Usage: mqttkit pub -t <topic> ');
    expect(r.stdout).toBe('');
  });

  it.each([
    [
      ['pub', '-t', 'a', '-m', 'x', '-q', '3'],
      /'-q, --qos <qos>' argument '3' is invalid. expected 0, 1 or 2/,
    ],
    [['pub', '-m', 'x'], /-t\/--topic is required/],
    [['pub', '-t', 'a/#', '-m', 'x'], /not a topic name to publish to/],
    [['pub', '-t', 'a'], /give the payload: -m, -f, -s, -l, -n or --size/],
    [['pub', '-t', 'a', '-m', 'x', '-n'], /give one payload source, not -m and -n/],
    [['pub', '-t', 'a', '-m', 'x', '-L', 'mqtt://h', '-p', '1'], /either -L\/--url or -h\/--host/],
    [['pub', '-t', 'a', '-m', 'x', '-L', 'http://h'], /-L\/--url: unsupported scheme 'http:'/],
    [
      ['pub', '-t', 'a', '-f', '/nonexistent/payload'],
      /-f\/--file: cannot read \/nonexistent\/payload \(no such file\)/,
    ],
    [['pub', '-t', 'a', '-m', 'x', '--cert', 'c.pem'], /--cert and --key go together/],
    [['pub', '-t', 'a', '-m', 'x', '-V', '6'], /argument '6' is invalid. expected 5 or 3.1.1/],
    [['pub', '-t', 'a', '-m', 'x', '--interval', 'soon'], /expected a duration such as 500ms/],
    [['pub', '-t', 'a', '-l', '--count', '2'], /--count repeats one payload: it does not go with -l/],
    [
      ['pub', '-t', 'a', '-m', 'x', '--will-payload', 'bye'],
      /--will-payload, --will-qos and --will-retain need --will-topic/,
    ],
    [
      ['pub', '-t', 'a', '-m', 'x', '-L', 'mqtt://h', '--cafile', 'ca.pem'],
      /--cafile: -L\/--url does not use TLS \(mqtt:\/\/\): use mqtts:\/\/ or wss:\/\//,
    ],
    [['pub', '-t', 'a', '-m', 'x', '-L', 'mqtts://h', '--ws'], /--ws: -L\/--url is not a WebSocket URL/],
    [
      ['pub', '-t', 'a', '-m', 'x', '-V', '3.1.1', '-D', 'k=v'],
      /-D need MQTT 5 \(this connection is MQTT 3.1.1\)/,
    ],
    [['req', '-t', 'a', '-V', '3.1.1', '-D', 'k=v'], /-D need MQTT 5/],
    [['sub'], /-t\/--topic is required/],
    [['sub', '-t', 'a/#/b'], /not a valid topic filter: "a\/#\/b"/],
    [['sub', '-t', 'a', '-F', 'xml'], /-F\/--format: expected text or json/],
    [['req', '-t', 'a/+'], /-t\/--topic: not a topic name/],
    [['serve'], /-t\/--topic is required/],
    [['nosuch'], /unknown command 'nosuch'/],
    [[], /Usage: mqttkit \[options\] \[command\]/],
  ])('mqttkit %j exits 2 and says what is wrong', async (args, message) => {
    const r = await runCli(args);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await runCli(['sub', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Connection options:');
    expect(help.stdout).toContain('-h, --host <host>');
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('errors', () => {
  it('connection refused: one line with a hint, exit 1, no password', async () => {
    const port = await freePort();
    const r = await runCli([
      'pub',
      '-h',
      '127.0.0.1',
      '-p',
      `${port}`,
      '-t',
      'a',
      '-m',
      'x',
      '-P',
      'hunter2-secret',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `mqttkit: connection refused by 127.0.0.1:${port} (is a broker running on 127.0.0.1:${port}? try \`mqttkit broker -p ${port}\`)\n`,
    );
    expect(r.stderr).not.toContain('hunter2');
  });

  it('broker on a port in use: a hint to pick another', async () => {
    const taken = startCli(['broker', '-p', '0', '--bind', '127.0.0.1']);
    const [, port] = await taken.waitFor(/listening on mqtt:\/\/127\.0\.0\.1:(\d+)/);
    const r = await runCli(['broker', '-p', port, '--bind', '127.0.0.1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/port \d+ is already in use \(is a broker already running there\?/);
    expect((await taken.stop()).code).toBe(0);
  });
});

describe('Ctrl-C and closed pipes', () => {
  it('Ctrl-C while connecting to a broker that never answers: exit 130 at once', async () => {
    const silent = closeAfter(await startTcpServer());
    const sub = startCli(['sub', '-h', '127.0.0.1', '-p', `${silent.port}`, '-t', 'x']);
    await silent.nextConnection();
    const r = await sub.stop('SIGINT');
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('mqttkit: interrupted\n');
  });
});

describe.skipIf(!hasMosquitto())('against mosquitto', () => {
  let broker: Broker;
  let dir: string;
  const at = (): string[] => ['-h', '127.0.0.1', '-p', `${broker.port}`];

  beforeAll(async () => {
    broker = await startMosquitto({ tls: true, websockets: true });
    dir = await mkdtemp(join(tmpdir(), 'mqttkit-cli-'));
  });
  afterAll(async () => {
    await broker?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(mosquittoSub === undefined)(
    'pub: a message, stdin lines and a file, read by mosquitto_sub',
    async () => {
      const sub = startProcess(stdbuf as string, [
        '-oL',
        mosquittoSub as string,
        ...at(),
        ...['-t', 'cli/pub/#', '-v', '-q', '1', '-C', '4', '-d'],
      ]);
      await sub.waitFor(/received SUBACK/);
      const one = await runCli(['pub', ...at(), '-t', 'cli/pub/one', '-m', 'hello', '-q', '1']);
      expect(one).toMatchObject({ code: 0, stderr: '' });
      const lines = await runCli(['pub', ...at(), '-t', 'cli/pub/lines', '-l', '-q', '2'], {
        input: 'first\n\nsecond\n',
      });
      expect(lines).toMatchObject({ code: 0, stderr: '' });
      const file = join(dir, 'payload.txt');
      await writeFile(file, 'from a file');
      expect((await runCli(['pub', ...at(), '-t', 'cli/pub/file', '-f', file])).code).toBe(0);
      expect((await sub.exited).code).toBe(0);
      const received = sub.stdout.split('\n').filter((l) => l.startsWith('cli/pub/'));
      expect(received).toEqual([
        'cli/pub/one hello',
        'cli/pub/lines first',
        'cli/pub/lines second',
        'cli/pub/file from a file',
      ]);
    },
  );

  it.skipIf(mosquittoPub === undefined)(
    'sub --count: mosquitto_pub messages as JSON lines, then exit 0',
    async () => {
      const sub = startCli([
        'sub',
        ...at(),
        '-t',
        'cli/sub/#',
        '-q',
        '1',
        '-C',
        '3',
        '--format',
        'json',
        '--verbose',
      ]);
      await sub.waitFor(/INFO {2}subscribed filter=cli\/sub\/# qos=1/, 'stderr');
      const pub = async (args: string[]) =>
        (await startProcess(mosquittoPub as string, [...at(), '-V', '5', ...args]).exited).code;
      expect(
        await pub(['-t', 'cli/sub/a', '-m', 'text', '-q', '1', '-D', 'publish', 'user-property', 'k', 'v']),
      ).toBe(0);
      const binary = join(dir, 'binary');
      await writeFile(binary, Buffer.from([0xff, 0x00, 0xfe]));
      expect(await pub(['-t', 'cli/sub/b', '-f', binary, '-q', '0'])).toBe(0);
      expect(await pub(['-t', 'cli/sub/c', '-m', '{"x":1}', '-q', '1', '-r'])).toBe(0);
      const r = await sub.exited;
      expect(r.code).toBe(0);
      const messages = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(messages).toEqual([
        {
          topic: 'cli/sub/a',
          payload: 'text',
          qos: 1,
          retain: false,
          properties: { userProperties: [['k', 'v']] },
        },
        { topic: 'cli/sub/b', payload: '/wD+', encoding: 'base64', qos: 0, retain: false },
        { topic: 'cli/sub/c', payload: '{"x":1}', qos: 1, retain: false },
      ]);
      // the retained message is there for a later subscriber, with retain set
      const later = await runCli(['sub', ...at(), '-t', 'cli/sub/c', '-C', '1', '-F', 'json']);
      expect(later.code).toBe(0);
      expect(JSON.parse(later.stdout)).toEqual({
        topic: 'cli/sub/c',
        payload: '{"x":1}',
        qos: 0,
        retain: true,
      });
    },
  );

  it('pub -D and MQTT 5 properties reach a subscriber; --count and --size', async () => {
    const sub = startCli(['sub', ...at(), '-t', 'cli/props', '-C', '3', '-F', 'json', '--verbose']);
    await sub.waitFor(/subscribed/, 'stderr');
    const r = await runCli([
      'pub',
      ...at(),
      ...['-t', 'cli/props', '--size', '32', '--count', '3', '-q', '1', '-D', 'a=1', '-D', 'b=x=y'],
      ...['--content-type', 'application/octet-stream', '--expiry', '60'],
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const messages = (await sub.exited).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(messages).toHaveLength(3);
    for (const m of messages) {
      expect(m.properties.userProperties).toEqual([
        ['a', '1'],
        ['b', 'x=y'],
      ]);
      expect(m.properties.contentType).toBe('application/octet-stream');
      expect(m.properties.messageExpiryInterval).toBeGreaterThan(0);
      expect(Buffer.from(m.payload, m.encoding === 'base64' ? 'base64' : 'utf8')).toHaveLength(32);
    }
  });

  it('sub --timeout: 124 when --count was not reached', async () => {
    const r = await runCli(['sub', ...at(), '-t', 'cli/nothing', '-C', '1', '-W', '300ms']);
    expect(r).toMatchObject({ code: 124, stdout: '' });
  });

  it('req against serve (echo) and serve --exec', async () => {
    const echo = startCli(['serve', ...at(), '-t', 'cli/api/echo']);
    await echo.waitFor(/serving cli\/api\/echo on/, 'stderr');
    const r = await runCli(['req', ...at(), '-t', 'cli/api/echo', '-m', 'ping']);
    expect(r).toMatchObject({ code: 0, stdout: 'ping\n', stderr: '' });
    const json = await runCli(['req', ...at(), '-t', 'cli/api/echo', '-s', '-F', 'json'], {
      input: 'from stdin',
    });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      topic: expect.stringContaining('/rpc/res'),
      payload: 'from stdin',
    });

    const script =
      'if [ "$MQTT_PARAM_WORD" = fail ]; then echo "no can do" >&2; exit 3; fi; printf "%s:" "$MQTT_TOPIC"; tr a-z A-Z';
    const exec = startCli(['serve', ...at(), '-t', 'cli/exec/:word', '--exec', script]);
    await exec.waitFor(/serving/, 'stderr');
    const upper = await runCli(['req', ...at(), '-t', 'cli/exec/up', '-m', 'hello']);
    expect(upper).toMatchObject({ code: 0, stdout: 'cli/exec/up:HELLO\n' });
    const failed = await runCli(['req', ...at(), '-t', 'cli/exec/fail', '-m', 'x']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe(
      'mqttkit: the responder answered 500: the command exited with status 3: no can do\n',
    );

    expect((await echo.stop()).code).toBe(0);
    expect((await exec.stop()).code).toBe(0);
  });

  it('req: exit 124 with a hint when nobody answers', async () => {
    const r = await runCli(['req', ...at(), '-t', 'cli/nobody/home', '-W', '300ms']);
    expect(r.code).toBe(124);
    expect(r.stderr).toBe(
      "mqttkit: no response on cli/nobody/home within 300 ms (is a responder running? try `mqttkit serve -t 'cli/nobody/home'`)\n",
    );
  });

  it('TLS: --cafile verifies the broker, --insecure skips it, neither fails with a hint', async () => {
    const certs = broker.certs!;
    const tls = ['-h', 'localhost', '-p', `${broker.tlsPort}`];
    const sub = startCli([
      'sub',
      ...tls,
      '--cafile',
      certs.ca.certPath,
      '-t',
      'cli/tls',
      '-C',
      '2',
      '--verbose',
    ]);
    await sub.waitFor(/subscribed/, 'stderr');
    const verified = await runCli([
      'pub',
      ...tls,
      '--cafile',
      certs.ca.certPath,
      '-t',
      'cli/tls',
      '-m',
      'verified',
    ]);
    expect(verified.code).toBe(0);
    expect((await runCli(['pub', ...tls, '--insecure', '-t', 'cli/tls', '-m', 'unverified'])).code).toBe(0);
    expect((await sub.exited).stdout).toBe('verified\nunverified\n');
    const client = ['--cert', certs.client.certPath, '--key', certs.client.keyPath];
    const unknownCa = await runCli(['pub', ...tls, ...client, '-t', 'x', '-m', 'x']);
    expect(unknownCa.code).toBe(1);
    expect(unknownCa.stderr).toMatch(/does not verify .*\(give the CA with --cafile, or --insecure/);
  });

  it('--ws: over WebSocket, and -L with a ws:// URL', async () => {
    const ws = ['-h', '127.0.0.1', '-p', `${broker.wsPort}`, '--ws'];
    const sub = startCli(['sub', ...ws, '-t', 'cli/ws', '-C', '2', '--verbose']);
    await sub.waitFor(/connected url=ws:\/\/127\.0\.0\.1:\d+\/mqtt clientId=\S+ protocolVersion=5/, 'stderr');
    await sub.waitFor(/subscribed/, 'stderr');
    expect((await runCli(['pub', ...ws, '-t', 'cli/ws', '-m', 'flag'])).code).toBe(0);
    expect((await runCli(['pub', '-L', `${broker.wsUrl}`, '-t', 'cli/ws', '-m', 'url'])).code).toBe(0);
    expect((await sub.exited).stdout).toBe('flag\nurl\n');
  });

  it('sub: a message matching two filters is printed once per copy the broker sends, not per filter', async () => {
    for (const [version, expected] of [
      ['3.1.1', ['cli/dup/x', 'cli/dup/y']],
      // MQTT 5: mosquitto sends one copy per matching subscription, as mosquitto_sub shows
      ['5', ['cli/dup/x', 'cli/dup/x', 'cli/dup/y']],
    ] as const) {
      const sub = startCli([
        'sub',
        ...at(),
        '-V',
        version,
        '-t',
        'cli/dup/#',
        '-t',
        'cli/dup/x',
        '-v',
        '-C',
        `${expected.length}`,
        '--verbose',
      ]);
      await sub.waitFor(/subscribed filter=cli\/dup\/x/, 'stderr');
      expect((await runCli(['pub', ...at(), '-t', 'cli/dup/x', '-m', 'm'])).code).toBe(0);
      expect((await runCli(['pub', ...at(), '-t', 'cli/dup/y', '-m', 'm'])).code).toBe(0);
      const r = await sub.exited;
      expect(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' ')[0]),
      ).toEqual(expected);
    }
  });

  it('sub | head -1: the reader goes away, sub ends quietly with exit 0', async () => {
    const sub = startCli(['sub', ...at(), '-t', 'cli/pipe', '--verbose']);
    await sub.waitFor(/subscribed/, 'stderr');
    expect((await runCli(['pub', ...at(), '-t', 'cli/pipe', '-m', 'first'])).code).toBe(0);
    await sub.waitFor(/first/);
    sub.child.stdout?.destroy(); // as head does after its line
    // the next writes fail with EPIPE
    expect((await runCli(['pub', ...at(), '-t', 'cli/pipe', '-m', 'second', '--count', '3'])).code).toBe(0);
    const r = await sub.exited;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/Error|EPIPE/);
  });

  it('pub -l: Ctrl-C ends an open stdin cleanly; the lines typed so far are published', async () => {
    const sub = startCli(['sub', ...at(), '-t', 'cli/typed', '-C', '2', '--verbose']);
    await sub.waitFor(/subscribed/, 'stderr');
    const pub = startCli(['pub', ...at(), '-t', 'cli/typed', '-l', '-q', '1', '--verbose'], {
      openStdin: true,
    });
    await pub.waitFor(/INFO {2}connected url=/, 'stderr');
    pub.child.stdin?.write('one\ntwo\n');
    expect((await sub.exited).stdout).toBe('one\ntwo\n');
    const r = await pub.stop('SIGINT');
    expect(r.code).toBe(0);
  });

  it('serve --exec: a command past the timeout is answered 504 and ends with what it started', async () => {
    const pidFile = join(dir, 'sleep.pid');
    const serve = startCli([
      'serve',
      ...at(),
      '-t',
      'cli/slow',
      '-W',
      '500ms',
      '--exec',
      `sleep 30 & echo $! > ${pidFile}; wait`,
    ]);
    await serve.waitFor(/serving/, 'stderr');
    const r = await runCli(['req', ...at(), '-t', 'cli/slow', '-W', '5s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the responder answered 504/);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    // SIGTERM to the group: the background sleep goes with the shell
    await expect.poll(() => alive(pid), { timeout: 5000 }).toBe(false);
    expect((await serve.stop()).code).toBe(0);
  });

  it('--config takes the connection, not the session: a random client id, -h/-p move its URL and keep TLS', async () => {
    const certs = broker.certs!;
    const file = join(dir, 'tls-fleet.yaml');
    await writeFile(
      file,
      `sessions:\n  - name: gw\n    url: mqtts://nowhere.invalid:1\n    clientId: gateway-1\n    tls: { ca: ${certs.ca.certPath} }\n    store: { type: file, dir: ./state }\n`,
    );
    const r = await runCli([
      'pub',
      '--config',
      file,
      '-h',
      'localhost',
      '-p',
      `${broker.tlsPort}`,
      '-t',
      'cli/cfg',
      '-m',
      'x',
      '--verbose',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `connected url=mqtts://localhost:${broker.tlsPort} clientId=mqttkit-pub-\\S+ protocolVersion=5`,
      ),
    );
  });

  it('--config: connection settings from a fleet file', async () => {
    const file = join(dir, 'fleet.yaml');
    await writeFile(
      file,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own ${NAME} syntax
      'sessions:\n  - name: first\n    url: mqtt://127.0.0.1:1\n  - name: here\n    url: ${CLI_URL}\n',
    );
    const env = { CLI_URL: broker.url };
    const sub = startCli(
      ['sub', '--config', file, '--session', 'here', '-t', 'cli/config', '-C', '1', '--verbose'],
      {
        env,
      },
    );
    await sub.waitFor(/subscribed/, 'stderr');
    const pub = await runCli(['pub', '--config', file, '--session', 'here', '-t', 'cli/config', '-m', 'ok'], {
      env,
    });
    expect(pub.code).toBe(0);
    expect((await sub.exited).stdout).toBe('ok\n');
    const wrong = await runCli(['pub', '--config', file, '--session', 'nope', '-t', 'x', '-m', 'x'], { env });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('has no session named "nope" (it has: first, here)');
  });

  it('Ctrl-C: sub sends DISCONNECT and exits 0', async () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    const sent: string[] = [];
    const proxy = await startProxy(
      { port: broker.port },
      {
        tap: (_connection, direction, chunk) => {
          if (direction === 'up') for (const p of decoder.push(chunk)) sent.push(p.type);
        },
      },
    );
    try {
      const sub = startCli([
        'sub',
        '-h',
        '127.0.0.1',
        '-p',
        `${proxy.port}`,
        '-t',
        'cli/ctrl-c',
        '--verbose',
      ]);
      await sub.waitFor(/subscribed/, 'stderr');
      const r = await sub.stop('SIGINT');
      expect(r.code).toBe(0);
      expect(sent).toEqual(['connect', 'subscribe', 'disconnect']);
    } finally {
      await proxy.close();
    }
  });
});

describe('the embedded broker', () => {
  it('broker -p 0, then pub and sub through it (falling back to MQTT 3.1.1); Ctrl-C stops it', async () => {
    const broker = startCli(['broker', '-p', '0', '--verbose']);
    const [, port] = await broker.waitFor(/listening on mqtt:\/\/localhost:(\d+)/);
    const sub = startCli(['sub', '-p', port, '-t', 'embedded/#', '-v', '-C', '2', '-q', '1', '--verbose']);
    await sub.waitFor(/subscribed filter=embedded\/# qos=1/, 'stderr');
    expect(sub.stderr).toMatch(
      /WARN {2}falling back to MQTT 3\.1\.1 url=mqtt:\/\/localhost:\d+ reason=".*Unsupported Protocol Version"/,
    );
    expect(sub.stderr).toMatch(
      /INFO {2}connected url=mqtt:\/\/localhost:\d+ clientId=mqttkit-sub-\S+ protocolVersion=4/,
    );
    expect((await runCli(['pub', '-p', port, '-t', 'embedded/a', '-m', 'one', '-q', '1'])).code).toBe(0);
    expect((await runCli(['pub', '-p', port, '-t', 'embedded/b', '-m', 'two', '-q', '2'])).code).toBe(0);
    const r = await sub.exited;
    expect(r).toMatchObject({ code: 0, stdout: 'embedded/a one\nembedded/b two\n' });
    const stopped = await broker.stop('SIGINT');
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toMatch(/client connected: mqttkit-sub-/);
  });

  it('-V 5 against it fails with a hint instead of falling back', async () => {
    const broker = startCli(['broker', '-p', '0']);
    const [, port] = await broker.waitFor(/listening on mqtt:\/\/localhost:(\d+)/);
    const r = await runCli(['pub', '-p', port, '-V', '5', '-t', 'a', '-m', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `mqttkit: localhost:${port} does not support this MQTT version (try -V 3.1.1 (or leave -V out to fall back automatically))\n`,
    );
    expect((await broker.stop()).code).toBe(0);
  });

  it('a broker that hangs up on CONNECT (RabbitMQ 3 with MQTT 5): -V 5 gets a hint, no -V connects with 3.1.1', async () => {
    // the embedded broker behind a gate that closes every connection whose CONNECT asks for MQTT 5
    const broker = startCli(['broker', '-p', '0']);
    const [, upstream] = await broker.waitFor(/listening on mqtt:\/\/localhost:(\d+)/);
    const gate = createServer((client) => {
      client.once('data', (first) => {
        // byte 8 of a CONNECT with a one-byte remaining length is the protocol level
        if (first[8] === 5) return client.destroy();
        const up = connect(Number(upstream), '127.0.0.1', () => up.write(first));
        client.pipe(up).pipe(client);
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
      });
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const port = String((gate.address() as AddressInfo).port);
    try {
      const fixed = await runCli(['pub', '-p', port, '-V', '5', '-t', 'a', '-m', 'x']);
      expect(fixed.code).toBe(1);
      expect(fixed.stderr).toMatch(/closed by the broker before CONNACK/);
      expect(fixed.stderr).toMatch(/is this an MQTT port\?.*needs -V 3\.1\.1, or leave -V out/);
      const auto = await runCli(['pub', '-p', port, '-t', 'a', '-m', 'x', '--verbose']);
      expect(auto.code).toBe(0);
      expect(auto.stderr).toMatch(
        /WARN {2}falling back to MQTT 3\.1\.1 url=\S+ reason=".*closed by the broker before CONNACK/,
      );
    } finally {
      await new Promise((resolve) => gate.close(resolve));
      await broker.stop();
    }
  });
});
