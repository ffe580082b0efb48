/** `mqttkit req` (one request, print the response) and `mqttkit serve` (a responder: echo or a command). */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { isValidTopicFilter } from '../../codec/topic.js';
import type { PublishProperties, QoS } from '../../codec/types.js';
import { TimeoutError } from '../../errors.js';
import type { RpcStatusError } from '../../rpc/server.js';
import type { RpcRequest } from '../../rpc/types.js';
import { topicOption } from '../../session/options.js';
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
import { action } from '../program.js';
import { aborted, parseDuration } from '../runtime.js';
import { readAll } from './pub.js';
import { messageJson } from './sub.js';

interface ReqFlags extends ConnectionFlags {
  topic?: string;
  message?: string;
  stdinFile?: boolean;
  file?: string;
  qos: QoS;
  timeout: number;
  userProperty?: [string, string][];
  contentType?: string;
  responseTopic?: string;
  format: string;
}

export function registerReq(program: Command): void {
  const cmd = program
    .command('req')
    .description('send one request and print its response (MQTT 5 response topic, or the 3.1.1 envelope)')
    .option('-t, --topic <topic>', 'request topic (required)')
    .option('-m, --message <text>', 'request payload (default: empty)')
    .option('-s, --stdin-file', 'the request payload is all of stdin')
    .option('-f, --file <path>', 'the request payload is the contents of a file')
    .option('-q, --qos <qos>', 'QoS of the request and the response subscription', parseQos, 1 as QoS)
    .option(
      '-W, --timeout <duration>',
      'how long to wait for the response (a bare number is seconds)',
      parseDuration('s', 1),
      10_000,
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
    checkTopic(flags.topic, '-t/--topic');
    if (flags.responseTopic !== undefined) checkTopic(flags.responseTopic, '--response-topic');
    const sources = [flags.message !== undefined, flags.stdinFile === true, flags.file !== undefined].filter(
      Boolean,
    );
    if (sources.length > 1) throw new UsageError('give one payload source: -m, -s or -f');
    if (flags.format !== 'text' && flags.format !== 'json') {
      throw new UsageError(`-F/--format: expected text or json, got ${JSON.stringify(flags.format)}`);
    }
    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-req' });
    context.target = plan.target;
    let payload: Buffer = Buffer.alloc(0);
    if (flags.message !== undefined) payload = Buffer.from(flags.message);
    else if (flags.file !== undefined)
      payload = await readFile(flags.file).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(
          `-f/--file: cannot read ${flags.file} (${err.code === 'ENOENT' ? 'no such file' : err.code})`,
        );
      });
    else if (flags.stdinFile) payload = await readAll(process.stdin);

    const session = await connectSession(plan, { reconnect: false });
    const { RpcClient } = await import('../../rpc/client.js');
    const client = new RpcClient(session, { qos: flags.qos, responseTopic: flags.responseTopic });
    try {
      let properties: PublishProperties | undefined;
      if (flags.userProperty !== undefined || flags.contentType !== undefined) {
        properties = {};
        if (flags.userProperty !== undefined) properties.userProperties = flags.userProperty;
        if (flags.contentType !== undefined) properties.contentType = flags.contentType;
      }
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
      if (flags.format === 'json') {
        const msg = {
          topic: response.topic,
          payload: response.payload,
          properties: response.properties,
          qos: flags.qos,
          retain: false,
          dup: false,
        };
        const json = messageJson(msg);
        delete json.qos;
        delete json.retain;
        process.stdout.write(`${JSON.stringify(json)}\n`);
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
    .option(
      '-W, --timeout <duration>',
      'a request slower than this is answered 504 (a bare number is seconds)',
      parseDuration('s', 1),
      30_000,
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
    const session = await connectSession(plan);
    const { RpcServer, RpcStatusError } = await import('../../rpc/server.js');
    const server = new RpcServer(session, {
      group: flags.group,
      qos: flags.qos,
      concurrency: flags.concurrency,
      timeout: flags.timeout,
    });
    server.on('error', (err) => process.stderr.write(`mqttkit serve: ${err.message}\n`));
    const exec = flags.exec;
    const handler =
      exec === undefined
        ? (req: RpcRequest) => req.payload
        : (req: RpcRequest) => runCommand(exec, req, RpcStatusError);
    try {
      for (const p of patterns) await server.route(p, handler);
      await server.start();
      const mode = exec === undefined ? 'echoing' : `answering with \`${exec}\``;
      process.stderr.write(`serving ${patterns.join(', ')} on ${plan.target}, ${mode}; Ctrl-C stops\n`);
      await aborted(context.signal);
    } finally {
      await server.stop();
      await session.close();
    }
    return 0;
  });
}

function checkTopic(topic: string, flag: string): void {
  try {
    topicOption(topic, flag);
  } catch {
    throw new UsageError(`${flag}: not a topic name (no + or #): ${JSON.stringify(topic)}`);
  }
}

/** Runs `command` in a shell for one request: payload in, stdout out; a failure answers 500. */
function runCommand(command: string, req: RpcRequest, StatusError: typeof RpcStatusError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, MQTT_TOPIC: req.topic };
    for (const [name, value] of Object.entries(req.params)) env[`MQTT_PARAM_${name.toUpperCase()}`] = value;
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      req.signal.removeEventListener('abort', onAbort);
      reject(new StatusError(500, `cannot run the command: ${e.message}`));
    });
    child.on('close', (code, signal) => {
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
