#!/usr/bin/env node
/** The `mqttkit` executable. */
import { main } from './program.js';

const code = await main(process.argv.slice(2));
// exit once stdout and stderr are flushed, whatever handles a library left open
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
