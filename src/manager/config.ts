/**
 * Fleet configuration files: the sessions of a `SessionManager` and the
 * forwarders between them, in YAML (`.yaml`, `.yml`) or JSON (`.json`),
 * loaded with {@link loadFleetConfig}.
 *
 * ```yaml
 * concurrency: 50              # optional: sessions connectAll() connects at once
 * defaults:                    # optional: under every session; reconnect, tls, offlineQueue
 *   keepalive: 30              #   and ws are merged field by field, the rest replaced
 *   url: mqtts://broker:8883   #   anything a session has except name, clientId, subscriptions
 *   reconnect: { initialDelay: 500, maxDelay: 30000 }
 * sessions:
 *   - name: plant-a            # required, unique
 *     url: mqtts://broker:8883 # required here or in defaults; or a list, tried in turn
 *     clientId: gw-a
 *     protocolVersion: 5       # 5 | 4 | "3.1.1" | "5.0" | auto (5, falling back to 3.1.1)
 *     username: ${MQTT_USER}
 *     password: ${MQTT_PASSWORD}
 *     clean: false
 *     sessionExpiry: 3600
 *     keepalive: 60
 *     connectTimeout: 10000    # ms; also operationTimeout, receiveMaximum, maximumPacketSize,
 *                              # topicAliasMaximum, topicAliases, requestResponseInformation,
 *                              # messageBuffer, maxInflight, maximumQoS, maxDeliveryAttempts
 *                              # (see SessionOptions)
 *     userProperties: { site: a, tag: [x, y] }   # or a list: [[site, a], [tag, x], [tag, y]]
 *     tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client.key, passphrase: "${KEY_PASS}",
 *            rejectUnauthorized: true, servername: broker, ALPNProtocols: [mqtt] }
 *     ws: { headers: { Authorization: "Bearer ${TOKEN}" }, protocol: mqtt }
 *     store: { type: file, dir: ./state, fsync: batch }  # or { type: memory }
 *                                  # or { type: redis, url: redis://host:6379, prefix: "mqttkit:" }
 *     offlineQueue: { maxMessages: 10000, maxBytes: 1048576, overflow: drop-oldest, qos0: false }
 *     reconnect: false         # or { initialDelay, maxDelay, factor, jitter, resetAfter }
 *     will: { topic: plant/a/status, payload: offline, qos: 1, retain: true,
 *             properties: { willDelayInterval: 5 } }
 *     subscriptions:
 *       - { filter: plant/a/#, qos: 1 }
 *   - name: cloud
 *     url: mqtts://cloud.example:8883
 * forwarders:                  # optional: see ForwarderOptions and SessionManager.forward
 *   - name: plants-to-cloud    # required, unique among forwarders
 *     from: plant-a            # a session of this file, or a list: [plant-a, plant-b]
 *     to: cloud                # a session of this file (may be one of `from`)
 *     topics: [plant/+/temp, plant/+/alarm]   # subscribed on each source; or one filter
 *     map:                     # optional, first match wins, in file order; or a list:
 *       plant/+/temp: cloud/plants/{1}/temp   #   [[plant/+/temp, "cloud/plants/{1}/temp"], …]
 *       "plant/#": cloud/raw/{#}   # unmapped topics are forwarded as they are
 *     qos: 1                   # of the subscriptions and forwarded messages (default 1)
 *     retain: keep             # true | false (default) | keep: the source's flag
 *     metadata: { site: "${SITE}", via: gateway }  # MQTT 5 user properties on each copy
 *     envelope: false          # MQTT 3.1.1 target: a JSON envelope carrying the metadata
 *     maxWaiting: 10000        # QoS 0 messages held while the target is offline
 *     maxAttempts: 5           # tries of one message before it is given up (default: no limit)
 * ```
 *
 * - Unknown keys are errors, so a misspelt option is never silently ignored.
 * - `${NAME}` and `${NAME:-default}` in any string are replaced from the
 *   environment (`default` when NAME is unset or empty; `$${` is a literal
 *   `${`). An unset variable without a default is an error. Substitution
 *   happens after parsing, so a value never changes the file's structure;
 *   numbers and booleans may therefore be given as strings
 *   (`keepalive: ${KEEPALIVE:-30}`). In YAML flow mappings (`{ … }`) quote
 *   such strings.
 * - `tls.ca`, `tls.cert` and `tls.key` are file paths relative to the
 *   config file, read at load time (one path or a list), or inline PEM text
 *   (starting with `-----BEGIN`). `store.dir` is relative to the config file.
 * - Stores: sessions with the same `file` settings (directory and fsync) share
 *   one `FileStore`, sessions with the same `redis` settings one Redis store;
 *   each `memory` store is its own. A store is made when the file is loaded,
 *   but a Redis store connects only when a session first uses it (`RedisStore`
 *   connects in its constructor, so the loaded store makes it on first use).
 *   The stores belong to the caller: close each distinct one once every session
 *   using it is closed (`new Set(config.sessions.map((s) => s.store))`).
 * - Every problem found is reported at once in one {@link ConfigError} whose
 *   issues name the path of the bad field (`sessions[3].tls.ca: file not
 *   found (./ca.pem)`), with the line when known. Values are never part of a
 *   message, so passwords and keys do not leak into logs.
 * - Each session's options are also checked by `new Session()` (MQTT 5
 *   options with `protocolVersion: 4`, a will topic, …), and those errors are
 *   reported under the session's path too.
 * - Forwarders are checked against the file: `from` and `to` must name its
 *   sessions (`forwarders[0].to: no session named 'cloud'`), topics must be
 *   filters, each `map` rule must compile (`compileTopicMap`'s reason under
 *   `forwarders[1].map["a/+"]`), and `metadata` toward an MQTT 3.1.1 target
 *   needs `envelope: true`. `filter` and `transform` are functions: they
 *   cannot be in a file (add such a forwarder in code). Forwarding a session
 *   to itself is allowed (a map rewriting topics on one broker): the
 *   forwarder knows its own copies (the MQTT 5 marker, the MQTT 3.1.1 loop
 *   guard) and does not forward them again.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { ErrorCode, InvalidArgumentError, MqttError } from '../core/errors.js';
import type { ForwarderOptions } from '../forward/forwarder.js';
import type { ManagedSessionOptions, SessionManagerOptions } from './types.js';

/** A loaded fleet: the manager's options and every session's options, ready for `SessionManager`. */
export interface FleetConfig {
  /** `concurrency` from the file, when given. */
  manager: SessionManagerOptions;
  /** In file order, `defaults` merged in, files read, stores made. */
  sessions: ManagedSessionOptions[];
  /** In file order; `from` and `to` name sessions of the file. For `SessionManager.forward`. */
  forwarders: ForwarderOptions[];
}

