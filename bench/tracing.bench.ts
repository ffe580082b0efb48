/**
 * What tracing costs when it is on. The OpenTelemetry SDK is registered as
 * an application registers it (a tracer provider with a batch span
 * processor, here exporting to nowhere; the AsyncLocalStorage context
 * manager; the W3C propagator), and mqttkit sessions that trace run side by
 * side with sessions made with `tracing: false` in the same process, which
 * cost what a session costs when no provider is registered: one check per
 * message. Publishing 16-byte messages to the sink and receiving them from
 * the source (bench/servers), with every trace sampled, then with the
 * sampler dropping every trace.
 *
 * What a session costs when no tracer is registered at all, against the
 * code before tracing existed, is what `publish` and `receive` measure when
 * run at both commits back to back.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type Sampler,
  SamplingDecision,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { Session } from '../src/session/index.js';
import { compareRuns, fromRun, type RunResult, type RunRow, runTable, save, timed } from './harness.js';
import { kitPublishLoop, kitReceive } from './kit-side.js';
import { DEFAULT_WINDOW } from './mqttjs-side.js';
import { startSink, startSource } from './servers/spawn.js';

const TOPIC = 'bench/t';
const PAYLOAD = Buffer.alloc(16, 0x61);
const PUBLISHES = { 0: 200_000, 1: 100_000 } as const;
const RECEIVES = { 0: 200_000, 1: 100_000 } as const;

let sampled = true;
const sampler: Sampler = {
  shouldSample: () => ({
    decision: sampled ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
  }),
  toString: () => 'bench',
};
/** Spans go nowhere: what is measured is making them and handing them to the processor. */
const nowhere: SpanExporter = {
  export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
  shutdown: async () => undefined,
};
const provider = new BasicTracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor(nowhere)] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(provider);

async function publishRun(url: string, qos: 0 | 1, tracing: boolean): Promise<RunResult> {
  const s = new Session({ url, keepalive: 0, tracing });
  await s.connect();
  try {
    const count = PUBLISHES[qos];
    return await timed(count, async () => {
      await kitPublishLoop(s, TOPIC, PAYLOAD, qos, count, DEFAULT_WINDOW);
      if (qos === 0) await s.publish(TOPIC, PAYLOAD, { qos: 1 });
    });
  } finally {
    await s.close();
  }
}

const sink = await startSink();
const source = await startSource();
const rows: RunRow[] = [];
const UNTRACED = 'mqttkit, tracing: false';
try {
  for (const mode of ['sampled', 'not sampled'] as const) {
    sampled = mode === 'sampled';
    for (const qos of [0, 1] as const) {
      rows.push(
        await compareRuns(
          `tracing on, ${mode}: publish QoS ${qos} 16 B to sink, MQTT 5`,
          () => publishRun(sink.url, qos, true),
          UNTRACED,
          () => publishRun(sink.url, qos, false),
        ),
      );
      rows.push(
        await compareRuns(
          `tracing on, ${mode}: receive QoS ${qos} 16 B from source, MQTT 5`,
          () => kitReceive(source, TOPIC, qos, RECEIVES[qos], { tracing: true }),
          UNTRACED,
          () => kitReceive(source, TOPIC, qos, RECEIVES[qos], { tracing: false }),
        ),
      );
    }
  }
} finally {
  await Promise.all([sink.stop(), source.stop()]);
  await provider.shutdown();
}
console.log(runTable(rows));
save('tracing', rows.map(fromRun));
