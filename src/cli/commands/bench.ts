/**
 * `mqttkit bench pub | sub | conn | rpc`: load and measure a broker. Each
 * prints a summary (throughput, latency percentiles from an HdrHistogram,
 * errors, client CPU) or, with --json, one JSON object. Without -h/-p/-L it
 * starts the embedded broker in a child process.
 */
import type { Command } from 'commander';
import { topicOption } from '../../codec/topic.js';
import type { QoS } from '../../codec/types.js';
import { HEADER_SIZE } from '../bench/payload.js';
import type { CommonOptions } from '../bench/pub.js';
import type { Report } from '../bench/report.js';
import {
  addConnectionFlags,
  brokerGiven,
  type ConnectionFlags,
  type ConnectPlan,
  checkEmbeddedFlags,
  parseIntFlag,
  parseQos,
  planConnection,
} from '../connection.js';
import { UsageError } from '../errors.js';
import { action, type CommandContext } from '../program.js';
import { parseDuration, timeoutOption } from '../runtime.js';

interface BenchFlags extends ConnectionFlags {
  connections: number;
  count?: number;
  duration?: number;
  qos: QoS;
  size: number;
  inflight: number;
  rate: number;
  topic: string;
  json?: boolean;
}

interface SubFlags extends BenchFlags {
  publishers: number;
  /** false with --no-publish */
  publish: boolean;
}

interface RpcFlags extends BenchFlags {
  timeout: number;
  /** false with --no-serve */
  serve: boolean;
}

interface ConnFlags extends ConnectionFlags {
  connections: number;
  concurrency: number;
  rate: number;
  duration?: number;
  json?: boolean;
}

const DEFAULT_COUNT = 10_000;
const MAX_SIZE = 100_000_000;

type Fields = [name: string, meaning: string][];

/** What every `latency` object holds, after its kind. */
const LATENCY = 'count (samples), p50, p95, p99, max, mean (ms, µs precision, from an HdrHistogram)';
const CPU = 'CPU time of this process (user + system) in the measured phase, µs per';
const INTERRUPTED: Fields[number] = [
  'interrupted',
  'true when Ctrl-C (SIGINT or SIGTERM) stopped the run early',
];

const PUB_JSON: Fields = [
  ['command', '"pub"'],
  ['broker', 'the broker URL (no credentials, no query)'],
  ['mqttVersion', '"5" or "3.1.1", as the broker accepted'],
  ['connections', 'sessions that connected and published'],
  ['qos, size', 'QoS; payload bytes of each message'],
  ['inflight', '--inflight; null at QoS 0'],
  ['rate', '--rate; null when unlimited'],
  ['sent', 'publishes made'],
  ['acked', 'publishes acknowledged (PUBACK, at QoS 2 PUBCOMP); null at QoS 0'],
  ['received', 'null (bench pub does not subscribe)'],
  ['errors', 'failed connects, lost connections and failed publishes'],
  ['firstError', 'the first of them, one line; null when none'],
  ['durationMs', 'first publish to last acknowledgement (QoS 0: last written to the socket)'],
  ['throughput', 'messages acknowledged (QoS 0: written) per second over durationMs'],
  ['bytesPerSecond', 'their payload bytes per second'],
  ['latency', `kind "publish-to-ack", ${LATENCY}; null at QoS 0`],
  ['cpuMicrosPerMessage', `${CPU} message of throughput; null when none`],
  INTERRUPTED,
];

const SUB_JSON: Fields = [
  ['command', '"sub"'],
  ['broker, mqttVersion', 'as for bench pub'],
  ['connections', 'subscriber sessions'],
  ['publishers', 'publisher sessions (0 with --no-publish)'],
  ['qos', 'QoS of the subscriptions and the publishes'],
  ['size', 'payload bytes; null with --no-publish'],
  ['sent', 'messages published; null with --no-publish'],
  ['acked', 'publishes acknowledged at QoS 1/2, else null'],
  ['received', 'messages received, all subscribers together'],
  ['expected', 'sent x subscribers (--no-publish: -n x subscribers, null with -d)'],
  ['lost', 'expected - received, at least 0; null when expected is'],
  ['foreign', 'messages on the topics without a bench header (ignored)'],
  ['errors, firstError', 'as for bench pub'],
  ['durationMs', 'first publish (--no-publish: first message received) to last message received'],
  ['throughput', 'messages received per second over durationMs'],
  ['bytesPerSecond', 'their payload bytes per second; null with --no-publish'],
  [
    'latency',
    `kind "end-to-end" (send time in the payload to arrival), ${LATENCY}; null when nothing arrived`,
  ],
  ['cpuMicrosPerMessage', `${CPU} message received; null when none`],
  INTERRUPTED,
];

