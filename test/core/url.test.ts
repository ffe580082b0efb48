import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  isTlsScheme,
  isWebSocketScheme,
  parseBrokerUrl,
  redact,
  SCHEME_LIST,
  SCHEMES,
  schemeKind,
  urlCredentials,
} from '../../src/core/url.js';
import { Session } from '../../src/session/index.js';

describe('the scheme table', () => {
  it('maps every scheme to its transport and default port', () => {
    expect(
      Object.keys(SCHEMES).map((s) => {
        const ep = parseBrokerUrl(s.endsWith('unix:') ? `${s}///run/b.sock` : `${s}//broker`);
        return `${s} ${ep.kind} ${ep.port}`;
      }),
    ).toEqual([
      'mqtt: tcp 1883',
      'tcp: tcp 1883',
      'mqtts: tls 8883',
      'tls: tls 8883',
      'ssl: tls 8883',
      'ws: ws 80',
      'wss: wss 443',
      'unix: unix 0',
      'mqtt+unix: unix 0',
    ]);
    expect(SCHEME_LIST).toBe('mqtt:, tcp:, mqtts:, tls:, ssl:, ws:, wss:, unix: or mqtt+unix:');
  });

  it('says which schemes carry TLS and which are WebSocket', () => {
    const names = Object.keys(SCHEMES);
    expect(names.filter(isTlsScheme)).toEqual(['mqtts:', 'tls:', 'ssl:', 'wss:']);
    expect(names.filter(isWebSocketScheme)).toEqual(['ws:', 'wss:']);
    expect(schemeKind('http:')).toBeUndefined();
    expect(schemeKind('toString')).toBeUndefined();
  });

  it('refuses another scheme, listing the ones it takes', () => {
    expect(() => parseBrokerUrl('http://h')).toThrow(InvalidArgumentError);
    expect(() => parseBrokerUrl('http://h')).toThrow(`url: unsupported scheme 'http:' (use ${SCHEME_LIST})`);
  });
});

describe('redact', () => {
  it('prints a broker URL as its endpoint: no userinfo, query or fragment, the port always shown', () => {
    expect(redact('mqtt://user:secret@broker')).toBe('mqtt://broker:1883');
    expect(redact('wss://broker/mqtt?X-Amz-Signature=abc#frag')).toBe('wss://broker:443/mqtt');
    expect(redact('mqtts://[::1]:8884')).toBe('mqtts://[::1]:8884');
    expect(redact('unix:///run/mosquitto.sock')).toBe('unix:///run/mosquitto.sock');
    expect(parseBrokerUrl('ws://u:p@h:9001/mqtt?token=t').display).toBe(
      redact('ws://u:p@h:9001/mqtt?token=t'),
    );
  });

  it('strips userinfo, query and fragment from what is not a broker URL', () => {
    expect(redact('http://user:secret@host/x?token=t')).toBe('http://host/x');
    expect(redact('not a url//u:p@x?q')).toBe('not a url//x');
  });

  it('is what a session shows as its url', () => {
    const s = new Session({ url: 'mqtt://user:secret@broker?x=1', clientId: 'c' });
    expect(s.url).toBe('mqtt://broker:1883');
  });

  it('leaves the credentials to urlCredentials, percent-decoded', () => {
    expect(urlCredentials('mqtt://us%40er:p%3Ass@h')).toEqual({ username: 'us@er', password: 'p:ss' });
    expect(urlCredentials('mqtt://h')).toBeUndefined();
  });
});
