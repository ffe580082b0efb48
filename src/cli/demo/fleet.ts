/**
 * The fleet `mqttkit demo` runs on one broker, from one process: devices
 * reporting batched state and rate-limited telemetry, an RPC API that
 * answers with each device's last state, a console calling it, and an edge
 * session whose forwarder copies the telemetry up to a cloud session.
 */
import { setMaxListeners } from 'node:events';
import { BatchChannel, QueueChannel } from '../../channels/index.js';
import type { ProtocolVersion } from '../../codec/types.js';
import { ClosedError, RpcError } from '../../core/errors.js';
import type { Forwarder, ForwarderMetrics } from '../../forward/forwarder.js';
import { SessionManager } from '../../manager/manager.js';
import { RpcClient } from '../../rpc/client.js';
import { RpcServer, RpcStatusError } from '../../rpc/server.js';
import type { Session, SessionOptions } from '../../session/index.js';
import { sleep } from '../runtime.js';

/** Each device's telemetry queue sends at most this many messages a second. */
export const TELEMETRY_RATE = 20;
const TICK_MS = 100;
const STATE_INTERVAL_MS = 500;
const CALL_EVERY_MS = 200;

interface Device {
  readonly id: string;
  readonly state: BatchChannel;
  readonly telemetry: QueueChannel;
  temperature: number;
  battery: number;
}

export interface DemoStats {
  devices: number;
  /** `unsent`: still queued at the stop, dropped. */
  telemetry: { sent: number; queued: number; failed: number; unsent: number };
  state: { batches: number; readings: number; failed: number };
  rpc: { ok: number; notFound: number; failed: number; served: number; p50?: number; p99?: number };
  forwarder: ForwarderMetrics;
}

export class DemoFleet {
  readonly manager = new SessionManager({ metricsInterval: 500 });
  /** Session names in display order, with what each one does. */
  readonly roles = new Map<string, string>();
  /** Kept past `manager.close()` for the final counts. */
  readonly sessions = new Map<string, Session>();
  private readonly devices: Device[] = [];
  private readonly lastState = new Map<string, unknown>();
  private readonly calls = new Set<Promise<void>>();
  private readonly latencies: number[] = [];
  private readonly rpc = { ok: 0, notFound: 0, failed: 0, served: 0 };
  private readonly lost = { telemetry: 0, state: 0, unsent: 0 };
  private server: RpcServer | undefined;
  private client: RpcClient | undefined;
  private forwarder: Forwarder | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private callCount = 0;

  constructor(
    base: SessionOptions,
    private readonly count: number,
    clientIdPrefix: string,
    private readonly log: (line: string) => void,
  ) {
    const add = (name: string, role: string): void => {
      this.roles.set(name, role);
      this.sessions.set(name, this.manager.add({ ...base, name, clientId: `${clientIdPrefix}-${name}` }));
    };
    for (let i = 1; i <= count; i++) add(`device-${i}`, 'device');
    add('api', 'RPC server');
    add('console', 'RPC client');
    add('edge', 'forwarder source');
    add('cloud', 'forwarder target');
    const lost = new Set<string>();
    this.manager.on('session_disconnected', ({ name, error }) => {
      if (error === undefined || this.stopping) return;
      lost.add(name);
      this.log(`${name} lost its connection (${error.message}); reconnecting`);
    });
    this.manager.on('session_ready', ({ name }) => {
      if (lost.delete(name)) this.log(`${name} is back`);
    });
    this.manager.on('session_error', ({ name, error }) => this.log(`${name}: ${error.message}`));
  }

  get version(): ProtocolVersion {
    return this.sessions.get('api')?.protocolVersion ?? 5;
  }

