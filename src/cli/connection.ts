/**
 * The connection flags every command shares, as users of mosquitto_pub,
 * mosquitto_sub and the MQTTX CLI know them, turned into `SessionOptions`;
 * and connecting with a fallback to MQTT 3.1.1 for brokers without MQTT 5
 * when no version was asked for.
 */
import { type Command, InvalidArgumentError as FlagError, Option } from 'commander';
import type { ProtocolVersion, QoS } from '../codec/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isTlsScheme, isWebSocketScheme, parseBrokerUrl } from '../core/url.js';
import type { Session, SessionOptions } from '../session/index.js';
import { configError, UsageError } from './errors.js';
import { readInputFile } from './io.js';
import { cliLogger, LOG_FORMAT_HELP, type LogFormat, parseLogFormat } from './logger.js';

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
  logFormat?: LogFormat;
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
    .option('--will-payload <text>', 'will message payload (default: empty)')
    .option('--will-qos <qos>', 'will message QoS', parseQos)
    .option('--will-retain', 'retain the will message')
    .option('--verbose', 'log connects, disconnects, reconnects and drops to stderr')
    .option('--log-format <format>', LOG_FORMAT_HELP, parseLogFormat);
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
  if (flags.ws || tlsFlagsGiven(flags).length > 0) {
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
  /** `--verbose` (or `--log-format`): `logger` is there. */
  verbose: boolean;
  /** The command's logger (`--verbose`), given to the sessions `connectSession` makes. */
  logger: Logger | undefined;
}

/** What a command takes from a `--config` session: how to connect, never its identity or its store. */
const CONFIG_FIELDS = [
  'url',
  'username',
  'password',
  'protocolVersion',
  'keepalive',
  'connectTimeout',
  'tls',
  'ws',
] as const satisfies readonly (keyof SessionOptions)[];

/**
 * Builds the session options. From `--config` only the connection settings
 * are taken (URL, credentials, version, keepalive, TLS, WebSocket): the
 * client id stays a new random one unless `-i` is given, and the store is
 * never used, so a command does not take over a running fleet's session.
 * Flags given win: `-h`/`-p` replace the host and port of the config's URL
 * and keep its scheme. Throws `UsageError` for contradictions, such as a TLS
 * flag with an `mqtt://` URL.
 */
export async function planConnection(
  flags: ConnectionFlags,
  defaults: { clientIdPrefix?: string } = {},
): Promise<ConnectPlan> {
  let base: Partial<SessionOptions> = {};
  if (flags.config !== undefined) base = await sessionFromConfig(flags.config, flags.session);
  else if (flags.session !== undefined) throw new UsageError('--session needs --config');

  if (flags.url !== undefined && (flags.host !== undefined || flags.port !== undefined)) {
    throw new UsageError('give either -L/--url or -h/--host and -p/--port, not both');
  }
  const tlsFlags = tlsFlagsGiven(flags);
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError('--cert and --key go together');
  }
  const url = brokerUrl(flags, base.url, tlsFlags.length > 0);

  const options: SessionOptions = { url };
  for (const field of CONFIG_FIELDS) {
    if (field !== 'url' && base[field] !== undefined) {
      (options as unknown as Record<string, unknown>)[field] = base[field];
    }
  }
  if (flags.id !== undefined) options.clientId = flags.id;
  else if (defaults.clientIdPrefix !== undefined) {
    options.clientId = `${defaults.clientIdPrefix}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }
  if (flags.username !== undefined) options.username = flags.username;
  if (flags.password !== undefined) options.password = flags.password;
  if (flags.mqttVersion !== undefined) options.protocolVersion = flags.mqttVersion;
  if (flags.keepalive !== undefined) options.keepalive = flags.keepalive;
  if (tlsFlags.length > 0) {
    const tls = { ...options.tls };
    if (flags.cafile !== undefined) tls.ca = await readInputFile(flags.cafile, '--cafile');
    if (flags.cert !== undefined) tls.cert = await readInputFile(flags.cert, '--cert');
    if (flags.key !== undefined) tls.key = await readInputFile(flags.key, '--key');
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
  } else if (flags.willPayload !== undefined || flags.willQos !== undefined || flags.willRetain) {
    throw new UsageError('--will-payload, --will-qos and --will-retain need --will-topic');
  }
  const logger = cliLogger(flags);
  return {
    options,
    target: targetOf(options.url),
    versionFixed: options.protocolVersion !== undefined,
    verbose: logger !== undefined,
    logger,
  };
}

function tlsFlagsGiven(flags: ConnectionFlags): string[] {
  const given: string[] = [];
  if (flags.cafile !== undefined) given.push('--cafile');
  if (flags.cert !== undefined) given.push('--cert');
  if (flags.key !== undefined) given.push('--key');
  if (flags.insecure) given.push('--insecure');
  return given;
}

/** The URL to connect to: `-L`, or the config's with `-h`/`-p` applied, or one made from `-h`/`-p`/`--ws`/TLS. */
function brokerUrl(
  flags: ConnectionFlags,
  configUrl: SessionOptions['url'] | undefined,
  tls: boolean,
): string | string[] {
  if (flags.url !== undefined) return checkScheme(flags.url, '-L/--url', flags, tls);
  if (configUrl !== undefined) {
    const list = (Array.isArray(configUrl) ? configUrl : [configUrl]).map(String);
    if (flags.host === undefined && flags.port === undefined) {
      for (const u of list) checkScheme(u, `the URL in ${flags.config}`, flags, tls);
      return list.length === 1 ? list[0] : list;
    }
    // -h/-p move the config's first URL elsewhere; its scheme and path (TLS, WebSocket) stay
    const moved = new URL(list[0]);
    if (flags.host !== undefined) moved.hostname = bracketed(flags.host);
    if (flags.port !== undefined) moved.port = String(flags.port);
    return checkScheme(moved.href, `the URL in ${flags.config}`, flags, tls);
  }
  const host = flags.host ?? 'localhost';
  const scheme = flags.ws ? (tls ? 'wss' : 'ws') : tls ? 'mqtts' : 'mqtt';
  const port = flags.port ?? (flags.ws ? (tls ? 8084 : 8083) : tls ? 8883 : 1883);
  const url = `${scheme}://${bracketed(host)}:${port}${flags.ws ? '/mqtt' : ''}`;
  try {
    parseBrokerUrl(url);
  } catch {
    throw new UsageError(`-h/--host: not a valid host name (${JSON.stringify(host)})`);
  }
  return url;
}

