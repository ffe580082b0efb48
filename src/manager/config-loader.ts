/**
 * Loading a fleet configuration (the format is described in
 * docs/fleet-config.md): the text parsed, `${NAME}` references substituted,
 * each part checked against its schema (`config-schema.ts`,
 * `config-forwarders.ts`), `defaults` merged into each session, TLS files
 * read, stores made, and each session's options checked by `new Session()`.
 * It holds the config stack (yaml, zod), so `config.ts` loads it with the
 * first configuration parsed, not with mqttkit.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type * as z from 'zod';
import { InvalidArgumentError } from '../core/errors.js';
import type { ForwarderOptions } from '../forward/forwarder.js';
import { Session } from '../session/index.js';
import { FileStore } from '../store/file.js';
import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import type { SessionStore } from '../store/types.js';
import type { TlsMaterial, TlsOptions } from '../transport/types.js';
import { ConfigError, type FleetConfig, type ParseFleetConfigOptions } from './config.js';
import { checkForwarders } from './config-forwarders.js';
import {
  type Defaults,
  defaultsSchema,
  type SessionEntry,
  type StoreEntry,
  sessionSchema,
  topSchema,
} from './config-schema.js';
import {
  fieldPath,
  formatPath,
  fromZod,
  issuesOf,
  type Problem,
  parseJson,
  parseYaml,
  type Segment,
} from './config-syntax.js';
import { LazyStore } from './lazy-store.js';
import type { ManagedSessionOptions, SessionManagerOptions } from './types.js';

/**
 * Checks a fleet configuration given as text, for `parseFleetConfig` (which
 * has checked `format`): the options, or {@link ConfigError} listing every
 * problem.
 */
export async function checkFleetConfig(
  text: string,
  format: 'yaml' | 'json',
  options: ParseFleetConfigOptions,
): Promise<FleetConfig> {
  const loader = new Loader(options.env ?? process.env, resolve(options.baseDir ?? process.cwd()));
  const fail = (problems: Problem[]): ConfigError =>
    new ConfigError(issuesOf(text, problems), options.source);
  const parsed = format === 'json' ? parseJson(text) : parseYaml(text);
  if (!parsed.ok) throw fail(parsed.problems);
  const config = await loader.load(parsed.value);
  if (loader.problems.length > 0 || config === undefined) throw fail(loader.problems);
  return config;
}

/** The fields of `defaults` merged field by field into a session's own. */
const DEEP = ['reconnect', 'tls', 'offlineQueue', 'ws'] as const;

/** `entry` with `defaults` under it; the `i`th session takes the `i % n`th of a list of `localAddress`es. */
function merge(defaults: Defaults | undefined, entry: SessionEntry, i: number): SessionEntry {
  if (defaults === undefined) return entry;
  const { localAddress, ...rest } = defaults;
  const merged: SessionEntry = { ...rest, ...entry };
  if (entry.localAddress === undefined && localAddress !== undefined)
    merged.localAddress = Array.isArray(localAddress) ? localAddress[i % localAddress.length] : localAddress;
  for (const key of DEEP) {
    const a = defaults[key];
    const b = entry[key];
    if (a && b && typeof a === 'object' && typeof b === 'object')
      Object.assign(merged, { [key]: { ...a, ...b } });
  }
  return merged;
}

// ---------------------------------------------------------------------------
// Loading

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PEM = '-----BEGIN';

