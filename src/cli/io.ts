/**
 * What pub, sub and req share: where a payload comes from (-m, -s, -f, -n,
 * --size), reading stdin and files, topic and format checks, MQTT 5
 * publish properties from flags, and a message as a JSON line.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { topicOption } from '../codec/topic.js';
import type { ProtocolVersion, PublishProperties, QoS } from '../codec/types.js';
import { CliError, Exit, UsageError } from './errors.js';
import { aborted } from './runtime.js';

/** The payload flags a command may have. */
export interface PayloadFlags {
  message?: string;
  stdinFile?: boolean;
  stdinLine?: boolean;
  file?: string;
  nullMessage?: boolean;
  size?: number;
}

const SOURCES: [keyof PayloadFlags, string][] = [
  ['message', '-m'],
  ['stdinFile', '-s'],
  ['stdinLine', '-l'],
  ['file', '-f'],
  ['nullMessage', '-n'],
  ['size', '--size'],
];

/** The payload flags given (as their names, `-m`...); throws `UsageError` for more than one. */
export function payloadSource(flags: PayloadFlags): string | undefined {
  const given = SOURCES.filter(([key]) => flags[key] !== undefined && flags[key] !== false).map(([, n]) => n);
  if (given.length > 1) throw new UsageError(`give one payload source, not ${given.join(' and ')}`);
  return given[0];
}

/**
 * The payload the flags ask for (not `-l`, read line by line by `pub`);
 * undefined when none was given. Reading stdin stops at Ctrl-C.
 */
export async function readPayload(flags: PayloadFlags, signal: AbortSignal): Promise<Buffer | undefined> {
  if (flags.message !== undefined) return Buffer.from(flags.message);
  if (flags.nullMessage) return Buffer.alloc(0);
  if (flags.size !== undefined) return randomBytes(flags.size);
  if (flags.file !== undefined) return readInputFile(flags.file, '-f/--file');
  if (flags.stdinFile) return readStdin(signal);
  return undefined;
}

/** A file a flag names; a missing or unreadable one is a usage error naming the flag. */
export async function readInputFile(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
}

/** All of stdin; Ctrl-C stops the reading (`CliError`, exit 130). */
export async function readStdin(signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  })();
  await Promise.race([reading, aborted(signal)]);
  if (signal.aborted) {
    process.stdin.destroy();
    throw interrupted('while reading stdin; nothing was sent');
  }
  return Buffer.concat(chunks);
}

/** The error a command ends with when Ctrl-C cut it short: exit 130. */
export function interrupted(what: string): CliError {
  return new CliError(`interrupted ${what}`, undefined, Exit.Interrupted);
}

/** A topic to publish to: no wildcards. */
export function checkTopicName(topic: string, flag: string): void {
  try {
    topicOption(topic, flag);
  } catch {
    throw new UsageError(`${flag}: not a topic name to publish to (no + or #): ${JSON.stringify(topic)}`);
  }
}

export function checkFormat(format: string): 'text' | 'json' {
  if (format !== 'text' && format !== 'json') {
    throw new UsageError(`-F/--format: expected text or json, got ${JSON.stringify(format)}`);
  }
  return format;
}

/** Flags that set MQTT 5 publish properties. */
export interface PropertyFlags {
  userProperty?: [string, string][];
  contentType?: string;
  expiry?: number;
  responseTopic?: string;
}

/**
 * The publish properties the flags ask for, or undefined. With MQTT 3.1.1
 * (asked for, or the broker's answer) they cannot travel: a usage error,
 * not a silent loss.
 */
export function publishProperties(
  flags: PropertyFlags,
  version: ProtocolVersion,
): PublishProperties | undefined {
  const p: PublishProperties = {};
  const given: string[] = [];
  if (flags.userProperty !== undefined) {
    p.userProperties = flags.userProperty;
    given.push('-D');
  }
  if (flags.contentType !== undefined) {
    p.contentType = flags.contentType;
    given.push('--content-type');
  }
  if (flags.expiry !== undefined) {
    p.messageExpiryInterval = flags.expiry;
    given.push('--expiry');
  }
  if (flags.responseTopic !== undefined) {
    p.responseTopic = flags.responseTopic;
    given.push('--response-topic');
  }
  if (given.length === 0) return undefined;
  if (version !== 5) throw new UsageError(`${given.join(', ')} need MQTT 5 (this connection is MQTT 3.1.1)`);
  return p;
}

/** What `messageJson` reads from a message or a response. */
export interface JsonMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos?: QoS;
  readonly retain?: boolean;
  readonly properties: PublishProperties | undefined;
}

/**
 * A message as one JSON object (`sub --format json`, `req --format json`):
 * topic, payload as text (base64 with `"encoding": "base64"` when it is not
 * UTF-8), qos and retain when known, and the MQTT 5 properties with binary
 * values in base64.
 */
export function messageJson(msg: JsonMessage): Record<string, unknown> {
  const text = isUtf8(msg.payload);
  const out: Record<string, unknown> = {
    topic: msg.topic,
    payload: msg.payload.toString(text ? 'utf8' : 'base64'),
  };
  if (!text) out.encoding = 'base64';
  if (msg.qos !== undefined) out.qos = msg.qos;
  if (msg.retain !== undefined) out.retain = msg.retain;
  if (msg.properties !== undefined) out.properties = propertiesJson(msg.properties);
  return out;
}

function propertiesJson(p: PublishProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined || key === 'topicAlias') continue;
    out[key] =
      value instanceof Uint8Array
        ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
        : value;
  }
  return out;
}
