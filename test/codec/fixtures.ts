/**
 * Byte fixtures for every MQTT control packet type, in MQTT 3.1.1 (version 4)
 * and MQTT 5.0 (version 5), written by hand from the specifications. Each
 * `packet` is exactly what the decoder returns for `bytes` and what the
 * encoder must turn back into `bytes`. The fixtures are kept in two files
 * (fixtures-v4.ts, fixtures-v5.ts); this module puts them together.
 */
import type { Fixture } from './fixture-bytes.js';
import { v4Fixtures } from './fixtures-v4.js';
import { v5Fixtures } from './fixtures-v5.js';

export type { Fixture } from './fixture-bytes.js';

export const fixtures: Fixture[] = [...v4Fixtures, ...v5Fixtures];
