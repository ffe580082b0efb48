/**
 * `AB_BASE=<checkout> npx tsx bench/ab.ts`: this checkout's `Session`
 * against another's (an earlier commit, checked out with `git worktree add
 * --detach <dir> <rev>` and its node_modules linked), in one process,
 * publishing 16-byte messages to the sink and receiving them from the
 * source (bench/servers). The two run interleaved (A B, B A, ...: six
 * rounds each after a warm-up), so what the machine does meanwhile falls on
 * both alike; run one after the other, as `npm run bench -- publish` at two
 * commits, they differed by up to 30% on this 2-core machine with the code
 * unchanged. Prints the medians and a ratio per row. What a change costs on
 * the hot paths is read here: issue 20 used it for what tracing costs when
 * no tracer is registered.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Session } from '../src/session/index.js';
import { median, type RunResult, timed } from './harness.js';
import { kitPublishLoop, kitReceive } from './kit-side.js';
import { startSink, startSource } from './servers/spawn.js';

const baseDir = process.env.AB_BASE;
if (baseDir === undefined) {
  process.stderr.write(
    'set AB_BASE to the checkout to compare with (git worktree add --detach <dir> <rev>)\n',
  );
  process.exit(2);
}
const base = (await import(pathToFileURL(join(resolve(baseDir), 'src/session/index.ts')).href)) as {
  Session: typeof Session;
};
const TOPIC = 'bench/t';
const PAYLOAD = Buffer.alloc(16, 0x61);
const COUNTS = { 0: 300_000, 1: 150_000, 2: 80_000 } as const;
const source = await startSource();
const sink = await startSink();

async function publish(S: typeof Session, qos: 0 | 1 | 2, protocolVersion: 4 | 5): Promise<RunResult> {
  const s = new S({ url: sink.url, keepalive: 0, protocolVersion });
  await s.connect();
  try {
    return await timed(COUNTS[qos], async () => {
      await kitPublishLoop(s, TOPIC, PAYLOAD, qos, COUNTS[qos], 10_000);
      if (qos === 0) await s.publish(TOPIC, PAYLOAD, { qos: 1 }); // the sink answers in order
    });
  } finally {
    await s.close();
  }
}

const receive = (S: typeof Session, qos: 0 | 1 | 2, protocolVersion: 4 | 5) =>
  kitReceive(source, TOPIC, qos === 2 ? 1 : qos, COUNTS[qos], { protocolVersion }, S);

const rows: string[] = [];
try {
  for (const [what, run, levels] of [
    ['publish', publish, [0, 1, 2]],
    ['receive', receive, [0, 1]],
  ] as const) {
    for (const version of [5, 4] as const) {
      for (const qos of levels) {
        await run(base.Session, qos, version);
        await run(Session, qos, version);
        const a: RunResult[] = [];
        const b: RunResult[] = [];
        for (let r = 0; r < 6; r++) {
          const first = r % 2 === 0;
          (first ? a : b).push(await run(first ? base.Session : Session, qos, version));
          (first ? b : a).push(await run(first ? Session : base.Session, qos, version));
        }
        const rate = (x: RunResult) => (x.msgs * 1000) / x.ms;
        const ra = median(a.map(rate));
        const rb = median(b.map(rate));
        const cpu = (xs: RunResult[]) => median(xs.map((x) => x.cpuUs / x.msgs)).toFixed(3);
        const row = `| ${what} QoS ${qos} 16 B, MQTT ${version === 5 ? '5' : '3.1.1'} | ${(ra / 1e6).toFixed(2)}M | ${(rb / 1e6).toFixed(2)}M | ${(rb / ra).toFixed(2)}x | ${cpu(a)} | ${cpu(b)} |`;
        process.stderr.write(`${row}\n`);
        rows.push(row);
      }
    }
  }
} finally {
  await Promise.all([source.stop(), sink.stop()]);
}
console.log(`| scenario | ${baseDir} msgs/s | this checkout msgs/s | ratio | CPU µs/msg, base | this |`);
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
