/**
 * The `node:tls` options of a connection from {@link TlsOptions}, for both
 * `mqtts://` (`node:tls` directly) and `wss://` (`ws` hands them to
 * `node:tls`), so the two cannot drift apart.
 *
 * SNI: `servername` when it is given (it is also the name the certificate
 * must match). Otherwise the URL's host, unless the host is an IP literal:
 * RFC 6066 (section 3) allows only host names in the server_name extension
 * and Node warns for an IP (DEP0123), so none is sent and the certificate is
 * checked against the IP address itself. Both transports behaved this way
 * before (for wss:// `ws` chose the same default); it is now written once.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { TlsOptions } from './types.js';

export function tlsConnectOptions(options: TlsOptions | undefined, host: string): ConnectionOptions {
  const t = options ?? {};
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    passphrase: t.passphrase,
    rejectUnauthorized: t.rejectUnauthorized ?? true,
    ALPNProtocols: t.ALPNProtocols,
    servername: t.servername ?? (isIP(host) === 0 ? host : undefined),
  };
}
