/**
 * The knob for the long randomized runs. `npm test` runs every property and
 * fuzz suite with fewer iterations; `npm run test:deep` (MQTTKIT_DEEP=1) runs
 * them with the full counts (test/codec/differential.test.ts,
 * test/codec/fuzz.test.ts).
 */
export const DEEP = process.env.MQTTKIT_DEEP === '1';
