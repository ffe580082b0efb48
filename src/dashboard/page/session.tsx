/** One session: its header, rate and latency charts, subscriptions and event timeline. */
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import { Chart } from './chart.js';
import { clock, ms, num } from './format.js';
import type { Theme } from './theme.js';
import type { EventKind, SessionDetail } from './types.js';
import { Badge, Empty, Panel, StateBadge, type Tone } from './widgets.js';

const EVENT_TONE: Record<EventKind, Tone> = {
  connecting: 'info',
  connected: 'ok',
  ready: 'ok',
  disconnected: 'bad',
  reconnecting: 'warn',
  dropped: 'bad',
  error: 'bad',
  closed: 'muted',
};

/** Axis and legend values: 0.25 ms, 12 ms, 1.5 s. */
const latency = (v: number): string => (v < 1000 ? `${num(v)} ms` : `${num(v / 1000)} s`);

export function SessionView({
  name,
  session,
  loading,
  theme,
}: {
  name: string;
  session: SessionDetail | undefined;
  loading: boolean;
  theme: Theme;
}) {
  if (session === undefined) {
    return (
      <div class="view" data-testid="session-view">
        <BackLink />
        <Empty>
          {loading
            ? `Loading ${name}…`
            : `No session named “${name}” runs in this process. In a cluster, another node may run it: its history is on that node's dashboard.`}
        </Empty>
      </div>
    );
  }
  return <SessionDetailView session={session} theme={theme} />;
}

function BackLink() {
  return (
    <a class="back" href="#/fleet">
      ‹ Fleet
    </a>
  );
}

function SessionDetailView({ session, theme }: { session: SessionDetail; theme: Theme }) {
  const h = session.history;
  const rates = useMemo<uPlot.AlignedData>(() => [h.t, h.in, h.out], [h]);
  const latencies = useMemo<uPlot.AlignedData>(() => [h.t, h.p50, h.p99], [h]);
  const events = useMemo(() => session.events.slice().reverse(), [session.events]);
  return (
    <div class="view session" data-testid="session-view" data-name={session.name}>
      <BackLink />
      <header class="session-head">
        <h1>
          {session.name} <StateBadge state={session.state} />
          {session.ready && <Badge tone="ok">ready</Badge>}
        </h1>
        <dl class="facts">
          <div>
            <dt>Broker</dt>
            <dd class="mono">{session.url}</dd>
          </div>
          <div>
            <dt>Client id</dt>
            <dd class="mono">{session.clientId}</dd>
          </div>
          <div>
            <dt>MQTT</dt>
            <dd>{session.version === 5 ? '5.0' : '3.1.1'}</dd>
          </div>
          <div>
            <dt>Round trip</dt>
            <dd>{ms(session.roundTrip)}</dd>
          </div>
        </dl>
      </header>
      <div class="split even">
        <section class="panel">
          <Chart
            testid="session-rate-chart"
            title="Messages/s"
            series={[
              { label: 'in', color: '--c-in', fill: true },
              { label: 'out', color: '--c-out' },
            ]}
            data={rates}
            theme={theme}
            format={num}
            zero
            sync="session"
          />
        </section>
        <section class="panel">
          <Chart
            testid="session-latency-chart"
            title="Publish latency (publish to ack)"
            series={[
              { label: 'p50', color: '--c-p50' },
              { label: 'p99', color: '--c-p99', dash: [4, 3] },
            ]}
            data={latencies}
            theme={theme}
            format={latency}
            zero
            sync="session"
          />
        </section>
      </div>
      <div class="split narrow-first">
        <Panel title={`Subscriptions (${session.subscriptions.length})`}>
          {session.subscriptions.length === 0 ? (
            <Empty>No subscriptions.</Empty>
          ) : (
            <table class="grid compact" data-testid="session-subscriptions">
              <thead>
                <tr>
                  <th scope="col">Filter</th>
                  <th scope="col" class="num">
                    QoS
                  </th>
                </tr>
              </thead>
              <tbody>
                {session.subscriptions.map((s) => (
                  <tr key={s.filter}>
                    <td class="mono">{s.filter}</td>
                    <td class="num">{s.qos}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
        <Panel title="Events" actions={<span class="muted">newest first</span>}>
          {events.length === 0 ? (
            <Empty>No events yet.</Empty>
          ) : (
            <ol class="timeline" data-testid="session-events">
              {events.map((e, i) => (
                <li key={`${e.t}:${events.length - i}`} data-kind={e.kind}>
                  <time class="mono muted">{clock(e.t)}</time>
                  <Badge tone={EVENT_TONE[e.kind] ?? 'muted'}>{e.kind}</Badge>
                  <span class="event-text">{e.text}</span>
                </li>
              ))}
            </ol>
          )}
        </Panel>
      </div>
    </div>
  );
}
