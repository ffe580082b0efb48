/**
 * Options checked against a table: a small declarative validator shared by
 * every layer (Session, its operations, stores, RPC, the manager).
 *
 * How it works: a {@link Table} maps each field of an options object to a
 * {@link Rule}, a function that returns `undefined` for a good value and the
 * reason otherwise ("must be a boolean, got a string"). {@link checkOptions}
 * walks the object's own keys once: a key the table does not know is
 * refused with the closest known name ("did you mean 'keepalive'?"), an
 * undefined value is skipped (the default applies), and a rule made by
 * {@link object}, {@link arrayOf} or {@link recordOf} has the nested value
 * walked under its path (`offlineQueue.qos0`, `userProperties[2]`,
 * `userProperties.site`). Every problem throws {@link InvalidArgumentError}
 * naming that path.
 *
 * Cost: rules are made once, with the table; checking a good object
 * allocates nothing (paths and messages are built only for the error), so
 * per-message options (publish) go through the same tables.
 *
 * Messages never quote a string value (it may be a password or a key):
 * only its kind, and numbers and booleans as they are.
 */
import { InvalidArgumentError } from './errors.js';

/** Checks one value (never undefined): `undefined` when it is good, else what is wrong. */
export interface Rule {
  (value: unknown): string | undefined;
  /** The table an object value is checked against next (see {@link object}). */
  readonly fields?: Table;
  /** The rule each element of an array value is checked against next (see {@link arrayOf}). */
  readonly items?: Rule;
  /** The rule each own field of an object value is checked against next (see {@link recordOf}). */
  readonly entries?: Rule;
}

/** The fields of one options object and the rule of each. */
export interface Table {
  /** The fields in the order given. */
  readonly names: readonly string[];
  /** The rule of each of `names`, at the same index. */
  readonly list: readonly Rule[];
  /** Whether the value of each of `names` is walked into (its rule has `fields`, `items` or `entries`). */
  readonly nested: readonly boolean[];
  /** The fields that must be present. */
  readonly required: readonly string[];
  /** The rule of each field, as given. */
  readonly rules: { readonly [field: string]: Rule };
  /**
   * What to say of a name the table does not know but a user may well write,
   * instead of the nearest known name: MQTT.js's names (`nl`, `reconnectPeriod`).
   */
  readonly hints?: { readonly [name: string]: string };
}

/** A table of `rules`; `required` names the fields that must be there. */
export function table(rules: { [field: string]: Rule }, required: readonly string[] = []): Table {
  const names = Object.keys(rules);
  const list = names.map((n) => rules[n]);
  const nested = list.map(isNested);
  return Object.freeze({ names, list, nested, required, rules: Object.freeze({ ...rules }) });
}

/** A table with more fields (an `OperationOptions` table grown into a `PublishOptions` one). */
export function extend(
  base: Table,
  rules: { [field: string]: Rule },
  required: readonly string[] = [],
): Table {
  // the new fields first: checkOptions scans names in order, and these are the common ones
  const t = table({ ...rules, ...base.rules }, [...base.required, ...required]);
  return base.hints === undefined ? t : hinted(t, base.hints);
}

/** `t` with `hints`: what an unknown name is told instead of the nearest known name (see {@link Table.hints}). */
export function hinted(t: Table, hints: { readonly [name: string]: string }): Table {
  return Object.freeze({ ...t, hints: Object.freeze({ ...t.hints, ...hints }) });
}

/**
 * Checks `value` against `t`. `path` prefixes the field names in errors
 * (`'options'` gives `options.qos`; `''` gives `keepalive`) and names the
 * object itself when it is not one.
 */
export function checkOptions(value: unknown, t: Table, path: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(path === '' ? 'options' : path, `must be an object, got ${kind(value)}`);
  }
  const { names, list, nested } = t;
  const o = value as Record<string, unknown>;
  // A scan of the names, not a lookup: option objects have a few keys, tables a few dozen
  // names, and comparing for-in keys (interned strings) is cheaper than any map; a key such
  // as `toString` is just not found.
  next: for (const key in o) {
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== key) continue;
      const v = o[key];
      if (v === undefined) continue next;
      const rule = list[i];
      const why = rule(v);
      if (why !== undefined) throw new InvalidArgumentError(join(path, key), why);
      if (nested[i]) checkNested(v, rule, join(path, key));
      continue next;
    }
    if (!Object.hasOwn(o, key)) continue; // inherited (an options object made with a prototype)
    throw unknown(key, t, path);
  }
  const required = t.required;
  for (let i = 0; i < required.length; i++) {
    if (o[required[i]] === undefined) throw new InvalidArgumentError(join(path, required[i]), 'is required');
  }
}

