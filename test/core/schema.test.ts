/** The options validator (`core/schema.ts`): paths, suggestions, nested tables, what it never echoes. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  arrayOf,
  boolean,
  checkOptions,
  closest,
  either,
  extend,
  hinted,
  int,
  object,
  recordOf,
  string,
  table,
  userProperties,
} from '../../src/core/schema.js';

const INNER = table({ depth: int(0, 9), name: string }, ['name']);
const T = table({
  keepalive: int(0, 65_535),
  enabled: boolean,
  inner: object(INNER, false),
  list: arrayOf(object(INNER)),
});

function error(value: unknown, t = T, path = ''): InvalidArgumentError | undefined {
  try {
    checkOptions(value, t, path);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  return undefined;
}

describe('checkOptions', () => {
  it('accepts good values, skips undefined ones and inherited keys', () => {
    expect(error({})).toBeUndefined();
    expect(error({ keepalive: 5, enabled: undefined, inner: false, list: [{ name: 'a' }] })).toBeUndefined();
    expect(error(Object.create({ whatever: 1 }))).toBeUndefined();
  });

  it('names the path of a bad value, nested in objects and arrays', () => {
    expect(error({ keepalive: 1.5 })?.message).toBe('keepalive: must be an integer from 0 to 65535, got 1.5');
    expect(error({ inner: { name: 'a', depth: 10 } })?.field).toBe('inner.depth');
    expect(error({ inner: { depth: 1 } })?.message).toBe('inner.name: is required');
    expect(error({ list: [{ name: 'a' }, { name: 5 }] })?.field).toBe('list[1].name');
    expect(error({ list: [undefined] })?.field).toBe('list[0]');
    expect(error({ enabled: 'yes' }, T, 'options')?.message).toBe(
      'options.enabled: must be true or false, got a string',
    );
    expect(error('x', T, 'options')?.message).toBe('options: must be an object, got a string');
    expect(error([], T, '')?.field).toBe('options');
  });

  it('refuses unknown keys, own keys named like Object.prototype members included', () => {
    expect(error({ keepAlive: 1 })?.message).toBe(
      "keepAlive: unknown option 'keepAlive'; did you mean 'keepalive'?",
    );
    expect(error({ inner: { nmae: 'a' } })?.message).toBe(
      "inner.nmae: unknown option 'nmae'; did you mean 'name'?",
    );
    expect(error({ toString: () => '' })?.field).toBe('toString');
    expect(error(JSON.parse('{"__proto__": {}}'))?.field).toBe('__proto__');
    expect(error({ qqqqqqq: 1 })?.message).toBe(
      "qqqqqqq: unknown option 'qqqqqqq'; known options: keepalive, enabled, inner, list",
    );
  });

  it('suggests the closest name only when it is near', () => {
    expect(closest('reconect', ['reconnect', 'clean'])).toBe('reconnect');
    expect(closest('KEEPALIVE', ['keepalive'])).toBe('keepalive');
    expect(closest('qso', ['qos', 'retain'])).toBe('qos');
    expect(closest('password', ['qos', 'retain'])).toBeUndefined();
  });

  it('tells a name it has a hint for what the hint says, in an extended table too', () => {
    const h = hinted(INNER, { nme: 'the name goes in name', toString: 'never used' });
    expect(error({ name: 'a', nme: 'b' }, h)?.message).toBe(
      "nme: unknown option 'nme'; the name goes in name",
    );
    expect(error({ name: 'a', nam: 'b' }, h)?.message).toBe(
      "nam: unknown option 'nam'; did you mean 'name'?",
    );
    expect(error({ name: 'a', nme: 1 }, extend(h, { extra: boolean }))?.message).toMatch(
      /the name goes in name$/,
    );
  });

  it('extends a table with more fields', () => {
    const more = extend(INNER, { extra: boolean });
    expect(error({ name: 'a', extra: true }, more)).toBeUndefined();
    expect(error({ extra: true }, more)?.message).toBe('name: is required');
  });
});

describe('recordOf and user properties', () => {
  const R = table({
    labels: recordOf(either('a string or an array of strings', string, arrayOf(string))),
    userProperties,
  });

  it('checks each own field of a plain object under its name', () => {
    expect(error({ labels: { a: 'x', b: ['y', 'z'], c: undefined } }, R)).toBeUndefined();
    expect(error({ labels: { a: 1 } }, R)?.message).toBe(
      'labels.a: must be a string or an array of strings, got 1',
    );
    expect(error({ labels: { a: ['x', false] } }, R)?.message).toBe(
      'labels.a[1]: must be a string, got false',
    );
    expect(error({ labels: { 'x.y': 1 } }, R)?.field).toBe('labels["x.y"]');
    expect(error({ labels: new Map() }, R)?.message).toBe('labels: must be an object, got an object');
    expect(error({ labels: [] }, R)?.message).toBe('labels: must be an object, got an array');
  });

  it('takes user properties as pairs or as an object, naming the bad element either way', () => {
    expect(error({ userProperties: [['a', 'b']] }, R)).toBeUndefined();
    expect(error({ userProperties: { a: 'b', c: ['d'] } }, R)).toBeUndefined();
    expect(error({ userProperties: [['a', 1]] }, R)?.message).toBe(
      'userProperties[0]: must be a [name, value] pair of strings, got an array',
    );
    expect(error({ userProperties: { a: { b: 'c' } } }, R)?.message).toBe(
      'userProperties.a: must be a string or an array of strings, got an object',
    );
    expect(error({ userProperties: 'a=b' }, R, 'options')?.message).toBe(
      'options.userProperties: must be an array of [name, value] pairs or an object of names to strings (or arrays of strings), got a string',
    );
  });
});
