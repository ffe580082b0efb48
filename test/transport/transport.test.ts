/**
 * openTransport against real servers: mosquitto on every listener kind, and
 * small local servers for what mosquitto will not do (stay silent, reset the
 * connection, check WebSocket requests, stop reading).
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket as ServerSideWebSocket, WebSocketServer } from 'ws';
import { encode, type Packet, PacketDecoder, type ProtocolVersion } from '../../src/codec/index.js';
import { deferred } from '../../src/core/deferred.js';
import { AbortError, ConnectionError, InvalidArgumentError, TimeoutError } from '../../src/core/errors.js';
import { openTransport, type Transport, type TransportOptions } from '../../src/transport/index.js';
import { tlsConnectOptions } from '../../src/transport/tls.js';
import { hasOpenssl } from '../helpers/certs.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { startTcpServer } from '../helpers/tcp-server.js';

/** The owner side of a transport: sets every hook, records what they report. */
class Probe {
  readonly chunks: Buffer[] = [];
  readonly closed: Promise<Error | undefined>;
  closeCalls = 0;
  drains = 0;
  #received = 0;
  #decoder: PacketDecoder | undefined;
  #packets: Packet[] = [];
  #packetWaiters: Array<(p: Packet) => void> = [];
  #byteWaiters: Array<{ n: number; resolve: () => void }> = [];
  #drainWaiter: (() => void) | undefined;

