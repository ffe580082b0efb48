/**
 * The dashboard's HTTP side: the page (files built into dist/dashboard/ui,
 * read once at start), the tick stream (server-sent events, one tick a
 * second per browser, each cut to that browser's view), one snapshot as
 * JSON, and publishing from the page.
 *
 * Who may ask: with a token, a request needs it as a bearer token, as the
 * cookie the server sets, or once as `?token=` (which sets the cookie, so
 * the page and its EventSource never handle it). Without a token the server
 * listens on loopback only, and answers only requests whose `Host` is a
 * loopback name, so a web page elsewhere cannot reach it by rebinding a DNS
 * name. Publishing needs a JSON body, which a cross-site form cannot send
 * without a preflight this server never answers, and a same-origin `Origin`.
 *
 * A browser that does not read its stream is skipped until it drains: its
 * ticks are dropped, never queued.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ClosedError,
  ConnectionError,
  InvalidArgumentError,
  MqttError,
  RejectedError,
  TimeoutError,
} from '../core/errors.js';
import { isLoopbackHost } from '../core/url.js';
import { listen } from '../metrics/http.js';
import type { Aggregator } from './aggregator.js';
import { buildTick, type Info, parseView, type Tick, type ViewParams } from './view.js';

const COOKIE = 'mqttkit_dashboard';
/** Largest publish body accepted (JSON with a base64 payload). */
const MAX_BODY = 1024 * 1024 + 4096;
const PUBLISH_TIMEOUT = 10_000;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface ServerOptions {
  port: number;
  host: string;
  token: string | undefined;
  publish: boolean;
  explorer: string | undefined;
  info: () => Info;
  /** Cluster mode's part of a tick: the other nodes' rows and the nodes. */
  remote: () => Parameters<typeof buildTick>[4];
}

interface Client {
  readonly res: ServerResponse;
  readonly view: ViewParams;
}

/** The page's files by URL path, or undefined when the page was not built. */
function loadPage(): Map<string, Buffer> | undefined {
  const dirs = [
    new URL('../dashboard/ui/', import.meta.url),
    new URL('../../dist/dashboard/ui/', import.meta.url),
  ];
  for (const url of dirs) {
    const dir = fileURLToPath(url);
    if (!existsSync(join(dir, 'index.html'))) continue;
    const files = new Map<string, Buffer>();
    for (const name of readdirSync(dir)) {
      if (TYPES[extname(name)] !== undefined) files.set(`/${name}`, readFileSync(join(dir, name)));
    }
    files.set('/', files.get('/index.html') as Buffer);
    return files;
  }
  return undefined;
}

export class DashboardHttp {
  readonly server: Server;
  readonly #clients = new Set<Client>();
  readonly #page = loadPage();
  readonly #token: Buffer | undefined;
  readonly #stopTicks: () => void;

