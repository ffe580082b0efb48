/** Small pieces the views share: state badges, a debounced filter box, sortable headers, empty states. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { State } from './types.js';

export type Tone = 'ok' | 'warn' | 'bad' | 'muted' | 'info';

export function stateTone(state: State): Tone {
  switch (state) {
    case 'connected':
      return 'ok';
    case 'new':
    case 'connecting':
    case 'unassigned':
      return 'warn';
    case 'reconnecting':
    case 'disconnected':
    case 'closing':
    case 'closed':
      return 'bad';
    default:
      return 'muted'; // remote: another node runs it
  }
}

export function Badge({
  tone,
  children,
  title,
}: {
  tone: Tone;
  children: ComponentChildren;
  title?: string;
}) {
  return (
    <span class={`badge ${tone}`} title={title}>
      {children}
    </span>
  );
}

export function StateBadge({ state }: { state: State }) {
  return <Badge tone={stateTone(state)}>{state}</Badge>;
}

/**
 * A search box that reports its value `delay` ms after the last keystroke.
 * `data-filter` marks it as the view's filter, which `/` focuses; Escape
 * clears it, a second Escape leaves it.
 */
export function FilterInput(props: {
  testid: string;
  label: string;
  placeholder: string;
  value: string;
  onChange: (value: string) => void;
  delay?: number;
}) {
  const [text, setText] = useState(props.value);
  const report = useRef(props.onChange);
  report.current = props.onChange;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = setTimeout(() => report.current(text), props.delay ?? 250);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <label class="filter">
      <span class="visually-hidden">{props.label}</span>
      <input
        type="search"
        data-testid={props.testid}
        data-filter=""
        placeholder={props.placeholder}
        value={text}
        spellcheck={false}
        autocomplete="off"
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key !== 'Escape') return;
          e.preventDefault(); // the browser's own clearing of a search box would bypass the state
          if (text === '') e.currentTarget.blur();
          else setText('');
        }}
      />
    </label>
  );
}

export interface Sorting<K extends string> {
  key: K | undefined;
  dir: 'asc' | 'desc' | undefined;
}

/** A column header that sorts: a button inside <th>, so Tab reaches it and Enter or Space presses it. */
export function SortHeader<K extends string>(props: {
  label: string;
  title?: string;
  column: K;
  sorting: Sorting<K>;
  /** Right-aligned. */
  numeric?: boolean;
  /** The first click sorts descending. */
  desc?: boolean;
  width?: number;
  onSort: (key: K, dir: 'asc' | 'desc') => void;
}) {
  const active = props.sorting.key === props.column;
  const dir = active ? (props.sorting.dir ?? 'asc') : undefined;
  const next = (): 'asc' | 'desc' => {
    if (dir !== undefined) return dir === 'asc' ? 'desc' : 'asc';
    return props.desc ? 'desc' : 'asc';
  };
  return (
    <th
      scope="col"
      class={props.numeric ? 'num' : undefined}
      style={props.width === undefined ? undefined : { width: `${props.width}px` }}
      aria-sort={dir === undefined ? 'none' : dir === 'asc' ? 'ascending' : 'descending'}
    >
      <button
        type="button"
        class="sort"
        title={props.title}
        onClick={() => props.onSort(props.column, next())}
      >
        {props.label}
        <span class="arrow" aria-hidden="true">
          {dir === 'asc' ? '▲' : dir === 'desc' ? '▼' : ''}
        </span>
      </button>
    </th>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Panel(props: {
  title: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
  testid?: string;
}) {
  return (
    <section class={`panel ${props.class ?? ''}`} data-testid={props.testid}>
      <header class="panel-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}
