/**
 * The `forwarders:` list of a fleet configuration file (docs/fleet-config.md):
 * each entry checked on its own and against the file's sessions, as
 * `ForwarderOptions` for `SessionManager.forward`.
 */
import * as z from 'zod';
import { topicFilterProblem } from '../codec/topic.js';
import { InvalidArgumentError } from '../core/errors.js';
import { Forwarder, type ForwarderOptions } from '../forward/forwarder.js';
import { compileTopicMap } from '../forward/mapping.js';
import { boolSchema, intSchema, qosSchema, textSchema } from './config-schema.js';
import { fieldPath, fromZod, type Problem, type Segment } from './config-syntax.js';
import type { ManagedSessionOptions } from './types.js';

/** A topic filter; what is wrong with it otherwise. */
const filterSchema = z.string().superRefine((v, ctx) => {
  const problem = topicFilterProblem(v);
  if (problem === 'is empty') ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  else if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a topic filter: ${problem}` });
});

const oneOrMore = <T extends z.ZodType>(item: T, what: string) =>
  z.union([item, z.array(item).min(1)], { error: `expected ${what} or a list of them` });

const forwarderShape = {
  name: z.string().min(1),
  from: oneOrMore(z.string().min(1), 'a session name'),
  to: z.string().min(1),
  topics: oneOrMore(filterSchema, 'a topic filter'),
  map: z
    .union([z.record(z.string(), textSchema), z.array(z.tuple([z.string(), textSchema]))], {
      error: 'expected a map of filters to templates, or a list of [filter, template] pairs',
    })
    .optional(),
  qos: qosSchema.optional(),
  retain: z.union([boolSchema, z.literal('keep')], { error: 'expected true, false or keep' }).optional(),
  metadata: z.record(z.string(), textSchema).optional(),
  envelope: boolSchema.optional(),
  maxWaiting: intSchema(1, Number.MAX_SAFE_INTEGER).optional(),
  maxAttempts: intSchema(1, Number.MAX_SAFE_INTEGER).optional(),
};

const forwarderSchema = z.strictObject(forwarderShape);

/**
 * Each forwarder's options (undefined where a problem was reported),
 * checked against the file's sessions: their names, and the options each
 * has once `defaults` are merged (undefined for a session with problems).
 */
export function checkForwarders(
  list: readonly unknown[],
  sessions: ReadonlyMap<string, ManagedSessionOptions | undefined>,
  report: (problem: Problem) => void,
): (ForwarderOptions | undefined)[] {
  const zod = (issues: readonly z.core.$ZodIssue[], base: Segment[]): void => {
    const problems: Problem[] = [];
    fromZod(issues, base, problems);
    for (const p of problems) report(p);
  };
  const names = new Map<string, number>();
  return list.map((raw, i) => {
    const at = (...rest: Segment[]): Segment[] => ['forwarders', i, ...rest];
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      zod(forwarderSchema.safeParse(raw, { reportInput: true }).error?.issues ?? [], at());
      return undefined;
    }
    const entry: Record<string, unknown> = { ...raw };
    let ok = true;
    for (const key of ['filter', 'transform']) {
      if (!Object.hasOwn(entry, key)) continue;
      delete entry[key];
      ok = false;
      report({ path: at(key), message: 'is a function: set it in code (SessionManager.forward)' });
    }
    const name = entry.name;
    if (typeof name === 'string' && name !== '') {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else {
        ok = false;
        report({ path: at('name'), message: `duplicate name '${name}' (also forwarders[${first}])` });
      }
    }
    const parsed = forwarderSchema.safeParse(entry, { reportInput: true });
    if (!parsed.success) zod(parsed.error.issues, at());
    // the checks across the file look at what is usable, so a bad qos or a bad filter hides no unknown session
    const from = entry.from;
    const sources: unknown[] = Array.isArray(from) ? from : [from];
    for (const [j, source] of sources.entries()) {
      if (typeof source !== 'string' || source === '') continue; // the schema says why
      const path = Array.isArray(from) ? at('from', j) : at('from');
      const first = sources.indexOf(source);
      if (!sessions.has(source)) report({ path, message: `no session named '${source}'` });
      else if (first !== j) report({ path, message: `duplicate session '${source}' (also from[${first}])` });
      else continue;
      ok = false;
    }
    const to = entry.to;
    if (typeof to === 'string' && to !== '' && !sessions.has(to)) {
      ok = false;
      report({ path: at('to'), message: `no session named '${to}'` });
    }
    if (Array.isArray(entry.topics)) {
      const topics = entry.topics as unknown[];
      for (const [j, filter] of topics.entries()) {
        const first = topics.indexOf(filter);
        if (typeof filter !== 'string' || first === j) continue;
        ok = false;
        report({ path: at('topics', j), message: `duplicate filter (also topics[${first}])` });
      }
    }
    const map = entry.map === undefined ? undefined : topicMap(entry.map, at('map'), report);
    if (map === null) ok = false;
    if (!parsed.success) return undefined;
    const { map: _map, metadata: rawMetadata, ...rest } = parsed.data;
    const options: ForwarderOptions = rest;
    if (map) options.map = map;
    if (rawMetadata !== undefined) {
      // from the entry itself: a record drops a key named __proto__
      const metadata = Object.fromEntries(
        Object.entries(entry.metadata as object).map(([k, v]) => [k, String(v)]),
      );
      options.metadata = metadata;
      if (options.envelope !== true && sessions.get(options.to)?.protocolVersion === 4) {
        ok = false;
        const message = `session '${options.to}' uses MQTT 3.1.1, which has no user properties: set envelope: true to send it`;
        report({ path: at('metadata'), message });
      }
    }
    if (!ok) return undefined;
    try {
      new Forwarder({ get: () => undefined, id: '' }, options); // the checks of the library
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      report({ path: at(...fieldPath(err.field)), message: err.reason });
      return undefined;
    }
    return options;
  });
}

/**
 * A forwarder's topic map as a list of rules, each checked by
 * `compileTopicMap`: null when one is refused (reported), undefined when the
 * map is no map or list at all (the schema reports it).
 */
function topicMap(
  raw: unknown,
  path: Segment[],
  report: (problem: Problem) => void,
): [string, string][] | null | undefined {
  if (raw === null || typeof raw !== 'object') return undefined; // the schema says why
  const list = Array.isArray(raw);
  // the well-formed rules, each with its path; the schema reports the others
  const rules: [rule: [string, string], path: Segment[]][] = [];
  const textual = (v: unknown): v is string | number | boolean =>
    typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  if (list) {
    for (const [j, r] of (raw as unknown[]).entries()) {
      if (Array.isArray(r) && r.length === 2 && typeof r[0] === 'string' && textual(r[1]))
        rules.push([
          [r[0], String(r[1])],
          [...path, j],
        ]);
    }
  } else {
    const entries = Object.entries(raw);
    if (entries.length > 1 && entries.some(([f]) => /^(0|[1-9]\d{0,8})$/.test(f))) {
      // JavaScript objects put keys that are numbers first, whatever the file's order
      const message =
        'a filter that is a number does not keep its place in a map: use a list of [filter, template] pairs';
      report({ path, message });
      return null;
    }
    for (const [f, v] of entries)
      if (textual(v))
        rules.push([
          [f, String(v)],
          [...path, f],
        ]);
  }
  let ok = true;
  for (const [rule, where] of rules) {
    try {
      compileTopicMap([rule], 'rule');
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      // 'rule[0][1]': the template of the rule, in a list
      const within = list ? fieldPath(err.field).slice(2) : [];
      report({ path: [...where, ...within], message: err.reason });
      ok = false;
    }
  }
  return ok ? rules.map(([rule]) => rule) : null;
}
