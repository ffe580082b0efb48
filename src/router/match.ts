/**
 * Topic matching (spec 4.7): `+` matches one level, `#` the rest (including
 * the parent level), and a filter starting with a wildcard does not match a
 * topic starting with `$`. A shared subscription `$share/{group}/{filter}`
 * matches as its filter. The topic trie of the router replaces linear use of
 * this for many filters.
 */

/** The filter messages are matched against: `$share/g/a/+` -> `a/+`. */
export function matchFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const slash = filter.indexOf('/', 7);
  return slash === -1 ? filter : filter.slice(slash + 1);
}

/**
 * Whether `topic` matches `filter` (spec 4.7): `+` matches one level, `#`
 * the rest including the parent level (`a/#` matches `a`), a filter starting
 * with a wildcard does not match a topic starting with `$`, and
 * `$share/{group}/{filter}` matches as its filter. For many filters, use a
 * {@link "mqttkit/router"!TopicRouter | TopicRouter} (from `mqttkit/router`).
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = matchFilter(filter);
  const fl = f.length;
  const tl = topic.length;
  if (tl > 0 && topic.charCodeAt(0) === 0x24 /* $ */ && fl > 0) {
    const c = f.charCodeAt(0);
    if (c === 0x2b || c === 0x23) return false;
  }
  let fi = 0;
  let ti = 0;
  while (fi < fl) {
    const c = f.charCodeAt(fi);
    if (c === 0x23 /* # */) return true;
    if (c === 0x2b /* + */) {
      // skip one topic level
      while (ti < tl && topic.charCodeAt(ti) !== 0x2f) ti++;
      fi++;
    } else {
      if (ti >= tl) {
        // "a/#" matches "a": the filter continues with "/#"
        return fi + 1 < fl && c === 0x2f && f.charCodeAt(fi + 1) === 0x23 && fi + 2 === fl;
      }
      if (c !== topic.charCodeAt(ti)) return false;
      fi++;
      ti++;
    }
  }
  return ti === tl;
}
