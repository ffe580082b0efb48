/** `mqttkit pub`: publish one message, many, a file, stdin, or stdin line by line. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { PublishProperties, QoS } from '../../codec/types.js';
import { topicOption } from '../../session/options.js';
import type { Session } from '../../session/session.js';
import {
  addConnectionFlags,
  type ConnectionFlags,
  collectProperty,
  connectSession,
  parseIntFlag,
  parseQos,
  planConnection,
} from '../connection.js';
import { UsageError } from '../errors.js';
import { action } from '../program.js';
import { parseDuration, sleep, Window } from '../runtime.js';

interface PubFlags extends ConnectionFlags {
  topic?: string;
  message?: string;
  stdinFile?: boolean;
  stdinLine?: boolean;
  file?: string;
  nullMessage?: boolean;
  size?: number;
  qos: QoS;
  retain?: boolean;
  userProperty?: [string, string][];
  contentType?: string;
  expiry?: number;
  responseTopic?: string;
  count: number;
  interval: number;
}

/** Publishes in flight at once (QoS 1 and 2), so a long `-l` stream keeps the pipe full. */
const WINDOW = 1000;

export function registerPub(program: Command): void {
  const cmd = program
    .command('pub')
    .description('publish a message (or many) and exit once the broker has acknowledged them')
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
  action<PubFlags>(cmd, async (flags, context) => {
    if (flags.topic === undefined) throw new UsageError('-t/--topic is required');
    try {
      topicOption(flags.topic, 'topic');
    } catch {
      throw new UsageError(
        `-t/--topic: not a topic name to publish to (no + or #): ${JSON.stringify(flags.topic)}`,
      );
    }
    const sources = [
      flags.message !== undefined && '-m',
      flags.stdinFile && '-s',
      flags.stdinLine && '-l',
      flags.file !== undefined && '-f',
      flags.nullMessage && '-n',
      flags.size !== undefined && '--size',
    ].filter((s): s is string => typeof s === 'string');
    if (sources.length === 0) throw new UsageError('give the payload: -m, -f, -s, -l, -n or --size');
    if (sources.length > 1) throw new UsageError(`give one payload source, not ${sources.join(' and ')}`);

    const plan = await planConnection(flags, { clientIdPrefix: 'mqttkit-pub' });
    context.target = plan.target;
    // read the payload before connecting: a missing file is a usage error, not a half-done publish
    let payload: Buffer | undefined;
    if (flags.message !== undefined) payload = Buffer.from(flags.message);
    else if (flags.nullMessage) payload = Buffer.alloc(0);
    else if (flags.size !== undefined) payload = randomBytes(flags.size);
    else if (flags.file !== undefined) payload = await readPayloadFile(flags.file);
    else if (flags.stdinFile) payload = await readAll(process.stdin);

    const session = await connectSession(plan, { reconnect: { initialDelay: 500, maxDelay: 5000 } });
    try {
      const properties = publishProperties(flags, session);
      const publish = { qos: flags.qos, retain: flags.retain === true, properties };
      const window = new Window(WINDOW);
      const send = async (body: Buffer): Promise<void> => {
        await window.room();
        if (window.error !== undefined) throw window.error;
        window.add(session.publish(flags.topic as string, body, publish));
      };
      if (flags.stdinLine) {
        const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        for await (const line of lines) {
          if (context.signal.aborted) break;
          if (line !== '') await send(Buffer.from(line));
        }
      } else {
        for (let i = 0; i < flags.count && !context.signal.aborted; i++) {
          if (i > 0 && flags.interval > 0 && !(await sleep(flags.interval, context.signal))) break;
          await send(payload as Buffer);
        }
      }
      await window.drain();
      if (window.error !== undefined) throw window.error;
    } finally {
      await session.close();
    }
    return 0;
  });
}

function publishProperties(flags: PubFlags, session: Session): PublishProperties | undefined {
  const wanted =
    flags.userProperty !== undefined ||
    flags.contentType !== undefined ||
    flags.expiry !== undefined ||
    flags.responseTopic !== undefined;
  if (!wanted) return undefined;
  if (session.protocolVersion !== 5) {
    throw new UsageError(
      '-D, --content-type, --expiry and --response-topic need MQTT 5 (the broker speaks 3.1.1)',
    );
  }
  const p: PublishProperties = {};
  if (flags.userProperty !== undefined) p.userProperties = flags.userProperty;
  if (flags.contentType !== undefined) p.contentType = flags.contentType;
  if (flags.expiry !== undefined) p.messageExpiryInterval = flags.expiry;
  if (flags.responseTopic !== undefined) p.responseTopic = flags.responseTopic;
  return p;
}

async function readPayloadFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`-f/--file: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
