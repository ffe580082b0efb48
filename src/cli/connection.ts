/**
 * The connection flags every command shares, as users of mosquitto_pub,
 * mosquitto_sub and the MQTTX CLI know them, turned into `SessionOptions`;
 * and connecting with a fallback to MQTT 3.1.1 for brokers without MQTT 5
 * when no version was asked for.
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError as FlagError, Option } from 'commander';
import type { ProtocolVersion, QoS } from '../codec/types.js';
import { MqttError } from '../errors.js';
import type { ManagedSessionOptions } from '../manager/types.js';
import type { SessionOptions } from '../session/options.js';
import type { Session } from '../session/session.js';
import { parseBrokerUrl } from '../transport/url.js';
import { UsageError } from './errors.js';

/** What commander gives for the shared flags. */
export interface ConnectionFlags {
  host?: string;
  port?: number;
  url?: string;
  id?: string;
  username?: string;
  password?: string;
  mqttVersion?: ProtocolVersion;
  keepalive?: number;
  cafile?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  ws?: boolean;
  config?: string;
  session?: string;
  willTopic?: string;
  willPayload?: string;
  willQos?: QoS;
  willRetain?: boolean;
  verbose?: boolean;
}

// -- flag parsers (commander reports their errors as usage errors) -------------

export function parseIntFlag(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new FlagError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function parseQos(value: string): QoS {
  if (value === '0' || value === '1' || value === '2') return Number(value) as QoS;
  throw new FlagError('expected 0, 1 or 2');
}

export function parseVersion(value: string): ProtocolVersion {
  const v = value.toLowerCase().replace(/^mqttv?/, '');
  if (v === '5' || v === '5.0' || v === '50') return 5;
  if (v === '3.1.1' || v === '311' || v === '4') return 4;
  throw new FlagError('expected 5 or 3.1.1');
}

/** `-D name=value`, repeatable: a list of pairs. */
export function collectProperty(value: string, previous: [string, string][] = []): [string, string][] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new FlagError('expected name=value');
  return [...previous, [value.slice(0, eq), value.slice(eq + 1)]];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds the shared connection flags to a command. `config` adds `--config` and `--session`. */
export function addConnectionFlags(cmd: Command, options: { config?: boolean } = {}): Command {
  cmd
    .optionsGroup('Connection options:')
    .option('-h, --host <host>', 'broker host (default: localhost)')
    .option('-p, --port <port>', 'broker port (default: 1883, 8883 with TLS)', parseIntFlag(1, 65_535))
    .option('-L, --url <url>', 'broker URL: mqtt://, mqtts://, ws://, wss://, unix:// (instead of -h/-p)')
    .option('-i, --id <client-id>', 'client id (default: a random mqttkit- id)')
    .option('-u, --username <name>', 'user name')
    .addOption(new Option('-P, --password <password>', 'password').env('MQTTKIT_PASSWORD').hideHelp(false))
    .option(
      '-V, --mqtt-version <version>',
      'MQTT version: 5 or 3.1.1 (default: 5, then 3.1.1 if refused)',
      parseVersion,
    )
    .option('-k, --keepalive <seconds>', 'keepalive interval (default: 60)', parseIntFlag(0, 65_535))
    .option('--cafile <file>', 'CA certificate(s) to trust, PEM; turns TLS on')
    .option('--cert <file>', 'client certificate, PEM (mutual TLS)')
    .option('--key <file>', 'client private key, PEM (mutual TLS)')
    .option('--insecure', 'do not verify the broker certificate (testing only)')
    .option('--ws', 'connect over WebSocket (ws://host:port/mqtt, default port 8083, 8084 with TLS)')
    .option('--will-topic <topic>', 'will message topic')
    .option('--will-payload <text>', 'will message payload', '')
    .option('--will-qos <qos>', 'will message QoS', parseQos)
    .option('--will-retain', 'retain the will message')
    .option('--verbose', 'print connection events to stderr');
  if (options.config) {
    cmd
      .option('--config <file>', 'fleet config (YAML or JSON): connection settings of one of its sessions')
      .option('--session <name>', 'which session of --config (default: the first)');
  }
  return cmd.optionsGroup('Options:');
}

/** `-h`, `-p` or `-L` given: the user's broker, not the embedded one (`bench`, `demo`). */
export function brokerGiven(flags: ConnectionFlags): boolean {
  return flags.host !== undefined || flags.port !== undefined || flags.url !== undefined;
}

/** For commands that start the embedded broker without `-h/-p/-L`: refuse flags it cannot honour. */
export function checkEmbeddedFlags(flags: ConnectionFlags): void {
  if (flags.ws || flags.cafile || flags.cert || flags.key || flags.insecure) {
    throw new UsageError(
      '--ws and the TLS flags need your broker (-h, -p or -L): the embedded one is plain TCP',
    );
  }
  if (flags.mqttVersion === 5) {
    throw new UsageError(
      'the embedded broker (aedes) speaks MQTT 3.1.1 only: leave -V out, or give your broker',
    );
  }
}

/** Session options from the flags (and `--config`), with the printable target for messages. */
export interface ConnectPlan {
  options: SessionOptions;
  /** `host:port` or the URL, without credentials. */
  target: string;
  /** `-V` given (or set by the config): no fallback to 3.1.1. */
  versionFixed: boolean;
  verbose: boolean;
}

/** Builds the session options; flags given win over `--config`. Throws `UsageError` for contradictions. */
export async function planConnection(
  flags: ConnectionFlags,
  defaults: { clientIdPrefix?: string } = {},
): Promise<ConnectPlan> {
  let base: Partial<ManagedSessionOptions> = {};
  if (flags.config !== undefined) base = await sessionFromConfig(flags.config, flags.session);
  else if (flags.session !== undefined) throw new UsageError('--session needs --config');

  if (flags.url !== undefined && (flags.host !== undefined || flags.port !== undefined)) {
    throw new UsageError('give either -L/--url or -h/--host and -p/--port, not both');
  }
  const tlsWanted =
    flags.cafile !== undefined ||
    flags.cert !== undefined ||
    flags.key !== undefined ||
    flags.insecure === true;
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError('--cert and --key go together');
  }

  let url: string | undefined;
  if (flags.url !== undefined) {
    try {
      parseBrokerUrl(flags.url);
    } catch (err) {
      throw new UsageError(`-L/--url: ${(err as Error).message.replace(/^url: /, '')}`);
    }
    url = flags.url;
  } else if (flags.host !== undefined || flags.port !== undefined || base.url === undefined) {
    const host = flags.host ?? 'localhost';
    const scheme = flags.ws ? (tlsWanted ? 'wss' : 'ws') : tlsWanted ? 'mqtts' : 'mqtt';
    const port = flags.port ?? (flags.ws ? (tlsWanted ? 8084 : 8083) : tlsWanted ? 8883 : 1883);
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    url = `${scheme}://${h}:${port}${flags.ws ? '/mqtt' : ''}`;
    try {
      parseBrokerUrl(url);
    } catch {
      throw new UsageError(`-h/--host: not a valid host name (${JSON.stringify(host)})`);
    }
  }

  const options: SessionOptions = { ...base, url: url ?? base.url ?? 'mqtt://localhost:1883' };
  delete (options as Partial<ManagedSessionOptions>).name;
  delete (options as Partial<ManagedSessionOptions>).subscriptions;
  if (flags.id !== undefined) options.clientId = flags.id;
  else if (options.clientId === undefined && defaults.clientIdPrefix !== undefined) {
    options.clientId = `${defaults.clientIdPrefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }
  if (flags.username !== undefined) options.username = flags.username;
  if (flags.password !== undefined) options.password = flags.password;
  if (flags.mqttVersion !== undefined) options.protocolVersion = flags.mqttVersion;
  if (flags.keepalive !== undefined) options.keepalive = flags.keepalive;
  if (tlsWanted) {
    const tls = { ...options.tls };
    if (flags.cafile !== undefined) tls.ca = await readPem(flags.cafile, '--cafile');
    if (flags.cert !== undefined) tls.cert = await readPem(flags.cert, '--cert');
    if (flags.key !== undefined) tls.key = await readPem(flags.key, '--key');
    if (flags.insecure) tls.rejectUnauthorized = false;
    options.tls = tls;
  }
  if (flags.willTopic !== undefined) {
    options.will = {
      topic: flags.willTopic,
      payload: flags.willPayload ?? '',
      qos: flags.willQos ?? 0,
      retain: flags.willRetain === true,
    };
  } else if (flags.willQos !== undefined || flags.willRetain) {
    throw new UsageError('--will-qos and --will-retain need --will-topic');
  }
  return {
    options,
    target: targetOf(options.url),
    versionFixed: options.protocolVersion !== undefined,
    verbose: flags.verbose === true,
  };
}

/** The printable place a URL points at: `host:port`, the socket path, or the ws URL. */
export function targetOf(url: SessionOptions['url']): string {
  const first = Array.isArray(url) ? url[0] : url;
  try {
    const ep = parseBrokerUrl(first as string | URL);
    if (ep.kind === 'tcp') return `${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
    return ep.display;
  } catch {
    return 'the broker';
  }
}

async function readPem(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
}

async function sessionFromConfig(path: string, name: string | undefined): Promise<ManagedSessionOptions> {
  const { loadFleetConfig } = await import('../manager/config.js');
  const config = await loadFleetConfig(path);
  const found = name === undefined ? config.sessions[0] : config.sessions.find((s) => s.name === name);
  if (found === undefined) {
    const names = config.sessions.map((s) => s.name).join(', ');
    throw new UsageError(
      name === undefined
        ? `${path} has no sessions`
        : `${path} has no session named ${JSON.stringify(name)} (it has: ${names})`,
    );
  }
  return found;
}

/**
 * Connects a new session. With no `-V`, a broker that refuses MQTT 5
 * (CONNACK 0x84, as MQTT 3.1.1 brokers such as aedes answer) is tried again
 * with MQTT 3.1.1, as paho falls back from 3.1.1 to 3.1.
 */
export async function connectSession(
  plan: ConnectPlan,
  extra: Partial<SessionOptions> = {},
): Promise<Session> {
  const options: SessionOptions = { ...plan.options, ...extra };
  // loaded here, not at startup: `mqttkit --help` and usage errors stay fast
  const { Session } = await import('../session/session.js');
  let session = new Session(options);
  if (plan.verbose) logEvents(session, plan.target);
  try {
    await session.connect();
    return session;
  } catch (err) {
    await session.close();
    if (plan.versionFixed || !(err instanceof MqttError) || err.reasonCode !== 0x84) throw err;
  }
  if (plan.verbose) process.stderr.write(`${plan.target} refused MQTT 5; connecting with MQTT 3.1.1\n`);
  session = new Session({ ...options, protocolVersion: 4 });
  if (plan.verbose) logEvents(session, plan.target);
  try {
    await session.connect();
  } catch (err) {
    await session.close();
    throw err;
  }
  plan.options.protocolVersion = 4; // later sessions of this command connect with 3.1.1 at once
  plan.versionFixed = true;
  return session;
}

function logEvents(session: Session, target: string): void {
  session.on('connect', () => {
    const version = session.protocolVersion === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
    process.stderr.write(`connected to ${target} (${version}, client id ${session.clientId})\n`);
  });
  session.on('disconnect', (error) => {
    if (error !== undefined) process.stderr.write(`disconnected from ${target}: ${error.message}\n`);
  });
  session.on('reconnecting', (attempt, delay) => {
    process.stderr.write(`reconnecting to ${target} in ${Math.round(delay)} ms (attempt ${attempt})\n`);
  });
}
