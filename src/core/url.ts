/**
 * Broker URLs, in one place: the scheme table (scheme -> transport kind and
 * default port), parsing into an {@link Endpoint}, the credentials in a
 * URL's userinfo, and the one redaction every message and log uses.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from './errors.js';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss' | 'unix';

/** Where to connect, from a broker URL. */
export interface Endpoint {
  readonly kind: TransportKind;
  /** Host name or IP address, without IPv6 brackets; '' for unix. */
  readonly host: string;
  /** TCP port; 0 for unix. */
  readonly port: number;
  /** Unix socket path (unix) or HTTP path with query (ws, wss). */
  readonly path: string;
  /** The URL without userinfo, query or fragment: safe for messages and logs. */
  readonly display: string;
}

/** Every scheme a broker URL may use, with its transport and default port. */
export const SCHEMES: Readonly<Record<string, { readonly kind: TransportKind; readonly port: number }>> = {
  'mqtt:': { kind: 'tcp', port: 1883 },
  'tcp:': { kind: 'tcp', port: 1883 },
  'mqtts:': { kind: 'tls', port: 8883 },
  'tls:': { kind: 'tls', port: 8883 },
  'ssl:': { kind: 'tls', port: 8883 },
  'ws:': { kind: 'ws', port: 80 },
  'wss:': { kind: 'wss', port: 443 },
  'unix:': { kind: 'unix', port: 0 },
  'mqtt+unix:': { kind: 'unix', port: 0 },
};

/** The schemes as a message lists them: `mqtt:, tcp:, ..., unix: or mqtt+unix:`. */
export const SCHEME_LIST = (() => {
  const names = Object.keys(SCHEMES);
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
})();

/** The transport a scheme (`'mqtts:'`, with its colon) selects, or undefined when it is not one. */
export function schemeKind(protocol: string): TransportKind | undefined {
  return Object.hasOwn(SCHEMES, protocol) ? SCHEMES[protocol].kind : undefined;
}

/** Whether a scheme's transport carries TLS (mqtts:, tls:, ssl:, wss:). */
export function isTlsScheme(protocol: string): boolean {
  const kind = schemeKind(protocol);
  return kind === 'tls' || kind === 'wss';
}

/** Whether a scheme's transport is WebSocket (ws:, wss:). */
export function isWebSocketScheme(protocol: string): boolean {
  const kind = schemeKind(protocol);
  return kind === 'ws' || kind === 'wss';
}

/**
 * Parses a broker URL. Userinfo (`mqtt://user:pass@host`) is accepted and
 * left out here: the session takes it as the CONNECT's username and
 * password ({@link urlCredentials}); it is never part of `display`. Throws
 * {@link InvalidArgumentError} (`url`).
 */
export function parseBrokerUrl(input: string | URL): Endpoint {
  // a fleet opens thousands of sessions to one URL: parsed once (the endpoint is frozen)
  if (input === lastInput) return lastEndpoint as Endpoint;
  const ep = Object.freeze(parse(input));
  if (typeof input === 'string') {
    lastInput = input;
    lastEndpoint = ep;
  }
  return ep;
}

let lastInput: string | undefined;
let lastEndpoint: Endpoint | undefined;

function parse(input: string | URL): Endpoint {
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : new URL(input.href);
  } catch {
    // The text is not echoed: it may hold a password.
    throw new InvalidArgumentError('url', 'not a valid URL');
  }
  const scheme = Object.hasOwn(SCHEMES, url.protocol) ? SCHEMES[url.protocol] : undefined;
  if (scheme === undefined) {
    throw new InvalidArgumentError('url', `unsupported scheme '${url.protocol}' (use ${SCHEME_LIST})`);
  }
  if (scheme.kind === 'unix') {
    let path = '';
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new InvalidArgumentError('url', 'malformed percent-encoding in the socket path');
    }
    if (url.hostname !== '' || !path.startsWith('/') || path === '/') {
      throw new InvalidArgumentError(
        'url',
        `${url.protocol} needs an absolute socket path and no host, e.g. ${url.protocol}///run/mosquitto.sock`,
      );
    }
    return { kind: 'unix', host: '', port: 0, path, display: `${url.protocol}//${url.pathname}` };
  }
  const hostname = url.hostname;
  if (hostname === '') throw new InvalidArgumentError('url', `${url.protocol} URL without a host`);
  let port = scheme.port;
  if (url.port !== '') {
    port = Number(url.port);
    if (port === 0) throw new InvalidArgumentError('url', 'port 0 is not a port to connect to');
  }
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const hostPort = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  if (scheme.kind === 'ws' || scheme.kind === 'wss') {
    // As MQTT.js: the URL's path and query, '/' when it has none. Brokers that
    // want '/mqtt' (EMQX, HiveMQ) need it in the URL; mosquitto takes any path.
    const path = (url.pathname === '' ? '/' : url.pathname) + url.search;
    return {
      kind: scheme.kind,
      host,
      port,
      path,
      display: `${url.protocol}//${hostPort}${url.pathname || '/'}`,
    };
  }
  return { kind: scheme.kind, host, port, path: '', display: `${url.protocol}//${hostPort}` };
}

/**
 * The username and password in a URL's userinfo (`mqtt://user:pass@host`,
 * percent-decoded), or undefined when it has none. For the session's
 * CONNECT only: they never reach a message.
 */
export function urlCredentials(
  url: string,
): { username: string | undefined; password: string | undefined } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.username === '' && u.password === '') return undefined;
  return {
    username: u.username === '' ? undefined : decode(u.username),
    password: u.password === '' ? undefined : decode(u.password),
  };
}

/** Percent-decoded, or as written when it is not valid percent-encoding (`a%ZZ`). */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The URL without user info, query or fragment, for messages and logs: a
 * WebSocket URL may carry a token or a signature in its query (presigned
 * URLs). A broker URL prints as its endpoint's `display`; anything else
 * loses its userinfo and everything from `?` or `#`.
 */
export function redact(url: string): string {
  try {
    return parseBrokerUrl(url).display;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//').replace(/[?#].*$/s, '');
  }
}

/**
 * Whether a host name or address (IPv6 with or without brackets) is this
 * machine's loopback: `localhost`, `127.x.x.x` or `::1`. What the dashboard
 * may serve without a token, and the `Host` it answers then.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
