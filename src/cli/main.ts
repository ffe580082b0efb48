#!/usr/bin/env node
/** The `mqttkit` executable. */
import { missingPeers } from '../core/peer.js';
import { Exit, missingPackagesMessage } from './errors.js';

/**
 * What the command loads that a library user need not install (optional peer
 * dependencies of mqttkit, devDependencies in a clone). aedes, for `broker`,
 * `demo` and `bench` without a broker, is loaded when a broker starts, and
 * named then if missing.
 */
const NEEDS = ['commander', 'picocolors', 'cli-progress', 'hdr-histogram-js'];

const missing = missingPeers(NEEDS);
if (missing.length > 0) {
  // no colour: picocolors may be what is missing
  process.stderr.write(`mqttkit: ${missingPackagesMessage(missing)}\n`);
  process.exitCode = Exit.MissingPackage;
} else {
  const { main } = await import('./program.js');
  const code = await main(process.argv.slice(2));
  // exit once stdout and stderr are flushed, whatever handles a library left open
  const flush = (stream: NodeJS.WriteStream, then: () => void): void => {
    if (stream.destroyed || !stream.writable) then();
    else stream.write('', () => then());
  };
  flush(process.stdout, () => flush(process.stderr, () => process.exit(code)));
}
