/**
 * The built `mqttkit` without aedes (an optional peer dependency): a copy of
 * dist/ whose node_modules links every package of the repository's but
 * aedes. Each command that starts the embedded broker says, on one line,
 * which package to install, and exits 2 (as a missing CLI package does).
 */
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LINE = "mqttkit: the command needs the optional package 'aedes': npm install aedes\n";

describe.concurrent('mqttkit without aedes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mqttkit-no-aedes-'));
    await cp(join(ROOT, 'dist'), join(dir, 'dist'), {
      recursive: true,
      filter: (src) => !/\.(d\.ts|map)$/.test(src),
    });
    await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
    await mkdir(join(dir, 'node_modules'));
    const modules = join(ROOT, 'node_modules');
    for (const name of await readdir(modules)) {
      if (name !== 'aedes' && name !== '.bin')
        await symlink(join(modules, name), join(dir, 'node_modules', name));
    }
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['bench', 'pub', '--count', '1'],
    ['broker', '-p', '0'],
    ['demo', '--duration', '1s'],
  ])('mqttkit %s: one line naming aedes, exit 2', async (...args) => {
    const r = await startProcess(process.execPath, [join(dir, 'dist/cli/main.js'), ...args], {
      env: { NO_COLOR: '1' },
    }).exited;
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: LINE });
  });
});
