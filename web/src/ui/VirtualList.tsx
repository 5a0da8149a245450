// A scrolling list that renders only the rows near the viewport, so a conversation of 10,000
// messages costs as much to show as one of 50. Rows keep their natural height: each is
// measured once rendered (and again when it resizes, an image loading), rows not yet measured
// count as `estimate`, and spacers above and below stand for the rows not rendered.
//
// Scroll position rules: at the bottom it stays at the bottom as rows arrive; rows prepended
// above (older history) and rows above the viewport that change height do not move what is
// on screen; scrolling within `threshold` of the top asks for more (onReachTop).
import type { VNode } from "preact";
import { useEffect, useLayoutEffect, useMemo, useReducer, useRef } from "preact/hooks";

interface Props<T> {
  items: readonly T[];
  keyOf(item: T): string;
  render(item: T): VNode;
  onReachTop?: () => void;
  estimate?: number;
  label: string;
}

const kOverscanPx = 800;
const kTopThresholdPx = 600;
const kBottomSlackPx = 48;

export function VirtualList<T>({ items, keyOf, render, onReachTop, estimate = 64, label }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const view = useRef({ top: 0, height: 0 });
  const atBottom = useRef(true);

  const keys = useMemo(() => items.map(keyOf), [items]);
  // tops[i]: where row i starts; tops[n]: the total height.
  const tops = new Array<number>(keys.length + 1);
  tops[0] = 0;
  for (let i = 0; i < keys.length; i++) tops[i + 1] = tops[i] + (heights.current.get(keys[i]) ?? estimate);

  const from = view.current.top - kOverscanPx;
  const to = view.current.top + view.current.height + kOverscanPx;
  let start = upperBound(tops, from) - 1;
  start = Math.max(0, Math.min(start, keys.length - 1));
  let end = upperBound(tops, to);
  end = Math.max(start, Math.min(end, keys.length));
  if (atBottom.current) end = keys.length; // the newest rows are always rendered at the bottom
  // Before the first layout the viewport is unknown: render the newest screenful.
  if (view.current.height === 0) start = Math.max(0, keys.length - 30);

  // The row at the top of the viewport, and how far into it the viewport starts: after rows
  // are added or removed above it, the viewport is put back at the same place in that row.
  const anchor = useRef<{ key: string; offset: number } | null>(null);
  // Not the first item: a header that stays first (the "start of the conversation" row)
  // would keep the viewport at the top while older rows arrive under it.
  const rememberAnchor = (el: HTMLElement) => {
    for (const row of el.querySelectorAll<HTMLElement>(":scope > .vrow")) {
      if (row.dataset.key === keys[0] && keys.length > 1) continue;
      if (row.offsetTop + row.offsetHeight > el.scrollTop) {
        anchor.current = { key: row.dataset.key!, offset: el.scrollTop - row.offsetTop };
        return;
      }
    }
  };

  useLayoutEffect(() => {
    const el = box.current!;
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
      return;
    }
    const a = anchor.current;
    const k = a ? keys.indexOf(a.key) : -1;
    if (a && k >= 0 && Math.abs(el.scrollTop - (tops[k] + a.offset)) > 1) el.scrollTop = tops[k] + a.offset;
  }, [keys]);

  // One observer for the list's life: rows that resize after they are measured (an image
  // loading) and the viewport itself. Rows are observed while they are rendered.
  const observer = useRef<ResizeObserver | null>(null);
  const observed = useRef(new Set<Element>());
  useEffect(() => {
    const el = box.current!;
    observer.current = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const t = e.target as HTMLElement;
        if (t === el) {
          changed ||= view.current.height !== el.clientHeight;
          view.current = { top: el.scrollTop, height: el.clientHeight };
        } else if (t.isConnected && heights.current.get(t.dataset.key!) !== t.offsetHeight) {
          changed = true;
        }
      }
      if (changed) rerender(0);
    });
    observer.current.observe(el);
    return () => observer.current?.disconnect();
  }, []);

  // Measure what was rendered; a row above the viewport that changed height shifts the scroll
  // position by as much, so the rows on screen stay put.
  useLayoutEffect(() => {
    const el = box.current!;
    let changed = false;
    const rendered = new Set<Element>();
    for (const row of el.querySelectorAll<HTMLElement>(":scope > .vrow")) {
      rendered.add(row);
      if (!observed.current.has(row)) observer.current?.observe(row);
      const key = row.dataset.key!;
      const h = row.offsetHeight;
      const old = heights.current.get(key) ?? estimate;
      if (h === old && heights.current.has(key)) continue;
      heights.current.set(key, h);
      if (!atBottom.current && row.offsetTop + old <= el.scrollTop) el.scrollTop += h - old;
      changed = true;
    }
    for (const row of observed.current) if (!rendered.has(row)) observer.current?.unobserve(row);
    observed.current = rendered;
    if (atBottom.current) el.scrollTop = el.scrollHeight;
    rememberAnchor(el);
    if (changed) rerender(0);
  });

  // New rows (a page arrived) with the viewport still near the top (or too few rows to
  // scroll): ask for more, as scrolling would not while the viewport stays where it is. Only
  // when the rows change, so a request that failed is not repeated at every render.
  useEffect(() => {
    const el = box.current!;
    if (el.scrollTop < kTopThresholdPx) onReachTop?.();
  }, [keys]);

  const onScroll = () => {
    const el = box.current!;
    view.current = { top: el.scrollTop, height: el.clientHeight };
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < kBottomSlackPx;
    rememberAnchor(el);
    if (el.scrollTop < kTopThresholdPx) onReachTop?.();
    rerender(0);
  };

  useLayoutEffect(() => {
    const el = box.current!;
    view.current = { top: el.scrollTop, height: el.clientHeight };
  }, []);

  return (
    // A log, but not a live region: rows mounted by scrolling or paging are not news (new
    // messages are announced by the conversation, ui/Chat.tsx).
    <div class="vlist" ref={box} onScroll={onScroll} role="log" aria-live="off" aria-label={label} tabIndex={0}>
      <div class="vspacer" style={{ height: `${tops[start]}px` }} />
      {keys.slice(start, end).map((key, i) => (
        <div class="vrow" key={key} data-key={key}>
          {render(items[start + i])}
        </div>
      ))}
      <div class="vspacer" style={{ height: `${tops[keys.length] - tops[end]}px` }} />
    </div>
  );
}

// The first index whose value is greater than x (tops is ascending).
function upperBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