const CONN_JSON: Fields = [
  ['command', '"conn"'],
  ['broker, mqttVersion', 'as for bench pub'],
  ['connections', '-c, the sessions asked for'],
  ['concurrency', '--concurrency'],
  ['rate', '--rate; null when unlimited'],
  ['connected', 'sessions that connected'],
  ['errors', 'failed connects and connections lost while held'],
  ['firstError', 'the first of them, one line; null when none'],
  ['durationMs', 'first connect to last CONNACK or failure'],
  ['connectRate', 'sessions connected per second over durationMs'],
  ['heldMs', 'how long they were held open (-d); null without -d'],
  ['closeMs', 'time to close them all (DISCONNECT, socket closed)'],
  [
    'latency',
    `kind "connect" (connect() to CONNACK: TCP, TLS, CONNECT), ${LATENCY}; null when none connected`,
  ],
  ['cpuMicrosPerConnection', `${CPU} session connected; null when none`],
  INTERRUPTED,
];

const RPC_JSON: Fields = [
  ['command', '"rpc"'],
  ['broker, mqttVersion', 'as for bench pub'],
  ['connections', 'client sessions (the server has its own)'],
  ['served', 'true when the echo server ran in this process (no --no-serve)'],
  ['qos, size', 'QoS of requests and responses; payload bytes of each'],
  ['inflight', '--inflight'],
  ['rate', '--rate; null when unlimited'],
  ['requests', 'requests sent'],
  ['responses', 'responses received'],
  ['timeouts', 'requests without a response within -W'],
  ['errors', 'failed connects, lost connections, failed requests, error responses'],
  ['firstError', 'the first of them (or why the run stopped), one line; null when none'],
  ['durationMs', 'first request to last response'],
  ['throughput', 'responses per second over durationMs'],
  ['bytesPerSecond', 'their payload bytes per second'],
  ['latency', `kind "request-to-response", ${LATENCY}; null when nothing answered`],
  ['cpuMicrosPerMessage', `${CPU} response (with the in-process server's work); null when none`],
  INTERRUPTED,
];

