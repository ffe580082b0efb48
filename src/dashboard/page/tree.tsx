/**
 * The topic tree, built in the browser from the flat, sorted `topics.items`
 * (at most 2000): levels split on '/', an inner node counts the messages of
 * all topics under it. A node can be a topic and have children (`a` and
 * `a/b`). It is a WAI-ARIA tree with one tab stop: arrows move and
 * expand/collapse, Enter opens a topic (or toggles a node that is not one),
 * Home/End jump.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { num } from './format.js';
import type { TopicRow } from './types.js';
import { Badge } from './widgets.js';

interface TreeNode {
  name: string;
  path: string;
  depth: number;
  row: TopicRow | null;
  children: TreeNode[];
  count: number;
  leaves: number;
}

export function buildTree(items: TopicRow[]): TreeNode {
  const root: TreeNode = { name: '', path: '', depth: -1, row: null, children: [], count: 0, leaves: 0 };
  const index = new Map<string, TreeNode>();
  for (const row of items) {
    const levels = row.topic.split('/');
    let node = root;
    let path = '';
    for (let i = 0; i < levels.length; i++) {
      path = i === 0 ? levels[0] : `${path}/${levels[i]}`;
      let child = index.get(path);
      if (child === undefined) {
        child = { name: levels[i], path, depth: i, row: null, children: [], count: 0, leaves: 0 };
        index.set(path, child);
        node.children.push(child);
      }
      node = child;
    }
    node.row = row;
  }
  const total = (node: TreeNode): void => {
    node.children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    node.count = node.row?.count ?? 0;
    node.leaves = node.row === null ? 0 : 1;
    for (const child of node.children) {
      total(child);
      node.count += child.count;
      node.leaves += child.leaves;
    }
  };
  total(root);
  return root;
}

/** Opened by default: everything in a small tree, the first level in a large one, and the way to the selected topic. */
function openByDefault(node: TreeNode, leaves: number, selected: string | null): boolean {
  if (leaves <= 200 || node.depth === 0) return true;
  return selected?.startsWith(`${node.path}/`) ?? false;
}

export function TopicTree({
  items,
  selected,
  onSelect,
}: {
  items: TopicRow[];
  selected: string | null;
  onSelect: (topic: string) => void;
}) {
  const root = useMemo(() => buildTree(items), [items]);
  const [toggled, setToggled] = useState<ReadonlyMap<string, boolean>>(new Map());
  const [focused, setFocused] = useState<string | null>(null);
  const list = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (selected === null) return;
    list.current
      ?.querySelector(`[data-path="${CSS.escape(selected)}"]`)
      ?.scrollIntoView({ block: 'nearest' });
  }, [selected]);

  const isOpen = (node: TreeNode): boolean =>
    toggled.get(node.path) ?? openByDefault(node, root.leaves, selected);

  const visible: TreeNode[] = [];
  const walk = (node: TreeNode): void => {
    for (const child of node.children) {
      visible.push(child);
      if (child.children.length > 0 && isOpen(child)) walk(child);
    }
  };
  walk(root);

  const tabStop =
    visible.find((n) => n.path === focused) ?? visible.find((n) => n.path === selected) ?? visible[0];

  const setOpen = (node: TreeNode, open: boolean): void => {
    const next = new Map(toggled);
    next.set(node.path, open);
    setToggled(next);
  };
  const focus = (node: TreeNode | undefined): void => {
    if (node === undefined) return;
    setFocused(node.path);
    list.current?.querySelector<HTMLElement>(`[data-path="${CSS.escape(node.path)}"]`)?.focus();
  };
  const activate = (node: TreeNode): void => {
    if (node.row !== null) onSelect(node.path);
    else if (node.children.length > 0) setOpen(node, !isOpen(node));
  };

  const onKeyDown = (e: KeyboardEvent, node: TreeNode): void => {
    const at = visible.indexOf(node);
    const open = node.children.length > 0 && isOpen(node);
    switch (e.key) {
      case 'ArrowDown':
        focus(visible[at + 1]);
        break;
      case 'ArrowUp':
        focus(visible[at - 1]);
        break;
      case 'Home':
        focus(visible[0]);
        break;
      case 'End':
        focus(visible[visible.length - 1]);
        break;
      case 'ArrowRight':
        if (node.children.length === 0) return;
        if (open) focus(node.children[0]);
        else setOpen(node, true);
        break;
      case 'ArrowLeft':
        if (open) setOpen(node, false);
        else focus(visible.find((n) => node.path.startsWith(`${n.path}/`) && n.depth === node.depth - 1));
        break;
      case 'Enter':
        activate(node);
        break;
      case ' ':
        if (node.children.length > 0) setOpen(node, !open);
        else activate(node);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  return (
    <>
      <div class="tree-head" aria-hidden="true">
        <span>msgs</span>
        <span>per s</span>
      </div>
      <div class="tree" role="tree" aria-label="Topics" data-testid="topic-tree" ref={list}>
        {visible.map((node) => {
          const inner = node.children.length > 0;
          const open = inner && isOpen(node);
          return (
            <div
              key={node.path}
              role="treeitem"
              aria-level={node.depth + 1}
              aria-expanded={inner ? open : undefined}
              aria-selected={node.path === selected}
              tabIndex={node === tabStop ? 0 : -1}
              class={`node${node.path === selected ? ' selected' : ''}${node.row === null ? ' inner' : ''}`}
              style={{ '--depth': node.depth }}
              data-testid="topic-node"
              data-path={node.path}
              data-topic={node.row === null ? undefined : node.path}
              onFocus={() => setFocused(node.path)}
              onKeyDown={(e) => onKeyDown(e, node)}
              onClick={(e) => {
                setFocused(node.path);
                // the triangle only opens or closes; the rest of the row opens the topic
                if (inner && (e.target as Element).closest('.twisty') !== null) setOpen(node, !open);
                else activate(node);
              }}
            >
              <span class="twisty" aria-hidden="true">
                {inner ? (open ? '▾' : '▸') : ''}
              </span>
              <span class="level">{node.name === '' ? '∅' : node.name}</span>
              {node.row?.retained && (
                <Badge tone="info" title="retained">
                  R
                </Badge>
              )}
              {node.row !== null && !inner && <span class="preview">{node.row.last}</span>}
              <span class="count" title={inner ? 'messages under this level' : 'messages'}>
                {num(node.count)}
              </span>
              <span class="rate">{node.row === null ? '' : num(node.row.rate)}</span>
            </div>
          );
        })}
      </div>
    </>
  );
}
