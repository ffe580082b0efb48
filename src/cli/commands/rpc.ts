/** `mqttkit req` (one request, print the response) and `mqttkit serve` (a responder: echo or a command). */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Command } from 'commander';
import { isValidTopicFilter } from '../../codec/topic.js';
import type { QoS } from '../../codec/types.js';
import { TimeoutError } from '../../core/errors.js';
import type { RpcStatusError } from '../../rpc/server.js';
import type { RpcRequest } from '../../rpc/types.js';
import {
  addConnectionFlags,
  type ConnectionFlags,
  collect,
  collectProperty,
  connectSession,
  parseIntFlag,
  parseQos,
  planConnection,
} from '../connection.js';
import { CliError, Exit, UsageError } from '../errors.js';
import {
  checkFormat,
  checkTopicName,
  messageJson,
  type PayloadFlags,
  type PropertyFlags,
  payloadSource,
  publishProperties,
  readPayload,
} from '../io.js';
import { action } from '../program.js';
import { aborted, errorPrefix, timeoutOption } from '../runtime.js';

interface ReqFlags
  extends ConnectionFlags,
    Pick<PayloadFlags, 'message' | 'stdinFile' | 'file'>,
    Pick<PropertyFlags, 'userProperty' | 'contentType' | 'responseTopic'> {
  topic?: string;
  qos: QoS;
  timeout: number;
  format: string;
}

