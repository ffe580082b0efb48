/**
 * Topic mapping for forwarders: where a message received on one topic goes.
 *
 * A map is a list of `[filter, template]` rules, tried in order (the first
 * whose filter matches wins), or a function. In a template, `{1}` is the
 * level the filter's first `+` matched, `{2}` the second's, and `{#}` the
 * levels its `#` matched (joined with `/`):
 *
 * ```ts
 * const map = compileTopicMap([
 *   ['sensors/+/temperature', 'storage/{1}/temp'],   // sensors/a/temperature -> storage/a/temp
 *   ['logs/#', 'archive/{#}'],                        // logs/x/y -> archive/x/y
 *   ['status', 'fleet/status'],                       // exact
 * ]);
 * map('sensors/a/temperature'); // 'storage/a/temp'
 * map('other');                 // undefined: no rule matches
 * ```
 *
 * Rules are checked when compiled: a bad filter, a placeholder the filter
 * has no wildcard for, or a template that can never be a topic name throws
 * `InvalidArgumentError` naming the rule.
 */
import { isValidTopicName, topicFilterOption } from '../codec/topic.js';
import { InvalidArgumentError } from '../core/errors.js';

/** A function form: the target topic, or undefined to leave the message unmapped. */
export type TopicMapFunction = (topic: string) => string | undefined;

/**
 * Where forwarded messages go: a list of `[filter, template]` rules tried in
 * order (the first whose filter matches wins), or a function. In a template,
 * `{1}` is the level the filter's first `+` matched, `{2}` the second's, and
 * `{#}` the levels its `#` matched. See {@link compileTopicMap}.
 */
export type TopicMap = readonly (readonly [filter: string, template: string])[] | TopicMapFunction;

interface Rule {
  /** The filter's levels; '+' and '#' are wildcards. */
  readonly levels: readonly string[];
  readonly hasHash: boolean;
  /** The template cut at its placeholders: text, then a placeholder index (-1 for `{#}`), alternating. */
  readonly parts: readonly (string | number)[];
}

/** Compiles `map` into a function from a topic to its target (undefined when no rule matches). */
export function compileTopicMap(map: TopicMap, field = 'map'): TopicMapFunction {
  if (typeof map === 'function') {
    return (topic) => {
      const out = map(topic);
      if (out !== undefined && !isValidTopicName(out)) {
        throw new InvalidArgumentError(
          field,
          `mapped '${topic}' to '${String(out)}', which is not a valid topic name`,
        );
      }
      return out;
    };
  }
  if (!Array.isArray(map))
    throw new InvalidArgumentError(field, 'must be a list of [filter, template] pairs or a function');
  const rules = map.map((entry, i) => compileRule(entry, `${field}[${i}]`));
  return (topic) => {
    const levels = topic.split('/');
    for (const rule of rules) {
      const out = apply(rule, levels);
      if (out !== undefined) return out;
    }
    return undefined;
  };
}

function compileRule(entry: unknown, field: string): Rule {
  if (
    !Array.isArray(entry) ||
    entry.length !== 2 ||
    typeof entry[0] !== 'string' ||
    typeof entry[1] !== 'string'
  ) {
    throw new InvalidArgumentError(field, 'must be a [filter, template] pair of strings');
  }
  // a rule matches message topics, which are never `$share/...`: no shared filter
  const filter = topicFilterOption(entry[0], `${field}[0]`, false);
  const template: string = entry[1];
  const levels = filter.split('/');
  const pluses = levels.filter((l) => l === '+').length;
  const hasHash = levels[levels.length - 1] === '#';
  const parts: (string | number)[] = [];
  let text = '';
  const re = /\{(#|\d+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    text += template.slice(last, m.index);
    last = m.index + m[0].length;
    let index: number;
    if (m[1] === '#') {
      if (!hasHash)
        throw new InvalidArgumentError(`${field}[1]`, `'{#}' needs a filter ending in '#' ('${filter}')`);
      index = -1;
    } else {
      index = Number(m[1]);
      if (index < 1 || index > pluses) {
        throw new InvalidArgumentError(
          `${field}[1]`,
          `'{${m[1]}}' refers to a '+' that '${filter}' does not have (it has ${pluses})`,
        );
      }
    }
    parts.push(text, index);
    text = '';
  }
  parts.push(text + template.slice(last));
  if (template.length === 0 || /[+#]/.test(template.replace(re, 'x')) || template.includes('\u0000')) {
    throw new InvalidArgumentError(`${field}[1]`, `'${template}' cannot be a topic name`);
  }
  return { levels, hasHash, parts };
}

/** The rule's target for a topic (split into levels), or undefined when its filter does not match. */
function apply(rule: Rule, topic: readonly string[]): string | undefined {
  const f = rule.levels;
  const captured: string[] = [];
  let rest: string | undefined;
  // a leading wildcard does not match a $-topic (MQTT 4.7.2)
  if ((f[0] === '+' || f[0] === '#') && topic[0].startsWith('$')) return undefined;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') {
      rest = topic.slice(i).join('/');
      break;
    }
    if (i >= topic.length) return undefined;
    if (level === '+') captured.push(topic[i]);
    else if (level !== topic[i]) return undefined;
  }
  if (!rule.hasHash && topic.length !== f.length) return undefined;
  let out = '';
  const parts = rule.parts;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p === -1 && rest === '' && out.endsWith('/'))
      out = out.slice(0, -1); // 'logs/#' matched 'logs'
    else out += typeof p === 'string' ? p : p === -1 ? (rest ?? '') : captured[p - 1];
  }
  return isValidTopicName(out) ? out : undefined;
}
