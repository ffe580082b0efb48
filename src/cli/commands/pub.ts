/** `mqttkit pub`: publish one message, many, a file, stdin, or stdin line by line. */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { QoS } from '../../codec/types.js';
import {
  addConnectionFlags,
  type ConnectionFlags,
  collectProperty,
  connectSession,
  parseIntFlag,
  parseQos,
  planConnection,
} from '../connection.js';
import { Exit, UsageError } from '../errors.js';
import {
  checkTopicName,
  interrupted,
  type PayloadFlags,
  type PropertyFlags,
  payloadSource,
  publishProperties,
  readPayload,
} from '../io.js';
import { action } from '../program.js';
import { aborted, parseDuration, sleep, Window } from '../runtime.js';

interface PubFlags extends ConnectionFlags, PayloadFlags, PropertyFlags {
  topic?: string;
  qos: QoS;
  retain?: boolean;
  count: number;
  interval: number;
}

/** Publishes in flight at once (QoS 1 and 2), so a long `-l` stream keeps the pipe full. */
const WINDOW = 1000;

export function registerPub(program: Command): void {
  const cmd = program
    .command('pub')
    .description('publish a message (or many) and exit once the broker has acknowledged them')
    .usage('-t <topic> (-m <text> | -f <path> | -s | -l | -n | --size <bytes>) [options]')
    .option('-t, --topic <topic>', 'topic to publish to (required)')
    .option('-m, --message <text>', 'the payload')
    .option('-s, --stdin-file', 'the payload is all of stdin')
    .option('-l, --stdin-line', 'each line of stdin is a message (empty lines are skipped)')
    .option('-f, --file <path>', 'the payload is the contents of a file')
    .option('-n, --null-message', 'an empty payload')
    .option('--size <bytes>', 'a random payload of this size', parseIntFlag(0, 268_435_455))
    .option('-q, --qos <qos>', 'QoS 0, 1 or 2', parseQos, 0 as QoS)
    .option('-r, --retain', 'retain the message')
    .option('-D, --user-property <name=value>', 'MQTT 5 user property, repeatable', collectProperty)
    .option('--content-type <type>', 'MQTT 5 content type')
    .option('--expiry <seconds>', 'MQTT 5 message expiry interval', parseIntFlag(0, 0xffffffff))
    .option('--response-topic <topic>', 'MQTT 5 response topic')
    .option('--count <n>', 'publish the message n times', parseIntFlag(1), 1)
    .option('--interval <duration>', 'wait between messages (a bare number is ms)', parseDuration('ms'), 0);
  addConnectionFlags(cmd, { config: true });
  cmd.addHelpText(
    'after',
    `
Examples:
  mqttkit pub -t sensors/1/temp -m 23.5 -q 1
  mqttkit pub -t logs -l < app.log                 # one message per line
  mqttkit pub -t big -f firmware.bin -q 1
  mqttkit pub -t load --size 1024 --count 100 --interval 10ms
  mqttkit pub -t cmd -m on -D source=cli -D user=ann -V 5`,
  );
  action<PubFlags>(cmd, async (flags, context, command) => {
    if (flags.topic === undefined) throw new UsageError('-t/--topic is required');
    checkTopicName(flags.topic, '-t/--topic');
    const source = payloadSource(flags);
    if (source === undefined) throw new UsageError('give the payload: -m, -f, -s, -l, -n or --size');
    if (source === '-l' && command.getOptionValueSource('count') === 'cli') {
      throw new UsageError('--count repeats one payload: it does not go with -l (each line is a message)');
    }
    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-pub' });
    context.target = plan.target;
    if (flags.mqttVersion === 4) publishProperties(flags, 4); // a usage error before connecting
    // read the payload first: a missing file is a usage error, not a half-done publish
    const payload = await readPayload(flags, context.signal);

    const session = await connectSession(
      plan,
      { reconnect: { initialDelay: 500, maxDelay: 5000 } },
      context.signal,
    );
    const window = new Window(WINDOW);
    let sent = 0;
    try {
      const properties = publishProperties(flags, session.protocolVersion);
      const publish = { qos: flags.qos, retain: flags.retain === true, properties };
      const topic = flags.topic;
      const publishNow = (body: Buffer): boolean => {
        if (window.error !== undefined || context.signal.aborted) return false;
        window.add(session.publish(topic, body, publish));
        sent++;
        return true;
      };
      const sendLater = async (body: Buffer): Promise<boolean> => {
        if (sent > 0 && flags.interval > 0 && !(await sleep(flags.interval, context.signal))) return false;
        await window.room();
        return publishNow(body);
      };
      // no promise per message while the window has room: a long -l stream is CPU-bound here
      const send = (body: Buffer): boolean | Promise<boolean> =>
        flags.interval === 0 && window.inflight < window.limit ? publishNow(body) : sendLater(body);
      if (payload === undefined) {
        // -l: each line a message; Ctrl-C closes stdin's reader
        const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        const stop = (): void => {
          lines.close();
          process.stdin.destroy();
        };
        context.signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const line of lines) {
            if (line === '') continue;
            const ok = send(Buffer.from(line));
            if (ok === false || (ok !== true && !(await ok))) break;
          }
        } finally {
          context.signal.removeEventListener('abort', stop);
        }
      } else {
        for (let i = 0; i < flags.count; i++) {
          const ok = send(payload);
          if (ok === false || (ok !== true && !(await ok))) break;
        }
      }
      // wait for the acknowledgements, unless Ctrl-C: then close() gives them its grace period
      await Promise.race([window.drain(), aborted(context.signal)]);
    } finally {
      await session.close();
    }
    await window.drain(); // settled by close(): the rest rejected
    if (window.error !== undefined && !context.signal.aborted) throw window.error;
    const done = sent - window.failed;
    const wanted = payload === undefined ? sent : flags.count;
    if (done < wanted) throw interrupted(`after ${done} of ${wanted} messages were published`);
    return Exit.Ok;
  });
}
