/**
 * Serving a Prometheus registry over HTTP: `metricsHandler` for an
 * application's own `node:http` server, `serveMetrics` for an endpoint of
 * its own. Only the registry's `metrics()` and `contentType` are used.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../core/errors.js';
import { checkRegistry, PROMETHEUS_DEFAULTS, type PrometheusRegistry } from './prometheus.js';

/** A `node:http` request handler. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A `node:http` handler answering GET (and HEAD) with the registry's
 * metrics in its text format and content type; 405 for other methods, 500
 * (without details) when collecting fails.
 *
 * ```ts
 * http.createServer(metricsHandler(registry)).listen(9464);
 * ```
 */
export function metricsHandler(registry: PrometheusRegistry): MetricsHandler {
  checkRegistry(registry);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, {
          'content-type': registry.contentType,
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('collecting the metrics failed\n');
      },
    );
  };
}

/** Options of `serveMetrics`. */
export interface ServeMetricsOptions {
  /** The registry to serve, e.g. from `createRegistry`. */
  registry: PrometheusRegistry;
  /** 0 picks a free port. @default 9464 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Where the metrics are; every other path answers 404. @default '/metrics' */
  path?: string;
}

/** A running metrics endpoint (`serveMetrics`). */
export interface MetricsServer {
  /** `http://host:port/path` */
  readonly url: string;
  /** The port listened on (the one picked when 0 was asked). */
  readonly port: number;
  /** Stops listening, ends open connections, resolves once closed. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Serves the registry over HTTP at `http://host:port/path` (query strings
 * are ignored; every other path answers 404). Resolves once listening;
 * rejects when the port cannot be bound.
 */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'must be an object');
  }
  const port = options.port ?? PROMETHEUS_DEFAULTS.port;
  const host = options.host ?? PROMETHEUS_DEFAULTS.host;
  const path = options.path ?? PROMETHEUS_DEFAULTS.path;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('port', 'must be an integer from 0 to 65535');
  }
  if (typeof host !== 'string' || host === '') throw new InvalidArgumentError('host', 'must be a host name');
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError('path', "must start with '/'");
  }
  const handler = metricsHandler(options.registry);
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) === path) return handler(req, res);
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  });
  const bound = await listen(server, port, host);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostPart}:${bound}${path}`,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** @internal Listens; resolves with the port bound (the one picked for 0), rejects when it cannot bind. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => reject(err);
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}
