/**
 * How the command fails: exit codes, usage errors, and one clear line for
 * every error with a hint where one helps. Nothing here prints a password,
 * a token or a key: messages come from mqttkit's errors, which redact them.
 */
import {
  CLOSED_BEFORE_CONNACK,
  ConnectionError,
  ErrorCode,
  InvalidArgumentError,
  MissingPeerError,
  MqttError,
  RpcError,
} from '../core/errors.js';

/**
 * Exit codes of `mqttkit`, one per kind of failure (the table in docs/cli.md).
 * Every failure prints one line starting `mqttkit:`.
 */
export const Exit = {
  Ok: 0,
  /**
   * It ran and failed: the broker could not be reached or refused, an error
   * response, a forwarder that did not start. Trying again may work.
   */
  Error: 1,
  /**
   * The command line is wrong: an unknown command or option, a missing or
   * bad value, flags that do not go together. Nothing was sent; the usage
   * line follows the message.
   */
  Usage: 2,
  /**
   * The `--config` fleet file is wrong (unreadable, invalid, a bad field, an
   * unset variable) or lacks what the command needs (the `--session` named,
   * any forwarder). The same code as usage: the input must change, nothing
   * was sent, trying again cannot help. No usage line: the message names the
   * file and the field.
   */
  Config: 2,
  /**
   * An optional package the command needs is not installed (commander and
   * the like for any command, aedes for the embedded broker); the message
   * names the `npm install` that fixes it. The same code as usage and
   * config: nothing was sent, and trying again as it is cannot help.
   */
  MissingPackage: 2,
  /** `req` got no response in time, `sub --timeout` ended before `--count` messages (as `timeout(1)`). */
  Timeout: 124,
  /**
   * Ctrl-C cut short a command that ends by itself (`pub` before every
   * message was acknowledged, `req` before the response, a connect); also a
   * second Ctrl-C, which exits without a clean shutdown.
   */
  Interrupted: 130,
} as const;

/** A flag or argument the command cannot use; exits 2 with the command's usage line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An error the command reports as it is (already one clear line), with an optional hint and exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = Exit.Error,
  ) {
    super(message);
  }
}

/**
 * What to say when optional packages the command needs are not installed
 * (without the `mqttkit:` prefix): `the command needs the optional package
 * 'aedes': npm install aedes`. Printed by `main.ts` before the command loads,
 * and by the commands that start the embedded broker.
 */
export function missingPackagesMessage(missing: readonly string[]): string {
  const names = missing.map((name) => `'${name}'`).join(', ');
  const packages = missing.length === 1 ? 'package' : 'packages';
  return `the command needs the optional ${packages} ${names}: npm install ${missing.join(' ')}`;
}

/** A `--config` file that lacks what the command needs (a session name, forwarders): exit 2, no usage line. */
export function configError(message: string, hint?: string): CliError {
  return new CliError(message, hint, Exit.Config);
}

/**
 * The flag behind a field the library names in an `InvalidArgumentError`:
 * session options at the top (`clientId`, `will.topic`), publish and RPC
 * options under `options.` (`options.properties.contentType`). A field is
 * matched with what follows it (`options.properties.userProperties[1][1]`).
 */
const FLAG_OF_FIELD: [field: string, flag: string][] = [
  ['clientId', '-i/--id'],
  ['username', '-u/--username'],
  ['keepalive', '-k/--keepalive'],
  ['topic', '-t/--topic'],
  ['filter', '-t/--topic'],
  ['pattern', '-t/--topic'],
  ['will.topic', '--will-topic'],
  ['will.payload', '--will-payload'],
  ['options.properties.responseTopic', '--response-topic'],
  ['options.properties.contentType', '--content-type'],
  ['options.properties.messageExpiryInterval', '--expiry'],
  ['options.properties.userProperties', '-D/--user-property'],
  ['options.responseTopic', '--response-topic'],
  ['options.group', '-g/--group'],
];

/**
 * `field` as the flag it came from, or undefined: `-D/--user-property #2
 * (the value)` for `options.properties.userProperties[1][1]`.
 */
function flagOf(field: string): string | undefined {
  for (const [key, flag] of FLAG_OF_FIELD) {
    if (field === key) return flag;
    if (!field.startsWith(key)) continue;
    const rest = field.slice(key.length);
    if (rest[0] !== '.' && rest[0] !== '[') continue;
    // a -D repeated: which one, and its name or its value
    const pair = /^\[(\d+)\](?:\[([01])\])?$/.exec(rest);
    if (pair === null) return `${flag} (${rest.replace(/^\./, '')})`;
    const which = `${flag} #${Number(pair[1]) + 1}`;
    return pair[2] === undefined ? which : `${which} (the ${pair[2] === '0' ? 'name' : 'value'})`;
  }
  return undefined;
}

