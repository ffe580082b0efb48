import { describe, expect, it } from 'vitest';
import {
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  topicFilterProblem,
  topicNameProblem,
} from '../../src/codec/index.js';
import { topicFilterList, topicFilterOption } from '../../src/codec/topic.js';

describe('topic names', () => {
  it.each(['a', 'a/b', '/', '//', 'a/b/', '$SYS/broker', 'caf\u00e9/\u{1f600}', ' '])('accepts %j', (t) => {
    expect(topicNameProblem(t)).toBeUndefined();
    expect(isValidTopicName(t)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['a/+', /wildcard '\+'/],
    ['a/#', /wildcard '#'/],
    ['a+b', /wildcard/],
    ['#', /wildcard/],
  ])('rejects %j', (t, why) => {
    expect(topicNameProblem(t)).toMatch(why);
    expect(isValidTopicName(t)).toBe(false);
  });

  it('rejects what is not a string', () => {
    expect(isValidTopicName(42 as unknown as string)).toBe(false);
  });
});

describe('topic filters', () => {
  it.each([
    'a',
    'a/b',
    '+',
    '#',
    '+/+',
    '/+',
    '+/',
    'a/+/b',
    'a/#',
    '/#',
    '+/#',
    '$SYS/#',
    '$share/g/a/b',
    '$share/g/#',
    '$share/g/+/x',
    '$share/g//',
    '$shared/x',
    '$sharex',
  ])('accepts %j', (f) => {
    expect(topicFilterProblem(f)).toBeUndefined();
    expect(isValidTopicFilter(f)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['a+', /'\+' at 1 that is not a whole level/],
    ['+a', /'\+' at 0/],
    ['a/b+/c', /'\+'/],
    ['a/#/b', /'#' at 2 that is not the last/],
    ['a#', /'#' at 1 that is not a whole level/],
    ['##', /'#' at 0 that is not the last/],
    ['$share/', /empty share name/],
    ['$share//a', /empty share name/],
    ['$share/g', /without a topic filter/],
    ['$share/g/', /without a topic filter/],
    ['$share/g+/a', /wildcard in its share name/],
    ['$share/#/a', /wildcard in its share name/],
    ['$share/g/a+', /'\+' at 10/],
  ])('rejects %j', (f, why) => {
    expect(topicFilterProblem(f)).toMatch(why);
    expect(isValidTopicFilter(f)).toBe(false);
  });
});

describe('shared subscriptions', () => {
  it('splits group and filter', () => {
    expect(parseSharedSubscription('$share/api/devices/+/get')).toEqual({
      group: 'api',
      filter: 'devices/+/get',
    });
    expect(parseSharedSubscription('$share/g/#')).toEqual({ group: 'g', filter: '#' });
  });

  it('returns undefined for plain or invalid filters', () => {
    expect(parseSharedSubscription('devices/+/get')).toBeUndefined();
    expect(parseSharedSubscription('$share/g')).toBeUndefined();
    expect(parseSharedSubscription('$share//x')).toBeUndefined();
  });
});

describe('topic filter options', () => {
  it('returns a valid filter and names the field of a bad one', () => {
    expect(topicFilterOption('a/+/#', 'filter')).toBe('a/+/#');
    expect(topicFilterOption('$share/g/a', 'filter')).toBe('$share/g/a');
    expect(() => topicFilterOption('a/#/b', 'filter')).toThrow(
      /^filter: 'a\/#\/b' is not a valid topic filter$/,
    );
    expect(() => topicFilterOption(7, 'filter')).toThrow(/^filter: '7' is not a valid topic filter$/);
    expect(() => topicFilterOption('$share/g/a', 'map[0][0]', false)).toThrow(
      /^map\[0\]\[0\]: '\$share\/g\/a' is not a valid topic filter$/,
    );
  });

  it('takes one filter or a non-empty array as a new array, naming field or field[i]', () => {
    const given = ['a', 'b/#'];
    const list = topicFilterList(given, 'filters');
    expect(list).toEqual(given);
    expect(list).not.toBe(given);
    expect(topicFilterList('a', 'filters')).toEqual(['a']);
    expect(() => topicFilterList('a/#/b', 'filters')).toThrow(
      /^filters: 'a\/#\/b' is not a valid topic filter$/,
    );
    expect(() => topicFilterList(['a', 'b+'], 'filters')).toThrow(
      /^filters\[1\]: 'b\+' is not a valid topic filter$/,
    );
    expect(() => topicFilterList([], 'filters')).toThrow(
      /^filters: must be a topic filter or a non-empty array of them$/,
    );
    expect(() => topicFilterList(undefined, 'filters')).toThrow(/^filters: must be/);
  });
});
