/**
 * The checking half of fleet configuration files (see `config.ts` for the
 * format): the parsers, the schema, environment substitution, TLS files and
 * stores. It holds the config stack (yaml, zod), so `config.ts` loads it
 * with the first configuration parsed, not with mqttkit.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as z from 'zod';
import type { UserProperty } from '../codec/types.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { SCHEME_LIST, schemeKind } from '../core/url.js';
import type { ForwarderOptions } from '../forward/forwarder.js';
import { Session } from '../session/session.js';
import { FileStore } from '../store/file.js';
import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from '../store/types.js';
import type { TlsMaterial, TlsOptions } from '../transport/types.js';
import { ConfigError, type FleetConfig, type ParseFleetConfigOptions } from './config.js';
import { checkForwarders } from './config-forwarders.js';
import {
  bool,
  fieldPath,
  formatPath,
  fromZod,
  int,
  issuesOf,
  MAX_MS,
  num,
  type Problem,
  parseJson,
  parseYaml,
  qos,
  type Segment,
  text,
} from './config-syntax.js';
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

// ---------------------------------------------------------------------------
// Schema

function checkUrl(value: string, ctx: z.RefinementCtx, path: Segment[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // the text is not echoed: it may hold a password
    ctx.addIssue({ code: 'custom', message: 'not a valid URL', path });
    return;
  }
  if (schemeKind(url.protocol) === undefined) {
    const message = `unsupported scheme '${url.protocol}' (use ${SCHEME_LIST})`;
    ctx.addIssue({ code: 'custom', message, path });
  }
}

const urlSchema = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
    error: 'expected a URL or a list of URLs',
  })
  .superRefine((v, ctx) => {
    if (typeof v === 'string') checkUrl(v, ctx, []);
    else for (const [i, u] of v.entries()) checkUrl(u, ctx, [i]);
  });

/** A map's entries as a list of [name, value] pairs, a list of values giving one pair each. */
const mapToPairs = (map: object): [string, unknown][] =>
  Object.entries(map).flatMap(([k, x]): [string, unknown][] =>
    Array.isArray(x) ? x.map((one): [string, unknown] => [k, one]) : [[k, x]],
  );

const userPropertiesSchema = z
  .preprocess(
    // a map with a name `__proto__` goes as pairs: zod's record would make it the prototype and lose it
    (v) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, '__proto__')
        ? mapToPairs(v)
        : v,
    z.union(
      [
        // MQTT.js's shape: a name with a list of values is sent once per value
        z.record(z.string(), z.union([text, z.array(text)])),
        z.array(z.union([z.tuple([z.string(), text]), z.strictObject({ name: z.string(), value: text })])),
      ],
      { error: 'expected a map of names to values (or lists of values), or a list of [name, value] pairs' },
    ),
  )
  .transform((v): UserProperty[] =>
    Array.isArray(v)
      ? v.map((p): UserProperty => (Array.isArray(p) ? [p[0], p[1]] : [p.name, p.value]))
      : (mapToPairs(v) as UserProperty[]),
  );

const tlsMaterialSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
  error: 'expected a file path, PEM text, or a list of them',
});

const tlsSchema = z.strictObject({
  ca: tlsMaterialSchema.optional(),
  cert: tlsMaterialSchema.optional(),
  key: tlsMaterialSchema.optional(),
  passphrase: z.string().optional(),
  servername: z.string().optional(),
  rejectUnauthorized: bool.optional(),
  ALPNProtocols: z
    .union([z.string(), z.array(z.string())], { error: 'expected a string or a list of strings' })
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
});

const storeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('memory') }),
  z.strictObject({
    type: z.literal('file'),
    dir: z.string().min(1),
    fsync: z.enum(['always', 'batch', 'never']).optional(),
  }),
  z.strictObject({
    type: z.literal('redis'),
    url: z
      .string()
      .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })
      .optional(),
    prefix: z.string().optional(),
  }),
]);

const reconnectSchema = z
  .union(
    [
      z.boolean(),
      z.strictObject({
        initialDelay: int(0, MAX_MS).optional(),
        maxDelay: int(0, MAX_MS).optional(),
        factor: num(1, Number.MAX_SAFE_INTEGER).optional(),
        jitter: num(0, 1).optional(),
        resetAfter: int(0, MAX_MS).optional(),
      }),
    ],
    { error: 'expected false, true or { initialDelay, maxDelay, factor, jitter, resetAfter }' },
  )
  .transform((v) => (v === true ? {} : v));

const willSchema = z.strictObject({
  topic: z.string(),
  payload: text.optional(),
  qos: qos.optional(),
  retain: bool.optional(),
  properties: z
    .strictObject({
      willDelayInterval: int(0, 0xffffffff).optional(),
      messageExpiryInterval: int(0, 0xffffffff).optional(),
      contentType: z.string().optional(),
      responseTopic: z.string().optional(),
      payloadFormatIndicator: bool.optional(),
      userProperties: userPropertiesSchema.optional(),
    })
    .optional(),
});

