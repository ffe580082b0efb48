/**
 * The syntax side of fleet configuration files (docs/fleet-config.md):
 * parsing YAML and JSON with the line and column of a syntax error, finding
 * the line of a field from its path, writing paths (`sessions[3].tls.ca`),
 * and turning zod's issues into problems whose messages never quote a
 * value.
 */
import { LineCounter, parseDocument } from 'yaml';
import type * as z from 'zod';
import type { ConfigIssue } from './config.js';

/** A step in the path of a field: a key or a list index. */
export type Segment = string | number;

/** An issue before formatting: the path as segments, to find its line. */
export interface Problem {
  path: Segment[];
  message: string;
  line?: number;
  column?: number;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; problems: Problem[] };

export function parseYaml(text: string): Parsed {
  const lineCounter = new LineCounter();
  // prettyErrors off: the pretty form quotes the source line, which may hold a password
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) {
    // the first error only: the ones after it are mostly its echoes
    const first = doc.errors[0];
    const { line, col } = lineCounter.linePos(first.pos[0]);
    return {
      ok: false,
      problems: [{ path: [], message: `invalid YAML: ${yamlMessage(first.message)}`, line, column: col }],
    };
  }
  try {
    return { ok: true, value: doc.toJS() };
  } catch (err) {
    // e.g. too many aliases (a "billion laughs" document)
    return {
      ok: false,
      problems: [{ path: [], message: `invalid YAML: ${yamlMessage((err as Error).message)}` }],
    };
  }
}

/** The parser's message without the source text some messages quote (a token, an escape sequence). */
function yamlMessage(message: string): string {
  return message
    .replace(/: ".*$/s, '')
    .replace(/^(Unresolved alias \(the anchor must be set before the alias\)):.*$/s, '$1')
    .replace(
      /^(Invalid escape sequence|Block scalar header includes extra characters|Unresolved plain scalar|Ordered maps must not include duplicate keys|Plain value cannot start with)\b.*$/s,
      '$1',
    );
}

export function parseJson(text: string): Parsed {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (err) {
    const pos = jsonErrorOffset(body);
    const { line, column } = lineAndColumn(body, pos);
    return {
      ok: false,
      problems: [{ path: [], message: `invalid JSON: ${jsonMessage(err)}`, line, column }],
    };
  }
}

/**
 * V8's message without the source text some messages quote (`Unexpected
 * token 'h', "{"password": hunter2}" is not valid JSON`) and without the
 * position (given as line and column instead).
 */
function jsonMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/^Unexpected token/.test(message) || message.includes('is not valid JSON'))
    return 'unexpected character';
  return message.replace(/\s*(?:in JSON )?at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)/, '');
}

/**
 * The offset of the first character JSON.parse refuses: the shortest prefix
 * that fails for a reason other than ending early, found by bisection (V8
 * gives no position for some errors).
 */
function jsonErrorOffset(text: string): number {
  const failsBefore = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (message.startsWith('Unexpected end of JSON input')) return false;
      const at = /at position (\d+)/.exec(message);
      return at === null || Number(at[1]) < length;
    }
  };
  if (!failsBefore(text.length)) return text.length;
  let lo = 1;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsBefore(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

/** Finds the line of a path in the text (JSON is YAML for this purpose), or of its nearest ancestor present. */
export function locator(
  text: string,
): ((path: Segment[]) => { line: number; column?: number } | undefined) | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) return undefined;
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const offset = node?.range?.[0];
      if (offset !== undefined) return { line: lineCounter.linePos(offset).line };
    }
    return undefined;
  };
}

/** `sessions[3].tls.ca`; keys that are not plain names are quoted: `headers["x y"]`. */
export function formatPath(path: readonly Segment[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/**
 * The problems as issues: paths formatted, lines found (when the text
 * parses), duplicates dropped, in file order.
 */
export function issuesOf(text: string, problems: readonly Problem[]): ConfigIssue[] {
  const locate = locator(text);
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const p of problems) {
    const issue: ConfigIssue = { path: formatPath(p.path), message: p.message };
    const key = `${issue.path}\n${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const at = p.line === undefined ? locate?.(p.path) : { line: p.line, column: p.column };
    if (at !== undefined) issue.line = at.line;
    if (at?.column !== undefined && p.line !== undefined) issue.column = at.column;
    issues.push(issue);
  }
  // file order; a stable sort keeps the order of issues on one line (and of those without one)
  issues.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
  return issues;
}

// ---------------------------------------------------------------------------
// Zod issues -> problems

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  record: 'a map',
  tuple: 'a list',
};

/** What a value is, without the value. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'an integer' : 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'a map';
    default:
      return typeof value;
  }
}

function listValues(values: readonly unknown[]): string {
  const text = values.map((v) => String(v)).join(', ');
  return values.length === 1 ? `expected ${text}` : `expected one of ${text}`;
}

function bound(
  origin: string,
  limit: number | bigint,
  inclusive: boolean | undefined,
  least: boolean,
): string {
  if (origin === 'string')
    return least && Number(limit) <= 1
      ? 'must not be empty'
      : `length must be ${least ? 'at least' : 'at most'} ${limit}`;
  if (origin === 'array')
    return least && Number(limit) <= 1
      ? 'must not be empty'
      : `must have ${least ? 'at least' : 'at most'} ${limit} items`;
  if (inclusive === false) return `must be ${least ? 'greater' : 'less'} than ${limit}`;
  return `must be ${least ? 'at least' : 'at most'} ${limit}`;
}

/** Each zod issue as a problem under `base`, with a message that never quotes the value. */
export function fromZod(issues: readonly z.core.$ZodIssue[], base: readonly Segment[], out: Problem[]): void {
  for (const issue of issues) {
    const path = [...base, ...(issue.path as Segment[])];
    switch (issue.code) {
      case 'invalid_type':
        out.push({
          path,
          message:
            issue.input === undefined
              ? 'required'
              : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${kindOf(issue.input)}`,
        });
        break;
      case 'invalid_value':
        out.push({ path, message: listValues(issue.values) });
        break;
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown key' });
        break;
      case 'too_small':
        out.push({ path, message: bound(issue.origin, issue.minimum, issue.inclusive, true) });
        break;
      case 'too_big':
        out.push({ path, message: bound(issue.origin, issue.maximum, issue.inclusive, false) });
        break;
      case 'not_multiple_of':
        out.push({ path, message: `must be a multiple of ${issue.divisor}` });
        break;
      case 'invalid_union': {
        if (issue.discriminator !== undefined && 'options' in issue) {
          const input = issue.input as Record<string, unknown> | undefined;
          const options = (issue.options ?? []).join(', ');
          const missing = input?.[issue.discriminator] === undefined;
          out.push({
            path,
            message: missing ? `required (one of ${options})` : `expected one of ${options}`,
          });
          break;
        }
        // the branch that got past the value's type (an object or list of the right shape) says more
        const deeper = issue.errors.filter((branch) =>
          branch.some((e) => e.path.length > 0 || (e.code !== 'invalid_type' && e.code !== 'invalid_value')),
        );
        if (deeper.length === 1) fromZod(deeper[0], path, out);
        else out.push({ path, message: issue.message });
        break;
      }
      default:
        out.push({ path, message: issue.message });
    }
  }
}

/** `offlineQueue.maxMessages`, `url[1]` (an `InvalidArgumentError` field) as path segments. */
export function fieldPath(field: string): Segment[] {
  return (field.match(/[^.[\]]+|\[\d+\]/g) ?? []).map((f) =>
    f.startsWith('[') ? Number(f.slice(1, -1)) : f,
  );
}