/** The JSON fields as help text: names in a column, meanings wrapped beside them. */
function jsonHelp(fields: Fields): string {
  const indent = 24;
  const width = 80 - indent;
  const out = ['--json prints one object on stdout:'];
  for (const [name, meaning] of fields) {
    const lines: string[] = [];
    let line = '';
    for (const word of meaning.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
    const head = `  ${name}`;
    const first = head.length < indent ? head.padEnd(indent) : `${head}\n${' '.repeat(indent)}`;
    out.push(first + lines.join(`\n${' '.repeat(indent)}`));
  }
  return out.join('\n');
}

const BROKER_NOTE = `With none of -h, -p, -L, bench starts the embedded broker (aedes, MQTT
3.1.1, plain TCP: no --ws, TLS flags or -V 5) in a child process, prints its
address to stderr, and stops it at the end. Each message carries a 16-byte
header (magic, sequence number, send time as ms since the epoch), so --size
is at least ${HEADER_SIZE}. Ctrl-C stops a run early and still prints the summary.
Exit codes: 0 the run completed (errors are in the summary), 1 nothing could
connect (or, for rpc, nothing answered), 2 bad flags.`;

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmark a broker: publish, subscribe, connect or request/response load, with latency')
    .addHelpText(
      'after',
      `
${BROKER_NOTE}

Examples:
  mqttkit bench pub                                # embedded broker, 10 connections, 10,000 messages
  mqttkit bench pub -h broker.local -c 50 -n 1000000 -q 1 --size 256
  mqttkit bench sub -c 20 -d 30s -q 1 --rate 5000 --json
  mqttkit bench conn -h broker.local -c 10000 --concurrency 200
  mqttkit bench rpc -c 4 --inflight 32 -n 100000`,
    );

  // -- pub ------------------------------------------------------------------
  const pub = messageFlags(
    bench
      .command('pub')
      .description('publish -n messages (or for -d) over -c connections; latency publish-to-ack at QoS 1/2'),
    { inflight: 100, qos: 0 },
  );
  addConnectionFlags(pub);
  pub.addHelpText(
    'after',
    `
Each connection publishes to <prefix>/<n>; the connections share -n.

${jsonHelp(PUB_JSON)}

${BROKER_NOTE}

Examples:
  mqttkit bench pub -n 100000 -q 1 -c 10
  mqttkit bench pub -h 10.0.0.5 -d 60s --rate 20000 --size 512 --json`,
  );
  action<BenchFlags>(pub, (flags, context) => {
    const options = commonOptions(flags, context);
    return withBroker(flags, context, async (plan) =>
      (await import('../bench/pub.js')).benchPub(options, plan),
    );
  });

  // -- sub ------------------------------------------------------------------
  const sub = messageFlags(
    bench
      .command('sub')
      .description(
        'c subscribers on <prefix>/# receive every message of --publishers publishers; end-to-end latency',
      ),
    { inflight: 100, qos: 0 },
  )
    .option('--publishers <n>', 'publisher sessions sharing -n', parseIntFlag(1, 100_000), 1)
    .option('--no-publish', 'publish nothing: listen to a `bench pub` elsewhere (-n counts per subscriber)');
  addConnectionFlags(sub);
  sub.addHelpText(
    'after',
    `
Publishers publish -n messages in total (or for -d) to <prefix>/<n>; every
subscriber receives each. The run ends once all arrived or, after publishing
ended, when nothing arrived for 2 s: the rest is reported lost. With
--no-publish it ends after -n messages per subscriber, -d, or 2 s of quiet
after the first message.

${jsonHelp(SUB_JSON)}

${BROKER_NOTE}

Examples:
  mqttkit bench sub -c 10 -n 10000 -q 1
  mqttkit bench sub -h broker.local --no-publish -c 5 -n 100000 &  mqttkit bench pub -h broker.local -n 100000`,
  );
  action<SubFlags>(sub, (flags, context) => {
    const options = {
      ...commonOptions(flags, context),
      publishers: flags.publishers,
      publish: flags.publish,
    };
    return withBroker(flags, context, async (plan) =>
      (await import('../bench/sub.js')).benchSub(options, plan),
    );
  });

  // -- conn -----------------------------------------------------------------
  const conn = bench
    .command('conn')
    .description('open -c sessions, --concurrency at a time; connect latency and rate, then close time')
    .option('-c, --connections <n>', 'sessions to open', parseIntFlag(1, 1_000_000), 1000)
    .option('--concurrency <n>', 'connects in flight at once', parseIntFlag(1, 100_000), 100)
    .option('--rate <n>', 'connects per second in total (0: as fast as possible)', parseIntFlag(0), 0)
    .option(
      '-d, --duration <duration>',
      'hold the sessions open this long before closing them (a bare number is seconds)',
      parseDuration('s'),
    )
    .option('--json', 'print one JSON object (fields below) instead of the summary');
  addConnectionFlags(conn);
  conn.addHelpText(
    'after',
    `
One untimed connection comes first (it finds the MQTT version; failing, the
command fails). A failed connect of the run is counted, not fatal.

${jsonHelp(CONN_JSON)}

${BROKER_NOTE}

Examples:
  mqttkit bench conn -h broker.local -c 5000 --concurrency 250
  mqttkit bench conn -c 1000 --rate 200 -d 30s --json`,
  );
  action<ConnFlags>(conn, (flags, context) => {
    const options = {
      connections: flags.connections,
      concurrency: flags.concurrency,
      rate: flags.rate,
      hold: flags.duration,
      json: flags.json === true,
      signal: context.signal,
    };
    return withBroker(flags, context, async (plan) =>
      (await import('../bench/conn.js')).benchConn(options, plan),
    );
  });

  // -- rpc ------------------------------------------------------------------
  const rpc = messageFlags(
    bench
      .command('rpc')
      .description('request/response: -c RpcClients against an echo RpcServer; request-to-response latency'),
    { inflight: 10, qos: 1 },
  )
    .addOption(
      timeoutOption(
        '-W, --timeout <duration>',
        'how long a request waits for its response (a bare number is seconds)',
        10_000,
      ),
    )
    .option('--no-serve', 'no server in this process: one runs elsewhere (mqttkit serve -t <prefix>/rpc)');
  addConnectionFlags(rpc);
  rpc.addHelpText(
    'after',
    `
Requests go to <prefix>/rpc; the in-process server (its own session) echoes
each payload, which brings the send time back. When nothing answers, the run
stops at the first timeout (exit 1).

${jsonHelp(RPC_JSON)}

${BROKER_NOTE}

Examples:
  mqttkit bench rpc -n 100000 -c 4 --inflight 32
  mqttkit serve -h broker.local -t mqttkit/bench/rpc &  mqttkit bench rpc -h broker.local --no-serve`,
  );
  action<RpcFlags>(rpc, (flags, context) => {
    const options = { ...commonOptions(flags, context), serve: flags.serve, timeout: flags.timeout };
    return withBroker(flags, context, async (plan) =>
      (await import('../bench/rpc.js')).benchRpc(options, plan),
    );
  });
}

