import { describe, expect, it } from 'vitest';
import { topicMatches } from '../../src/router/match.js';

describe('topicMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['+', '', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['+/+', '/x', true],
    ['/+', '/x', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/b/#', 'a', false],
    ['+/#', 'a', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['$share/g/a/+', 'a/b', true],
    ['$share/g/#', 'x/y', true],
    ['$share/g/a', 'b', false],
  ])('%s ~ %s is %s', (filter, topic, want) => {
    expect(topicMatches(filter, topic)).toBe(want);
  });
});