  constructor(
    readonly agg: Aggregator,
    readonly options: ServerOptions,
  ) {
    this.#token = options.token === undefined ? undefined : Buffer.from(options.token);
    this.server = createServer((req, res) => this.#handle(req, res));
    this.#stopTicks = agg.onTick(() => this.#push());
  }

  get clients(): number {
    return this.#clients.size;
  }

  listen(): Promise<number> {
    return listen(this.server, this.options.port, this.options.host);
  }

  close(): Promise<void> {
    this.#stopTicks();
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.#answer(req, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof InvalidArgumentError)
        return json(res, 400, { error: err.message, field: err.field });
      json(res, 500, { error: 'the dashboard failed to answer' });
    }
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const url = URL.canParse(req.url ?? '/', 'http://dashboard')
      ? new URL(req.url ?? '/', 'http://dashboard')
      : undefined;
    if (url === undefined) return text(res, 400, 'the request URL is not valid\n');
    if (!this.#hostAllowed(req))
      return text(res, 403, 'this dashboard answers only on a loopback host name\n');
    const given = url.searchParams.get('token');
    const how = this.#authorized(req, given);
    if (how === undefined) {
      res.setHeader('www-authenticate', 'Bearer realm="mqttkit dashboard"');
      return text(
        res,
        401,
        'a token is needed: open the URL with ?token=..., or send Authorization: Bearer ...\n',
      );
    }
    if (how === 'query') {
      // the token opened the page: keep it in a cookie, and take it out of the address bar
      res.setHeader(
        'set-cookie',
        `${COOKIE}=${encodeURIComponent(given ?? '')}; HttpOnly; SameSite=Strict; Path=/`,
      );
      if (req.method === 'GET' && !url.pathname.startsWith('/api/')) {
        url.searchParams.delete('token');
        // one leading slash: '//host' would send the browser to another site
        res.writeHead(303, { location: `/${url.pathname.replace(/^\/+/, '')}${url.search}` });
        res.end();
        return;
      }
    }
    this.#route(req, res, url);
  }

  #route(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const path = url.pathname;
    if (path === '/api/stream') return this.#stream(req, res, parseView(url.searchParams));
    if (path === '/api/snapshot') {
      if (!isGet(req)) return notAllowed(res, 'GET');
      return json(res, 200, this.#tick(parseView(url.searchParams), true));
    }
    if (path === '/api/publish') {
      if (req.method !== 'POST') return notAllowed(res, 'POST');
      this.#publish(req, res);
      return;
    }
    if (!isGet(req)) return notAllowed(res, 'GET');
    if (this.#page === undefined) {
      return text(res, 503, 'the dashboard page is not built: run `npm run build` in the mqttkit package\n');
    }
    const file = this.#page.get(path);
    if (file === undefined) return text(res, 404, 'not found\n');
    const type = TYPES[extname(path)] ?? TYPES['.html'];
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': file.length,
      'cache-control': type.startsWith('text/html') ? 'no-store' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : file);
  }

  #tick(view: ViewParams, first: boolean): Tick {
    return buildTick(this.agg, view, first, this.options.info, this.options.remote());
  }

  #stream(req: IncomingMessage, res: ServerResponse, view: ViewParams): void {
    if (!isGet(req)) return notAllowed(res, 'GET');
    // built before the headers go: a tick that fails is a 500, not a broken stream
    const first = JSON.stringify(this.#tick(view, true));
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\n\nevent: tick\ndata: ${first}\n\n`);
    const client: Client = { res, view };
    this.#clients.add(client);
    res.on('close', () => this.#clients.delete(client));
  }

  #push(): void {
    for (const c of this.#clients) {
      if (c.res.writableNeedDrain) continue;
      try {
        c.res.write(`event: tick\ndata: ${JSON.stringify(this.#tick(c.view, false))}\n\n`);
      } catch {
        // a view that cannot be built ends that stream (the page opens another), never the process
        this.#clients.delete(c);
        c.res.destroy();
      }
    }
  }

  #publish(req: IncomingMessage, res: ServerResponse): void {
    if (!this.options.publish) return json(res, 403, { error: 'publishing from the dashboard is off' });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return json(res, 415, { error: 'send the message as application/json' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null' && !sameHost(origin, req.headers.host)) {
      return json(res, 403, { error: 'publishing is allowed from the dashboard page only' });
    }
    readBody(req, MAX_BODY).then(
      (body) => {
        if (body === undefined) {
          // answered before the rest of the body is read: the connection closes after it
          res.setHeader('connection', 'close');
          res.on('finish', () => req.destroy());
          return json(res, 413, { error: `the message is larger than ${MAX_BODY} bytes` });
        }
        this.#publishBody(body, res);
      },
      () => res.destroy(), // the client went away mid-body
    );
  }

  #publishBody(body: Buffer, res: ServerResponse): void {
    let msg: PublishBody;
    try {
      msg = checkPublish(JSON.parse(body.toString('utf8')));
    } catch (err) {
      const field = err instanceof InvalidArgumentError ? err.field : undefined;
      const error = err instanceof InvalidArgumentError ? err.message : 'the body is not JSON';
      return json(res, 400, field === undefined ? { error } : { error, field });
    }
    const name = msg.session ?? this.#defaultPublisher();
    if (name === undefined) return json(res, 503, { error: 'no session of the fleet is connected' });
    const session = this.agg.manager.get(name);
    if (session === undefined)
      return json(res, 400, { error: `session: no session named '${name}'`, field: 'session' });
    const payload = msg.encoding === 'base64' ? Buffer.from(msg.payload, 'base64') : msg.payload;
    session.publish(msg.topic, payload, { qos: msg.qos, retain: msg.retain, timeout: PUBLISH_TIMEOUT }).then(
      () => json(res, 200, { ok: true, session: name }),
      (err: unknown) => {
        if (err instanceof InvalidArgumentError)
          return json(res, 400, { error: err.message, field: err.field });
        if (err instanceof TimeoutError) return json(res, 504, { error: err.message });
        if (err instanceof ClosedError || err instanceof ConnectionError) {
          return json(res, 503, { error: err.message });
        }
        if (err instanceof RejectedError) return json(res, 502, { error: err.message });
        json(res, 500, { error: err instanceof MqttError ? err.message : 'the publish failed' });
      },
    );
  }

  #defaultPublisher(): string | undefined {
    const explorer = this.options.explorer;
    if (explorer !== undefined && this.agg.manager.get(explorer)?.state === 'connected') return explorer;
    for (const [name, s] of this.agg.manager.entries()) if (s.state === 'connected') return name;
    return undefined;
  }

  #hostAllowed(req: IncomingMessage): boolean {
    if (this.#token !== undefined) return true;
    return isLoopbackHost((req.headers.host ?? '').replace(/:\d+$/, ''));
  }

  /** How the request proved it may ask: `open` without a token; undefined when it did not. */
  #authorized(
    req: IncomingMessage,
    given: string | null,
  ): 'open' | 'header' | 'cookie' | 'query' | undefined {
    const token = this.#token;
    if (token === undefined) return 'open';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && same(token, auth.slice(7))) return 'header';
    if (given !== null && same(token, given)) return 'query';
    const cookie = cookieValue(req.headers.cookie, COOKIE);
    return cookie !== undefined && same(token, cookie) ? 'cookie' : undefined;
  }
}

