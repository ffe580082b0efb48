import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { type JwtCredentialsOptions, jwtCredentials } from '../../src/session/jwt.js';

// the real jose, with importPKCS8 watched to see when (and how often) the key is imported
vi.mock('jose', async (importOriginal) => {
  const original = await importOriginal<typeof import('jose')>();
  return { ...original, importPKCS8: vi.fn(original.importPKCS8) };
});

interface Pair {
  privatePem: string;
  publicPem: string;
  privateKey: KeyObject;
}

function pair(algorithm: 'RS256' | 'ES256'): Pair {
  const { privateKey, publicKey } =
    algorithm === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey,
  };
}

const keys = { RS256: pair('RS256'), ES256: pair('ES256') };

/** The base64 body of a PEM: what would show if a key leaked into a message (any 40 characters of it). */
function keyFragments(pem: string): string[] {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const out: string[] = [];
  for (let i = 0; i + 40 <= body.length; i += 40) out.push(body.slice(i, i + 40));
  return out;
}

function expectNoKey(text: string, pem: string): void {
  for (const fragment of keyFragments(pem)) expect(text).not.toContain(fragment);
}

/** Runs `fn`, expecting an InvalidArgumentError; returns it. */
function invalid(fn: () => unknown, label = ''): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err, label).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error(`expected an InvalidArgumentError ${label}`);
}