/** The flags of the message sub-commands (pub, sub, rpc). */
function messageFlags(cmd: Command, defaults: { inflight: number; qos: QoS }): Command {
  return cmd
    .option(
      '-c, --connections <n>',
      'sessions (publishers, subscribers, clients)',
      parseIntFlag(1, 100_000),
      10,
    )
    .option(
      '-n, --count <n>',
      `messages (requests) in total (default: ${DEFAULT_COUNT.toLocaleString('en-US')} without -d)`,
      parseIntFlag(1),
    )
    .option(
      '-d, --duration <duration>',
      'run this long instead of -n (a bare number is seconds)',
      parseDuration('s', 1),
    )
    .option('-q, --qos <qos>', 'QoS 0, 1 or 2', parseQos, defaults.qos)
    .option(
      `--size <bytes>`,
      `payload bytes, at least ${HEADER_SIZE}`,
      parseIntFlag(HEADER_SIZE, MAX_SIZE),
      64,
    )
    .option(
      '--inflight <n>',
      'per connection: QoS 1/2 publishes or requests awaiting their answer',
      parseIntFlag(1, 65_535),
      defaults.inflight,
    )
    .option(
      '--rate <n>',
      'messages (requests) per second in total (0: as fast as possible)',
      parseIntFlag(0),
      0,
    )
    .option('-t, --topic <prefix>', 'topic prefix', 'mqttkit/bench')
    .option('--json', 'print one JSON object (fields below) instead of the summary');
}

function commonOptions(flags: BenchFlags, context: CommandContext): CommonOptions {
  if (flags.count !== undefined && flags.duration !== undefined) {
    throw new UsageError('give -n/--count or -d/--duration, not both');
  }
  try {
    topicOption(`${flags.topic}/0`, 'topic');
  } catch {
    throw new UsageError(`-t/--topic: not a topic prefix (no + or #): ${JSON.stringify(flags.topic)}`);
  }
  return {
    connections: flags.connections,
    count: flags.duration === undefined ? (flags.count ?? DEFAULT_COUNT) : undefined,
    duration: flags.duration,
    qos: flags.qos,
    size: flags.size,
    inflight: flags.inflight,
    rate: flags.rate,
    topic: flags.topic,
    json: flags.json === true,
    signal: context.signal,
  };
}

/**
 * Plans the connection, starting the embedded broker in a child process
 * when no broker was given; runs the bench, prints its report, and stops
 * the broker whatever happens.
 */
async function withBroker(
  flags: ConnectionFlags & { json?: boolean },
  context: CommandContext,
  bench: (plan: ConnectPlan) => Promise<Report>,
): Promise<number> {
  const given = brokerGiven(flags);
  // flag checks first: bad flags must not start a broker
  if (!given) checkEmbeddedFlags(flags);
  let plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-bench' });
  const broker = given
    ? undefined
    : await (await import('../bench/broker.js')).startBrokerChild(context.signal);
  try {
    if (broker !== undefined) {
      process.stderr.write(
        `no broker given: started the embedded broker (aedes, MQTT 3.1.1) at ${broker.url}\n`,
      );
      // aedes speaks MQTT 3.1.1 only: no MQTT 5 attempt to be refused first
      plan = await planConnection(
        { ...flags, url: broker.url, mqttVersion: 4 },
        { clientIdPrefix: 'mqttkit-bench' },
      );
    }
    context.target = plan.target;
    const report = await bench(plan);
    (await import('../bench/report.js')).printReport(report, flags.json === true);
    return report.exitCode ?? 0;
  } finally {
    await broker?.stop();
  }
}
