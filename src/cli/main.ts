#!/usr/bin/env node
/** The `mqttkit` executable. */
import { main } from './program.js';

const code = await main(process.argv.slice(2));
// exit once stdout and stderr are flushed, whatever handles a library left open
const flush = (stream: NodeJS.WriteStream, then: () => void): void => {
  if (stream.destroyed || !stream.writable) then();
  else stream.write('', () => then());
};
flush(process.stdout, () => flush(process.stderr, () => process.exit(code)));