/**
 * Checks one value against `rule` and what is nested in it, as a field at
 * `path` would be: for values converted outside an options table (user
 * properties in publish options).
 */
export function checkValue(value: unknown, rule: Rule, path: string): void {
  checkItem(value, rule, path);
}

function isNested(rule: Rule): boolean {
  return rule.fields !== undefined || rule.items !== undefined || rule.entries !== undefined;
}

/** What is inside a value whose own rule passed: an object's fields or entries, an array's items. */
function checkNested(v: unknown, rule: Rule, at: string): void {
  const isObject = typeof v === 'object' && v !== null && !Array.isArray(v);
  const fields = rule.fields;
  if (fields !== undefined && isObject) checkOptions(v, fields, at);
  const entries = rule.entries;
  if (entries !== undefined && isObject) {
    const o = v as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      // an undefined entry is left out, as an undefined option is
      if (o[key] !== undefined) checkItem(o[key], entries, member(at, key));
    }
  }
  const items = rule.items;
  if (items !== undefined && Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      const where = `${at}[${i}]`;
      if (item === undefined) throw new InvalidArgumentError(where, 'must not be undefined');
      checkItem(item, items, where);
    }
  }
}

function checkItem(item: unknown, rule: Rule, at: string): void {
  const bad = rule(item);
  if (bad !== undefined) throw new InvalidArgumentError(at, bad);
  if (isNested(rule)) checkNested(item, rule, at);
}