interface PublishBody {
  session: string | undefined;
  topic: string;
  payload: string;
  encoding: 'utf8' | 'base64';
  qos: 0 | 1 | 2;
  retain: boolean;
}

function checkPublish(v: unknown): PublishBody {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError('body', 'must be an object');
  const o = v as Record<string, unknown>;
  if (o.session !== undefined && typeof o.session !== 'string')
    throw new InvalidArgumentError('session', 'must be a string');
  if (typeof o.topic !== 'string' || o.topic === '')
    throw new InvalidArgumentError('topic', 'must be a topic name');
  if (typeof o.payload !== 'string') throw new InvalidArgumentError('payload', 'must be a string');
  const encoding = o.encoding ?? 'utf8';
  if (encoding !== 'utf8' && encoding !== 'base64')
    throw new InvalidArgumentError('encoding', "must be 'utf8' or 'base64'");
  const qos = o.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new InvalidArgumentError('qos', 'must be 0, 1 or 2');
  if (o.retain !== undefined && typeof o.retain !== 'boolean')
    throw new InvalidArgumentError('retain', 'must be a boolean');
  return {
    session: o.session || undefined,
    topic: o.topic,
    payload: o.payload,
    encoding,
    qos,
    retain: o.retain === true,
  };
}

function same(token: Buffer, given: string): boolean {
  const g = Buffer.from(given);
  return g.length === token.length && timingSafeEqual(g, token);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The body, or undefined as soon as it is larger than `max` (the rest is not read); rejects when the client goes away. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      req.off('data', onData);
      req.pause();
      resolve(undefined);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client went away'));
    });
  });
}

/** Whether an `Origin` header names the host the request was sent to. */
function sameHost(origin: string, host: string | undefined): boolean {
  return URL.canParse(origin) && new URL(origin).host === host;
}

function isGet(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow === 'GET' ? 'GET, HEAD' : allow);
  text(res, 405, 'method not allowed\n');
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(s),
    'cache-control': 'no-store',
  });
  res.end(s);
}
