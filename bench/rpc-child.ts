/**
 * One side of `bench/rpc.bench.ts` in a process of its own, so that the
 * requester's and the responder's CPU time do not mix:
 *
 *   node --import tsx bench/rpc-child.ts '<ChildConfig JSON>'
 *
 * It connects (a requester also subscribes to its response topic, a
 * responder to the request topic), prints `{"ready":true}`, then obeys one
 * JSON command per stdin line, answering each with one JSON line on stdout:
 *
 * - requester `{"cmd":"run",qos,concurrency,warmupMs,durationMs}`: keeps
 *   `concurrency` requests in flight for `warmupMs`, lets them finish,
 *   prints `{"warm":true}`, waits for `{"cmd":"go"}`, then keeps them in
 *   flight for `durationMs` (each completion sends the next request; no
 *   new one after the time is up) and prints `{"result":RunResult}` once
 *   the last has finished: requests, wall time, this process's CPU time,
 *   latency percentiles (from just before `send` to the response).
 * - responder `{"cmd":"mark"}`: `{"mark":{"cpuUs","served"}}`, this
 *   process's CPU time so far and the requests answered.
 * - `profile` in `run` (a file) and `mark` (`"start"`, then a file): a CPU
 *   profile (inspector, 100 µs sampling) of the measured phase only.
 * - `{"cmd":"exit"}`: closes the connection, prints `{"closed":true}` and
 *   exits 0 (so that `--cpu-prof` writes its profile).
 *
 * Anything else goes to stderr. The child exits when its stdin ends (the
 * parent is gone).
 */
import { writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector/promises';
import { createInterface } from 'node:readline';
import {
  mqttjsRequester,
  mqttjsResponder,
  mqttkitRequester,
  mqttkitResponder,
  type Requester,
  type Responder,
} from './rpc-libs.js';
import { rawRequester, rawResponder } from './rpc-raw.js';

/** `mqttjs-nodelay`: MQTT.js with `setNoDelay(true)` on its socket. */
export type Lib = 'mqttkit' | 'mqttjs' | 'mqttjs-nodelay' | 'raw';

export interface ChildConfig {
  role: 'requester' | 'responder';
  lib: Lib;
  url: string;
  /** The request topic (the responder's route). */
  topic: string;
  /** Request payload bytes. */
  size: number;
}

export interface RunCommand {
  cmd: 'run';
  qos: 0 | 1;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Write a CPU profile of the measured phase to this file. */
  profile?: string;
}

export interface MarkCommand {
  cmd: 'mark';
  /** 'start' a CPU profile after the mark, or stop the one running and write it to this file. */
  profile?: string;
}

export type Command = RunCommand | { cmd: 'go' } | MarkCommand | { cmd: 'exit' };

export interface RunResult {
  /** Requests answered in the measured phase. */
  requests: number;
  errors: number;
  firstError?: string;
  /** From the first request to the last response, ms. */
  ms: number;
  /** This process's CPU time (user + system) over the same span, µs. */
  cpuUs: number;
  /** Latency percentiles and mean, µs. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface Mark {
  cpuUs: number;
  served: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const payload = Buffer.alloc(config.size, 0x61);

function say(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function cpuNow(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/** Latency samples of one phase, µs, in a growing typed array. */
class Samples {
  private data = new Float64Array(1 << 16);
  n = 0;
  push(v: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = v;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.n).sort();
  }
}

/** Nearest-rank percentile of sorted samples. */
function percentile(s: Float64Array, p: number): number {
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

interface Phase {
  requests: number;
  errors: number;
  firstError?: string;
  ms: number;
  samples: Samples;
}

/** Keeps `concurrency` requests in flight for `ms`, then lets the last ones finish. */
function load(req: Requester, qos: 0 | 1, concurrency: number, ms: number): Promise<Phase> {
  return new Promise((resolve, reject) => {
    const samples = new Samples();
    const t0 = performance.now();
    const stopAt = t0 + ms;
    let inFlight = 0;
    let stopping = false;
    let requests = 0;
    let errors = 0;
    let firstError: string | undefined;
    const guard = setTimeout(
      () =>
        reject(new Error(`${config.lib} requester: ${inFlight} requests unanswered ${ms + 40_000} ms in`)),
      ms + 40_000,
    );
    const issue = (): void => {
      inFlight++;
      const start = performance.now();
      req.send(qos, (err) => {
        const end = performance.now();
        inFlight--;
        if (err === undefined) {
          requests++;
          samples.push((end - start) * 1000);
        } else {
          errors++;
          firstError ??= err.message;
        }
        if (end >= stopAt) stopping = true;
        if (!stopping) {
          if (err === undefined) issue();
          else setTimeout(issue, 1); // no tight loop on a broken connection
        } else if (inFlight === 0) {
          clearTimeout(guard);
          resolve({ requests, errors, firstError, ms: end - t0, samples });
        }
      });
    };
    for (let i = 0; i < concurrency; i++) issue();
  });
}

let inspector: Inspector | undefined;

/** Starts sampling this process's CPU (every 100 µs) through the inspector. */
async function profileStart(): Promise<void> {
  inspector = new Inspector();
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
  await inspector.post('Profiler.start');
}

async function profileStop(file: string): Promise<void> {
  if (inspector === undefined) throw new Error('no profile running');
  const { profile } = await inspector.post('Profiler.stop');
  inspector.disconnect();
  inspector = undefined;
  writeFileSync(file, JSON.stringify(profile));
}

function commands(): AsyncIterableIterator<Command> {
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => process.exit(3)); // the parent is gone
  const it = rl[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const r = await it.next();
      return r.done ? r : { done: false, value: JSON.parse(r.value as string) as Command };
    },
  };
}

