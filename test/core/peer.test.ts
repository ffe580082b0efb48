/**
 * Optional peer dependencies (`core/peer.ts`): a package that is not
 * installed gives a MissingPeerError naming it and the command to install
 * it; one that is installed loads.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, MissingPeerError, MqttError } from '../../src/core/errors.js';
import { importPeer, missingPeers, requirePeer } from '../../src/core/peer.js';

const ABSENT = 'mqttkit-test-absent-package';

describe('optional peers', () => {
  it('requirePeer: the CommonJS package, or MissingPeerError naming the package and the command', () => {
    expect(typeof requirePeer<{ Registry: unknown }>('prom-client', 'x').Registry).toBe('function');
    let error: unknown;
    try {
      requirePeer(ABSENT, 'The feature');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MissingPeerError);
    expect(error).toBeInstanceOf(MqttError);
    const e = error as MissingPeerError;
    expect(e.code).toBe(ErrorCode.MissingPeer);
    expect(e.packageName).toBe(ABSENT);
    expect(e.message).toBe(`The feature needs the optional package '${ABSENT}': npm install ${ABSENT}`);
    expect((e.cause as NodeJS.ErrnoException).code).toBe('MODULE_NOT_FOUND');
  });

  it('importPeer: the ES module, or a rejection with MissingPeerError', async () => {
    expect(typeof (await importPeer<{ Aedes: unknown }>('aedes', 'x')).Aedes).toBe('function');
    const rejected = importPeer(ABSENT, 'The broker');
    await expect(rejected).rejects.toBeInstanceOf(MissingPeerError);
    await expect(rejected).rejects.toThrow(
      `The broker needs the optional package '${ABSENT}': npm install ${ABSENT}`,
    );
  });

  it('missingPeers: the names that do not resolve, in order', () => {
    expect(missingPeers(['commander', ABSENT, 'picocolors', `${ABSENT}-2`])).toEqual([ABSENT, `${ABSENT}-2`]);
  });
});
