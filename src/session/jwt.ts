/**
 * `jwtCredentials()`: MQTT credentials for brokers that authenticate devices
 * with a short-lived JSON Web Token in the password (Google Cloud IoT style
 * bridges, many managed brokers): the username is ignored or fixed, the
 * password is a token signed with the device's private key.
 *
 * ```ts
 * const credentials = jwtCredentials({ algorithm: 'ES256', privateKey: pem, audience: 'my-project' });
 * const { username, password } = await credentials(); // a fresh token on every call
 * ```
 *
 * Options are checked when `jwtCredentials()` is called; every problem throws
 * {@link InvalidArgumentError} naming the option. The key itself never
 * appears in an error message.
 */
import { type KeyObject, randomUUID, type webcrypto } from 'node:crypto';
import { InvalidArgumentError } from '../core/errors.js';
import { importPeer } from '../core/peer.js';

/** jose, loaded with the first token signed (not with mqttkit); a failed load is tried again next time. */
let jose: Promise<typeof import('jose')> | undefined;
const loadJose = (): Promise<typeof import('jose')> => {
  jose ??= importPeer<typeof import('jose')>('jose', 'jwtCredentials').catch((err: unknown) => {
    jose = undefined;
    throw err;
  });
  return jose;
};

/** A private key already parsed: a Node.js `KeyObject` or a Web Crypto `CryptoKey`. */
export type KeyLike = KeyObject | webcrypto.CryptoKey;

/** The JWS algorithms {@link jwtCredentials} signs with: RS256 (RSA) or ES256 (ECDSA P-256). */
export type JwtAlgorithm = 'RS256' | 'ES256';

/** Options of {@link jwtCredentials}: the key, the algorithm and the claims of each token. */
export interface JwtCredentialsOptions {
  /** RS256 (RSA PKCS#1 v1.5 with SHA-256) or ES256 (ECDSA on P-256 with SHA-256). */
  algorithm: JwtAlgorithm;
  /**
   * The signing key: a PEM PKCS#8 string (`-----BEGIN PRIVATE KEY-----`), imported once on the
   * first call, or a private `KeyObject` / `CryptoKey` for the algorithm.
   */
  privateKey: string | KeyLike;
  /** The `aud` claim: who the token is for (the broker, a project id). */
  audience: string;
  /** Seconds from `iat` to `exp`. @default 3600 */
  ttl?: number;
  /** The `iss` claim. */
  issuer?: string;
  /** The `sub` claim (often the device or client id). */
  subject?: string;
  /** The MQTT username sent with the token. @default 'unused' */
  username?: string;
  /** More claims for the payload; not the ones set from the options (iat, exp, aud, iss, sub, jti, nbf). */
  claims?: Record<string, unknown>;
}

/** Credentials for one connection attempt, as {@link SessionOptions.credentials} takes them. */
export interface JwtCredentials {
  /** The `username` option (`'unused'` by default: such brokers ignore it). */
  username: string;
  /** A compact JWS: `header.payload.signature`. */
  password: string;
}

const DEFAULT_TTL = 3600;
const RESERVED_CLAIMS = ['iat', 'exp', 'aud', 'iss', 'sub', 'jti', 'nbf'];

/**
 * Returns a function that signs a new token each time it is called: `iat`
 * is now (whole seconds), `exp` is `iat + ttl`, `aud` is the audience, `iss`
 * and `sub` are set when given, and `jti` is a random UUID, so two tokens
 * differ even within one second. A PEM key is imported on the first call and
 * the imported key reused; if it is not a PKCS#8 private key for the
 * algorithm, that call (and every later one) rejects with
 * {@link InvalidArgumentError} for `options.privateKey`.
 */