/** Everything a session and `defaults` may set. */
const commonFields = {
  url: urlSchema.optional(),
  protocolVersion: z
    .literal([5, 4, '3.1.1', '5.0', '5', '4', 'auto'])
    .transform((v): 4 | 5 | 'auto' => (v === 'auto' ? v : v === 4 || v === '4' || v === '3.1.1' ? 4 : 5))
    .optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  clean: bool.optional(),
  sessionExpiry: int(0, 0xffffffff).optional(),
  keepalive: int(0, 65_535).optional(),
  connectTimeout: int(1, MAX_MS).optional(),
  operationTimeout: int(0, MAX_MS).optional(),
  receiveMaximum: int(1, 65_535).optional(),
  maximumPacketSize: int(16, 268_435_460).optional(),
  topicAliasMaximum: int(0, 65_535).optional(),
  topicAliases: bool.optional(),
  requestResponseInformation: bool.optional(),
  messageBuffer: int(1, MAX_MS).optional(),
  maxInflight: int(1, 65_535).optional(),
  maximumQoS: qos.optional(),
  maxDeliveryAttempts: int(0, Number.MAX_SAFE_INTEGER).optional(),
  userProperties: userPropertiesSchema.optional(),
  tls: tlsSchema.optional(),
  ws: z
    .strictObject({ headers: z.record(z.string(), text).optional(), protocol: z.string().optional() })
    .optional(),
  store: storeSchema.optional(),
  offlineQueue: z
    .strictObject({
      maxMessages: int(0, MAX_MS).optional(),
      maxBytes: int(0, Number.MAX_SAFE_INTEGER).optional(),
      overflow: z.enum(['reject', 'drop-oldest', 'drop-newest']).optional(),
      qos0: bool.optional(),
    })
    .optional(),
  reconnect: reconnectSchema.optional(),
  will: willSchema.optional(),
};

const defaultsSchema = z.strictObject(commonFields);

const sessionSchema = z.strictObject({
  name: z.string().min(1),
  clientId: z.string().optional(),
  subscriptions: z.array(z.strictObject({ filter: z.string().min(1), qos: qos.optional() })).optional(),
  ...commonFields,
});

const topSchema = z.strictObject({
  concurrency: int(1, MAX_MS).optional(),
  defaults: z.unknown().optional(),
  sessions: z.array(z.unknown()),
  forwarders: z.array(z.unknown()).optional(),
});

type Defaults = z.output<typeof defaultsSchema>;
type SessionEntry = z.output<typeof sessionSchema>;
type StoreEntry = z.output<typeof storeSchema>;

/** The fields of `defaults` merged field by field into a session's own. */
const DEEP = ['reconnect', 'tls', 'offlineQueue', 'ws'] as const;

function merge(defaults: Defaults | undefined, entry: SessionEntry): SessionEntry {
  if (defaults === undefined) return entry;
  const merged: SessionEntry = { ...defaults, ...entry };
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
            entry === undefined ? undefined : this.#session(merge(defaults, entry), entry, i),
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
    const { tls, store, will, ...rest } = entry;
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
          : new DeferredRedisStore({ url: entry.url, prefix: entry.prefix });
      this.#stores.set(key, store);
    }
    return store;
  }
}

/**
 * A `RedisStore` made on first use: `RedisStore` opens its connection in
 * its constructor, and loading a configuration should not connect anywhere.
 */
class DeferredRedisStore implements SessionStore {
  readonly durable = true;
  readonly #options: { url?: string; prefix?: string };
  #store: RedisStore | undefined;
  #closed = false;

  constructor(options: { url?: string; prefix?: string }) {
    this.#options = {};
    if (options.url !== undefined) this.#options.url = options.url;
    if (options.prefix !== undefined) this.#options.prefix = options.prefix;
  }

  #get(): RedisStore {
    if (this.#store === undefined) {
      if (this.#closed) throw new ClosedError('The RedisStore is closed');
      this.#store = new RedisStore(this.#options);
    }
    return this.#store;
  }

  async load(clientId: string): Promise<PersistedSession> {
    return this.#get().load(clientId);
  }

  putMessage(clientId: string, message: StoredMessage): void {
    this.#get().putMessage(clientId, message);
  }

  deleteMessage(clientId: string, seq: number): void {
    this.#get().deleteMessage(clientId, seq);
  }

  addIncomingQoS2(clientId: string, packetId: number): void {
    this.#get().addIncomingQoS2(clientId, packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.#get().deleteIncomingQoS2(clientId, packetId);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.#get().putSubscription(clientId, subscription);
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.#get().deleteSubscription(clientId, topicFilter);
  }

  async flush(): Promise<void> {
    // nothing was ever written when there is no store yet
    if (this.#store !== undefined) await this.#store.flush();
  }

  async clear(clientId: string): Promise<void> {
    return this.#get().clear(clientId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#store !== undefined) await this.#store.close();
  }
}
