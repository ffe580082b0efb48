/** RPC routes served by the fleet's sessions, and the forwarders between them. */
import { exact, ms, num } from './format.js';
import type { ForwarderRow, RpcRow } from './types.js';
import { Badge, Empty, Panel, type Tone } from './widgets.js';

function statusTone(code: string): Tone {
  if (code.startsWith('2')) return 'ok';
  if (code.startsWith('4')) return 'warn';
  if (code.startsWith('5')) return 'bad';
  return 'muted';
}

function Statuses({ statuses }: { statuses: Record<string, number> }) {
  const codes = Object.keys(statuses).sort();
  if (codes.length === 0) return <span class="muted">–</span>;
  return (
    <span class="badges">
      {codes.map((code) => (
        <Badge
          key={code}
          tone={statusTone(code)}
          title={`${exact(statuses[code])} responses with status ${code}`}
        >
          {code}×{num(statuses[code])}
        </Badge>
      ))}
    </span>
  );
}

export function RpcView({ rpc, forwarders }: { rpc: RpcRow[]; forwarders: ForwarderRow[] }) {
  return (
    <div class="view rpc">
      <Panel
        title={`RPC routes (${rpc.length})`}
        actions={<span class="muted">latency over the last 60 s</span>}
      >
        {rpc.length === 0 ? (
          <Empty>No RPC server runs on this fleet's sessions.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="grid" data-testid="rpc-table">
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">Route</th>
                  <th scope="col" class="num">
                    Req/s
                  </th>
                  <th scope="col" class="num">
                    Total
                  </th>
                  <th scope="col" class="num">
                    p50
                  </th>
                  <th scope="col" class="num">
                    p99
                  </th>
                  <th scope="col">Statuses</th>
                  <th scope="col" class="num">
                    Active
                  </th>
                  <th scope="col" class="num">
                    Queued
                  </th>
                </tr>
              </thead>
              <tbody>
                {rpc.map((r) => (
                  <tr key={`${r.session}\u0000${r.route}`} data-session={r.session} data-route={r.route}>
                    <td>
                      <a href={`#/session/${encodeURIComponent(r.session)}`}>{r.session}</a>
                    </td>
                    <td class="mono">{r.route}</td>
                    <td class="num">{num(r.rate)}</td>
                    <td class="num" title={exact(r.total)}>
                      {num(r.total)}
                    </td>
                    <td class="num">{ms(r.p50)}</td>
                    <td class="num">{ms(r.p99)}</td>
                    <td>
                      <Statuses statuses={r.statuses} />
                    </td>
                    <td class="num">{num(r.active)}</td>
                    <td class="num">{num(r.queued)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
      <Panel
        title={`Forwarders (${forwarders.length})`}
        actions={<span class="muted">lag: receive to ack</span>}
      >
        {forwarders.length === 0 ? (
          <Empty>No forwarder runs in this fleet.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="grid" data-testid="forwarders-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col" class="num">
                    In/s
                  </th>
                  <th scope="col" class="num">
                    Out/s
                  </th>
                  <th scope="col" class="num">
                    Dropped
                  </th>
                  <th scope="col" class="num">
                    Errors
                  </th>
                  <th scope="col" class="num">
                    Waiting
                  </th>
                  <th scope="col" class="num">
                    In-flight
                  </th>
                  <th scope="col" class="num">
                    Lag
                  </th>
                  <th scope="col" class="num">
                    Max lag
                  </th>
                </tr>
              </thead>
              <tbody>
                {forwarders.map((f) => (
                  <tr
                    key={f.name}
                    data-name={f.name}
                    class={f.dropped > 0 || f.errors > 0 ? 'row-warn' : undefined}
                  >
                    <td>{f.name}</td>
                    <td class="mono">{f.from.join(', ')}</td>
                    <td class="mono">{f.to}</td>
                    <td class="num">{num(f.in)}</td>
                    <td class="num">{num(f.out)}</td>
                    <td class="num">{num(f.dropped)}</td>
                    <td class="num">{num(f.errors)}</td>
                    <td class="num">{num(f.waiting)}</td>
                    <td class="num">{num(f.inflight)}</td>
                    <td class="num">{ms(f.lag)}</td>
                    <td class="num">{ms(f.lagMax)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
    </div>
  );
}
