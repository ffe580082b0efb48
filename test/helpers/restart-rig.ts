/**
 * The broker-restart loss rig (issue 16, case 6): a QoS 1 stream from a
 * persistent publisher to a persistent QoS 1 subscriber through mosquitto
 * with persistence, restarted by SIGTERM a few times mid-stream, optionally
 * with the CPU loaded by busy child processes.
 *
 * Both connections go through a tapping proxy, and every packet on them is
 * decoded here, independently of the clients, so each message whose
 * `publish()` resolved and that never reached the subscriber can be traced:
 * did the publisher send it, did the broker PUBACK it (on which broker
 * instance, and when relative to that instance's SIGTERM and exit), did a
 * broker ever send it to the subscriber, did the subscriber PUBACK it.
 * mosquitto logs everything (`log_type all`), so its own account (a client's
 * queue overflowing, messages received and sent) is read alongside.
 *
 * `runRestartRig(options)` runs one stream and returns the trace;
 * `explainLoss(result)` sorts the lost messages by where they went.
 * Every process it starts (broker, load) is ended before it returns.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { type Packet, PacketDecoder } from '../../src/codec/index.js';
import { Session } from '../../src/session/index.js';
import { FileStore } from '../../src/store/index.js';
import { live } from './binaries.js';
import { CleanupStack } from './cleanup-stack.js';
import { startMosquitto } from './mosquitto.js';
import { startProxy } from './proxy.js';

export interface RigOptions {
  /** QoS 1 messages to publish. @default 5000 */
  messages?: number;
  /** SIGTERM restarts, spread evenly over the stream. @default 3 */
  restarts?: number;
  /** Busy child processes loading the CPU while the rig runs. @default 0 */
  load?: number;
  /** Publishes outstanding at once. @default 200 */
  window?: number;
  /** Extra mosquitto configuration lines (e.g. `max_queued_messages 0`). */
  brokerConfig?: string;
  /** The subscriber's client. @default 'mqttjs' */
  subscriber?: 'mqttjs' | 'mqttkit';
  /** The publisher's client. @default 'mqttkit' */
  publisher?: 'mqttkit' | 'mqttjs';
  /** The publisher's reconnect delay in ms (its client's default when unset). */
  pubReconnectDelay?: number;
  /** The subscriber's reconnect delay in ms (its client's default when unset). */
  subReconnectDelay?: number;
  /** Give up waiting for the subscriber after this long without a new message. @default 8000 */
  quietMs?: number;
  /** How the broker is stopped for each restart. @default 'SIGTERM' */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** Whole-run bound in ms; the load processes never outlive it. @default 120000 */
  limitMs?: number;
}

/** One packet seen by a tap. */
export interface WireEvent {
  /** ms since the rig started */
  t: number;
  /** The proxy's connection number. */
  conn: number;
  /** The proxy did not pass it on (the other side had gone). */
  dropped: boolean;
  packetId: number;
  dup?: boolean;
}

/** A broker instance's life: started (listening), told to stop, exited. */
export interface Instance {
  listening: number;
  signalled?: number;
  exited?: number;
  /** It did not exit within 5 s of SIGTERM and was killed (its persistence file was not saved). */
  killed?: boolean;
}

/** Everything the taps saw about one message (by the sequence number in its payload). */
export interface MessageTrace {
  seq: number;
  /** The publisher's PUBLISH packets. */
  sent: WireEvent[];
  /** The broker's PUBACKs to the publisher. */
  acked: WireEvent[];
  /** The broker's PUBLISH packets to the subscriber. */
  delivered: WireEvent[];
  /** The subscriber's PUBACKs. */
  subAcked: WireEvent[];
}

export interface RigResult {
  messages: number;
  /** Sequence numbers whose publish() resolved. */
  resolved: Set<number>;
  /** Copies the subscriber's application received, by sequence number. */
  received: Map<number, number>;
  /** Resolved, never received. */
  lost: number[];
  instances: Instance[];
  traces: Map<number, MessageTrace>;
  /** Connection number -> ms when the proxy saw its CONNACK (by side). */
  connacks: { pub: Map<number, number>; sub: Map<number, number> };
  /** mosquitto's log over all instances. */
  log: string;
  /** The subscriber gave up waiting (quietMs without a new message). */
  timedOut: boolean;
  /** Tap decode failures, if any. */
  wireErrors: string[];
}

const TOPIC = 'rig/loss';
const SUB_ID = 'rig-sub';
const PUB_ID = 'rig-pub';

/** Decodes one side's traffic (per connection and direction) into per-message events. */
class SideTap {
  readonly decoders = new Map<string, PacketDecoder>();
  /** `${conn}` -> packet id -> seq of the latest PUBLISH with that id, per direction of the PUBLISH. */
  readonly ids = new Map<number, Map<number, number>>();
  readonly connacks = new Map<number, number>();

