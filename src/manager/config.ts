/**
 * Fleet configuration files: the sessions of a `SessionManager` and the
 * forwarders between them, in YAML or JSON. The format is described in
 * docs/fleet-config.md. This module is the light entry: the public types,
 * `ConfigError`, and reading the file; the parsers and the schema (yaml,
 * zod) are in `config-loader.ts`, loaded with the first configuration.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { ErrorCode, InvalidArgumentError, MqttError } from '../core/errors.js';
import type { ForwarderOptions } from '../forward/forwarder.js';
import type { ClusterOptions } from './cluster.js';
import type { ManagedSessionOptions, SessionManagerOptions } from './types.js';

/** A loaded fleet: the manager's options and every session's options, ready for `SessionManager`. */
export interface FleetConfig {
  /** `concurrency` from the file, when given. */
  manager: SessionManagerOptions;
  /** In file order, `defaults` merged in, files read, stores made. */
  sessions: ManagedSessionOptions[];
  /** In file order; `from` and `to` name sessions of the file. For `SessionManager.forward`. */
  forwarders: ForwarderOptions[];
  /**
   * The names of the sessions marked `everyNode: true`: in cluster mode each
   * node runs its own copy (client id `<clientId>-<node>`, no lease), e.g. an
   * RPC server in a `$share` group; without a cluster they are plain sessions.
   */
  everyNode: string[];
  /** The `cluster:` section, when the file has one (see `SessionManager.fromConfig`). */
  cluster?: ClusterOptions;
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
 * `.yml`, JSON for `.json`; the format is described in the guide's "Fleet
 * config files" page). Relative paths in it start from the file's
 * directory. Rejects with {@link ConfigError} listing every problem.
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
