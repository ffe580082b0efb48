/**
 * Topic names and topic filters (spec 4.7, 4.8.2).
 *
 * A topic name has no wildcards and at least one character. A filter may use
 * `+` for exactly one whole level and `#` only as the whole last level. A
 * shared subscription is `$share/{ShareName}/{filter}` where ShareName is
 * non-empty and has no `/`, `+` or `#`, and `filter` is a valid filter.
 *
 * The `*Problem` functions return `undefined` for a valid input and a short
 * description of the first problem otherwise, without allocating when valid.
 * `topicOption`, `topicFilterOption` and `topicFilterList` are the API's
 * checks: the option as given, or an `InvalidArgumentError` naming it.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { describe } from '../core/validate.js';

const PLUS = 0x2b;
const HASH = 0x23;
const SLASH = 0x2f;

/** What is wrong with `topic` as a PUBLISH topic name, or undefined. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'is empty';
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH)
      return `contains the wildcard '${topic[i]}' at ${i}; a topic name cannot hold wildcards (only a filter can)`;
  }
  return undefined;
}

/** What is wrong with `filter` as a SUBSCRIBE topic filter, or undefined. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'is empty';
  if (filter.startsWith('$share/')) {
    const slash = filter.indexOf('/', 7);
    const group = slash === -1 ? filter.slice(7) : filter.slice(7, slash);
    if (group.length === 0) return 'is a shared subscription with an empty share name';
    if (group.includes('+') || group.includes('#')) return 'has a wildcard in its share name';
    if (slash === -1 || slash === filter.length - 1) return 'is a shared subscription without a topic filter';
    return plainFilterProblem(filter, slash + 1);
  }
  return plainFilterProblem(filter, 0);
}

function plainFilterProblem(filter: string, start: number): string | undefined {
  const n = filter.length;
  for (let i = start; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS) {
      if (
        (i > start && filter.charCodeAt(i - 1) !== SLASH) ||
        (i + 1 < n && filter.charCodeAt(i + 1) !== SLASH)
      ) {
        return `has '+' at ${i} that is not a whole level`;
      }
    } else if (c === HASH) {
      if (i !== n - 1) return `has '#' at ${i} that is not the last character`;
      if (i > start && filter.charCodeAt(i - 1) !== SLASH) return `has '#' at ${i} that is not a whole level`;
    }
  }
  return undefined;
}

/**
 * Whether `topic` is a string valid as a PUBLISH topic name: non-empty, no `+` or `#`. See {@link
 * topicNameProblem} for why not.
 */
export function isValidTopicName(topic: string): boolean {
  return typeof topic === 'string' && topicNameProblem(topic) === undefined;
}

/**
 * Whether `filter` is a string valid as a SUBSCRIBE topic filter, shared subscriptions included.
 * See {@link topicFilterProblem} for why not.
 */
export function isValidTopicFilter(filter: string): boolean {
  return typeof filter === 'string' && topicFilterProblem(filter) === undefined;
}

/**
 * The parts of a shared subscription filter `$share/{group}/{filter}`, from {@link parseSharedSubscription}.
 */
export interface SharedSubscription {
  /** The ShareName. */
  group: string;
  /** The topic filter messages are matched against. */
  filter: string;
}

/**
 * Splits `$share/{group}/{filter}` into its parts; undefined when `filter`
 * is not a valid shared subscription.
 */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (!filter.startsWith('$share/') || topicFilterProblem(filter) !== undefined) return undefined;
  const slash = filter.indexOf('/', 7);
  return { group: filter.slice(7, slash), filter: filter.slice(slash + 1) };
}

/** A topic to publish to: a valid topic name, no wildcards. */
export function topicOption(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isValidTopicName(value)) {
    throw new InvalidArgumentError(field, `must be a topic name without wildcards, got ${describe(value)}`);
  }
  return value;
}

/**
 * A topic filter to subscribe with or match against: a valid filter, or an
 * error naming `field`. With `shared` false a `$share/...` filter is refused
 * too, for filters that are matched against message topics (which never
 * start with `$share/`).
 */
export function topicFilterOption(value: unknown, field: string, shared = true): string {
  if (typeof value !== 'string' || !isValidTopicFilter(value) || (!shared && value.startsWith('$share/'))) {
    throw notAFilter(value, field);
  }
  return value;
}

/**
 * One topic filter or a non-empty array of them, as a new array. A bad
 * filter's error names `field` when `filters` is a string and `field[i]`
 * when it is an array.
 */
export function topicFilterList(filters: unknown, field: string): string[] {
  if (typeof filters === 'string') return [topicFilterOption(filters, field)];
  if (!Array.isArray(filters) || filters.length === 0) {
    throw new InvalidArgumentError(field, 'must be a topic filter or a non-empty array of them');
  }
  const list: string[] = [...filters];
  for (let i = 0; i < list.length; i++) {
    // the field name is built only on failure: subscribing many filters allocates nothing extra
    if (!isValidTopicFilter(list[i])) throw notAFilter(list[i], `${field}[${i}]`);
  }
  return list;
}

function notAFilter(value: unknown, field: string): InvalidArgumentError {
  return new InvalidArgumentError(field, `'${String(value)}' is not a valid topic filter`);
}