  constructor(
    readonly name: 'pub' | 'sub',
    readonly rig: Trace,
  ) {}

  push(conn: number, direction: 'up' | 'down', chunk: Buffer, dropped: boolean): void {
    const key = `${conn}${direction}`;
    let decoder = this.decoders.get(key);
    if (decoder === undefined) {
      // the client's CONNECT sets the version of its direction; the broker's follows it
      const up = this.decoders.get(`${conn}up`);
      decoder = new PacketDecoder({ protocolVersion: up?.protocolVersion ?? 5 });
      this.decoders.set(key, decoder);
    }
    if (direction === 'down') {
      const up = this.decoders.get(`${conn}up`);
      if (up !== undefined) decoder.protocolVersion = up.protocolVersion;
    }
    let packets: Packet[];
    try {
      packets = decoder.push(chunk);
    } catch (err) {
      this.rig.errors.push(`${this.name} ${key}: ${(err as Error).message}`);
      this.decoders.set(key, new PacketDecoder({ protocolVersion: decoder.protocolVersion }));
      return;
    }
    const t = this.rig.now();
    for (const p of packets) this.#packet(conn, direction, p, t, dropped);
  }

  #packet(conn: number, direction: 'up' | 'down', p: Packet, t: number, dropped: boolean): void {
    // the publisher's PUBLISH goes up, the subscriber's comes down
    const publishDir = this.name === 'pub' ? 'up' : 'down';
    if (p.type === 'connack') {
      this.connacks.set(conn, t);
      return;
    }
    if (p.type === 'publish' && direction === publishDir && p.qos === 1) {
      const seq = Number(Buffer.from(p.payload).toString());
      const id = p.packetId as number;
      let ids = this.ids.get(conn);
      if (ids === undefined) this.ids.set(conn, (ids = new Map()));
      ids.set(id, seq);
      const trace = this.rig.trace(seq);
      (this.name === 'pub' ? trace.sent : trace.delivered).push({
        t,
        conn,
        dropped,
        packetId: id,
        dup: p.dup,
      });
      return;
    }
    if (p.type === 'puback' && direction !== publishDir) {
      const seq = this.ids.get(conn)?.get(p.packetId);
      if (seq === undefined) {
        this.rig.errors.push(`${this.name} conn ${conn}: PUBACK ${p.packetId} for no PUBLISH seen`);
        return;
      }
      const trace = this.rig.trace(seq);
      (this.name === 'pub' ? trace.acked : trace.subAcked).push({ t, conn, dropped, packetId: p.packetId });
    }
  }
}

class Trace {
  readonly start = performance.now();
  readonly traces = new Map<number, MessageTrace>();
  readonly errors: string[] = [];
  now(): number {
    return Math.round((performance.now() - this.start) * 10) / 10;
  }
  trace(seq: number): MessageTrace {
    let t = this.traces.get(seq);
    if (t === undefined) {
      t = { seq, sent: [], acked: [], delivered: [], subAcked: [] };
      this.traces.set(seq, t);
    }
    return t;
  }
}

/** Spawns `n` busy Node processes that stop by themselves after `ms`. */
function startLoad(n: number, ms: number): ChildProcess[] {
  const children: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, ['-e', `const e=Date.now()+${ms};while(Date.now()<e){}`], {
      stdio: 'ignore',
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    children.push(child);
  }
  return children;
}

