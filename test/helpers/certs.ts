/**
 * Throwaway X.509 material for TLS tests, made with the `openssl` CLI at test
 * time (EC prime256v1 keys, valid for two days):
 *
 * - `ca`: a CA that signs the server and client certificates;
 * - `server`: CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1;
 * - `client`: CN=mqttkit-test-client, for mutual TLS;
 * - `clientEncrypted`: the client key encrypted with `passphrase` (AES-128);
 * - `otherCa`: an unrelated CA, for "wrong CA" tests.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key: paths and PEM text. */
export interface CertPair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface Certs {
  dir: string;
  ca: CertPair;
  server: CertPair;
  client: CertPair;
  /** The client certificate with its key encrypted with `passphrase`. */
  clientEncrypted: CertPair & { passphrase: string };
  otherCa: CertPair;
}

/** The `openssl` binary, or undefined when it is not installed. */
export function opensslPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/local/bin'])) {
    if (dir !== '' && existsSync(join(dir, 'openssl'))) return join(dir, 'openssl');
  }
  return undefined;
}

export function hasOpenssl(): boolean {
  return opensslPath() !== undefined;
}

// A self-contained configuration, so the system openssl.cnf cannot add or
// clash with extensions.
const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** Creates the certificates in `dir` (which must exist) and returns them. */
export async function makeCerts(dir: string): Promise<Certs> {
  const openssl = opensslPath();
  if (openssl === undefined) throw new Error('makeCerts: the openssl CLI is not installed');
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, CONFIG);
  const p = (name: string): string => join(dir, name);
  const ossl = async (...args: string[]): Promise<void> => {
    try {
      await run(openssl, args, { cwd: dir });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
    }
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const selfSigned = (name: string, cn: string) =>
    ossl(
      'req',
      '-x509',
      '-config',
      config,
      ...newKey,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-extensions',
      'ca_ext',
    );
  const request = (name: string, cn: string) =>
    ossl(
      'req',
      '-new',
      '-config',
      config,
      ...newKey,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    );
  const sign = (name: string, ext: string) =>
    ossl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      '-days',
      '2',
      '-extfile',
      config,
      '-extensions',
      ext,
      '-out',
      p(`${name}.crt`),
    );

  await Promise.all([
    selfSigned('ca', 'mqttkit test CA'),
    selfSigned('other-ca', 'mqttkit unrelated CA'),
    request('server', 'localhost'),
    request('client', 'mqttkit-test-client'),
  ]);
  const passphrase = `pass-${Math.random().toString(36).slice(2)}`;
  await Promise.all([
    sign('server', 'server_ext'),
    sign('client', 'client_ext'),
    ossl(
      'pkey',
      '-in',
      p('client.key'),
      '-aes128',
      '-passout',
      `pass:${passphrase}`,
      '-out',
      p('client-enc.key'),
    ),
  ]);

  const pair = async (cert: string, key: string): Promise<CertPair> => ({
    certPath: p(cert),
    keyPath: p(key),
    cert: await readFile(p(cert), 'utf8'),
    key: await readFile(p(key), 'utf8'),
  });
  const [ca, server, client, clientEncrypted, otherCa] = await Promise.all([
    pair('ca.crt', 'ca.key'),
    pair('server.crt', 'server.key'),
    pair('client.crt', 'client.key'),
    pair('client.crt', 'client-enc.key'),
    pair('other-ca.crt', 'other-ca.key'),
  ]);
  return { dir, ca, server, client, clientEncrypted: { ...clientEncrypted, passphrase }, otherCa };
}
