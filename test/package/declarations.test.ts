/**
 * The published declaration files show the public API only: no member whose
 * name starts with `_` (TypeScript `private` members keep their names in
 * .d.ts, and `@internal` is not stripped). The walk starts at the `types` of
 * every entry of package.json's `exports` map, in the dist/ the global setup
 * keeps fresh, and follows every relative import and re-export to the
 * declaration files a user's compiler reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A member declaration: modifiers, then a name starting with `_`, then `(`,
 * `:`, `?`, `<`, or `;` (a `private` member is declared by name alone).
 */
const UNDERSCORE_MEMBER =
  /^\s+(?:(?:public|private|protected|static|readonly|abstract|declare|get|set|async)\s+)*(_\w+)\??\s*[(:<;]/;
/** The class or interface a line belongs to, by its declaration. */
const CONTAINER = /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:class|interface)\s+(\w+)/;
/** Relative module specifiers of `import`/`export … from` and `import("…")` types. */
const SPECIFIER = /(?:from\s+|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g;

interface Exports {
  [entry: string]: string | { types?: string; default?: string };
}

/** The .d.ts files reachable from the `types` of every entry of the exports map. */
function reachableDeclarations(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Exports };
  const queue = Object.values(pkg.exports)
    .map((e) => (typeof e === 'object' ? e.types : undefined))
    .filter((t): t is string => t !== undefined)
    .map((t) => resolve(ROOT, t));
  const seen = new Set<string>();
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (seen.has(file)) continue;
    expect(existsSync(file), `${relative(ROOT, file)} (named by package.json or imported)`).toBe(true);
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      queue.push(resolve(dirname(file), m[1].replace(/\.js$/, '.d.ts')));
    }
  }
  return [...seen].sort();
}

/** `file:Container._member` for each `_` member of each file. */
function underscoreMembers(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    let container = '?';
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const c = CONTAINER.exec(line);
      if (c !== null) container = c[1];
      const m = UNDERSCORE_MEMBER.exec(line);
      if (m !== null) found.push(`${relative(join(ROOT, 'dist'), file)}:${container}.${m[1]}`);
    }
  }
  return found;
}

describe('published declarations', () => {
  it('show no _-prefixed members on the classes and interfaces the entry points reach', () => {
    const files = reachableDeclarations();
    expect(files.map((f) => relative(ROOT, f))).toContain('dist/index.d.ts');
    expect(files.length).toBeGreaterThan(20);
    expect(underscoreMembers(files)).toEqual([]);
  });
});