/**
 * The message of a usage error, or undefined when `err` is another kind: a
 * `UsageError`, or an `InvalidArgumentError` (bad input the library refused
 * before sending anything), with the field named as its flag where there is one.
 * An `InvalidArgumentError` with a reason code is a broker's limit, not usage.
 */
export function usageMessage(err: unknown): string | undefined {
  if (err instanceof UsageError) return err.message;
  if (err instanceof InvalidArgumentError && err.reasonCode === undefined) {
    const flag = flagOf(err.field);
    return flag === undefined ? err.message : `${flag}: ${err.reason}`;
  }
  return undefined;
}

/** The exit code of a command that ended with `err` (usage errors aside: see `usageMessage`). */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof MissingPeerError) return Exit.MissingPackage;
  // a ConfigError (not imported: the config module loads zod and yaml, which most commands never need)
  if (err instanceof MqttError && err.code === ErrorCode.Config) return Exit.Config;
  return Exit.Error;
}

/** Where a command was connecting, for hints. */
export interface ErrorContext {
  /** `host:port` or the URL the command used (no credentials). */
  target?: string;
}

/** The message and hint for any error a command may end with. */
export function describeError(err: unknown, context: ErrorContext = {}): { message: string; hint?: string } {
  if (err instanceof CliError) return { message: err.message, hint: err.hint };
  if (err instanceof MissingPeerError) return { message: missingPackagesMessage([err.packageName]) };
  // a ConfigError (not imported: the config module loads zod and yaml, which most commands never need)
  if (err instanceof MqttError && err.code === ErrorCode.Config) return { message: err.message };
  if (err instanceof RpcError) return { message: `the responder answered ${err.status}: ${err.message}` };
  const code = errnoOf(err);
  const target = context.target ?? 'the broker';
  switch (code) {
    case 'ECONNREFUSED':
      return { message: `connection refused by ${target}`, hint: brokerHint(target) };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { message: `cannot resolve the host of ${target}`, hint: 'check -h/--host or -L/--url' };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return {
        message: `cannot reach ${target} (${code})`,
        hint: 'check the host, the port and any firewall',
      };
    case 'EADDRINUSE':
      return {
        message: `${target} is already in use`,
        hint: 'is a broker already running there? pick another with -p, or -p 0 for a free one',
      };
    case 'EACCES':
      return { message: `no permission to listen on ${target}`, hint: 'ports below 1024 need privileges' };
    case 'ECONNRESET':
      return {
        message: `${target} closed the connection`,
        hint: 'does the broker expect TLS (--cafile) or WebSocket (--ws) on this port?',
      };
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return {
        message: `the TLS certificate of ${target} does not verify (${code})`,
        hint: 'give the CA with --cafile, or --insecure to skip verification (testing only)',
      };
  }
  if (err instanceof MqttError) {
    switch (err.reasonCode) {
      case 0x84:
        return {
          message: `${target} does not support this MQTT version`,
          hint: 'try -V 3.1.1 (or leave -V out to fall back automatically)',
        };
      case 0x86:
        return { message: `${target} refused the user name or password`, hint: 'check -u and -P' };
      case 0x87:
        return { message: `${target} refused: not authorized`, hint: 'check -u, -P and the broker ACLs' };
      case 0x85:
        return { message: `${target} refused the client id`, hint: 'try another -i, or leave it out' };
    }
    if (err instanceof ConnectionError && err.message.includes(CLOSED_BEFORE_CONNACK)) {
      return {
        message: err.message,
        hint:
          'the broker hung up without answering CONNECT: is this an MQTT port? does it expect TLS (--cafile) ' +
          'or WebSocket (--ws)? a broker without MQTT 5 (RabbitMQ 3, NATS) needs -V 3.1.1, or leave -V out',
      };
    }
    return { message: err.message };
  }
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}

/** The errno-style code (`ECONNREFUSED`, a TLS code) anywhere in the error's cause chain. */
function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && !code.startsWith('ERR_MQTT')) return code;
    // AggregateError (several addresses tried): the first
    if (e instanceof AggregateError && e.errors.length > 0) return errnoOf(e.errors[0]);
  }
  return undefined;
}

const LOOPBACK = String.raw`(?:localhost|127\.\d+\.\d+\.\d+|\[::1\])`;
const TCP_TARGET = new RegExp(`^${LOOPBACK}:(\\d+)$`);
const WS_TARGET = new RegExp(`^ws://${LOOPBACK}:(\\d+)/`);

/**
 * Where nothing listens: on this machine, the `mqttkit broker` command that
 * would listen there (plain TCP or WebSocket; it has no TLS).
 */
function brokerHint(target: string): string {
  const question = `is a broker running on ${target}?`;
  const tcp = TCP_TARGET.exec(target);
  if (tcp !== null) return `${question} try \`mqttkit broker${tcp[1] === '1883' ? '' : ` -p ${tcp[1]}`}\``;
  const ws = WS_TARGET.exec(target);
  if (ws !== null) return `${question} try \`mqttkit broker --ws-port ${ws[1]}\``;
  return question;
}