export function registerReq(program: Command): void {
  const cmd = program
    .command('req')
    .description('send one request and print its response (MQTT 5 response topic, or the 3.1.1 envelope)')
    .usage('-t <topic> [-m <text> | -f <path> | -s] [options]')
    .option('-t, --topic <topic>', 'request topic (required)')
    .option('-m, --message <text>', 'request payload (default: empty)')
    .option('-s, --stdin-file', 'the request payload is all of stdin')
    .option('-f, --file <path>', 'the request payload is the contents of a file')
    .option('-q, --qos <qos>', 'QoS of the request and the response subscription', parseQos, 1 as QoS)
    .addOption(
      timeoutOption(
        '-W, --timeout <duration>',
        'how long to wait for the response (a bare number is seconds)',
        10_000,
      ),
    )
    .option(
      '-D, --user-property <name=value>',
      'MQTT 5 user property of the request, repeatable',
      collectProperty,
    )
    .option('--content-type <type>', 'MQTT 5 content type of the request')
    .option('--response-topic <topic>', 'where the response comes back (default: <client id>/rpc/res)')
    .option(
      '-F, --format <format>',
      'text: the response payload; json: topic, payload and properties',
      'text',
    );
  addConnectionFlags(cmd, { config: true });
  cmd.addHelpText(
    'after',
    `
Exit codes: 0 response printed, 1 error response or failure, 124 no response in time.

Examples:
  mqttkit req -t api/devices/7/get -m '{"fields":["temp"]}'
  mqttkit req -t api/echo -s < request.json -W 3s --format json`,
  );
  action<ReqFlags>(cmd, async (flags, context) => {
    if (flags.topic === undefined) throw new UsageError('-t/--topic is required');
    checkTopicName(flags.topic, '-t/--topic');
    if (flags.responseTopic !== undefined) checkTopicName(flags.responseTopic, '--response-topic');
    payloadSource(flags);
    const format = checkFormat(flags.format);
    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-req' });
    context.target = plan.target;
    if (flags.mqttVersion === 4) publishProperties({ userProperty: flags.userProperty }, 4);
    const payload = (await readPayload(flags, context.signal)) ?? Buffer.alloc(0);

    const session = await connectSession(plan, { reconnect: false }, context.signal);
    const { RpcClient } = await import('../../rpc/client.js');
    const client = new RpcClient(session, { qos: flags.qos, responseTopic: flags.responseTopic });
    try {
      // user properties need MQTT 5; the content type also travels in the 3.1.1 envelope
      let properties = publishProperties({ userProperty: flags.userProperty }, session.protocolVersion);
      if (flags.contentType !== undefined) properties = { ...properties, contentType: flags.contentType };
      const response = await client
        .request(flags.topic, payload, { timeout: flags.timeout, signal: context.signal, properties })
        .catch((err: unknown) => {
          if (err instanceof TimeoutError) {
            throw new CliError(
              `no response on ${flags.topic} within ${flags.timeout} ms`,
              `is a responder running? try \`mqttkit serve -t '${flags.topic}'\``,
              Exit.Timeout,
            );
          }
          throw err;
        });
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(messageJson(response))}\n`);
      } else {
        process.stdout.write(Buffer.concat([response.payload, Buffer.from('\n')]));
      }
      return 0;
    } finally {
      await client.close();
      await session.close();
    }
  });
}

interface ServeFlags extends ConnectionFlags {
  topic?: string[];
  exec?: string;
  group?: string;
  qos: QoS;
  concurrency: number;
  timeout: number;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('answer requests until Ctrl-C: echo each payload, or run a command per request')
    .usage('-t <pattern>... [--exec <command>] [options]')
    .option(
      '-t, --topic <pattern>',
      'request topic filter, repeatable; :name segments match one level (required)',
      collect,
    )
    .option(
      '--exec <command>',
      'run this shell command per request: the payload on its stdin, its stdout the response',
    )
    .option('-g, --group <name>', 'share the requests with other servers of this group ($share/<name>/...)')
    .option('-q, --qos <qos>', 'QoS of the request subscriptions', parseQos, 1 as QoS)
    .option('--concurrency <n>', 'requests handled at once', parseIntFlag(1, 100_000), 64)
    .addOption(
      timeoutOption(
        '-W, --timeout <duration>',
        'a request slower than this is answered 504 (a bare number is seconds)',
        30_000,
      ),
    );
  addConnectionFlags(cmd, { config: true });
  cmd.addHelpText(
    'after',
    `
With --exec the command runs in a shell with MQTT_TOPIC set to the request's
topic (and MQTT_PARAM_<NAME> for each :name segment). Exit status 0 answers
with its stdout; any other status answers 500 with the first line of its
stderr.

Examples:
  mqttkit serve -t api/echo
  mqttkit serve -t 'api/upper' --exec 'tr a-z A-Z'
  mqttkit serve -t 'api/devices/:id/get' --exec 'cat "state/$MQTT_PARAM_ID.json"' -g api`,
  );
  action<ServeFlags>(cmd, async (flags, context) => {
    const patterns = flags.topic ?? [];
    if (patterns.length === 0) throw new UsageError('-t/--topic is required');
    for (const p of patterns) {
      if (!isValidTopicFilter(p.replace(/(^|\/):[^/]*/g, '$1+'))) {
        throw new UsageError(`-t/--topic: not a valid topic filter: ${JSON.stringify(p)}`);
      }
    }
    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-serve' });
    context.target = plan.target;
    const session = await connectSession(plan, {}, context.signal);
    const { RpcServer, RpcStatusError } = await import('../../rpc/server.js');
    const server = new RpcServer(session, {
      group: flags.group,
      qos: flags.qos,
      concurrency: flags.concurrency,
      timeout: flags.timeout,
    });
    server.on('error', (err) => process.stderr.write(`${errorPrefix()} ${err.message}\n`));
    const exec = flags.exec;
    const running = new Set<ChildProcess>();
    const handler =
      exec === undefined
        ? (req: RpcRequest) => req.payload
        : (req: RpcRequest) => runCommand(exec, req, RpcStatusError, running);
    try {
      for (const p of patterns) await server.route(p, handler);
      await server.start();
      const mode = exec === undefined ? 'echoing' : `answering with \`${exec}\``;
      process.stderr.write(`serving ${patterns.join(', ')} on ${plan.target}, ${mode}; Ctrl-C stops\n`);
      await aborted(context.signal);
      if (running.size > 0) {
        process.stderr.write(`stopping: ${running.size} command(s) still running are terminated\n`);
      }
      for (const child of running) killGroup(child);
    } finally {
      await server.stop();
      await session.close();
    }
    return 0;
  });
}

/** Runs `command` in a shell for one request: payload in, stdout out; a failure answers 500. */
function runCommand(
  command: string,
  req: RpcRequest,
  StatusError: typeof RpcStatusError,
  running: Set<ChildProcess>,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, MQTT_TOPIC: req.topic };
    for (const [name, value] of Object.entries(req.params)) env[`MQTT_PARAM_${name.toUpperCase()}`] = value;
    // its own process group: a timeout or Ctrl-C ends the command and whatever it started
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const onAbort = (): void => killGroup(child);
    req.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      running.delete(child);
      req.signal.removeEventListener('abort', onAbort);
      reject(new StatusError(500, `cannot run the command: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      req.signal.removeEventListener('abort', onAbort);
      if (code === 0) return resolve(Buffer.concat(out));
      const line = Buffer.concat(err).toString().trim().split('\n')[0].slice(0, 200);
      const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
      reject(new StatusError(500, line === '' ? `the command ${how}` : `the command ${how}: ${line}`));
    });
    // a command that does not read its stdin must not fail the request
    child.stdin.on('error', () => undefined);
    child.stdin.end(req.payload);
  });
}

/** SIGTERM to the command's process group, SIGKILL 2 s later if it is still there. */
function killGroup(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pid, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 2000);
  timer.unref();
  child.once('exit', () => clearTimeout(timer));
}
