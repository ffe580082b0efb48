/**
 * The dashboard page: a header with the views, the connection state and the
 * theme toggle; the view the hash route names; one EventSource whose params
 * follow the view (stream.ts). Keys: 1-4 switch views, `/` focuses the
 * view's filter, `t` toggles the theme (none of them while typing).
 */
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type FleetParams, FleetView, PAGE_SIZE } from './fleet.js';
import { href, navigate, type Route, useRoute } from './route.js';
import { RpcView } from './rpc.js';
import { SessionView } from './session.js';
import { type Stream, useStream } from './stream.js';
import { useTheme } from './theme.js';
import { TopicsView } from './topics.js';

function streamQuery(route: Route, fleet: FleetParams, prefix: string): string {
  const p = new URLSearchParams({ view: route.view });
  switch (route.view) {
    case 'fleet':
      if (fleet.key !== undefined) p.set('sort', fleet.key);
      if (fleet.dir !== undefined) p.set('dir', fleet.dir);
      if (fleet.q !== '') p.set('q', fleet.q);
      if (fleet.offset > 0) p.set('offset', String(fleet.offset));
      p.set('limit', String(PAGE_SIZE));
      break;
    case 'session':
      p.set('session', route.name);
      break;
    case 'topics':
      if (prefix !== '') p.set('prefix', prefix);
      if (route.topic !== null) p.set('topic', route.topic);
      break;
    case 'rpc':
      break;
  }
  return p.toString();
}

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
}

function App() {
  const route = useRoute();
  const [theme, toggleTheme] = useTheme();
  const [fleet, setFleet] = useState<FleetParams>({ key: undefined, dir: undefined, q: '', offset: 0 });
  const [prefix, setPrefix] = useState('');
  const [lastSession, setLastSession] = useState<string | null>(null);
  const stream = useStream(streamQuery(route, fleet, prefix));
  const setFleetParams = useCallback(
    (update: Partial<FleetParams>) => setFleet((f) => ({ ...f, ...update })),
    [],
  );

  useEffect(() => {
    if (route.view === 'session') setLastSession(route.name);
  }, [route]);

  useEffect(() => {
    const title = stream.info?.title ?? 'mqttkit dashboard';
    const view =
      route.view === 'session'
        ? route.name
        : route.view === 'topics'
          ? (route.topic ?? 'topics')
          : route.view;
    document.title = `${view} · ${title}`;
  }, [stream.info, route]);

  // the keys, read through a ref so the listener is added once
  const keys = useRef({ lastSession, toggleTheme });
  keys.current = { lastSession, toggleTheme };
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || typing(e.target)) return;
      const { lastSession: session, toggleTheme: toggle } = keys.current;
      switch (e.key) {
        case '1':
          navigate({ view: 'fleet' });
          break;
        case '2':
          if (session === null) return;
          navigate({ view: 'session', name: session });
          break;
        case '3':
          navigate({ view: 'topics', topic: null });
          break;
        case '4':
          navigate({ view: 'rpc' });
          break;
        case '/': {
          const filter = document.querySelector<HTMLInputElement>('[data-filter]');
          if (filter === null) return; // this view has none
          filter.focus();
          break;
        }
        case 't':
          toggle();
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  return (
    <>
      <header class="top">
        <a class="brand" href="#/fleet">
          <span class="logo" aria-hidden="true" />
          {stream.info?.title ?? 'mqttkit'}
        </a>
        <nav class="views" aria-label="Views">
          <NavLink route={{ view: 'fleet' }} current={route} label="Fleet" kbd="1" testid="nav-fleet" />
          {lastSession === null ? (
            <span class="nav-link disabled" aria-disabled="true" title="Open a session from the fleet table">
              Session <kbd>2</kbd>
            </span>
          ) : (
            <NavLink
              route={{ view: 'session', name: lastSession }}
              current={route}
              label={`Session ${lastSession}`}
              kbd="2"
              testid="nav-session"
            />
          )}
          <NavLink
            route={{ view: 'topics', topic: null }}
            current={route}
            label="Topics"
            kbd="3"
            testid="nav-topics"
          />
          <NavLink
            route={{ view: 'rpc' }}
            current={route}
            label="RPC & forwarders"
            kbd="4"
            testid="nav-rpc"
          />
        </nav>
        <div class="top-right">
          <span class={`conn ${stream.connection}`} data-testid="conn-status" role="status">
            {stream.connection}
          </span>
          <button
            type="button"
            class="theme-toggle"
            data-testid="theme-toggle"
            aria-label={theme === 'dark' ? 'Switch to the light theme (t)' : 'Switch to the dark theme (t)'}
            title={theme === 'dark' ? 'Light theme (t)' : 'Dark theme (t)'}
            onClick={toggleTheme}
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      {/* numbers shown while the stream is down are not live: dimmed until it is back */}
      <main
        class={stream.connection === 'live' ? undefined : 'stale'}
        aria-busy={stream.connection !== 'live'}
      >
        <CurrentView
          route={route}
          stream={stream}
          fresh={stream.query === streamQuery(route, fleet, prefix)}
          fleet={fleet}
          setFleet={setFleetParams}
          prefix={prefix}
          setPrefix={setPrefix}
          theme={theme}
        />
      </main>
      <footer class="foot">
        <span>
          mqttkit {stream.info?.version ?? ''}
          {stream.tick?.cluster
            ? ` · cluster ${stream.tick.cluster.name}, node ${stream.tick.cluster.node}`
            : ''}
        </span>
        <span class="keys">
          <kbd>1</kbd>–<kbd>4</kbd> views · <kbd>/</kbd> filter · <kbd>t</kbd> theme · <kbd>Tab</kbd> move ·{' '}
          <kbd>Enter</kbd> open
        </span>
      </footer>
    </>
  );
}

function NavLink(props: { route: Route; current: Route; label: string; kbd: string; testid: string }) {
  const active = props.route.view === props.current.view;
  return (
    <a
      class={active ? 'nav-link active' : 'nav-link'}
      href={href(props.route)}
      data-testid={props.testid}
      aria-current={active ? 'page' : undefined}
    >
      {props.label} <kbd>{props.kbd}</kbd>
    </a>
  );
}

function CurrentView(props: {
  route: Route;
  stream: Stream;
  fresh: boolean;
  fleet: FleetParams;
  setFleet: (update: Partial<FleetParams>) => void;
  prefix: string;
  setPrefix: (prefix: string) => void;
  theme: ReturnType<typeof useTheme>[0];
}) {
  const { route, stream } = props;
  const tick = stream.tick;
  if (tick === null) {
    return (
      <p class="empty loading">
        {stream.connection === 'reconnecting' ? 'The dashboard does not answer; retrying…' : 'Connecting…'}
      </p>
    );
  }
  switch (route.view) {
    case 'fleet':
      return (
        <FleetView
          tick={tick}
          history={stream.history}
          params={props.fleet}
          setParams={props.setFleet}
          theme={props.theme}
        />
      );
    case 'session':
      return (
        <SessionView
          key={route.name}
          name={route.name}
          session={tick.session?.name === route.name ? tick.session : undefined}
          loading={!props.fresh}
          theme={props.theme}
        />
      );
    case 'topics':
      return (
        <TopicsView
          tick={tick}
          fresh={props.fresh}
          info={stream.info}
          selected={route.topic}
          prefix={props.prefix}
          setPrefix={props.setPrefix}
          theme={props.theme}
        />
      );
    case 'rpc':
      return <RpcView rpc={tick.rpc} forwarders={tick.forwarders} />;
  }
}

render(<App />, document.getElementById('app')!);
