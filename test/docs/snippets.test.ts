/**
 * The runnable snippets of the guide (`docs/*.md`): every fenced block whose
 * info string is `ts run` or `sh run`.
 *
 * - `ts run` blocks are whole programs importing 'mqttkit' as a user would:
 *   the scratch directory's node_modules/mqttkit links to this package, so
 *   'mqttkit' is the built package (dist/, its .d.ts files for tsc), through
 *   its `exports`. They are typechecked together in one `tsc` run (a
 *   temporary tsconfig that extends the project's, without its `paths` to
 *   src/), and each runs with node and tsx's loader.
 * - `sh run` blocks are shell scripts (bash, `set -euo pipefail`) with the
 *   built `mqttkit` command (dist/cli/main.js) on PATH, run in a scratch
 *   directory.
 *
 * Every snippet runs against a private mosquitto (MQTT 5) whose URL is in
 * MQTT_URL; those that mention REDIS_URL get a private redis-server, those
 * that mention MQTTS_URL a TLS listener that demands a client certificate
 * (MQTT_CA, MQTT_CERT and MQTT_KEY name the files). A snippet passes when it
 * exits 0 within 20 s and its stdout holds, in order, what its `// prints:`
 * (`# prints:` in shell) comments say; a `ts run` snippet must also write
 * nothing to stderr. A snippet without a `prints:` comment fails: it would
 * prove nothing. Snippets run one at a time (they share the broker and its
 * topics), while tsc runs beside them.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirs, findBinary, installExitHook } from '../helpers/binaries.js';
import { hasOpenssl } from '../helpers/certs.js';
import { CLI, startProcess } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = join(ROOT, 'docs');
/** tsx's loader, for `node --import`: one process per snippet (the tsx command starts two). */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const setsid = findBinary('setsid', ['/usr/bin/setsid']);
/** Packages the snippets import besides mqttkit (the OpenTelemetry SDK in docs/observability.md). */
const PEERS = ['@opentelemetry'];
/** ms a snippet may run before it is killed (and fails). */
const SNIPPET_TIMEOUT = 20_000;

interface Snippet {
  /** `docs/sessions.md` */
  page: string;
  /** 1-based among the runnable blocks of its page. */
  index: number;
  /** Line of the opening fence in the page. */
  line: number;
  lang: 'ts' | 'sh';
  code: string;
  /** What stdout must hold, in order. */
  prints: string[];
  needsRedis: boolean;
  needsTls: boolean;
  /** File name in the scratch directory. */
  file: string;
  /** `docs/sessions.md snippet 2 (line 45)` */
  name: string;
}