async function stopLoad(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Runs the stream once; see the module comment. */
export async function runRestartRig(options: RigOptions = {}): Promise<RigResult> {
  const messages = options.messages ?? 5000;
  const restarts = options.restarts ?? 3;
  const window = options.window ?? 200;
  const quietMs = options.quietMs ?? 8000;
  const limitMs = options.limitMs ?? 120_000;
  const rig = new Trace();
  const pubTap = new SideTap('pub', rig);
  const subTap = new SideTap('sub', rig);
  const received = new Map<number, number>();
  const resolved = new Set<number>();
  const instances: Instance[] = [];
  let timedOut = false;
  let log = '';
  // undone last-first whatever happens
  const cleanups = new CleanupStack();
  try {
    const load = startLoad(options.load ?? 0, limitMs);
    cleanups.push(() => stopLoad(load));
    const storeDir = await mkdtemp(join(tmpdir(), 'mqttkit-rig-'));
    cleanups.push(() => rm(storeDir, { recursive: true, force: true }));
    const broker = await startMosquitto({
      persistence: true,
      config: ['log_type all', options.brokerConfig ?? ''].join('\n'),
    });
    instances.push({ listening: rig.now() });
    cleanups.push(async () => {
      const last = instances[instances.length - 1];
      last.signalled = rig.now();
      log = broker.log();
      await broker.stop();
      last.exited = rig.now();
    });
    const pubProxy = await startProxy(
      { port: broker.port },
      { tap: (c, d, b, x) => pubTap.push(c, d, b, x) },
    );
    cleanups.push(() => pubProxy.close());
    const subProxy = await startProxy(
      { port: broker.port },
      { tap: (c, d, b, x) => subTap.push(c, d, b, x) },
    );
    cleanups.push(() => subProxy.close());
    let lastReceived = rig.now();
    let wake: () => void = () => {};
    const onMessage = (payload: Buffer): void => {
      const seq = Number(payload.toString());
      received.set(seq, (received.get(seq) ?? 0) + 1);
      lastReceived = rig.now();
      wake();
    };
    const backoff = (delay: number) => ({ initialDelay: delay, maxDelay: delay * 4, factor: 2, jitter: 0.2 });

    // subscriber
    if ((options.subscriber ?? 'mqttjs') === 'mqttjs') {
      const client = mqtt.connect(subProxy.url, {
        clientId: SUB_ID,
        clean: false,
        ...(options.subReconnectDelay !== undefined && { reconnectPeriod: options.subReconnectDelay }),
      });
      cleanups.push(() => client.endAsync(true));
      client.on('message', (_topic, payload) => onMessage(payload));
      await new Promise<void>((resolve, reject) => {
        client.once('error', reject);
        client.once('connect', () => {
          client.off('error', reject);
          client.on('error', () => {});
          client.subscribe(TOPIC, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
        });
      });
    } else {
      const session = new Session({
        url: subProxy.url,
        clientId: SUB_ID,
        clean: false,
        sessionExpiry: 3600,
        ...(options.subReconnectDelay !== undefined && { reconnect: backoff(options.subReconnectDelay) }),
      });
      cleanups.push(() => session.close({ timeout: 0 }));
      await session.connect();
      await session.subscribe(TOPIC, { qos: 1 }, (m) => onMessage(m.payload));
    }

    // publisher
    let publish: (seq: number) => Promise<unknown>;
    if ((options.publisher ?? 'mqttkit') === 'mqttkit') {
      const store = new FileStore(storeDir);
      cleanups.push(() => store.close());
      const session = new Session({
        url: pubProxy.url,
        clientId: PUB_ID,
        clean: false,
        sessionExpiry: 3600,
        store,
        offlineQueue: { maxMessages: messages },
        ...(options.pubReconnectDelay !== undefined && { reconnect: backoff(options.pubReconnectDelay) }),
      });
      cleanups.push(() => session.close({ timeout: 0 }));
      await session.connect();
      publish = (seq) => session.publish(TOPIC, String(seq), { qos: 1 });
    } else {
      const client = mqtt.connect(pubProxy.url, {
        clientId: PUB_ID,
        clean: false,
        ...(options.pubReconnectDelay !== undefined && { reconnectPeriod: options.pubReconnectDelay }),
      });
      cleanups.push(() => client.endAsync(true));
      client.on('error', () => {});
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      publish = (seq) => client.publishAsync(TOPIC, String(seq), { qos: 1 });
    }

    const restartOnce = async (): Promise<void> => {
      const current = instances[instances.length - 1];
      const pid = broker.pid;
      current.signalled = rig.now();
      if (pid !== undefined) process.kill(pid, options.signal ?? 'SIGTERM');
      // the helper's Broker has no exit event: watch its pid (it is cleared on exit)
      const killAt = Date.now() + 5000;
      while (pid !== undefined && broker.pid === pid) {
        if (!current.killed && Date.now() > killAt) {
          current.killed = true;
          process.kill(pid, 'SIGKILL');
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      current.exited = rig.now();
      await broker.restart(); // nothing left to stop: starts again on the same port
      instances.push({ listening: rig.now() });
    };

    const deadline = Date.now() + limitMs;
    let restarting: Promise<void> = Promise.resolve();
    let done = 0;
    let next = 0;
    let nextRestart = 1;
    await new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        while (next < messages && next - done < window) {
          const seq = next++;
          publish(seq).then(() => {
            resolved.add(seq);
            done++;
            if (nextRestart <= restarts && done >= (messages * nextRestart) / (restarts + 1)) {
              nextRestart++;
              restarting = restarting.then(restartOnce);
            }
            if (done === messages) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    await restarting;
    // wait for the subscriber: everything resolved has arrived, or nothing new came for quietMs
    for (;;) {
      let missing = 0;
      for (const seq of resolved) if (!received.has(seq)) missing++;
      if (missing === 0) break;
      if (rig.now() - lastReceived > quietMs || Date.now() > deadline) {
        timedOut = true;
        break;
      }
      // woken by the next message, or at the moment the wait gives up (quietMs or the deadline)
      const giveUpIn = Math.min(lastReceived + quietMs - rig.now(), deadline - Date.now()) + 1;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(giveUpIn, 1));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    await cleanups.run().catch(() => {});
  }
  const lost = [...resolved].filter((seq) => !received.has(seq)).sort((a, b) => a - b);
  return {
    messages,
    resolved,
    received,
    lost,
    instances,
    traces: rig.traces,
    connacks: { pub: pubTap.connacks, sub: subTap.connacks },
    log,
    timedOut,
    wireErrors: rig.errors,
  };
}

/** Which broker instance (0-based) was running at `t`. */
function instanceAt(instances: Instance[], t: number): number {
  for (let i = instances.length - 1; i >= 0; i--) if (t >= instances[i].listening) return i;
  return 0;
}

/** Lines of mosquitto's log saying it dropped messages for a client because its queue was full. */
export function queueDrops(log: string, clientId = SUB_ID): string[] {
  return log
    .split('\n')
    .filter((line) => line.includes(`Outgoing messages are being dropped for client ${clientId}`));
}

/** Sorts the lost messages by where they went, with counts and examples, as text. */
export function explainLoss(r: RigResult): { summary: Record<string, number>; text: string } {
  const summary: Record<string, number> = {};
  const lines: string[] = [];
  const bump = (k: string): void => {
    summary[k] = (summary[k] ?? 0) + 1;
  };
  for (const seq of r.lost) {
    const tr = r.traces.get(seq) ?? { seq, sent: [], acked: [], delivered: [], subAcked: [] };
    const acked = tr.acked.filter((e) => !e.dropped);
    let where: string;
    if (tr.sent.length === 0) where = 'publisher never sent it';
    else if (acked.length === 0) where = 'resolved without a PUBACK reaching the publisher';
    else if (tr.delivered.length === 0) {
      const ack = acked[0];
      const i = instanceAt(r.instances, ack.t);
      const inst = r.instances[i];
      const phase =
        inst.signalled !== undefined && ack.t >= inst.signalled
          ? inst.killed
            ? 'after its stop signal (then SIGKILLed after 5 s)'
            : 'after its stop signal, before it exited'
          : 'before its stop signal';
      where = `broker ${i} acked it ${phase}, never sent it to the subscriber`;
    } else if (tr.delivered.every((e) => e.dropped)) where = 'broker sent it only into a closed connection';
    else if (tr.subAcked.length > 0) where = 'subscriber PUBACKed it without delivering it';
    else where = 'broker sent it, subscriber neither delivered nor PUBACKed it';
    bump(where);
    if ((summary[where] ?? 0) <= 3) lines.push(`  #${seq}: ${where}\n    ${JSON.stringify(tr)}`);
  }
  // per broker instance: what it acknowledged, and how much of that after its SIGTERM
  const perInstance = r.instances.map(() => ({ acked: 0, afterSignal: 0, afterSignalLost: 0, lost: 0 }));
  const lostSet = new Set(r.lost);
  for (const tr of r.traces.values()) {
    for (const ack of tr.acked) {
      if (ack.dropped) continue;
      const i = instanceAt(r.instances, ack.t);
      const s = perInstance[i];
      s.acked++;
      if (lostSet.has(tr.seq)) s.lost++;
      const term = r.instances[i].signalled;
      if (term !== undefined && ack.t >= term) {
        s.afterSignal++;
        if (lostSet.has(tr.seq)) s.afterSignalLost++;
      }
    }
  }
  const drops = queueDrops(r.log);
  const text = [
    `resolved ${r.resolved.size}/${r.messages}, received ${r.received.size}, lost ${r.lost.length}` +
      (r.lost.length ? ` (seq ${r.lost[0]}..${r.lost[r.lost.length - 1]})` : ''),
    `instances: ${JSON.stringify(r.instances)}`,
    `per instance (PUBACKs to the publisher): ${JSON.stringify(perInstance)}`,
    `pub connacks: ${JSON.stringify([...r.connacks.pub])}`,
    `sub connacks: ${JSON.stringify([...r.connacks.sub])}`,
    `mosquitto queue-full lines for ${SUB_ID}: ${drops.length}${drops.length ? `\n  ${drops.join('\n  ')}` : ''}`,
    `wire errors: ${r.wireErrors.length}${r.wireErrors.length ? `\n  ${r.wireErrors.slice(0, 5).join('\n  ')}` : ''}`,
    ...Object.entries(summary).map(([k, n]) => `${n} lost: ${k}`),
    ...lines,
  ].join('\n');
  return { summary, text };
}
