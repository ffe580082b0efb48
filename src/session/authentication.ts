/**
 * Enhanced authentication (MQTT 5 AUTH, 4.12): the server's challenges are
 * answered by the `authenticate` option, with the CONNECT's Authentication
 * Method. An AUTH the session did not ask for, or a hook that fails, ends
 * the connection with the DISCONNECT reason the spec gives.
 */
import type { AuthPacket } from '../codec/types.js';
import { ConnectionError, ProtocolError } from '../core/errors.js';
import type { SessionContext } from './context.js';

/** Answers an AUTH from the server (a challenge: 0x18 Continue Authentication). */
export function answerAuth(ctx: SessionContext, packet: AuthPacket): void {
  const auth = ctx.options.authenticate;
  const method = ctx.options.connectProperties?.authenticationMethod;
  const engine = ctx.engine;
  const connector = ctx.connector;
  if (auth === undefined || method === undefined || packet.reasonCode !== 0x18) {
    if (packet.reasonCode === 0) return; // re-authentication succeeded
    // an AUTH this session did not ask for is a protocol error (4.12); 0x8C is no DISCONNECT code
    engine.disconnect(0x82);
    connector.closing(
      new ProtocolError('the broker asked for authentication this session cannot answer', 0x82),
    );
    return;
  }
  Promise.resolve()
    .then(() =>
      auth({ method, data: packet.properties?.authenticationData, reasonCode: packet.reasonCode ?? 0 }),
    )
    .then(
      (data) => {
        if (connector.transport === undefined) return;
        engine.auth({
          type: 'auth',
          reasonCode: 0x18,
          properties: { authenticationMethod: method, authenticationData: data },
        });
      },
      (err: unknown) => {
        engine.disconnect(0x87);
        connector.closing(new ConnectionError(`authentication failed: ${(err as Error)?.message}`, 0x87));
      },
    );
}
