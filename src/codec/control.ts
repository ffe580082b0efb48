/**
 * PINGREQ, PINGRESP, DISCONNECT and AUTH (spec 3.12 to 3.15).
 *
 *   PINGREQ     1100 0000  (remaining length 0)
 *   PINGRESP    1101 0000  (remaining length 0)
 *   DISCONNECT  1110 0000  [v5: reason code  [properties]]
 *   AUTH        1111 0000  [reason code  [properties]]   (MQTT 5 only)
 *
 * DISCONNECT and AUTH with reason code 0 and no properties are sent with
 * remaining length 0. A DISCONNECT with a reason code and no properties ends
 * after the reason code (remaining length 1). Any other AUTH must carry an
 * Authentication Method (3.15.2.2.2), so it always has properties.
 */
import { EncodeError } from '../core/errors.js';
import { PROTOCOL_ERROR, type Reader, sizes, vbiLength, type Writer } from './primitives.js';
import { measureProperties, readProperties, Scope, writeProperties } from './properties.js';
import { isValidReasonCode } from './reason-codes.js';
import type { AuthPacket, DisconnectPacket, ProtocolVersion } from './types.js';

type ReasonPacket = DisconnectPacket | AuthPacket;

export function measureReasonPacket(p: ReasonPacket, v: ProtocolVersion): number {
  const rc = p.reasonCode ?? 0;
  const scope = p.type === 'disconnect' ? Scope.Disconnect : Scope.Auth;
  if (v === 4) {
    if (p.type === 'auth') throw new EncodeError('type', 'AUTH exists only in MQTT 5');
    if (rc !== 0) throw new EncodeError('reasonCode', 'MQTT 3.1.1 DISCONNECT carries no reason code');
    measureProperties(p.properties, scope, v, 'properties');
    return 0;
  }
  if (!isValidReasonCode(p.type, rc, 5)) {
    throw new EncodeError(
      'reasonCode',
      `0x${Number(rc).toString(16)} is not a ${p.type.toUpperCase()} reason code`,
    );
  }
  const pl = measureProperties(p.properties, scope, v, 'properties');
  if (p.type === 'auth' && (rc !== 0 || pl > 0) && p.properties?.authenticationMethod === undefined) {
    throw new EncodeError('properties.authenticationMethod', 'is required in AUTH (3.15.2.2.2)');
  }
  if (pl > 0) return 1 + vbiLength(pl) + pl;
  return rc === 0 ? 0 : 1; // AUTH gets here only with rc 0: any other needs a method
}

/** `rem` is the remaining length from the measure pass: it says which form to write. */
export function writeReasonPacket(w: Writer, p: ReasonPacket, v: ProtocolVersion, rem: number): void {
  if (v === 4) return;
  if (rem <= 1) {
    sizes.shift(); // the empty property section measured for v5
    if (rem === 1) w.u8(p.reasonCode ?? 0);
    return;
  }
  w.u8(p.reasonCode ?? 0);
  writeProperties(w, p.properties, v);
}

export function readDisconnect(r: Reader, v: ProtocolVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: 'disconnect' };
  if (v === 5) readReason(r, packet, Scope.Disconnect);
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the packet`);
  return packet;
}

export function readAuth(r: Reader): AuthPacket {
  const packet: AuthPacket = { type: 'auth' };
  const shortForm = r.pos === r.end;
  readReason(r, packet, Scope.Auth);
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the packet`);
  if (!shortForm && packet.properties?.authenticationMethod === undefined) {
    r.fail('authentication method missing (3.15.2.2.2)', PROTOCOL_ERROR);
  }
  return packet;
}

function readReason(r: Reader, packet: ReasonPacket, scope: Scope): void {
  packet.reasonCode = 0;
  if (r.pos === r.end) return;
  const rc = r.u8('reason code');
  if (!isValidReasonCode(packet.type, rc, 5)) r.fail(`0x${rc.toString(16)} is not a valid reason code`);
  packet.reasonCode = rc;
  if (r.pos === r.end) return;
  const properties = readProperties(r, scope);
  if (properties !== undefined) packet.properties = properties;
}
