/**
 * The OpenTelemetry SDK as an application registers it, with the
 * in-memory exporter: every span mqttkit ends is kept for the test to read.
 * `sampling(false)` makes the sampler drop every new trace (what
 * `AlwaysOffSampler` does), `sampling(true)` records them again.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface Otel {
  exporter: InMemorySpanExporter;
  provider: BasicTracerProvider;
  /** Every span ended so far. */
  spans(): ReadableSpan[];
  /** Records new traces (true, the default) or drops them (false). */
  sampling(on: boolean): void;
  /** The ended spans named `name`. */
  named(name: string): ReadableSpan[];
  /** Resolves once `count` spans named `name` have ended. */
  waitFor(name: string, count?: number): Promise<ReadableSpan[]>;
  shutdown(): Promise<void>;
}

/** Registers a tracer provider, the AsyncLocalStorage context manager and the W3C propagator globally. */
export function registerOtel(): Otel {
  let on = true;
  const sampler: Sampler = {
    shouldSample: () => ({
      decision: on ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD,
    }),
    toString: () => 'switchable',
  };
  const exporter = new InMemorySpanExporter();
  // told after the exporter of each span that ends: what waitFor() waits on
  const waiters = new Set<() => void>();
  const notify: SpanProcessor = {
    onStart: () => undefined,
    onEnd: () => {
      for (const w of [...waiters]) w();
    },
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  const provider = new BasicTracerProvider({
    sampler,
    spanProcessors: [new SimpleSpanProcessor(exporter), notify],
  });
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  const named = (name: string): ReadableSpan[] => spans().filter((s) => s.name === name);
  return {
    exporter,
    provider,
    spans,
    named,
    sampling(value) {
      on = value;
    },
    waitFor(name, count = 1) {
      return new Promise<ReadableSpan[]>((resolve) => {
        const look = (): void => {
          const found = named(name);
          if (found.length < count) return;
          waiters.delete(look);
          resolve(found);
        };
        waiters.add(look);
        look();
      });
    },
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The parent span id of `span`, or undefined for a root. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
