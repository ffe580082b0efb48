/**
 * The fleet view: totals, the fleet's in/out rate over the last 15 minutes,
 * the cluster's nodes when there is a cluster, and one page of the session
 * table. The server sorts, filters and pages; the page renders the rows it
 * got, at most `limit` of them.
 */
import { useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import { Chart, Spark } from './chart.js';
import { ago, bytes, exact, num } from './format.js';
import { navigate } from './route.js';
import type { Theme } from './theme.js';
import type { ClusterInfo, FleetHistory, Row, SortKey, Tick, Totals } from './types.js';
import { Empty, FilterInput, Panel, SortHeader, type Sorting, StateBadge, stateTone } from './widgets.js';

export const PAGE_SIZE = 100;

export interface FleetParams extends Sorting<SortKey> {
  q: string;
  offset: number;
}

interface FleetProps {
  tick: Tick;
  history: FleetHistory;
  params: FleetParams;
  setParams: (update: Partial<FleetParams>) => void;
  theme: Theme;
}

export function FleetView({ tick, history, params, setParams, theme }: FleetProps) {
  const data = useMemo<uPlot.AlignedData>(() => [history.t, history.in, history.out], [tick]);
  return (
    <div class="view fleet">
      <TotalCards totals={tick.totals} />
      <div class={tick.cluster ? 'split' : undefined}>
        <section class="panel">
          <Chart
            testid="fleet-chart"
            title="Fleet messages/s, last 15 minutes"
            series={[
              { label: 'in', color: '--c-in', fill: true },
              { label: 'out', color: '--c-out' },
            ]}
            data={data}
            theme={theme}
            format={num}
            zero
            height={180}
          />
        </section>
        {tick.cluster && <Nodes cluster={tick.cluster} />}
      </div>
      <FleetTable tick={tick} params={params} setParams={setParams} />
    </div>
  );
}

function TotalCards({ totals }: { totals: Totals }) {
  const connected = totals.states.connected ?? 0;
  // every session this process runs that is not connected: connecting, reconnecting, lost, closed or new
  const disconnected = totals.sessions - connected;
  const connecting = (totals.states.connecting ?? 0) + (totals.states.reconnecting ?? 0);
  const cards: { key: string; label: string; value: number; sub?: string; tone?: string }[] = [
    { key: 'sessions', label: 'Sessions', value: totals.sessions, sub: `${exact(totals.ready)} ready` },
    { key: 'connected', label: 'Connected', value: connected, tone: 'ok' },
    {
      key: 'disconnected',
      label: 'Offline',
      value: disconnected,
      sub: connecting > 0 ? `${exact(connecting)} retrying` : undefined,
      tone: disconnected > 0 ? 'bad' : undefined,
    },
    { key: 'in', label: 'In /s', value: totals.in, sub: `${bytes(totals.bytesIn)}/s` },
    { key: 'out', label: 'Out /s', value: totals.out, sub: `${bytes(totals.bytesOut)}/s` },
    { key: 'inflight', label: 'In-flight', value: totals.inflight },
    { key: 'queued', label: 'Queued', value: totals.queued },
    { key: 'reconnects', label: 'Reconnects', value: totals.reconnects },
    { key: 'errors', label: 'Errors', value: totals.errors, tone: totals.errors > 0 ? 'warn' : undefined },
    {
      key: 'dropped',
      label: 'Dropped',
      value: totals.dropped,
      tone: totals.dropped > 0 ? 'warn' : undefined,
    },
  ];
  return (
    <section class="cards" data-testid="totals" aria-label="Fleet totals">
      {cards.map((c) => (
        <div key={c.key} class={`card ${c.tone ?? ''}`} data-total={c.key}>
          <div class="card-label">{c.label}</div>
          <div class="card-value" title={exact(c.value)}>
            {num(c.value)}
          </div>
          <div class="card-sub">{c.sub ?? '\u00a0'}</div>
        </div>
      ))}
    </section>
  );
}

function Nodes({ cluster }: { cluster: ClusterInfo }) {
  return (
    <Panel
      title={`Cluster ${cluster.name}`}
      actions={
        <span class="muted">
          this node: {cluster.node} ({cluster.role})
        </span>
      }
      class="nodes"
    >
      <table class="grid compact" data-testid="cluster-nodes">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col" class="num">
              Weight
            </th>
            <th scope="col" class="num">
              Lease
            </th>
            <th scope="col" class="num">
              Sessions
            </th>
          </tr>
        </thead>
        <tbody>
          {cluster.nodes.map((n) => (
            <tr key={n.id} class={n.id === cluster.node ? 'self' : undefined}>
              <td class="mono">{n.id}</td>
              <td class="num">{n.weight}</td>
              <td class="num">{n.expiresIn === null ? '–' : `${(n.expiresIn / 1000).toFixed(1)} s`}</td>
              <td class="num">{exact(n.sessions)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

interface Column {
  /** The sort field; null: the column does not sort. */
  key: SortKey | null;
  label: string;
  /** px; the table has a fixed layout, so columns keep their width as the numbers change each second. */
  width?: number;
  title?: string;
  numeric?: boolean;
  /** The first click sorts descending: counts and rates, the largest first. */
  desc?: boolean;
}

function columns(cluster: boolean): Column[] {
  return [
    { key: 'name', label: 'Session', width: 136 },
    ...(cluster ? [{ key: 'node' as const, label: 'Node', width: 84 }] : []),
    { key: 'url', label: 'Broker', width: cluster ? 140 : 170 },
    { key: 'version', label: 'MQTT', width: 62, numeric: true, title: 'MQTT version' },
    { key: 'state', label: 'State', width: 122 },
    {
      key: 'inflight',
      label: 'In-flight',
      width: 74,
      numeric: true,
      desc: true,
      title: 'Not yet acknowledged',
    },
    { key: 'queued', label: 'Queue', width: 64, numeric: true, desc: true, title: 'Waiting to be sent' },
    { key: 'in', label: 'In/s', width: 60, numeric: true, desc: true, title: 'Messages received per second' },
    { key: 'out', label: 'Out/s', width: 62, numeric: true, desc: true, title: 'Messages sent per second' },
    { key: null, label: 'Last 60 s', width: 96, title: 'Messages in + out per second' },
    { key: 'reconnects', label: 'Reconn.', width: 78, numeric: true, desc: true, title: 'Reconnects' },
    { key: 'dropped', label: 'Dropped', width: 80, numeric: true, desc: true, title: 'Messages dropped' },
    { key: 'errors', label: 'Last error', desc: true, title: 'Sorts by the number of errors' },
  ];
}

function FleetTable({
  tick,
  params,
  setParams,
}: {
  tick: Tick;
  params: FleetParams;
  setParams: (update: Partial<FleetParams>) => void;
}) {
  const { rows, total } = tick.fleet;
  const cluster = tick.cluster !== undefined;
  const onSort = (key: SortKey, dir: 'asc' | 'desc'): void => setParams({ key, dir, offset: 0 });
  const first = total === 0 ? 0 : Math.min(params.offset + 1, total);
  const last = Math.min(params.offset + rows.length, total);
  return (
    <Panel
      title="Sessions"
      actions={
        <div class="toolbar">
          <FilterInput
            testid="fleet-filter"
            label="Filter sessions"
            placeholder="Filter name, broker, state, error…"
            value={params.q}
            onChange={(q) => setParams({ q, offset: 0 })}
          />
          <nav class="pager" aria-label="Pages of sessions">
            <span class="muted" aria-live="polite">
              {exact(first)}–{exact(last)} of {exact(total)}
            </span>
            <button
              type="button"
              disabled={params.offset === 0}
              onClick={() => setParams({ offset: Math.max(0, params.offset - PAGE_SIZE) })}
            >
              ‹ Prev
            </button>
            <button
              type="button"
              disabled={params.offset + PAGE_SIZE >= total}
              onClick={() => setParams({ offset: params.offset + PAGE_SIZE })}
            >
              Next ›
            </button>
          </nav>
        </div>
      }
    >
      <div class="table-wrap">
        <table class="grid fleet-table" data-testid="fleet-table">
          <thead>
            <tr>
              {columns(cluster).map((c) =>
                c.key === null ? (
                  <th key="spark" scope="col" style={{ width: `${c.width}px` }} title={c.title}>
                    {c.label}
                  </th>
                ) : (
                  <SortHeader
                    key={c.key}
                    label={c.label}
                    title={c.title}
                    width={c.width}
                    column={c.key}
                    numeric={c.numeric}
                    desc={c.desc}
                    sorting={params}
                    onSort={onSort}
                  />
                ),
              )}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <FleetRow key={row.name} row={row} now={tick.t} cluster={cluster} />
            ))}
          </tbody>
        </table>
        {rows.length === 0 && (
          <Empty>
            {params.q === '' ? 'No sessions in this fleet yet.' : `No session matches “${params.q}”.`}
          </Empty>
        )}
      </div>
    </Panel>
  );
}

function FleetRow({ row, now, cluster }: { row: Row; now: number; cluster: boolean }) {
  const open = (): void => navigate({ view: 'session', name: row.name });
  const tone = stateTone(row.state);
  return (
    <tr
      tabIndex={0}
      class={`row-${tone}`}
      data-testid="fleet-row"
      data-name={row.name}
      data-state={row.state}
      onClick={open}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          open();
        }
      }}
    >
      <td class="name">
        <a href={`#/session/${encodeURIComponent(row.name)}`} tabIndex={-1}>
          {row.name}
        </a>
      </td>
      {cluster && <td class="mono">{row.node ?? '–'}</td>}
      <td class="url" title={row.url}>
        {row.url}
      </td>
      <td class="num">{row.version === 5 ? '5.0' : '3.1.1'}</td>
      <td>
        <StateBadge state={row.state} />
      </td>
      <td class="num">{num(row.inflight)}</td>
      <td class="num">{num(row.queued)}</td>
      <td class="num">{num(row.in)}</td>
      <td class="num">{num(row.out)}</td>
      <td>
        <Spark values={row.spark} />
      </td>
      <td class="num">{num(row.reconnects)}</td>
      <td class="num">{num(row.dropped)}</td>
      <td class="error">
        {row.lastError === null ? (
          <span class="muted">{row.errors > 0 ? `${exact(row.errors)} errors` : '–'}</span>
        ) : (
          <span title={`${row.lastError.code}: ${row.lastError.message} (${exact(row.errors)} errors)`}>
            <span class="error-when">{ago(row.lastError.t, now)}</span> {row.lastError.message}
          </span>
        )}
      </td>
    </tr>
  );
}
