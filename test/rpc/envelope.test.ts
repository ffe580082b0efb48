/** mqttkit's MQTT 3.1.1 RPC envelope: the bytes of each kind, round trips, and what is not an envelope. */
import { describe, expect, it } from 'vitest';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/rpc/envelope.js';

const correlation = Buffer.from([0xaa, 0xbb]);

describe('RPC envelope', () => {
  it('lays a request out as magic, kind, correlation, response topic, content type, body', () => {
    const buf = encodeRequest(correlation, 'r/1', 'text/plain', Buffer.from('hi'));
    expect([...buf]).toEqual([
      ...[0x4d, 0x4b, 0x52, 0x01, 0x01],
      ...[2, 0xaa, 0xbb],
      ...[0, 3, ...Buffer.from('r/1')],
      ...[10, ...Buffer.from('text/plain')],
      ...Buffer.from('hi'),
    ]);
    expect(decodeRequest(buf)).toEqual({
      correlation,
      responseTopic: 'r/1',
      contentType: 'text/plain',
      body: Buffer.from('hi'),
    });
  });

  it('lays a response out as magic, kind, correlation, status, message, content type, body', () => {
    const buf = encodeResponse(correlation, 404, 'no', undefined, Buffer.alloc(0));
    expect([...buf]).toEqual([
      ...[0x4d, 0x4b, 0x52, 0x01, 0x02],
      ...[2, 0xaa, 0xbb],
      ...[0x01, 0x94],
      ...[0, 2, ...Buffer.from('no')],
      0,
    ]);
    expect(decodeResponse(buf)).toEqual({
      correlation,
      status: 404,
      message: 'no',
      contentType: undefined,
      body: Buffer.alloc(0),
    });
  });

  it('refuses every truncation, the other kind, and a payload without the magic', () => {
    const request = encodeRequest(correlation, 'r/1', 'text/plain', Buffer.alloc(0));
    const response = encodeResponse(correlation, 0, 'ok', 'text/plain', Buffer.alloc(0));
    for (let n = 0; n < request.length; n++) expect(decodeRequest(request.subarray(0, n))).toBeUndefined();
    for (let n = 0; n < response.length; n++) expect(decodeResponse(response.subarray(0, n))).toBeUndefined();
    expect(decodeRequest(response)).toBeUndefined();
    expect(decodeResponse(request)).toBeUndefined();
    expect(decodeRequest(Buffer.from('{"plain":"json"}'))).toBeUndefined();
  });

  it('carries trace context in version 2, only when there is one, and refuses its truncations', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const buf = encodeRequest(correlation, 'r/1', undefined, Buffer.from('hi'), {
      traceparent,
      tracestate: 'a=1',
    });
    expect([...buf.subarray(0, 8)]).toEqual([0x4d, 0x4b, 0x52, 0x02, 0x01, 2, 0xaa, 0xbb]);
    expect([...buf.subarray(8, 9 + traceparent.length + 5)]).toEqual([
      traceparent.length,
      ...Buffer.from(traceparent),
      ...[0, 3, ...Buffer.from('a=1')],
    ]);
    expect(decodeRequest(buf)).toEqual({
      correlation,
      responseTopic: 'r/1',
      contentType: undefined,
      body: Buffer.from('hi'),
      trace: { traceparent, tracestate: 'a=1' },
    });
    expect(
      decodeRequest(encodeRequest(correlation, 'r', undefined, Buffer.alloc(0), { traceparent }))?.trace,
    ).toEqual({
      traceparent,
    });
    // a response is never version 2; a request without a trace context stays version 1 for older servers
    expect(decodeResponse(Buffer.from([0x4d, 0x4b, 0x52, 0x02, ...buf.subarray(4)]))).toBeUndefined();
    expect(encodeRequest(correlation, 'r', undefined, Buffer.alloc(0), undefined)[3]).toBe(0x01);
    for (let n = 0; n < buf.length - 2; n++) expect(decodeRequest(buf.subarray(0, n))).toBeUndefined();
    expect(decodeRequest(Buffer.from([0x4d, 0x4b, 0x52, 0x03, ...buf.subarray(4)]))).toBeUndefined();
  });
});