describe('jwtCredentials', () => {
  for (const algorithm of ['RS256', 'ES256'] as const) {
    it(`signs a fresh ${algorithm} token on every call, verifiable with the public key`, async () => {
      const { privatePem, publicPem } = keys[algorithm];
      const credentials = jwtCredentials({
        algorithm,
        privateKey: privatePem,
        audience: 'my-project',
        ttl: 600,
        issuer: 'factory-7',
        subject: 'device-42',
        claims: { region: 'eu', fw: 3 },
      });
      const imports = vi.mocked(jose.importPKCS8);
      imports.mockClear();
      expect(imports).not.toHaveBeenCalled(); // lazily: not before the first call
      const before = Math.floor(Date.now() / 1000);
      const [first, second] = await Promise.all([credentials(), credentials()]);
      expect(imports).toHaveBeenCalledTimes(1); // once, even for two concurrent calls
      await credentials();
      expect(imports).toHaveBeenCalledTimes(1);
      const after = Math.floor(Date.now() / 1000);

      expect(first.username).toBe('unused');
      expect(second.password).not.toBe(first.password);
      const publicKey = await importSPKI(publicPem, algorithm);
      const verified = await Promise.all(
        [first, second].map((c) =>
          jwtVerify(c.password, publicKey, {
            algorithms: [algorithm],
            audience: 'my-project',
            issuer: 'factory-7',
            subject: 'device-42',
          }),
        ),
      );
      for (const { payload, protectedHeader } of verified) {
        expect(protectedHeader).toEqual({ alg: algorithm, typ: 'JWT' });
        expect(payload.aud).toBe('my-project');
        expect(payload.iat).toBeGreaterThanOrEqual(before);
        expect(payload.iat).toBeLessThanOrEqual(after);
        expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
        expect(payload).toMatchObject({ region: 'eu', fw: 3 });
        expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
      }
      // both were signed within the same second or two: only jti tells them apart
      expect(verified[0].payload.jti).not.toBe(verified[1].payload.jti);
    });
  }

  it('accepts a KeyObject, defaults ttl to an hour, leaves iss and sub out, and uses the username given', async () => {
    const { privateKey, publicPem } = keys.ES256;
    const credentials = jwtCredentials({ algorithm: 'ES256', privateKey, audience: 'a', username: 'dev' });
    const { username, password } = await credentials();
    expect(username).toBe('dev');
    expect(decodeProtectedHeader(password).alg).toBe('ES256');
    const { payload } = await jwtVerify(password, await importSPKI(publicPem, 'ES256'), { audience: 'a' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    expect(payload.iss).toBeUndefined();
    expect(payload.sub).toBeUndefined();
  });

  it('rejects bad options at once, naming the field', () => {
    const good: JwtCredentialsOptions = {
      algorithm: 'RS256',
      privateKey: keys.RS256.privatePem,
      audience: 'aud',
    };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['options.algorithm', { algorithm: 'HS256' }],
      ['options.algorithm', { algorithm: undefined }],
      ['options.privateKey', { privateKey: 'not a key' }],
      ['options.privateKey', { privateKey: keys.RS256.publicPem }],
      ['options.privateKey', { privateKey: 42 }],
      ['options.privateKey', { privateKey: createPrivateKey(keys.ES256.privatePem) }], // EC key for RS256
      ['options.privateKey', { privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey }],
      ['options.audience', { audience: '' }],
      ['options.audience', { audience: undefined }],
      ['options.ttl', { ttl: 0 }],
      ['options.ttl', { ttl: 1.5 }],
      ['options.ttl', { ttl: Number.POSITIVE_INFINITY }],
      ['options.ttl', { ttl: '60' }],
      ['options.ttl', { ttl: null }],
      ['options.issuer', { issuer: '' }],
      ['options.subject', { subject: 7 }],
      ['options.username', { username: null }],
      ['options.claims', { claims: [] }],
      ['options.claims.exp', { claims: { exp: 1 } }],
      ['options.claims.jti', { claims: { jti: 'x' } }],
      ['options.claims', { claims: { n: 10n } }],
    ];
    for (const [field, change] of cases) {
      const label = `for ${Object.keys(change)[0]} ${typeof Object.values(change)[0]}`;
      const error = invalid(() => jwtCredentials({ ...good, ...change } as JwtCredentialsOptions), label);
      expect(error.field, label).toBe(field);
      expect(error.message.startsWith(`${field}: `)).toBe(true);
    }
    expect(invalid(() => jwtCredentials(null as unknown as JwtCredentialsOptions)).field).toBe('options');
    // a PKCS#1 RSA key is a private key, but not PKCS#8: the message says how to convert it
    const pkcs1 = keys.RS256.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(invalid(() => jwtCredentials({ ...good, privateKey: pkcs1 })).message).toMatch(/openssl pkcs8/);
  });

  it('never puts the private key in an error', async () => {
    const rsa = keys.RS256.privatePem;
    const pkcs1 = keys.RS256.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const messages: string[] = [];
    const collect = (fn: () => unknown): void => {
      try {
        fn();
      } catch (err) {
        messages.push(String(err), (err as Error).stack ?? '');
      }
    };
    collect(() => jwtCredentials({ algorithm: 'RS256', privateKey: pkcs1, audience: 'a' }));
    collect(() => jwtCredentials({ algorithm: 'RS256', privateKey: rsa, audience: '' }));
    collect(() => jwtCredentials({ algorithm: 'HS256' as 'RS256', privateKey: rsa, audience: 'a' }));
    collect(() => jwtCredentials({ algorithm: 'RS256', privateKey: keys.ES256.privateKey, audience: 'a' }));
    // a PKCS#8 RSA key for ES256 passes the form check and fails on import, on every call
    const wrongAlgorithm = jwtCredentials({ algorithm: 'ES256', privateKey: rsa, audience: 'a' });
    for (let i = 0; i < 2; i++) {
      const error = await wrongAlgorithm().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).toBe('options.privateKey');
      expect((error as Error).cause).toBeUndefined();
      messages.push(String(error), (error as Error).stack ?? '');
    }
    // a corrupted PKCS#8 body
    const corrupt = rsa.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!');
    const error = await jwtCredentials({ algorithm: 'RS256', privateKey: corrupt, audience: 'a' })().catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    messages.push(String(error), (error as Error).stack ?? '');

    expect(messages.length).toBeGreaterThanOrEqual(14);
    for (const text of messages) {
      expectNoKey(text, rsa);
      expectNoKey(text, pkcs1);
      expectNoKey(text, keys.ES256.privatePem);
      expectNoKey(text, corrupt);
    }
  });
});