  constructor(
    readonly transport: Transport,
    /** Decode MQTT packets of this version; raw bytes only when absent. */
    version?: ProtocolVersion,
  ) {
    if (version !== undefined) this.#decoder = new PacketDecoder({ protocolVersion: version });
    let resolveClosed!: (e: Error | undefined) => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    transport.onData = (chunk) => {
      this.chunks.push(chunk);
      this.#received += chunk.length;
      for (const waiter of this.#byteWaiters.filter((w) => this.#received >= w.n)) {
        this.#byteWaiters.splice(this.#byteWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      if (this.#decoder === undefined) return;
      for (const packet of this.#decoder.push(chunk)) {
        const waiter = this.#packetWaiters.shift();
        if (waiter) waiter(packet);
        else this.#packets.push(packet);
      }
    };
    transport.onDrain = () => {
      this.drains++;
      this.#drainWaiter?.();
    };
    transport.onClose = (error) => {
      this.closeCalls++;
      resolveClosed(error);
    };
  }

  nextPacket(): Promise<Packet> {
    const packet = this.#packets.shift();
    if (packet) return Promise.resolve(packet);
    return new Promise((resolve) => this.#packetWaiters.push(resolve));
  }

  /** Resolves once `n` bytes in all have arrived. */
  received(n: number): Promise<void> {
    if (this.#received >= n) return Promise.resolve();
    return new Promise((resolve) => this.#byteWaiters.push({ n, resolve }));
  }

  drained(): Promise<void> {
    return new Promise((resolve) => (this.#drainWaiter = resolve));
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

async function openProbe(url: string, options?: TransportOptions, version?: ProtocolVersion): Promise<Probe> {
  const transport = await openTransport(url, options);
  onCleanup(() => transport.destroy());
  return new Probe(transport, version);
}

/** CONNECT, a successful CONNACK, DISCONNECT, end(): the close is clean and reported once. */
async function mqttSession(probe: Probe, version: ProtocolVersion): Promise<void> {
  const clientId = `transport-${Math.random().toString(36).slice(2)}`;
  probe.transport.write(encode({ type: 'connect', clientId, clean: true, keepalive: 30 }, version));
  expect(await probe.nextPacket()).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: false });
  probe.transport.write(encode({ type: 'disconnect' }, version));
  probe.transport.end();
  expect(await probe.closed).toBeUndefined();
  expect(probe.closeCalls).toBe(1);
}

/** A `ws` server on 127.0.0.1 that speaks subprotocol `mqtt` (or whatever the client offers). */
async function wsServer(onConnection: (ws: ServerSideWebSocket, request: IncomingMessage) => void) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : ([...protocols][0] ?? false)),
    verifyClient: (info: { req: IncomingMessage }) => info.req.headers['x-refuse'] === undefined,
  });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return { port: (wss.address() as { port: number }).port, wss };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    const value = await promise;
    if (value && typeof (value as Transport).destroy === 'function') (value as Transport).destroy();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Client sockets of this process (TCP and Unix), once closes in progress have finished. */
async function openSockets(atMost: number): Promise<number> {
  const count = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'PipeConnectWrap').length;
  for (let turn = 0; turn < 200 && count() > atMost; turn++) await new Promise((r) => setImmediate(r));
  return count();
}

describe('openTransport arguments', () => {
  it.each([
    ['http://127.0.0.1:1883', /unsupported scheme 'http:'/],
    ['mqtt-sn://127.0.0.1', /unsupported scheme/],
    ['not a url', /not a valid URL/],
    ['mqtt://', /without a host/],
    ['mqtt://127.0.0.1:0', /port 0/],
    ['unix://host/tmp/x.sock', /absolute socket path and no host/],
  ])('refuses %s with InvalidArgumentError(url)', async (url, message) => {
    const error = await rejection(openTransport(url));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe('url');
    expect(error.message).toMatch(message);
  });

  it('does not echo a URL it cannot parse (it may hold a password)', async () => {
    const error = await rejection(openTransport('mqtt://user:hunter2@exa mple.com'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses bad options without echoing header values', async () => {
    const timeout = await rejection(openTransport('mqtt://127.0.0.1:1', { connectTimeout: -1 }));
    expect((timeout as InvalidArgumentError).field).toBe('options.connectTimeout');
    const header = await rejection(
      openTransport('ws://127.0.0.1:1', { ws: { headers: { Authorization: 'Bearer s3cret\r\nX: y' } } }),
    );
    expect(header).toBeInstanceOf(InvalidArgumentError);
    expect(header.message).not.toContain('s3cret');
    const protocol = await rejection(openTransport('ws://127.0.0.1:1', { ws: { protocol: 'mq tt' } }));
    expect((protocol as InvalidArgumentError).field).toBe('options.ws.protocol');
  });

  it('rejects with AbortError, without connecting, when the signal is already aborted', async () => {
    const server = closeAfter(await startTcpServer());
    const reason = new Error('shutting down');
    const error = await rejection(
      openTransport(`mqtt://127.0.0.1:${server.port}`, { signal: AbortSignal.abort(reason) }),
    );
    expect(error).toBeInstanceOf(AbortError);
    expect(error.cause).toBe(reason);
    expect(await openSockets(0)).toBe(0);
  });
});

describe('TLS options', () => {
  it('sends the URL host as SNI, none for an IP literal (RFC 6066), and a servername given as it is', () => {
    expect(tlsConnectOptions(undefined, 'broker.example.com')).toMatchObject({
      servername: 'broker.example.com',
      rejectUnauthorized: true,
    });
    expect(tlsConnectOptions({}, '127.0.0.1').servername).toBeUndefined();
    expect(tlsConnectOptions({}, '::1').servername).toBeUndefined();
    expect(tlsConnectOptions({ servername: 'broker' }, '10.0.0.7').servername).toBe('broker');
    expect(tlsConnectOptions({ rejectUnauthorized: false, ALPNProtocols: ['mqtt'] }, 'b')).toMatchObject({
      rejectUnauthorized: false,
      ALPNProtocols: ['mqtt'],
    });
  });
});

describe('connection failures', () => {
  it('a refused port is a ConnectionError naming the URL without its password', async () => {
    const port = await freePort();
    const error = await rejection(openTransport(`mqtt://alice:hunter2@127.0.0.1:${port}/x?token=t0k`));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain(`mqtt://127.0.0.1:${port}`);
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).not.toMatch(/alice|hunter2|t0k/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(await openSockets(0)).toBe(0);
  });

  it('a missing unix socket is a ConnectionError', async () => {
    const error = await rejection(openTransport('unix:///nonexistent/mqttkit.sock'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toContain('unix:///nonexistent/mqttkit.sock');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a server that accepts but never answers is connected as far as the transport goes', async () => {
    const server = closeAfter(await startTcpServer());
    const probe = await openProbe(`tcp://127.0.0.1:${server.port}`, { connectTimeout: 50 });
    expect(probe.transport.kind).toBe('tcp');
    const peer = await server.nextConnection();
    // The connect timeout no longer applies once connected: an attempt with the same timeout, started
    // after this one connected, times out (its TLS handshake never completes), and this one is still open.
    const later = await rejection(openTransport(`mqtts://127.0.0.1:${server.port}`, { connectTimeout: 50 }));
    expect(later).toBeInstanceOf(TimeoutError);
    expect(probe.closeCalls).toBe(0);
    expect(probe.transport.write(Buffer.from('hello'))).toBe(true);
    const [data] = await once(peer, 'data');
    expect(String(data)).toBe('hello');
    probe.transport.destroy();
    expect(await probe.closed).toBeUndefined();
    await once(peer, 'end');
  });

  it('a TLS handshake that never completes is a TimeoutError, and the socket is closed', async () => {
    const server = closeAfter(await startTcpServer());
    const attempt = openTransport(`mqtts://127.0.0.1:${server.port}`, { connectTimeout: 150 });
    const peer = await server.nextConnection();
    const error = await rejection(attempt);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.message).toBe(`connect to mqtts://127.0.0.1:${server.port} timed out after 150 ms`);
    await once(peer, 'close');
    expect(await openSockets(0)).toBe(0);
  });

  it('aborting the signal while connecting is an AbortError, and the socket is closed', async () => {
    const server = closeAfter(await startTcpServer());
    const controller = new AbortController();
    const attempt = openTransport(`ssl://127.0.0.1:${server.port}`, { signal: controller.signal });
    const peer = await server.nextConnection();
    const reason = new Error('user cancelled');
    controller.abort(reason);
    const error = await rejection(attempt);
    expect(error).toBeInstanceOf(AbortError);
    expect(error.cause).toBe(reason);
    await once(peer, 'close');
  });

  it('a WebSocket upgrade that never gets an answer is a TimeoutError', async () => {
    const server = closeAfter(await startTcpServer());
    const attempt = openTransport(`ws://127.0.0.1:${server.port}/mqtt`, { connectTimeout: 100 });
    const peer = await server.nextConnection();
    expect(await rejection(attempt)).toBeInstanceOf(TimeoutError);
    await once(peer, 'close');
  });

  it('a reset after connecting is reported once to onClose as a ConnectionError', async () => {
    const server = closeAfter(await startTcpServer());
    const probe = await openProbe(`mqtt://127.0.0.1:${server.port}`);
    const peer = await server.nextConnection();
    peer.resetAndDestroy();
    const error = await probe.closed;
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).cause).toMatchObject({ code: 'ECONNRESET' });
    probe.transport.destroy();
    probe.transport.end();
    expect(probe.transport.write(Buffer.from('x'))).toBe(false);
    // both sockets closed for good: every close event there will be has been seen
    expect(await openSockets(0)).toBe(0);
    expect(probe.closeCalls).toBe(1);
  });
});

describe('socket transport', () => {
  it('keeps bytes that arrive before onData is set; several chunks go out in order', async () => {
    const early = deferred<void>();
    const server = await startTcpServer((socket) => {
      socket.write('early|', () => early.resolve());
      socket.on('data', (chunk) => socket.write(chunk));
    });
    closeAfter(server);
    const transport = await openTransport(`mqtt://127.0.0.1:${server.port}`);
    onCleanup(() => transport.destroy());
    // Nobody reads yet: the server's first bytes have been written (on loopback, they are at the client)
    await early.promise;
    const probe = new Probe(transport);
    expect(transport.write([Buffer.from('a'), new Uint8Array([0x62, 0x63]), Buffer.from('def')])).toBe(true);
    expect(transport.write([])).toBe(true);
    expect(transport.write([Buffer.from('g')])).toBe(true);
    await probe.received('early|abcdefg'.length);
    expect(probe.text()).toBe('early|abcdefg');
  });

  it('destroy(error) hands the same error to onClose, once', async () => {
    const server = closeAfter(await startTcpServer());
    const probe = await openProbe(`mqtt://127.0.0.1:${server.port}`);
    const error = new Error('keepalive timeout');
    probe.transport.destroy(error);
    probe.transport.destroy(new Error('second'));
    expect(await probe.closed).toBe(error);
    expect(await openSockets(0)).toBe(0); // the socket's own close event has come and gone
    expect(probe.closeCalls).toBe(1);
  });

  it('a peer that closes is a clean close', async () => {
    const server = closeAfter(await startTcpServer((socket) => socket.end()));
    const probe = await openProbe(`mqtt://127.0.0.1:${server.port}`);
    expect(await probe.closed).toBeUndefined();
  });

  it('reports backpressure: write() returns false, bufferedAmount grows, onDrain follows', async () => {
    const server = closeAfter(await startTcpServer((socket) => socket.pause()));
    const probe = await openProbe(`mqtt://127.0.0.1:${server.port}`);
    const peer = await server.nextConnection();
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    let ok = true;
    while (ok && sent < 1 << 30) {
      ok = probe.transport.write([chunk, chunk]);
      sent += 2 * chunk.length;
    }
    expect(ok).toBe(false);
    expect(probe.transport.bufferedAmount).toBeGreaterThan(0);
    const drained = probe.drained();
    let got = 0;
    peer.on('data', (data: Buffer) => (got += data.length));
    peer.resume();
    await drained;
    expect(probe.transport.bufferedAmount).toBe(0);
    probe.transport.end();
    await once(peer, 'end');
    expect(got).toBe(sent);
  });
});

describe('WebSocket transport', () => {
  it('sends the path, query, headers and subprotocol; default path "/"', async () => {
    const requests: IncomingMessage[] = [];
    const server = await wsServer((_ws, request) => requests.push(request));
    const a = await openProbe(`ws://127.0.0.1:${server.port}`);
    expect(a.transport.kind).toBe('ws');
    const b = await openProbe(`ws://user:pw@127.0.0.1:${server.port}/mqtt?tenant=7`, {
      ws: { headers: { Authorization: 'Bearer abc', 'X-Tenant': 't7' } },
    });
    const c = await openProbe(`ws://127.0.0.1:${server.port}/x`, { ws: { protocol: 'mqttv3.1' } });
    await expect.poll(() => requests.length).toBe(3);
    expect(requests[0].url).toBe('/');
    expect(requests[0].headers['sec-websocket-protocol']).toBe('mqtt');
    expect(requests[1].url).toBe('/mqtt?tenant=7');
    // The URL's userinfo is MQTT's username/password, not HTTP basic auth.
    expect(requests[1].headers.authorization).toBe('Bearer abc');
    expect(requests[1].headers['x-tenant']).toBe('t7');
    expect(requests[2].headers['sec-websocket-protocol']).toBe('mqttv3.1');
    for (const p of [a, b, c]) p.transport.end();
    for (const p of [a, b, c]) expect(await p.closed).toBeUndefined();
  });

  it('one message is one onData chunk, one write is one message, early messages are kept', async () => {
    const received: Buffer[] = [];
    const early = deferred<void>();
    const server = await wsServer((ws) => {
      ws.send(Buffer.from('early'), () => early.resolve());
      ws.on('message', (data: Buffer) => {
        received.push(data);
        if (data.toString() === 'abc') for (const m of ['x', 'yy', 'zzz']) ws.send(Buffer.from(m));
      });
    });
    const transport = await openTransport(`ws://127.0.0.1:${server.port}`);
    onCleanup(() => transport.destroy());
    await early.promise;
    const probe = new Probe(transport);
    transport.write([Buffer.from('a'), new Uint8Array([0x62]), Buffer.from('c')]);
    await probe.received('earlyxyyzzz'.length);
    expect(probe.chunks.map(String)).toEqual(['early', 'x', 'yy', 'zzz']);
    expect(received.map(String)).toEqual(['abc']);
  });

  it('a text frame closes the connection with a ConnectionError', async () => {
    const server = await wsServer((ws) => ws.send('not binary'));
    const probe = await openProbe(`ws://127.0.0.1:${server.port}`);
    const error = await probe.closed;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(/text WebSocket frame/);
  });

  it('a close with an error code is a ConnectionError; 1000 is clean', async () => {
    const server = await wsServer((ws, request) => ws.close(request.url === '/bad' ? 4000 : 1000, 'bye'));
    const bad = await openProbe(`ws://127.0.0.1:${server.port}/bad`);
    const good = await openProbe(`ws://127.0.0.1:${server.port}/good`);
    const error = await bad.closed;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(/code 4000 \(bye\)/);
    expect(await good.closed).toBeUndefined();
  });

  it('a refused upgrade is a ConnectionError', async () => {
    const server = await wsServer(() => {});
    const error = await rejection(
      openTransport(`ws://127.0.0.1:${server.port}/mqtt`, { ws: { headers: { 'X-Refuse': '1' } } }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/401/);
    expect(await openSockets(0)).toBe(0);
  });

  it('reports backpressure: write() returns false, then onDrain once the server reads again', async () => {
    let serverSide: ServerSideWebSocket | undefined;
    let messages = 0;
    const server = await wsServer((ws) => {
      serverSide = ws;
      ws.on('message', () => messages++);
      ws.pause();
    });
    const probe = await openProbe(`ws://127.0.0.1:${server.port}`);
    await expect.poll(() => serverSide).toBeDefined();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let writes = 0;
    let ok = true;
    while (ok && writes < 20_000) {
      ok = probe.transport.write(chunk);
      writes++;
    }
    expect(ok).toBe(false);
    expect(probe.transport.bufferedAmount).toBeGreaterThan(0);
    const drained = probe.drained();
    serverSide!.resume();
    await drained;
    expect(probe.transport.bufferedAmount).toBe(0);
    await expect.poll(() => messages, { timeout: 5_000 }).toBe(writes);
  });
});

describe.skipIf(!hasMosquitto() || !hasOpenssl())('with mosquitto', () => {
  let broker: Broker;
  let mtls: Broker;
  beforeAll(async () => {
    broker = await startMosquitto({ tls: true, websockets: true, unix: true });
    mtls = await startMosquitto({ tls: { requireCertificate: true }, websockets: true, certs: broker.certs });
  });
  afterAll(async () => {
    await broker?.stop();
    await mtls?.stop();
  });

  const ca = () => ({ tls: { ca: broker.certs!.ca.cert } });
  const cases: Array<[string, string, () => string, () => TransportOptions, ProtocolVersion]> = [
    ['mqtt://', 'tcp', () => `mqtt://127.0.0.1:${broker.port}`, () => ({}), 4],
    ['tcp:// (localhost, MQTT 5)', 'tcp', () => `tcp://localhost:${broker.port}`, () => ({}), 5],
    ['mqtts:// (SNI localhost)', 'tls', () => `mqtts://localhost:${broker.tlsPort}`, ca, 4],
    ['tls:// (IP literal)', 'tls', () => `tls://127.0.0.1:${broker.tlsPort}`, ca, 5],
    ['ssl://', 'tls', () => `ssl://localhost:${broker.tlsPort}`, ca, 4],
    ['ws://', 'ws', () => `ws://127.0.0.1:${broker.wsPort}/mqtt`, () => ({}), 4],
    ['ws:// (MQTT 5)', 'ws', () => `ws://localhost:${broker.wsPort}`, () => ({}), 5],
    ['wss://', 'wss', () => `wss://localhost:${broker.wssPort}/mqtt`, ca, 4],
    ['unix://', 'unix', () => `unix://${broker.unixPath}`, () => ({}), 4],
    ['mqtt+unix://', 'unix', () => `mqtt+unix://${broker.unixPath}`, () => ({}), 5],
  ];
  it.each(cases)('%s: CONNECT, CONNACK, clean close', async (_name, kind, url, options, version) => {
    const probe = await openProbe(url(), options(), version);
    expect(probe.transport.kind).toBe(kind);
    await mqttSession(probe, version);
  });

  it('mutual TLS: a client certificate signed by the CA is accepted (tls and wss)', async () => {
    const { ca, client } = mtls.certs!;
    const tls = { ca: ca.cert, cert: client.cert, key: client.key };
    await mqttSession(await openProbe(mtls.tlsUrl!, { tls }, 4), 4);
    await mqttSession(await openProbe(mtls.wssUrl!, { tls }, 5), 5);
  });

  it('mutual TLS with an encrypted key and its passphrase', async () => {
    const { ca, clientEncrypted } = mtls.certs!;
    const tls = {
      ca: ca.cert,
      cert: clientEncrypted.cert,
      key: clientEncrypted.key,
      passphrase: clientEncrypted.passphrase,
    };
    await mqttSession(await openProbe(mtls.tlsUrl!, { tls }, 4), 4);
  });

  it('a wrong passphrase is a ConnectionError that does not contain it or the key', async () => {
    const { ca, clientEncrypted } = mtls.certs!;
    const passphrase = 'wrong-passphrase-123';
    for (const url of [mtls.tlsUrl!, mtls.wssUrl!]) {
      const error = await rejection(
        openTransport(url, {
          tls: { ca: ca.cert, cert: clientEncrypted.cert, key: clientEncrypted.key, passphrase },
        }),
      );
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).not.toContain(passphrase);
      expect(error.message).not.toContain(clientEncrypted.passphrase);
      expect(error.message).not.toContain('PRIVATE KEY');
    }
    expect(await openSockets(0)).toBe(0);
  });

  it('a broker that requires a certificate cuts off a client without one', async () => {
    let error: Error | undefined;
    try {
      // TLS 1.3: the client's handshake may finish before the server checks for a certificate.
      const probe = await openProbe(mtls.tlsUrl!, { tls: { ca: mtls.certs!.ca.cert } }, 4);
      probe.transport.write(encode({ type: 'connect', clientId: 'no-cert', clean: true, keepalive: 30 }, 4));
      error = await probe.closed;
    } catch (err) {
      error = err as Error;
    }
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(/certificate/);
  });

  it('a server certificate from another CA is refused with a ConnectionError (tls and wss)', async () => {
    for (const url of [broker.tlsUrl!, broker.wssUrl!]) {
      const error = await rejection(openTransport(url, { tls: { ca: broker.certs!.otherCa.cert } }));
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).toContain(url.replace('localhost', 'localhost'));
      expect((error.cause as NodeJS.ErrnoException).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT/);
    }
    expect(await openSockets(0)).toBe(0);
  });

  it('a server certificate for another name is refused', async () => {
    const error = await rejection(
      openTransport(broker.tlsUrl!, { tls: { ca: broker.certs!.ca.cert, servername: 'broker.example.com' } }),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('SNI is the URL host, none for an IP literal, the same on tls and wss', async () => {
    const { server: pair, ca } = broker.certs!;
    const seen: (string | false | null)[] = [];
    const server = createTlsServer({ key: pair.key, cert: pair.cert }, (socket) => {
      seen.push(socket.servername);
      socket.destroy();
    });
    server.listen(0);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const urls = ['mqtts://localhost', 'mqtts://127.0.0.1', 'wss://localhost', 'wss://127.0.0.1'];
      for (const [i, url] of urls.entries()) {
        // the server hangs up after the handshake: the attempt may resolve or fail, the SNI is what counts
        await openTransport(`${url}:${port}/mqtt`, { tls: { ca: ca.cert } }).then(
          (t) => t.end(), // not destroy(): the client's last handshake bytes must go out
          () => undefined,
        );
        await expect.poll(() => seen.length).toBe(i + 1);
      }
      expect(seen).toEqual(['localhost', false, 'localhost', false]);
    } finally {
      server.close();
    }
  });

  it('rejectUnauthorized: false accepts a certificate it cannot verify (tls and wss)', async () => {
    const tls = { rejectUnauthorized: false };
    await mqttSession(await openProbe(broker.tlsUrl!, { tls }, 4), 4);
    await mqttSession(await openProbe(broker.wssUrl!, { tls }, 4), 4);
  });
});