export function jwtCredentials(options: JwtCredentialsOptions): () => Promise<JwtCredentials> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options', 'must be an object');
  const { algorithm, privateKey, audience, issuer, subject, claims } = options;
  const ttl = options.ttl === undefined ? DEFAULT_TTL : options.ttl;
  const username = options.username === undefined ? 'unused' : options.username;

  if (algorithm !== 'RS256' && algorithm !== 'ES256')
    throw new InvalidArgumentError('options.algorithm', "must be 'RS256' or 'ES256'");
  checkKey(privateKey, algorithm);
  if (typeof audience !== 'string' || audience === '')
    throw new InvalidArgumentError('options.audience', 'must be a non-empty string');
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0)
    throw new InvalidArgumentError('options.ttl', 'must be a positive whole number of seconds');
  if (issuer !== undefined && (typeof issuer !== 'string' || issuer === ''))
    throw new InvalidArgumentError('options.issuer', 'must be a non-empty string');
  if (subject !== undefined && (typeof subject !== 'string' || subject === ''))
    throw new InvalidArgumentError('options.subject', 'must be a non-empty string');
  if (typeof username !== 'string') throw new InvalidArgumentError('options.username', 'must be a string');
  let extra: Record<string, unknown> = {};
  if (claims !== undefined) {
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
      throw new InvalidArgumentError('options.claims', 'must be an object');
    for (const name of RESERVED_CLAIMS) {
      if (Object.hasOwn(claims, name))
        throw new InvalidArgumentError(`options.claims.${name}`, 'is set by jwtCredentials; use the option');
    }
    try {
      // a copy now: later changes by the caller do not leak into tokens, and what cannot be JSON fails here
      extra = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
    } catch {
      throw new InvalidArgumentError('options.claims', 'must be JSON-serializable');
    }
  }

  let key: Promise<KeyLike> | undefined;
  const signingKey = (): Promise<KeyLike> => {
    if (key === undefined) {
      key =
        typeof privateKey === 'string'
          ? loadJose().then(
              ({ importPKCS8 }) =>
                importPKCS8(privateKey, algorithm).catch(() => {
                  // jose's message is dropped with its error: nothing of the key may reach a log
                  throw new InvalidArgumentError(
                    'options.privateKey',
                    `is not a PEM PKCS#8 private key for ${algorithm} (RS256 needs an RSA key, ES256 a P-256 key)`,
                  );
                }),
              (err: unknown) => {
                key = undefined; // jose did not load: not the key's fault, tried again with the next token
                throw err;
              },
            )
          : Promise.resolve(privateKey);
    }
    return key;
  };

  return async () => {
    const k = await signingKey();
    const { SignJWT } = await loadJose();
    const iat = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(extra)
      .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .setAudience(audience)
      .setJti(randomUUID());
    if (issuer !== undefined) jwt.setIssuer(issuer);
    if (subject !== undefined) jwt.setSubject(subject);
    return { username, password: await jwt.sign(k) };
  };
}

/** Checks what can be checked without parsing the key: its form, and for a parsed key its kind. */
function checkKey(privateKey: unknown, algorithm: JwtAlgorithm): void {
  const field = 'options.privateKey';
  if (typeof privateKey === 'string') {
    if (
      /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(privateKey) &&
      !/-----BEGIN PRIVATE KEY-----/.test(privateKey)
    )
      throw new InvalidArgumentError(
        field,
        'must be an unencrypted PKCS#8 PEM (-----BEGIN PRIVATE KEY-----); convert with `openssl pkcs8 -topk8 -nocrypt`',
      );
    if (!privateKey.includes('-----BEGIN PRIVATE KEY-----'))
      throw new InvalidArgumentError(field, 'must be a PEM PKCS#8 private key (-----BEGIN PRIVATE KEY-----)');
    return;
  }
  if (isKeyObject(privateKey)) {
    if (privateKey.type !== 'private')
      throw new InvalidArgumentError(field, `must be a private key, not a ${privateKey.type} key`);
    const want = algorithm === 'RS256' ? 'rsa' : 'ec';
    if (privateKey.asymmetricKeyType !== want)
      throw new InvalidArgumentError(
        field,
        `must be an ${want.toUpperCase()} key for ${algorithm}, not ${privateKey.asymmetricKeyType}`,
      );
    if (algorithm === 'ES256' && privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new InvalidArgumentError(field, 'must be a P-256 (prime256v1) key for ES256');
    return;
  }
  if (isCryptoKey(privateKey)) {
    if (privateKey.type !== 'private')
      throw new InvalidArgumentError(field, `must be a private key, not a ${privateKey.type} key`);
    const alg = privateKey.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
    const ok =
      algorithm === 'RS256'
        ? alg.name === 'RSASSA-PKCS1-v1_5' && alg.hash?.name === 'SHA-256'
        : alg.name === 'ECDSA' && alg.namedCurve === 'P-256';
    if (!ok) throw new InvalidArgumentError(field, `must be a CryptoKey for ${algorithm}, not ${alg.name}`);
    if (!privateKey.usages.includes('sign'))
      throw new InvalidArgumentError(field, "must be a CryptoKey usable to 'sign'");
    return;
  }
  throw new InvalidArgumentError(field, 'must be a PEM PKCS#8 string, a KeyObject or a CryptoKey');
}

function isKeyObject(value: unknown): value is KeyObject {
  return (value as { [Symbol.toStringTag]?: unknown })?.[Symbol.toStringTag] === 'KeyObject';
}

function isCryptoKey(value: unknown): value is webcrypto.CryptoKey {
  return (value as { [Symbol.toStringTag]?: unknown })?.[Symbol.toStringTag] === 'CryptoKey';
}