/** `at.key`, or `at["a key"]` for a name that is not an identifier. */
function member(at: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function unknown(key: string, t: Table, path: string): InvalidArgumentError {
  const given = t.hints !== undefined && Object.hasOwn(t.hints, key) ? t.hints[key] : undefined;
  const near = given === undefined ? closest(key, t.names) : undefined;
  const hint =
    given ?? (near === undefined ? `known options: ${t.names.join(', ')}` : `did you mean '${near}'?`);
  return new InvalidArgumentError(join(path, key), `unknown option '${key}'; ${hint}`);
}

/** The known name nearest to `name` (case ignored), if it is near enough to be a typo. */
export function closest(name: string, names: readonly string[]): string | undefined {
  const a = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(a.length / 3)) + 1;
  for (const n of names) {
    const d = distance(a, n.toLowerCase());
    if (d < bestDistance) {
      best = n;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, with a transposition counted as one edit. */
function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0][j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/** What a value is, for messages: numbers and booleans as they are, never the text of a string. */
export function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'string':
      return value === '' ? 'an empty string' : 'a string';
    case 'object':
      return 'an object';
    case 'function':
      return 'a function';
    default:
      return typeof value;
  }
}

// ---------------------------------------------------------------------------
// Rules

/** true or false. */
export const boolean: Rule = (v) =>
  typeof v === 'boolean' ? undefined : `must be true or false, got ${kind(v)}`;

/** Any string. */
export const string: Rule = (v) => (typeof v === 'string' ? undefined : `must be a string, got ${kind(v)}`);

/** A function. */
export const func: Rule = (v) => (typeof v === 'function' ? undefined : `must be a function, got ${kind(v)}`);

/** A string or bytes (sent as UTF-8 / as they are). */
export const bytes: Rule = (v) =>
  typeof v === 'string' || v instanceof Uint8Array
    ? undefined
    : `must be a string, Buffer or Uint8Array, got ${kind(v)}`;

/** An integer from `min` to `max`. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER): Rule {
  return (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? undefined
      : `must be an integer from ${min} to ${max}, got ${kind(v)}`;
}

/** A finite number from `min` to `max`. */
export function number(min: number, max = Number.MAX_VALUE): Rule {
  return (v) =>
    typeof v === 'number' && v >= min && v <= max
      ? undefined
      : `must be a number from ${min} to ${max}, got ${kind(v)}`;
}

/** The longest timer Node.js keeps (a longer one fires at once). */
export const MAX_MS = 2 ** 31 - 1;

/** A per-call timeout in ms: a finite number from 0 (no timeout) to {@link MAX_MS}. */
export const timeout: Rule = (v) =>
  typeof v === 'number' && v >= 0 && v <= MAX_MS
    ? undefined
    : `must be a number of ms from 0 (no timeout) to ${MAX_MS}, got ${kind(v)}`;

/** A pino-style logger (`core/logger.ts`): the four methods at least. */
export const logger: Rule = (v) => {
  if (v === null || typeof v !== 'object')
    return `must be a logger (debug, info, warn, error), got ${kind(v)}`;
  const o = v as Record<string, unknown>;
  const missing = ['debug', 'info', 'warn', 'error'].filter((m) => typeof o[m] !== 'function');
  return missing.length === 0 ? undefined : `must be a logger: it has no ${missing.join(', ')} method`;
};

/** One of `values` (compared with `===`). */
export function oneOf(...values: readonly (string | number | boolean)[]): Rule {
  const list = values.map((x) => (typeof x === 'string' ? `'${x}'` : String(x)));
  const text = list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  return (v) => (values.includes(v as string) ? undefined : `must be ${text}, got ${kind(v)}`);
}

/** 0, 1 or 2 (written out: it is checked for every publish that has options). */
export const qos: Rule = (v) =>
  v === 0 || v === 1 || v === 2 ? undefined : `must be 0, 1 or 2, got ${kind(v)}`;

/**
 * An `AbortSignal` (or an object that behaves as one: `aborted`,
 * `addEventListener`, `removeEventListener`).
 */
export const signal: Rule = (v) => {
  const s = v as AbortSignal;
  return typeof v === 'object' &&
    v !== null &&
    typeof s.aborted === 'boolean' &&
    typeof s.addEventListener === 'function' &&
    typeof s.removeEventListener === 'function'
    ? undefined
    : `must be an AbortSignal, got ${kind(v)}`;
};

/**
 * An object whose fields are checked against `fields` (unknown ones
 * refused); `or` lists other values allowed instead (`false`).
 */
export function object(fields: Table, ...or: readonly (string | number | boolean)[]): Rule {
  const alt = or.map((x) => (typeof x === 'string' ? ` or '${x}'` : ` or ${String(x)}`)).join('');
  const rule = (v: unknown): string | undefined =>
    (typeof v === 'object' && v !== null && !Array.isArray(v)) || or.includes(v as string)
      ? undefined
      : `must be an object${alt}, got ${kind(v)}`;
  return Object.assign(rule, { fields });
}

/** A plain object whose fields are not checked here (MQTT properties: the encoder checks them). */
export const anyObject: Rule = (v) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? undefined : `must be an object, got ${kind(v)}`;

/** An array (at least `min` long) whose elements are each checked with `item`. */
export function arrayOf(item: Rule, min = 0): Rule {
  const rule = (v: unknown): string | undefined => {
    if (!Array.isArray(v)) return `must be an array, got ${kind(v)}`;
    return v.length < min ? `must have at least ${min} element${min === 1 ? '' : 's'}` : undefined;
  };
  return Object.assign(rule, { items: item });
}

/**
 * A plain object whose own fields, whatever their names, are each checked
 * with `entry` (undefined ones are left out); `what` says what is expected.
 */
export function recordOf(entry: Rule, what = 'an object'): Rule {
  const rule = (v: unknown): string | undefined =>
    isPlainObject(v) ? undefined : `must be ${what}, got ${kind(v)}`;
  return Object.assign(rule, { entries: entry });
}

/** An object made by `{}` or `Object.create(null)`: not an array, a Map, a Buffer or a class instance. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The first of `rules` that accepts the value wins; `what` says what is expected. */
export function either(what: string, ...rules: readonly Rule[]): Rule {
  const rule = (v: unknown): string | undefined => {
    for (const r of rules) if (r(v) === undefined) return undefined;
    return `must be ${what}, got ${kind(v)}`;
  };
  // the nested checks of the rule that takes an object or an array
  const fields = rules.find((r) => r.fields !== undefined)?.fields;
  const items = rules.find((r) => r.items !== undefined)?.items;
  const entries = rules.find((r) => r.entries !== undefined)?.entries;
  return Object.assign(rule, { fields, items, entries });
}

/** A `[name, value]` pair of strings (an MQTT 5 user property). */
export const userProperty: Rule = (v) =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string'
    ? undefined
    : `must be a [name, value] pair of strings, got ${kind(v)}`;

/**
 * MQTT 5 user properties as the API takes them: `[name, value]` pairs, or
 * MQTT.js's object of names to a string or an array of strings.
 */
export const userProperties: Rule = either(
  'an array of [name, value] pairs or an object of names to strings (or arrays of strings)',
  arrayOf(userProperty),
  recordOf(either('a string or an array of strings', string, arrayOf(string))),
);

/** An object of string values (HTTP headers). */
export const stringRecord: Rule = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `must be an object, got ${kind(v)}`;
  for (const k in v) {
    if (typeof (v as Record<string, unknown>)[k] !== 'string') return `'${k}' must be a string`;
  }
  return undefined;
};
