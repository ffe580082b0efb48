/** User properties in MQTT.js's object shape: converted to pairs on the way out, read back as an object. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  type UserPropertiesInit,
  userPropertiesObject,
  userPropertyPairs,
  withUserPropertyPairs,
} from '../../src/core/user-properties.js';
import type { PublishPropertiesInit } from '../../src/session/index.js';

function refusal(value: unknown): InvalidArgumentError {
  try {
    userPropertyPairs(value as UserPropertiesInit, 'options.properties.userProperties');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('not refused');
}

describe('userPropertyPairs', () => {
  it('passes pairs on as they are: the same array, repeats and order kept', () => {
    const pairs: [string, string][] = [
      ['b', '1'],
      ['a', '2'],
      ['b', '3'],
    ];
    expect(userPropertyPairs(pairs, 'p')).toBe(pairs);
  });

  it("turns MQTT.js's object into pairs in key order, each array element one pair", () => {
    expect(userPropertyPairs({ site: 'a', tag: ['x', 'y'], line: '3' }, 'p')).toEqual([
      ['site', 'a'],
      ['tag', 'x'],
      ['tag', 'y'],
      ['line', '3'],
    ]);
    expect(userPropertyPairs({}, 'p')).toEqual([]);
    expect(userPropertyPairs({ none: [] }, 'p')).toEqual([]);
    expect(userPropertyPairs({ skipped: undefined, kept: '' }, 'p')).toEqual([['kept', '']]);
    // JavaScript's key order: integer-like names first
    expect(userPropertyPairs({ b: '1', 2: 'two' }, 'p')).toEqual([
      ['2', 'two'],
      ['b', '1'],
    ]);
    const bare = Object.assign(Object.create(null), { k: 'v' });
    expect(userPropertyPairs(bare, 'p')).toEqual([['k', 'v']]);
    expect(userPropertyPairs(JSON.parse('{"__proto__": "x"}'), 'p')).toEqual([['__proto__', 'x']]);
  });

  it('refuses values that are not strings, naming their path', () => {
    const cases: [unknown, string, string][] = [
      [{ n: 3 }, 'options.properties.userProperties.n', 'must be a string or an array of strings, got 3'],
      [
        { n: true },
        'options.properties.userProperties.n',
        'must be a string or an array of strings, got true',
      ],
      [
        { n: null },
        'options.properties.userProperties.n',
        'must be a string or an array of strings, got null',
      ],
      [{ n: { deep: 'x' } }, 'options.properties.userProperties.n', 'got an object'],
      [{ n: ['a', 2] }, 'options.properties.userProperties.n[1]', 'must be a string, got 2'],
      [{ n: ['a', ['b']] }, 'options.properties.userProperties.n[1]', 'must be a string, got an array'],
      [{ n: [undefined] }, 'options.properties.userProperties.n[0]', 'must not be undefined'],
      [{ 'a key': 1 }, 'options.properties.userProperties["a key"]', 'got 1'],
    ];
    for (const [value, field, why] of cases) {
      const err = refusal(value);
      expect(err.field).toBe(field);
      expect(err.message).toContain(why);
    }
  });

  it('refuses what is neither pairs nor a plain object', () => {
    for (const value of ['site=a', 5, null, new Map([['k', 'v']]), Buffer.from('x'), () => {}]) {
      const err = refusal(value);
      expect(err.field).toBe('options.properties.userProperties');
      expect(err.message).toMatch(
        /must be an array of \[name, value\] pairs or an object of names to strings \(or arrays of strings\), got /,
      );
    }
  });

  it('never quotes a value in the message', () => {
    expect(refusal({ token: ['s3cr3t', 7] }).message).not.toContain('s3cr3t');
    expect(refusal({ token: 's3cr3t', n: 1 }).message).not.toContain('s3cr3t');
  });
});

describe('withUserPropertyPairs', () => {
  it('returns the same object when there is nothing to convert', () => {
    const none: PublishPropertiesInit = { contentType: 'a' };
    const pairs = { contentType: 'a', userProperties: [['k', 'v']] as [string, string][] };
    expect(withUserPropertyPairs(none, 'p')).toBe(none);
    expect(withUserPropertyPairs(pairs, 'p')).toBe(pairs);
  });

  it('copies the properties with the object converted in place (key order is wire order), the input untouched', () => {
    const given = { contentType: 'a', userProperties: { k: ['1', '2'] }, responseTopic: 'r' };
    const out = withUserPropertyPairs(given, 'options.properties');
    expect(Object.keys(out)).toEqual(['contentType', 'userProperties', 'responseTopic']);
    expect(out.userProperties).toEqual([
      ['k', '1'],
      ['k', '2'],
    ]);
    expect(given.userProperties).toEqual({ k: ['1', '2'] });
    expect(() => withUserPropertyPairs({ userProperties: { k: 1 } } as never, 'will.properties')).toThrow(
      /^will\.properties\.userProperties\.k: /,
    );
  });
});

describe('userPropertiesObject', () => {
  it("reads pairs as MQTT.js's object: a repeated name gives an array in order", () => {
    expect(
      userPropertiesObject([
        ['site', 'a'],
        ['tag', 'x'],
        ['line', '3'],
        ['tag', 'y'],
        ['tag', 'z'],
      ]),
    ).toEqual({ site: 'a', tag: ['x', 'y', 'z'], line: '3' });
    expect(userPropertiesObject(undefined)).toEqual({});
    expect(userPropertiesObject([])).toEqual({});
  });

  it('is the inverse of the conversion', () => {
    const object = { a: '1', b: ['2', '3'], c: '' };
    expect(userPropertiesObject(userPropertyPairs(object, 'p'))).toEqual(object);
  });

  it('keeps names such as __proto__ and constructor as plain fields', () => {
    const once = userPropertiesObject([['__proto__', 'x']]);
    expect(Object.getPrototypeOf(once)).toBe(Object.prototype);
    expect(Object.keys(once)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(once, '__proto__')?.value).toBe('x');
    const twice = userPropertiesObject([
      ['__proto__', 'x'],
      ['__proto__', 'y'],
      ['constructor', 'c'],
      ['hasOwnProperty', 'h'],
    ]);
    expect(Object.getPrototypeOf(twice)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(twice, '__proto__')?.value).toEqual(['x', 'y']);
    expect(twice.constructor).toBe('c');
    expect(twice.hasOwnProperty).toBe('h');
    expect(JSON.stringify(twice)).toBe('{"__proto__":["x","y"],"constructor":"c","hasOwnProperty":"h"}');
  });

  it('refuses what is not pairs of strings, naming the place and never quoting a value', () => {
    const refused = (value: unknown): string => {
      try {
        userPropertiesObject(value as never);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgumentError);
        return (err as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused('abc')).toBe('pairs: must be an array of [name, value] pairs, got a string');
    expect(refused({ site: 'a' })).toBe('pairs: must be an array of [name, value] pairs, got an object');
    expect(refused(null)).toBe('pairs: must be an array of [name, value] pairs, got null');
    expect(refused([['a', 'b'], null])).toBe('pairs[1]: must be a [name, value] pair of strings, got null');
    expect(refused([['a', 1]])).toBe('pairs[0]: must be a [name, value] pair of strings, got an array');
    expect(refused([['secret-name', 'secret-value', 'x']])).not.toMatch(/secret/);
  });
});
