/** Topic maps for forwarders: templates, exact rules, order, functions, and errors that name the rule. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { compileTopicMap } from '../../src/forward/mapping.js';
import { topicMatches } from '../../src/router/match.js';

describe('compileTopicMap', () => {
  it('fills {n} with the levels the + wildcards matched and {#} with the rest', () => {
    const map = compileTopicMap([
      ['sensors/+/temperature', 'storage/{1}/temp'],
      ['site/+/+/reading', 'r/{2}/{1}'],
      ['logs/#', 'archive/{#}'],
      ['status', 'fleet/status'],
      ['+/any', 'first/{1}'],
    ]);
    expect(map('sensors/a/temperature')).toBe('storage/a/temp');
    expect(map('site/x/y/reading')).toBe('r/y/x');
    expect(map('logs/app/error')).toBe('archive/app/error');
    expect(map('logs')).toBe('archive');
    expect(map('status')).toBe('fleet/status');
    expect(map('sensors/a/humidity')).toBeUndefined();
    expect(map('$SYS/any')).toBeUndefined(); // a leading wildcard skips $-topics
    expect(map('')).toBeUndefined();
  });

  it('uses the first rule that matches', () => {
    const map = compileTopicMap([
      ['a/special', 'x/special'],
      ['a/+', 'x/other/{1}'],
    ]);
    expect(map('a/special')).toBe('x/special');
    expect(map('a/b')).toBe('x/other/b');
  });

  it('maps exactly the topics its filter matches', () => {
    const levels = fc.constantFrom('a', 'b', '+', 'c');
    fc.assert(
      fc.property(
        fc.array(levels, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', ''), { minLength: 1, maxLength: 5 }),
        (filterLevels, hash, topicLevels) => {
          const filter = [...filterLevels, ...(hash ? ['#'] : [])].join('/');
          const topic = topicLevels.join('/');
          const map = compileTopicMap([[filter, 'out/{#}'.replace('/{#}', hash ? '/{#}' : '')]]);
          expect(map(topic) !== undefined).toBe(topicMatches(filter, topic));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('checks a function map’s results', () => {
    const map = compileTopicMap((t) => (t === 'bad' ? 'a/#' : t === 'skip' ? undefined : `copy/${t}`));
    expect(map('x')).toBe('copy/x');
    expect(map('skip')).toBeUndefined();
    expect(() => map('bad')).toThrow(/not a valid topic name/);
  });

  it('refuses bad rules, naming the rule', () => {
    const bad = (map: unknown) => () => compileTopicMap(map as never);
    expect(bad([['a/#/b', 'x']])).toThrow(/map\[0\]\[0\]: 'a\/#\/b' is not a valid topic filter/);
    expect(bad([['a/+', 'x/{2}']])).toThrow(
      /map\[0\]\[1\]: '\{2\}' refers to a '\+' that 'a\/\+' does not have/,
    );
    expect(bad([['a/+', 'x/{#}']])).toThrow(/needs a filter ending in '#'/);
    expect(bad([['a', 'x/+']])).toThrow(/cannot be a topic name/);
    expect(bad([['a', '']])).toThrow(/cannot be a topic name/);
    expect(bad([['a']])).toThrow(InvalidArgumentError);
    expect(bad('a')).toThrow(/list of \[filter, template\] pairs or a function/);
    expect(bad([['$share/g/a', 'x']])).toThrow(/not a valid topic filter/);
  });
});