  /** Connects everything and starts the traffic; rejects when a part fails (then call `stop()`). */
  async start(signal: AbortSignal): Promise<void> {
    const m = this.manager;
    // the API remembers each device's latest state, from the batches the devices publish
    m.handleTo(
      'api',
      'demo/devices/+/state',
      (msg) => {
        try {
          const batch = JSON.parse(msg.payload.toString()) as unknown[];
          this.lastState.set(msg.topic.split('/')[2], batch[batch.length - 1]);
        } catch {
          this.log(`api: a state message on ${msg.topic} is not a JSON array`);
        }
      },
      { qos: 1 },
    );
    // every session's connect listens to the signal at once: a signal of its own, without the listener cap
    const connecting = new AbortController();
    setMaxListeners(0, connecting.signal);
    const abort = (): void => connecting.abort(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    if (signal.aborted) abort();
    try {
      await m.connectAll({ signal: connecting.signal });
      await m.waitReady(undefined, { timeout: 10_000, signal: connecting.signal });
    } finally {
      signal.removeEventListener('abort', abort);
    }

    const server = new RpcServer(this.get('api'), { timeout: 5000 });
    this.server = server;
    server.use(async (_req, next) => {
      this.rpc.served++; // middleware sees every request, whatever its route or result
      return next();
    });
    server.route('demo/devices/:id/get', (req) => {
      const id = req.params.id;
      if (!/^\d+$/.test(id) || Number(id) < 1 || Number(id) > this.count) {
        throw new RpcStatusError(404, `no device ${id}`);
      }
      return { id, state: this.lastState.get(id) ?? null };
    });
    server.on('error', (err) => this.log(`api: ${err.message}`));
    await server.start();
    this.client = new RpcClient(this.get('console'), { timeout: 2000 });
    await this.client.start();

    this.forwarder = m.forward({
      name: 'edge-to-cloud',
      from: 'edge',
      topics: 'demo/devices/+/telemetry',
      to: 'cloud',
      map: [['demo/devices/+/telemetry', 'demo/cloud/devices/{1}/telemetry']],
      metadata: (msg) => ({ site: 'demo-plant', via: msg.source }),
      envelope: this.version === 4, // MQTT 3.1.1 has no user properties: the metadata travels in JSON
      qos: 1,
    });
    this.forwarder.onError = (err) => this.log(`forwarder: ${err.message}`);
    await this.forwarder.start();

    for (let i = 1; i <= this.count; i++) {
      const s = this.get(`device-${i}`);
      const id = String(i);
      this.devices.push({
        id,
        state: new BatchChannel(s, `demo/devices/${id}/state`, { interval: STATE_INTERVAL_MS }),
        telemetry: new QueueChannel(s, `demo/devices/${id}/telemetry`, {
          rate: TELEMETRY_RATE,
          capacity: 1000,
        }),
        temperature: 20 + Math.random() * 5,
        battery: 100,
      });
    }
    this.timers.push(setInterval(() => this.tick(), TICK_MS));
    this.timers.push(setInterval(() => this.call(), CALL_EVERY_MS));
  }

  /** Every 100 ms each device samples its state and sends a reading, now and then a burst of them. */
  private tick(): void {
    const t = Date.now();
    for (const d of this.devices) {
      d.temperature += (Math.random() - 0.5) * 0.2;
      d.battery = Math.max(0, d.battery - 0.01);
      d.state.push({ t, temperature: round(d.temperature), battery: round(d.battery) }).catch((err) => {
        this.failed('state', `device-${d.id} state`, err);
      });
      // a burst (an event with its samples) now and then: the queue holds it and sends it at its rate
      const n = Math.random() < 0.03 ? 15 : 1;
      for (let i = 0; i < n; i++) {
        const reading = JSON.stringify({ t, vibration: round(Math.random() * 2) });
        d.telemetry.push(reading).catch((err) => this.failed('telemetry', `device-${d.id} telemetry`, err));
      }
    }
  }

  /** The console asks for a random device's state; one call in ten asks for a device that does not exist. */
  private call(): void {
    const client = this.client;
    if (client === undefined || this.stopping) return;
    const id = ++this.callCount % 10 === 0 ? this.count + 1 : 1 + Math.floor(Math.random() * this.count);
    const started = performance.now();
    const p = client.request(`demo/devices/${id}/get`, '').then(
      () => {
        this.rpc.ok++;
        this.latency(performance.now() - started);
      },
      (err: unknown) => {
        if (err instanceof RpcError && err.status === 404) {
          this.rpc.notFound++;
          this.latency(performance.now() - started);
        } else if (!(err instanceof ClosedError)) {
          this.rpc.failed++;
          this.log(`console: ${(err as Error).message}`);
        }
      },
    );
    this.calls.add(p);
    void p.finally(() => this.calls.delete(p));
  }

  private latency(ms: number): void {
    if (this.latencies.length >= 5000) this.latencies.splice(0, 1000); // the recent ones
    this.latencies.push(ms);
  }

  private failed(kind: 'state' | 'telemetry', what: string, err: unknown): void {
    if (err instanceof ClosedError && this.stopping) {
      if (kind === 'telemetry') this.lost.unsent++; // still queued at the stop: counted, not reported
      return;
    }
    this.lost[kind]++;
    this.log(`${what}: ${(err as Error).message}`);
  }

  stats(): DemoStats {
    const tel = { sent: 0, queued: 0, failed: this.lost.telemetry, unsent: this.lost.unsent };
    const state = { batches: 0, readings: 0, failed: this.lost.state };
    for (const d of this.devices) {
      const q = d.telemetry.metrics();
      tel.sent += q.published;
      tel.queued += q.queued + q.inflight;
      const b = d.state.metrics();
      state.batches += b.published;
      state.readings += b.pushed - b.pending - b.rejected;
    }
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted.length === 0 ? undefined : sorted[Math.floor((sorted.length - 1) * p)];
    return {
      devices: this.count,
      telemetry: tel,
      state,
      rpc: { ...this.rpc, p50: pct(0.5), p99: pct(0.99) },
      forwarder: this.forwarder?.metrics() ?? emptyForwarder(),
    };
  }

  /**
   * Stops in order: the traffic, the devices' channels (the last state batch
   * goes out), the console's calls in flight, the API, the forwarder, then
   * every session (DISCONNECT). Always resolves.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all(this.devices.flatMap((d) => [d.state.close(), d.telemetry.close({ drop: true })]));
    // what the devices sent is still on its way to the edge: let the forwarder catch up (2 s at most)
    for (let waited = 0; waited < 2000 && !this.caughtUp(); waited += 10) await sleep(10);
    await Promise.allSettled([...this.calls]);
    await this.client?.close();
    await this.server?.stop();
    await this.forwarder?.stop();
    await this.manager.close({ timeout: 2000 });
  }

  /** Every telemetry message the devices sent reached the forwarder and was forwarded. */
  private caughtUp(): boolean {
    const f = this.forwarder?.metrics();
    if (f === undefined) return true;
    let sent = 0;
    for (const d of this.devices) {
      const q = d.telemetry.metrics();
      if (q.inflight > 0) return false;
      sent += q.published;
    }
    return f.received >= sent && f.waiting === 0 && f.inflight === 0;
  }

  private get(name: string): Session {
    return this.sessions.get(name) as Session;
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;

function emptyForwarder(): ForwarderMetrics {
  return {
    received: 0,
    forwarded: 0,
    filtered: 0,
    dropped: 0,
    errors: 0,
    waiting: 0,
    inflight: 0,
    latency: { count: 0, sum: 0, max: 0 },
  };
}
