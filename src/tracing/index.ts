/**
 * `mqttkit/tracing`: what a program that uses OpenTelemetry may want of
 * mqttkit's traces beyond what sessions do by themselves (see
 * docs/observability.md). Sessions trace without this module: it only
 * reads what they made.
 *
 * Importing it loads `@opentelemetry/api`.
 */
import { type Context, ROOT_CONTEXT } from '@opentelemetry/api';
import { MESSAGE_CONTEXT } from './hooks.js';

export { MQTT_ATTRIBUTES } from './hooks.js';

/**
 * The trace context a received message was delivered in: its `receive`
 * span, a child of the publisher's span when the message carried
 * `traceparent`. Handlers already run in it (in their `process` span);
 * a `for await` loop makes work of its own a child of the message with
 * `context.with(messageContext(message), ...)`. The root context for a
 * message that was not traced.
 *
 * ```ts
 * import { context, trace } from '@opentelemetry/api';
 * import { messageContext } from 'mqttkit/tracing';
 *
 * for await (const message of session.messages('jobs/#')) {
 *   await context.with(messageContext(message), () =>
 *     trace.getTracer('worker').startActiveSpan('job', async (span) => {
 *       await run(message);
 *       span.end();
 *     }),
 *   );
 * }
 * ```
 */
export function messageContext(message: object): Context {
  return (message as { [MESSAGE_CONTEXT]?: Context })[MESSAGE_CONTEXT] ?? ROOT_CONTEXT;
}