async function requester(): Promise<void> {
  const open = {
    mqttkit: mqttkitRequester,
    mqttjs: mqttjsRequester,
    'mqttjs-nodelay': (url: string, topic: string, p: Buffer) => mqttjsRequester(url, topic, p, true),
    raw: rawRequester,
  }[config.lib];
  const req = await open(config.url, config.topic, payload);
  say({ ready: true });
  const input = commands();
  for await (const c of input) {
    if (c.cmd === 'exit') return req.close();
    if (c.cmd !== 'run') throw new Error(`requester: unexpected command ${c.cmd}`);
    await load(req, c.qos, c.concurrency, c.warmupMs);
    say({ warm: true });
    const go = await input.next();
    if (go.done || go.value.cmd !== 'go') throw new Error('requester: expected {"cmd":"go"}');
    if (c.profile !== undefined) await profileStart();
    const cpu0 = cpuNow();
    const phase = await load(req, c.qos, c.concurrency, c.durationMs);
    const cpuUs = cpuNow() - cpu0;
    if (c.profile !== undefined) await profileStop(c.profile);
    const s = phase.samples.sorted();
    let sum = 0;
    for (let i = 0; i < s.length; i++) sum += s[i];
    const result: RunResult = {
      requests: phase.requests,
      errors: phase.errors,
      ...(phase.firstError !== undefined && { firstError: phase.firstError }),
      ms: phase.ms,
      cpuUs,
      p50: percentile(s, 0.5),
      p90: percentile(s, 0.9),
      p99: percentile(s, 0.99),
      p999: percentile(s, 0.999),
      max: s.length === 0 ? Number.NaN : s[s.length - 1],
      mean: sum / s.length,
    };
    say({ result });
  }
}

async function responder(): Promise<void> {
  const open = {
    mqttkit: mqttkitResponder,
    mqttjs: mqttjsResponder,
    'mqttjs-nodelay': (url: string, topic: string) => mqttjsResponder(url, topic, true),
    raw: rawResponder,
  }[config.lib];
  const res: Responder = await open(config.url, config.topic);
  say({ ready: true });
  for await (const c of commands()) {
    if (c.cmd === 'exit') return res.close();
    if (c.cmd !== 'mark') throw new Error(`responder: unexpected command ${c.cmd}`);
    if (c.profile !== undefined && c.profile !== 'start') await profileStop(c.profile);
    const mark: Mark = { cpuUs: cpuNow(), served: res.served() };
    if (c.profile === 'start') await profileStart();
    say({ mark });
  }
}

(config.role === 'requester' ? requester() : responder()).then(
  () => {
    say({ closed: true });
    process.stdout.write('', () => process.exit(0));
  },
  (err: unknown) => {
    process.stderr.write(
      `rpc-child (${config.lib} ${config.role}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
