/**
 * The topic explorer: the tree on the left (filtered by prefix on the
 * server), the selected topic on the right: its recent messages in three
 * formats, the diff of the chosen message with the one before it, its numeric
 * values plotted, and the publish form.
 */
import { useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { Chart, type ChartSeries } from './chart.js';
import { bytes, clockMs, exact, num } from './format.js';
import { comparable, type Decoded, decode, type Format, lineDiff, render } from './payload.js';
import { PublishForm } from './publish.js';
import { navigate } from './route.js';
import type { Theme } from './theme.js';
import { TopicTree } from './tree.js';
import type { Info, Tick, TopicDetail, TopicMessage } from './types.js';
import { Badge, Empty, FilterInput, Panel } from './widgets.js';

const PALETTE = ['--c-in', '--c-out', '--c-p50', '--c-p99', '--c-5', '--c-6', '--c-7', '--c-8'];

export function TopicsView(props: {
  tick: Tick;
  fresh: boolean;
  info: Info | null;
  selected: string | null;
  prefix: string;
  setPrefix: (prefix: string) => void;
  theme: Theme;
}) {
  const { tick, selected } = props;
  const topics = tick.topics;
  return (
    <div class="view topics">
      <Panel
        title={topics === undefined ? 'Topics' : `Topics (${exact(topics.total)})`}
        class="tree-panel"
        actions={
          <FilterInput
            testid="topic-filter"
            label="Topic prefix"
            placeholder="Prefix: sensors/room1"
            value={props.prefix}
            onChange={props.setPrefix}
          />
        }
      >
        {topics === undefined ? (
          <Empty>Loading topics…</Empty>
        ) : topics.items.length === 0 ? (
          <Empty>
            {props.prefix === ''
              ? 'No messages seen yet. The explorer lists the topics its sessions receive.'
              : `No topic under “${props.prefix}”.`}
          </Empty>
        ) : (
          <>
            {topics.truncated && (
              <p class="note">
                Showing {exact(topics.items.length)} of {exact(topics.total)} topics: narrow them with a
                prefix.
              </p>
            )}
            <TopicTree
              items={topics.items}
              selected={selected}
              onSelect={(topic) => navigate({ view: 'topics', topic })}
            />
          </>
        )}
      </Panel>
      <div class="topic-side">
        {selected === null ? (
          <Panel title="Messages">
            <Empty>Pick a topic in the tree to see its recent messages.</Empty>
          </Panel>
        ) : tick.topic !== undefined && tick.topic.topic === selected ? (
          <TopicPanel key={selected} detail={tick.topic} theme={props.theme} />
        ) : (
          <Panel title={<span class="topic-title">{selected}</span>}>
            <Empty>{props.fresh ? 'No message seen on this topic yet.' : 'Loading…'}</Empty>
          </Panel>
        )}
        {props.info?.publish && props.info.publishers.length > 0 && (
          <Panel title="Publish">
            <PublishForm info={props.info} topic={selected} />
          </Panel>
        )}
      </div>
    </div>
  );
}

function messageKey(m: TopicMessage): string {
  return `${m.t}|${m.session}|${m.size}|${m.payload.length}`;
}

function TopicPanel({ detail, theme }: { detail: TopicDetail; theme: Theme }) {
  const [pinned, setPinned] = useState<string | null>(null);
  const [format, setFormat] = useState<Format | null>(null);
  const messages = detail.messages;
  let index = pinned === null ? -1 : messages.findIndex((m) => messageKey(m) === pinned);
  if (index < 0) index = messages.length - 1; // follow the newest
  const message = messages[index] as TopicMessage | undefined;
  const decoded = useMemo(
    () => (message === undefined ? null : decode(message.payload, message.truncated)),
    [message?.payload],
  );
  const previous = index > 0 ? messages[index - 1] : undefined;
  const before = useMemo(
    () => (previous === undefined ? null : decode(previous.payload, previous.truncated)),
    [previous?.payload],
  );
  const shown: Format = format ?? (decoded?.json != null ? 'json' : decoded?.text != null ? 'text' : 'hex');

  return (
    <>
      <Panel
        title={
          <>
            <span class="topic-title">{detail.topic}</span>{' '}
            {detail.retained && <Badge tone="info">retained</Badge>}
          </>
        }
        actions={
          <span class="muted">
            {exact(detail.count)} messages · {num(detail.rate)}/s
          </span>
        }
      >
        <div class="messages-layout">
          <ol class="messages" data-testid="topic-messages" aria-label="Recent messages, newest first">
            {messages
              .map((m, i) => ({ m, i }))
              .reverse()
              .map(({ m, i }) => (
                <li key={messageKey(m)}>
                  <button
                    type="button"
                    class={i === index ? 'message selected' : 'message'}
                    aria-pressed={i === index}
                    onClick={() => setPinned(i === messages.length - 1 ? null : messageKey(m))}
                  >
                    <time class="mono">{clockMs(m.t)}</time>
                    <span class="preview mono">{preview(m)}</span>
                    <span class="meta">
                      q{m.qos}
                      {m.retain ? ' · R' : ''} · {bytes(m.size)}
                    </span>
                  </button>
                </li>
              ))}
          </ol>
          {message !== undefined && decoded !== null ? (
            <MessageBody message={message} decoded={decoded} format={shown} setFormat={setFormat} />
          ) : (
            <Empty>No message kept.</Empty>
          )}
        </div>
      </Panel>
      {decoded !== null && (
        <Panel title="Diff with the previous message">
          <Diff before={before} after={decoded} />
        </Panel>
      )}
      <SeriesChart detail={detail} theme={theme} />
    </>
  );
}

function preview(m: TopicMessage): string {
  const d = decode(m.payload.slice(0, 200), m.payload.length > 200); // 150 bytes are enough for one line
  const text =
    d.text ?? `0x${Array.from(d.bytes.slice(0, 24), (b) => b.toString(16).padStart(2, '0')).join('')}`;
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

function MessageBody(props: {
  message: TopicMessage;
  decoded: Decoded;
  format: Format;
  setFormat: (format: Format) => void;
}) {
  const { message, decoded, format } = props;
  const formats: { id: Format; label: string; disabled: boolean }[] = [
    { id: 'text', label: 'Text', disabled: decoded.text === null },
    { id: 'json', label: 'JSON', disabled: decoded.json === null },
    { id: 'hex', label: 'Hex', disabled: false },
  ];
  return (
    <div class="message-body">
      <div class="message-head">
        <fieldset class="segmented" data-testid="topic-format">
          <legend class="visually-hidden">Payload format</legend>
          {formats.map((f) => (
            <label key={f.id}>
              <input
                type="radio"
                name="payload-format"
                value={f.id}
                checked={format === f.id}
                disabled={f.disabled}
                onChange={() => props.setFormat(f.id)}
              />
              {f.label}
            </label>
          ))}
        </fieldset>
        <span class="muted">
          from {message.session} · {clockMs(message.t)} · QoS {message.qos}
          {message.retain ? ' · retained' : ''} · {bytes(message.size)}
          {message.contentType !== null ? ` · ${message.contentType}` : ''}
        </span>
      </div>
      <pre class="payload" data-testid="topic-payload">
        {render(decoded, format)}
      </pre>
      {message.truncated && <p class="note">Only the first 4 KiB of {bytes(message.size)} are kept.</p>}
      {message.userProperties.length > 0 && (
        <dl class="props">
          {message.userProperties.map(([k, v], i) => (
            <div key={`${k}:${i}`}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
    </div>
  );
}

function Diff({ before, after }: { before: Decoded | null; after: Decoded }) {
  const lines = useMemo(
    () => (before === null ? null : lineDiff(comparable(before), comparable(after))),
    [before, after],
  );
  if (lines === null) {
    return (
      <div data-testid="topic-diff">
        <Empty>The first message kept for this topic: nothing to compare with.</Empty>
      </div>
    );
  }
  const changed = lines.some((l) => l.op !== ' ');
  return (
    <div data-testid="topic-diff">
      {!changed && <p class="note quiet">Same payload as the previous message.</p>}
      <pre class="diff">
        {lines.map((l, i) => (
          <span key={i} class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : undefined}>
            {l.op} {l.line}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}

function SeriesChart({ detail, theme }: { detail: TopicDetail; theme: Theme }) {
  const fields = Object.keys(detail.series.fields).slice(0, PALETTE.length);
  const data = useMemo<uPlot.AlignedData>(
    () => [detail.series.t, ...fields.map((f) => detail.series.fields[f])],
    [detail.series],
  );
  if (fields.length === 0) return null;
  const series: ChartSeries[] = fields.map((label, i) => ({ label, color: PALETTE[i] }));
  return (
    <section class="panel">
      <Chart
        testid="topic-chart"
        title="Numeric values"
        series={series}
        data={data}
        theme={theme}
        format={num}
      />
    </section>
  );
}