function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** A valid broker URL that agrees with `--ws` and the TLS flags. */
function checkScheme(url: string, where: string, flags: ConnectionFlags, tls: boolean): string {
  let scheme: string;
  try {
    parseBrokerUrl(url);
    scheme = new URL(url).protocol;
  } catch (err) {
    throw new UsageError(
      `${where}: ${err instanceof InvalidArgumentError ? err.reason : (err as Error).message}`,
    );
  }
  if (flags.ws && !isWebSocketScheme(scheme)) {
    throw new UsageError(`--ws: ${where} is not a WebSocket URL (${scheme}//): use ws:// or wss://`);
  }
  if (tls && !isTlsScheme(scheme)) {
    const given = tlsFlagsGiven(flags).join(', ');
    throw new UsageError(`${given}: ${where} does not use TLS (${scheme}//): use mqtts:// or wss://`);
  }
  return url;
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

/** The connection settings of one session of a fleet file; the stores the file made are closed at once. */
async function sessionFromConfig(path: string, name: string | undefined): Promise<Partial<SessionOptions>> {
  const { loadFleetConfig } = await import('../manager/config.js');
  const config = await loadFleetConfig(path);
  const stores = new Set(config.sessions.map((s) => s.store));
  for (const store of stores) await store?.close().catch(() => undefined);
  const found = name === undefined ? config.sessions[0] : config.sessions.find((s) => s.name === name);
  if (found === undefined) {
    const names = config.sessions.map((s) => s.name).join(', ');
    throw configError(
      name === undefined
        ? `${path} has no sessions`
        : `${path} has no session named ${JSON.stringify(name)} (it has: ${names})`,
    );
  }
  const picked: Partial<SessionOptions> = {};
  for (const field of CONFIG_FIELDS) {
    if (found[field] !== undefined) (picked as Record<string, unknown>)[field] = found[field];
  }
  return picked;
}

/**
 * Connects a new session; `signal` (Ctrl-C) cancels the attempt. With no `-V`
 * the session uses `protocolVersion: 'auto'`: a broker that refuses MQTT 5
 * (CONNACK 0x84 as aedes answers, or a close before CONNACK as RabbitMQ 3
 * does) is tried again at once with MQTT 3.1.1, and later sessions of the
 * command use the version that connected.
 */
export async function connectSession(
  plan: ConnectPlan,
  extra: Partial<SessionOptions> = {},
  signal?: AbortSignal,
): Promise<Session> {
  const options: SessionOptions = { ...plan.options, ...extra };
  if (!plan.versionFixed) options.protocolVersion = 'auto';
  // with --verbose the session logs its connects, losses, reconnects and fallback itself
  if (plan.logger !== undefined) options.logger = plan.logger;
  // loaded here, not at startup: `mqttkit --help` and usage errors stay fast
  const { Session } = await import('../session/index.js');
  const session = new Session(options);
  try {
    await session.connect({ signal });
  } catch (err) {
    await session.close();
    throw err;
  }
  if (!plan.versionFixed) {
    plan.options.protocolVersion = session.protocolVersion; // later sessions of this command connect with it at once
    plan.versionFixed = true;
  }
  return session;
}
