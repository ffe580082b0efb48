/** `mqttkit sub`: subscribe and print messages, as text or JSON lines. */
import type { Command } from 'commander';
import { isValidTopicFilter } from '../../codec/topic.js';
import type { QoS } from '../../codec/types.js';
import type { Message } from '../../session/index.js';
import {
  addConnectionFlags,
  type ConnectionFlags,
  collect,
  connectSession,
  parseIntFlag,
  parseQos,
  planConnection,
} from '../connection.js';
import { Exit, UsageError } from '../errors.js';
import { checkFormat, messageJson } from '../io.js';
import { action } from '../program.js';
import { aborted, errorPrefix, parseDuration } from '../runtime.js';

interface SubFlags extends ConnectionFlags {
  topic?: string[];
  qos: QoS;
  count?: number;
  timeout?: number;
  format: string;
  topicAndPayload?: boolean;
  /** false with --no-local */
  local?: boolean;
}

export function registerSub(program: Command): void {
  const cmd = program
    .command('sub')
    .description('subscribe and print each message, until --count messages, --timeout or Ctrl-C')
    .usage('-t <filter>... [options]')
    .option('-t, --topic <filter>', 'topic filter to subscribe to, repeatable (required)', collect)
    .option('-q, --qos <qos>', 'maximum QoS 0, 1 or 2', parseQos, 0 as QoS)
    .option('-C, --count <n>', 'exit after n messages', parseIntFlag(1))
    .option(
      '-W, --timeout <duration>',
      'exit after this long (a bare number is seconds); 124 if --count was not reached',
      parseDuration('s', 1),
    )
    .option('-F, --format <format>', 'text: the payload; json: one JSON object per line', 'text')
    .option('-v, --topic-and-payload', 'text format: print the topic, a space, then the payload')
    .option('--no-local', 'MQTT 5: do not receive messages this client publishes');
  addConnectionFlags(cmd, { config: true });
  cmd.addHelpText(
    'after',
    `
JSON lines have: topic, payload (text; base64 with "encoding": "base64" when
not UTF-8), qos, retain, and for MQTT 5 the properties (binary values base64,
userProperties as [name, value] pairs).

Examples:
  mqttkit sub -t 'sensors/#' -v
  mqttkit sub -t a -t b -q 1 --count 10 --format json
  mqttkit sub -t 'devices/+/state' -W 30s -C 1      # wait up to 30 s for one message`,
  );
  action<SubFlags>(cmd, async (flags, context) => {
    const filters = flags.topic ?? [];
    if (filters.length === 0) throw new UsageError('-t/--topic is required');
    for (const f of filters) {
      if (!isValidTopicFilter(f))
        throw new UsageError(`-t/--topic: not a valid topic filter: ${JSON.stringify(f)}`);
    }
    const json = checkFormat(flags.format) === 'json';
    const verbose = flags.topicAndPayload === true;
    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-sub' });
    context.target = plan.target;
    const session = await connectSession(plan, {}, context.signal);
    if (flags.local === false && session.protocolVersion !== 5) {
      await session.close();
      throw new UsageError('--no-local needs MQTT 5 (this connection is MQTT 3.1.1)');
    }

    let received = 0;
    const limit = flags.count ?? Number.POSITIVE_INFINITY;
    const done = new AbortController();
    const out = process.stdout;
    // the messages of one turn of the event loop go out in one write (cork), payloads not copied
    let corked = false;
    const uncork = (): void => {
      corked = false;
      out.uncork();
    };
    // one message matching several of the filters reaches the handler once per filter: print it once
    let last: Message | undefined;
    const handler = (msg: Message): void => {
      if (received >= limit || msg === last) return;
      last = msg;
      received++;
      if (!corked) {
        corked = true;
        out.cork();
        setImmediate(uncork);
      }
      if (json) out.write(`${JSON.stringify(messageJson(msg))}\n`);
      else {
        if (verbose) out.write(`${msg.topic} `);
        out.write(msg.payload);
        out.write(NEWLINE);
      }
      if (received >= limit) done.abort();
    };
    let timedOut = false;
    const timer =
      flags.timeout === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            done.abort();
          }, flags.timeout);
    try {
      const sub = await session.subscribe(
        filters,
        { qos: flags.qos, noLocal: flags.local === false ? true : undefined, signal: context.signal },
        handler,
      );
      for (const [i, code] of sub.reasonCodes.entries()) {
        if (code >= 0x80) {
          process.stderr.write(
            `${errorPrefix()} the broker refused ${filters[i]} (reason code 0x${code.toString(16)})\n`,
          );
        } else plan.logger?.info({ filter: filters[i], qos: code }, 'subscribed');
      }
      await Promise.race([aborted(done.signal), aborted(context.signal)]);
    } finally {
      clearTimeout(timer);
      await session.close();
      if (corked) uncork();
    }
    return timedOut && flags.count !== undefined && received < flags.count ? Exit.Timeout : Exit.Ok;
  });
}

const NEWLINE = Buffer.from('\n');