class Loader {
  readonly problems: Problem[] = [];
  /** Paths with an unset variable: other problems there would only repeat it. */
  readonly #envPaths: string[] = [];
  readonly #files = new Map<string, Promise<Buffer | NodeJS.ErrnoException>>();
  readonly #stores = new Map<string, SessionStore>();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly baseDir: string,
  ) {}

  async load(raw: unknown): Promise<FleetConfig | undefined> {
    const value = this.#substitute(raw, []);
    const top = topSchema.safeParse(value, { reportInput: true });
    if (!top.success) {
      this.#zod(top.error.issues, []);
      return undefined;
    }
    let defaults: Defaults | undefined;
    let defaultsOk = true;
    if (top.data.defaults !== undefined) {
      const d = defaultsSchema.safeParse(top.data.defaults, { reportInput: true });
      if (d.success) defaults = d.data;
      else {
        defaultsOk = false;
        this.#zod(d.error.issues, ['defaults']);
      }
    }
    const names = new Map<string, number>();
    const defaultUrl = (top.data.defaults as { url?: unknown } | null | undefined)?.url;
    const entries = top.data.sessions.map((rawEntry, i) => {
      const name = (rawEntry as { name?: unknown } | null)?.name;
      const url = (rawEntry as { url?: unknown } | null)?.url;
      if (
        rawEntry !== null &&
        typeof rawEntry === 'object' &&
        !Array.isArray(rawEntry) &&
        url === undefined &&
        defaultUrl === undefined
      ) {
        this.#report({ path: ['sessions', i, 'url'], message: 'required' });
      }
      if (typeof name === 'string' && name !== '') {
        const first = names.get(name);
        if (first === undefined) names.set(name, i);
        else {
          const message = `duplicate name '${name}' (also sessions[${first}])`;
          this.#report({ path: ['sessions', i, 'name'], message });
        }
      }
      const parsed = sessionSchema.safeParse(rawEntry, { reportInput: true });
      if (parsed.success) return parsed.data;
      this.#zod(parsed.error.issues, ['sessions', i]);
      return undefined;
    });
    // with bad defaults no session is complete; the forwarders are still checked against the names
    const sessions = defaultsOk
      ? await Promise.all(
          entries.map((entry, i) =>
            entry === undefined ? undefined : this.#session(merge(defaults, entry, i), entry, i),
          ),
        )
      : [];
    const byName = new Map<string, ManagedSessionOptions | undefined>();
    for (const [name, i] of names) byName.set(name, sessions[i]);
    const forwarders = checkForwarders(top.data.forwarders ?? [], byName, (p) => this.#report(p));
    if (!defaultsOk || this.problems.length > 0) return undefined;
    const manager: SessionManagerOptions = {};
    if (top.data.concurrency !== undefined) manager.concurrency = top.data.concurrency;
    return {
      manager,
      sessions: sessions as ManagedSessionOptions[],
      forwarders: forwarders as ForwarderOptions[],
      ...(top.data.cluster === undefined ? {} : { cluster: top.data.cluster }),
      everyNode: entries.flatMap((e) => (e?.everyNode === true ? [e.name] : [])),
    };
  }

  #zod(issues: readonly z.core.$ZodIssue[], base: Segment[]): void {
    const problems: Problem[] = [];
    fromZod(issues, base, problems);
    for (const p of problems) this.#report(p);
  }

  /** Adds a problem, unless it is at (or under) a value with an unset variable: that one says it all. */
  #report(problem: Problem): void {
    const path = formatPath(problem.path);
    if (this.#envPaths.some((e) => path === e || path.startsWith(`${e}.`) || path.startsWith(`${e}[`)))
      return;
    this.problems.push(problem);
  }

  /** A copy of `value` with `${NAME}` references in its strings replaced. */
  #substitute(value: unknown, path: Segment[]): unknown {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
        if (name === undefined) return '${'; // $${ is a literal ${
        const v = this.env[name];
        if (fallback !== undefined) return v === undefined || v === '' ? fallback : v;
        if (v !== undefined) return v;
        this.problems.push({ path, message: `environment variable ${name} is not set` });
        this.#envPaths.push(formatPath(path));
        return match;
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => this.#substitute(v, [...path, i]));
    if (value !== null && typeof value === 'object') {
      // fromEntries defines a key named __proto__ like any other (an assignment would set the prototype)
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, this.#substitute(v, [...path, k])]),
      );
    }
    return value;
  }

  /** The session's options from its merged entry (`own` is the entry before `defaults`, to tell where a field came from). */
  async #session(
    entry: SessionEntry,
    own: SessionEntry,
    i: number,
  ): Promise<ManagedSessionOptions | undefined> {
    const at = (...rest: Segment[]): Segment[] => ['sessions', i, ...rest];
    let ok = true;
    const { tls, store, will, everyNode: _everyNode, ...rest } = entry;
    let tlsOptions: TlsOptions | undefined;
    if (tls !== undefined) {
      const { ca, cert, key, ...others } = tls;
      const files = { ca, cert, key };
      const resolved: TlsOptions = { ...others };
      await Promise.all(
        (['ca', 'cert', 'key'] as const).map(async (field) => {
          const value = files[field];
          if (value === undefined) return;
          const origin = own.tls?.[field] !== undefined ? at('tls', field) : ['defaults', 'tls', field];
          const material = await this.#material(value, origin);
          if (material === undefined) ok = false;
          else resolved[field] = material;
        }),
      );
      tlsOptions = resolved;
    }
    if (!ok || entry.url === undefined) return undefined; // no url: reported by load()

    const options: ManagedSessionOptions = { ...rest, url: entry.url, name: entry.name };
    if (tlsOptions !== undefined) options.tls = tlsOptions;
    if (store !== undefined) options.store = this.#store(store);
    if (will !== undefined) {
      const { payload, ...w } = will;
      options.will = { ...w, payload: payload ?? '' };
    }
    // the checks of new Session(), under this session's path
    const { name: _name, subscriptions: _subscriptions, ...sessionOptions } = options;
    try {
      new Session(sessionOptions);
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      this.#report({ path: at(...fieldPath(err.field)), message: err.reason });
      return undefined;
    }
    return options;
  }

  /** PEM text as is; a path (or several) as the file's bytes, each file read once per load. */
  async #material(value: string | string[], path: Segment[]): Promise<TlsMaterial | undefined> {
    const list = Array.isArray(value) ? value : [value];
    const out: (string | Buffer)[] = [];
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      const where = Array.isArray(value) ? [...path, i] : path;
      if (item.trimStart().startsWith(PEM)) {
        out.push(item);
        continue;
      }
      const file = resolve(this.baseDir, item);
      let read = this.#files.get(file);
      if (read === undefined) {
        read = readFile(file).catch((err: NodeJS.ErrnoException) => err);
        this.#files.set(file, read);
      }
      const result = await read;
      if (Buffer.isBuffer(result)) {
        out.push(result);
        continue;
      }
      // a path is echoed, but not text that is clearly no path (a key pasted without its PEM header)
      const shown = item.length <= 256 && !/[\r\n]/.test(item) ? ` (${item})` : '';
      const message =
        result.code === 'ENOENT'
          ? `file not found${shown}`
          : `cannot read file${shown}: ${result.code ?? 'error'}`;
      this.#report({ path: where, message });
    }
    if (out.length !== list.length) return undefined;
    return Array.isArray(value) ? out : out[0];
  }

  /** One store per distinct file or redis setting (a store serves many client ids); memory stores are not shared. */
  #store(entry: StoreEntry): SessionStore {
    if (entry.type === 'memory') return new MemoryStore();
    const key =
      entry.type === 'file'
        ? `file\n${resolve(this.baseDir, entry.dir)}\n${entry.fsync ?? 'batch'}`
        : `redis\n${entry.url ?? ''}\n${entry.prefix ?? ''}`;
    let store = this.#stores.get(key);
    if (store === undefined) {
      store =
        entry.type === 'file'
          ? new FileStore(resolve(this.baseDir, entry.dir), { fsync: entry.fsync ?? 'batch' })
          : redisStore(entry.url, entry.prefix);
      this.#stores.set(key, store);
    }
    return store;
  }
}

/** A `RedisStore` made at its first use: loading a configuration connects nowhere. */
function redisStore(url: string | undefined, prefix: string | undefined): SessionStore {
  const options: { url?: string; prefix?: string } = {};
  if (url !== undefined) options.url = url;
  if (prefix !== undefined) options.prefix = prefix;
  return new LazyStore(() => new RedisStore(options), { durable: true, what: 'RedisStore' });
}
