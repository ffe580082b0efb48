/**
 * The zod schema of fleet configuration files (the format is described in
 * docs/fleet-config.md): the top level, `defaults` and each session, and
 * the value schemas that take numbers and booleans written as strings (what
 * `${VAR}` substitution gives). `config-forwarders.ts` adds the forwarders.
 */
import { isIP } from 'node:net';
import * as z from 'zod';
import type { UserProperty } from '../codec/types.js';
import { MAX_MS } from '../core/schema.js';
import { SCHEME_LIST, schemeKind } from '../core/url.js';
import type { Segment } from './config-syntax.js';
import { PROTOCOL_VERSIONS } from './protocol-version.js';

/** Numbers may come as strings (from `${VAR}`); anything else is left for the schema to refuse. */
function numeric(value: unknown): unknown {
  return typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

function boolish(value: unknown): unknown {
  return value === 'true' ? true : value === 'false' ? false : value;
}

/** An integer from `min` to `max`; it may come as a string (from `${VAR}`). */
export const intSchema = (min: number, max: number) =>
  z.preprocess(numeric, z.number().int().min(min).max(max));
/** A number from `min` to `max`; it may come as a string. */
export const numberSchema = (min: number, max: number) => z.preprocess(numeric, z.number().min(min).max(max));
/** true or false; it may come as the string `'true'` or `'false'`. */
export const boolSchema = z.preprocess(boolish, z.boolean());
/** A string; numbers and booleans (YAML `line: 3`) are taken as their text. */
export const textSchema = z.preprocess(
  (v) => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : v),
  z.string(),
);
/** 0, 1 or 2; it may come as a string. */
export const qosSchema = z.preprocess(numeric, z.literal([0, 1, 2]));

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
        z.record(z.string(), z.union([textSchema, z.array(textSchema)])),
        z.array(
          z.union([
            z.tuple([z.string(), textSchema]),
            z.strictObject({ name: z.string(), value: textSchema }),
          ]),
        ),
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
  rejectUnauthorized: boolSchema.optional(),
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
        initialDelay: intSchema(0, MAX_MS).optional(),
        maxDelay: intSchema(0, MAX_MS).optional(),
        factor: numberSchema(1, Number.MAX_SAFE_INTEGER).optional(),
        jitter: numberSchema(0, 1).optional(),
        resetAfter: intSchema(0, MAX_MS).optional(),
      }),
    ],
    { error: 'expected false, true or { initialDelay, maxDelay, factor, jitter, resetAfter }' },
  )
  .transform((v) => (v === true ? {} : v));

const willSchema = z.strictObject({
  topic: z.string(),
  payload: textSchema.optional(),
  qos: qosSchema.optional(),
  retain: boolSchema.optional(),
  properties: z
    .strictObject({
      willDelayInterval: intSchema(0, 0xffffffff).optional(),
      messageExpiryInterval: intSchema(0, 0xffffffff).optional(),
      contentType: z.string().optional(),
      responseTopic: z.string().optional(),
      payloadFormatIndicator: boolSchema.optional(),
      userProperties: userPropertiesSchema.optional(),
    })
    .optional(),
});

/** A local address to connect from: an IP address (a host name is not looked up). */
const localAddressSchema = z
  .string()
  .refine((v) => isIP(v) !== 0, { error: 'must be an IPv4 or IPv6 address' });

/** Everything a session and `defaults` may set. */
const commonFields = {
  url: urlSchema.optional(),
  protocolVersion: z
    .literal([...PROTOCOL_VERSIONS.keys()])
    .transform((v) => PROTOCOL_VERSIONS.get(v) as 4 | 5 | 'auto')
    .optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  clean: boolSchema.optional(),
  sessionExpiry: intSchema(0, 0xffffffff).optional(),
  keepalive: intSchema(0, 65_535).optional(),
  connectTimeout: intSchema(1, MAX_MS).optional(),
  localAddress: localAddressSchema.optional(),
  operationTimeout: intSchema(0, MAX_MS).optional(),
  receiveMaximum: intSchema(1, 65_535).optional(),
  maximumPacketSize: intSchema(16, 268_435_460).optional(),
  topicAliasMaximum: intSchema(0, 65_535).optional(),
  topicAliases: boolSchema.optional(),
  requestResponseInformation: boolSchema.optional(),
  messageBuffer: intSchema(1, MAX_MS).optional(),
  maxInflight: intSchema(1, 65_535).optional(),
  maximumQoS: qosSchema.optional(),
  maxDeliveryAttempts: intSchema(0, Number.MAX_SAFE_INTEGER).optional(),
  userProperties: userPropertiesSchema.optional(),
  tls: tlsSchema.optional(),
  ws: z
    .strictObject({ headers: z.record(z.string(), textSchema).optional(), protocol: z.string().optional() })
    .optional(),
  store: storeSchema.optional(),
  offlineQueue: z
    .strictObject({
      maxMessages: intSchema(0, MAX_MS).optional(),
      maxBytes: intSchema(0, Number.MAX_SAFE_INTEGER).optional(),
      overflow: z.enum(['reject', 'drop-oldest', 'drop-newest']).optional(),
      qos0: boolSchema.optional(),
    })
    .optional(),
  reconnect: reconnectSchema.optional(),
  will: willSchema.optional(),
};

export const defaultsSchema = z.strictObject({
  ...commonFields,
  /** One address, or a list spread over the sessions round-robin by their index in the file. */
  localAddress: z
    .union([localAddressSchema, z.array(localAddressSchema).min(1)], {
      error: 'expected an IP address or a non-empty list of IP addresses',
    })
    .optional(),
});

export const sessionSchema = z.strictObject({
  name: z.string().min(1),
  everyNode: boolSchema.optional(),
  clientId: z.string().optional(),
  subscriptions: z.array(z.strictObject({ filter: z.string().min(1), qos: qosSchema.optional() })).optional(),
  ...commonFields,
});

/** A fleet's `cluster:` section (`ClusterOptions`). */
const clusterSchema = z.strictObject({
  redis: z
    .string()
    .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })
    .optional(),
  name: textSchema.optional(),
  node: textSchema.optional(),
  workers: intSchema(0, 1024).optional(),
  prefix: z.string().optional(),
  weight: numberSchema(0, 1_000_000).optional(),
  ttl: intSchema(100, MAX_MS).optional(),
  margin: intSchema(0, MAX_MS).optional(),
  interval: intSchema(1, MAX_MS).optional(),
  handoffTimeout: intSchema(0, MAX_MS).optional(),
});

export const topSchema = z.strictObject({
  concurrency: intSchema(1, MAX_MS).optional(),
  cluster: clusterSchema.optional(),
  defaults: z.unknown().optional(),
  sessions: z.array(z.unknown()),
  forwarders: z.array(z.unknown()).optional(),
});

export type Defaults = z.output<typeof defaultsSchema>;
export type SessionEntry = z.output<typeof sessionSchema>;
export type StoreEntry = z.output<typeof storeSchema>;
