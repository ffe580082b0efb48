/**
 * Hash routes: `#/fleet`, `#/session/<name>`, `#/topics`, `#/topics/<topic>`,
 * `#/rpc`. Names and topics are encodeURIComponent-ed into one path segment
 * (a topic's '/' becomes %2F), so the page never guesses where a name ends.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { view: 'fleet' }
  | { view: 'session'; name: string }
  | { view: 'topics'; topic: string | null }
  | { view: 'rpc' };

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const slash = path.indexOf('/');
  const head = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  if (head === 'session' && rest !== '') return { view: 'session', name: decode(rest) };
  if (head === 'topics') return { view: 'topics', topic: rest === '' ? null : decode(rest) };
  if (head === 'rpc') return { view: 'rpc' };
  return { view: 'fleet' };
}

export function href(route: Route): string {
  switch (route.view) {
    case 'fleet':
      return '#/fleet';
    case 'session':
      return `#/session/${encodeURIComponent(route.name)}`;
    case 'topics':
      return route.topic === null ? '#/topics' : `#/topics/${encodeURIComponent(route.topic)}`;
    case 'rpc':
      return '#/rpc';
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseHash(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