/** Every `ts run` and `sh run` block of docs/*.md (docs/api/ is generated, and left out). */
function collect(): Snippet[] {
  const out: Snippet[] = [];
  const pages = readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .sort();
  for (const file of pages) {
    const page = `docs/${file}`;
    const lines = readFileSync(join(DOCS, file), 'utf8').split('\n');
    let index = 0;
    for (let i = 0; i < lines.length; i++) {
      const open = /^(`{3,})(\S*)(.*)$/.exec(lines[i]);
      if (open === null) continue;
      const fence = open[1];
      const lang = open[2];
      const runnable = /(^|\s)run(\s|$)/.test(open[3]) && (lang === 'ts' || lang === 'sh');
      let end = i + 1;
      while (end < lines.length && lines[end].trimEnd() !== fence) end++;
      if (runnable) {
        index++;
        const code = `${lines.slice(i + 1, end).join('\n')}\n`;
        const marker = lang === 'ts' ? /\/\/\s*prints:\s*(.+?)\s*$/ : /#\s*prints:\s*(.+?)\s*$/;
        const prints: string[] = [];
        for (const l of code.split('\n')) {
          const m = marker.exec(l);
          if (m !== null) prints.push(m[1]);
        }
        const base = file.replace(/\.md$/, '').replace(/[^A-Za-z0-9]+/g, '-');
        out.push({
          page,
          index,
          line: i + 1,
          lang: lang as 'ts' | 'sh',
          code,
          prints,
          needsRedis: code.includes('REDIS_URL'),
          needsTls: code.includes('MQTTS_URL'),
          file: `${base}-${index}.${lang}`,
          name: `${page} snippet ${index} (line ${i + 1})`,
        });
      }
      i = end;
    }
  }
  return out;
}

const snippets = collect();
const tsSnippets = snippets.filter((s) => s.lang === 'ts');

let dir: string;
/** Resolves with tsc's output (empty when every snippet typechecks). */
let typecheck: Promise<string>;

beforeAll(async () => {
  installExitHook();
  dir = await mkdtemp(join(tmpdir(), 'mqttkit-docs-'));
  dirs.add(dir);
  await writeFile(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  // 'mqttkit' is this package, installed (the global setup builds dist/)
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules', 'mqttkit'), 'dir');
  // what the guide's snippets import beside mqttkit, as an application installs them
  for (const name of PEERS)
    await symlink(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
  // no `paths`: the project's map 'mqttkit' to src/
  const tsconfig = {
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: { noEmit: true, typeRoots: [join(ROOT, 'node_modules/@types')], paths: {} },
    include: [],
    files: tsSnippets.map((s) => s.file),
  };
  await writeFile(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  for (const s of snippets) {
    const text =
      s.lang === 'ts'
        ? s.code
        : `set -euo pipefail\nmkdir -p "$SNIPPET_WORK" && cd "$SNIPPET_WORK"\n${s.code}`;
    await writeFile(join(dir, s.file), text);
  }
  // the built command, as `mqttkit` on PATH (the global setup builds dist/)
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'mqttkit'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(join(dir, 'bin', 'mqttkit'), 0o755);
  typecheck = new Promise((done) => {
    execFile(
      process.execPath,
      [TSC, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'],
      { cwd: dir, maxBuffer: 16 << 20 },
      // a tsc that fails without saying why (it did not start) fails the check too
      (err, stdout, stderr) => done(`${stdout}${stderr}`.trim() || (err === null ? '' : String(err))),
    );
  });
});

afterAll(async () => {
  if (dir === undefined) return;
  await typecheck; // tsc reads the directory until it is done
  dirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
});

describe('the guide has runnable snippets', () => {
  it('finds them, each with a prints: comment', () => {
    expect(snippets.length).toBeGreaterThan(0);
    const silent = snippets.filter((s) => s.prints.length === 0).map((s) => s.name);
    expect(silent, 'snippets without a prints: comment').toEqual([]);
  });
});

describe.skipIf(!hasMosquitto())('each snippet runs against mosquitto', () => {
  let broker: Broker;
  let redis: RedisServer | undefined;
  const redisMissing = snippets.some((s) => s.needsRedis) && !hasRedis();
  const tls = hasOpenssl();
  if (!tls) console.warn('openssl not found: skipping the TLS snippets');

  beforeAll(async () => {
    broker = await startMosquitto(tls ? { tls: { requireCertificate: true } } : {});
    if (snippets.some((s) => s.needsRedis) && !redisMissing) redis = await startRedis();
  });
  afterAll(async () => {
    await broker?.stop();
    await redis?.stop();
  });

  for (const s of snippets) {
    const skip = (s.needsRedis && redisMissing) || (s.needsTls && !tls);
    it.skipIf(skip)(
      s.name,
      async () => {
        const env: NodeJS.ProcessEnv = {
          MQTT_URL: broker.url,
          NO_COLOR: '1',
          PATH: `${join(dir, 'bin')}${delimiter}${process.env.PATH ?? ''}`,
          TSX_TSCONFIG_PATH: join(dir, 'tsconfig.json'),
          SNIPPET_WORK: join(dir, `work-${s.file}`),
        };
        if (redis !== undefined) env.REDIS_URL = redis.url;
        if (broker.tlsUrl !== undefined && broker.certs !== undefined) {
          env.MQTTS_URL = broker.tlsUrl;
          env.MQTT_CA = broker.certs.ca.certPath;
          env.MQTT_CERT = broker.certs.client.certPath;
          env.MQTT_KEY = broker.certs.client.keyPath;
        }
        const file = join(dir, s.file);
        // a shell script may start background processes: it runs in a process group of its own
        // (setsid), which is killed as a whole when it ends or times out
        const run =
          s.lang === 'ts'
            ? startProcess(process.execPath, ['--import', TSX, file], { env, timeout: SNIPPET_TIMEOUT })
            : setsid === undefined
              ? startProcess('bash', [file], { env, timeout: SNIPPET_TIMEOUT })
              : startProcess(setsid, ['bash', file], { env, timeout: SNIPPET_TIMEOUT });
        const group = s.lang === 'sh' && setsid !== undefined ? run.child.pid : undefined;
        const killGroup = (): void => {
          try {
            if (group !== undefined) process.kill(-group, 'SIGKILL');
          } catch {
            // the group is gone already
          }
        };
        const timer = setTimeout(killGroup, SNIPPET_TIMEOUT);
        const r = await run.exited.finally(() => {
          clearTimeout(timer);
          killGroup();
        });
        const shown = `${s.name}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
        expect(r.signal, `killed after ${SNIPPET_TIMEOUT} ms: ${shown}`).toBeNull();
        expect(r.code, shown).toBe(0);
        if (s.lang === 'ts') expect(r.stderr, shown).toBe('');
        expect(s.prints.length, `${s.name} has no prints: comment`).toBeGreaterThan(0);
        let from = 0;
        for (const want of s.prints) {
          const at = r.stdout.indexOf(want, from);
          expect(at, `stdout lacks ${JSON.stringify(want)} (in order): ${shown}`).toBeGreaterThanOrEqual(0);
          from = at + want.length;
        }
      },
      SNIPPET_TIMEOUT + 5_000,
    );
  }
});

describe('typecheck', () => {
  it('every ts run snippet typechecks (one tsc run)', async () => {
    const output = await typecheck;
    // name the page and the line in it for each error: file.ts(line,col) -> docs/page.md:line
    const byFile = new Map(tsSnippets.map((s) => [s.file, s]));
    const located = output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l);
        const s = m === null ? undefined : byFile.get(resolve(dir, m[1]).slice(dir.length + 1));
        if (m === null || s === undefined) return l;
        return `${s.page}:${s.line + Number(m[2])} (snippet ${s.index}): ${m[4]}`;
      });
    expect(located, 'tsc errors').toEqual([]);
  }, 120_000);
});
