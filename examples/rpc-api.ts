/**
 * A device API over MQTT, served and called the way a web framework is:
 * routes with parameters, JSON bodies, middleware, errors with a status.
 *
 *   npx tsx examples/rpc-api.ts          # an embedded broker, or MQTT_URL (MQTT 5)
 *
 * With MQTT 5 a request carries its response topic and correlation data as
 * properties; with MQTT 3.1.1 (the embedded broker) client and server put
 * them in a small binary envelope ahead of the body instead, with no change
 * to this code.
 *
 * The server and the client each have their own Session, as two services
 * would; here they share a process so the example runs on its own.
 */
import { RpcClient, RpcError, RpcServer, RpcStatusError, Session } from 'mqttkit';
import { exampleBroker } from './broker.js';

interface Device {
  id: string;
  name: string;
  on: boolean;
  /** 0..100 */
  brightness: number;
}

type DevicePatch = Partial<Pick<Device, 'name' | 'on' | 'brightness'>>;

const devices = new Map<string, Device>([
  ['lamp-1', { id: 'lamp-1', name: 'Desk lamp', on: false, brightness: 40 }],
  ['lamp-2', { id: 'lamp-2', name: 'Hall light', on: true, brightness: 100 }],
]);

/** The device, or a 404 the client receives as `RpcError` with `status` 404. */
function findDevice(id: string): Device {
  const device = devices.get(id);
  if (device === undefined) throw new RpcStatusError(404, `no device '${id}'`);
  return device;
}

/** Checks a request body the way a route validator would: 400 for anything else. */
function parsePatch(body: unknown): DevicePatch {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RpcStatusError(400, 'the body must be a JSON object');
  }
  const { name, on, brightness, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new RpcStatusError(400, `unknown field '${unknown[0]}'`);
  if (name !== undefined && (typeof name !== 'string' || name === '')) {
    throw new RpcStatusError(400, 'name must be a non-empty string');
  }
  if (on !== undefined && typeof on !== 'boolean') throw new RpcStatusError(400, 'on must be a boolean');
  if (
    brightness !== undefined &&
    (typeof brightness !== 'number' || !Number.isInteger(brightness) || brightness < 0 || brightness > 100)
  ) {
    throw new RpcStatusError(400, 'brightness must be an integer from 0 to 100');
  }
  return { name, on, brightness };
}

async function serve(session: Session): Promise<RpcServer> {
  const server = new RpcServer(session, { timeout: 5000 });

  // middleware: log every request with its outcome and how long the handler took
  server.use(async (req, next) => {
    const started = performance.now();
    const took = () => `${(performance.now() - started).toFixed(2)} ms`;
    try {
      const result = await next();
      console.log(`  [server] ${req.topic} -> 200 (${took()})`);
      return result;
    } catch (err) {
      const status = err instanceof RpcStatusError ? err.status : 500;
      console.log(`  [server] ${req.topic} -> ${status} ${(err as Error).message} (${took()})`);
      throw err; // the server turns it into the error response
    }
  });

  server.route('devices/:id/get', (req) => findDevice(req.params.id));

  server.route('devices/:id/set', (req) => {
    const device = findDevice(req.params.id);
    const patch = parsePatch(req.json()); // a body that is not JSON answers 400
    if (patch.name !== undefined) device.name = patch.name;
    if (patch.on !== undefined) device.on = patch.on;
    if (patch.brightness !== undefined) device.brightness = patch.brightness;
    return device;
  });

  server.on('error', (err) => console.error('server error:', err.message));
  await server.start();
  return server;
}

async function main(): Promise<void> {
  const broker = await exampleBroker();
  const { url, protocolVersion } = broker;
  const serverSession = new Session({ url, protocolVersion, clientId: `rpc-api-server-${process.pid}` });
  const clientSession = new Session({ url, protocolVersion, clientId: `rpc-api-client-${process.pid}` });
  await Promise.all([serverSession.connect(), clientSession.connect()]);
  const server = await serve(serverSession);
  const client = new RpcClient(clientSession, { timeout: 5000 });
  try {
    const lamp = await client.requestJson<Device>('devices/lamp-1/get', null);
    console.log(`get lamp-1: ${lamp.name}, ${lamp.on ? 'on' : 'off'}, brightness ${lamp.brightness}`);

    const updated = await client.requestJson<Device>('devices/lamp-1/set', { on: true, brightness: 80 });
    console.log(
      `set lamp-1: ${updated.name}, ${updated.on ? 'on' : 'off'}, brightness ${updated.brightness}`,
    );

    for (const [topic, body] of [
      ['devices/lamp-9/get', null],
      ['devices/lamp-2/set', { brightness: 250 }],
    ] as const) {
      try {
        await client.requestJson<Device>(topic, body);
        console.log(`${topic}: unexpectedly succeeded`);
        process.exitCode = 1;
      } catch (err) {
        if (!(err instanceof RpcError)) throw err; // a timeout or a lost connection is not an API answer
        console.log(`${topic}: error ${err.status}: ${err.message}`);
      }
    }

    const served = server.metrics();
    console.log(
      `done: ${client.metrics().sent} requests, ${served.succeeded} answered 200, ${served.failed} with an error`,
    );
  } finally {
    await client.close();
    await server.stop();
    await Promise.all([clientSession.close(), serverSession.close()]);
    await broker.close();
  }
}

await main();