/** Options of {@link loadFleetConfig}. */
export interface LoadFleetConfigOptions {
  /** Where `${NAME}` references are looked up. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** Options of {@link parseFleetConfig}. */
export interface ParseFleetConfigOptions extends LoadFleetConfigOptions {
  /** The directory relative paths (TLS files, store directories) start from. @default process.cwd() */
  baseDir?: string;
  /** Where the text came from (a file path), for messages and {@link ConfigError.source}. */
  source?: string;
}

/** One problem in a configuration file. */
export interface ConfigIssue {
  /** The bad field, e.g. `sessions[3].tls.ca`; `''` for the file as a whole (syntax errors). */
  path: string;
  /** What is wrong; never the value itself. */
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
  /** 1-based column, for syntax errors. */
  column?: number;
}

/**
 * A configuration file that cannot be used: a syntax error, fields of the
 * wrong type or out of range, unknown keys, duplicate names, unset
 * environment variables, missing TLS files. `issues` lists every problem;
 * the message has one line per issue, each starting with the file path
 * (`fleet.yaml:12: sessions[3].tls.ca: file not found (./ca.pem)`).
 */
export class ConfigError extends MqttError {
  declare readonly code: typeof ErrorCode.Config;
  /** Every problem found, in file order. */
  readonly issues: readonly ConfigIssue[];
  /** The file path (or the `source` given to `parseFleetConfig`). */
  readonly source: string | undefined;

  constructor(issues: readonly ConfigIssue[], source?: string) {
    super(ErrorCode.Config, issues.map((i) => formatIssue(i, source)).join('\n'));
    this.issues = issues;
    this.source = source;
  }
}

function formatIssue(issue: ConfigIssue, source: string | undefined): string {
  let where = source ?? '';
  if (issue.line !== undefined) {
    const at = issue.column === undefined ? `${issue.line}` : `${issue.line}:${issue.column}`;
    where = source === undefined ? `line ${at}` : `${source}:${at}`;
  }
  return [where, issue.path, issue.message].filter((s) => s !== '').join(': ');
}

/**
 * Reads and checks the fleet configuration at `path` (YAML for `.yaml` and
 * `.yml`, JSON for `.json`; the format is described at the top of this
 * module). Relative paths in it start from the file's directory. Rejects
 * with {@link ConfigError} listing every problem.
 */
export async function loadFleetConfig(
  path: string,
  options: LoadFleetConfigOptions = {},
): Promise<FleetConfig> {
  const ext = extname(path).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
  if (format === undefined) {
    const message = `unsupported file type '${ext}' (use .yaml, .yml or .json)`;
    throw new ConfigError([{ path: '', message }], path);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`;
    throw new ConfigError([{ path: '', message }], path);
  }
  return parseFleetConfig(text, format, { env: options.env, baseDir: dirname(resolve(path)), source: path });
}

/**
 * Checks a fleet configuration given as text (see {@link loadFleetConfig};
 * `baseDir` is where relative paths start). Rejects with
 * {@link ConfigError} listing every problem.
 */
export async function parseFleetConfig(
  text: string,
  format: 'yaml' | 'json',
  options: ParseFleetConfigOptions = {},
): Promise<FleetConfig> {
  if (format !== 'yaml' && format !== 'json') {
    throw new InvalidArgumentError('format', "must be 'yaml' or 'json'");
  }
  // the parsers and the schema (yaml, zod) load with the first configuration, not with mqttkit
  const { checkFleetConfig } = await import('./config-loader.js');
  return checkFleetConfig(text, format, options);
}
