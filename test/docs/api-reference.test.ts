/**
 * The API reference: `typedoc` (typedoc.json) over the package's public entry
 * points, as `npm run docs` runs it, with `--emit none` so nothing is
 * written. typedoc.json turns every validation warning into an error: a
 * public export (or a public member of one) without a doc comment, a
 * `{@link}` that resolves to nothing, or a type in a public signature that
 * is neither exported nor listed in `intentionallyNotExported`.
 *
 * Type errors are left to `tsc` (`--skipErrorChecking`), which makes this
 * about twice as fast.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TYPEDOC = fileURLToPath(new URL('../../node_modules/typedoc/bin/typedoc', import.meta.url));

interface Run {
  code: number | null;
  output: string;
}

function typedoc(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TYPEDOC, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
        timeout: 110_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('API reference', () => {
  it('documents every public export: typedoc passes with no warnings', { timeout: 120_000 }, async () => {
    const r = await typedoc(['--emit', 'none', '--skipErrorChecking']);
    // the whole output in the message: it names each symbol that lost its doc comment
    const problems = r.output
      .split('\n')
      .filter((line) => /\[(warning|error)\]/.test(line))
      .join('\n');
    expect(problems, r.output).toBe('');
    expect(r.code, r.output).toBe(0);
  });
});
