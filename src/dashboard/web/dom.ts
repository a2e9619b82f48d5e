/**
 * A tiny element builder. Text always goes in as text nodes, never as HTML, so nothing a guest
 * stored or a client sent can become markup on the page.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | undefined | null | ((event: Event) => void);
export type Attrs = Record<string, AttrValue>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A link within the dashboard: `#/…` routes, so it works with the keyboard, a new tab and the back button. */
export function link(route: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: `#${route}` }, ...children);
}

/** A table with a caption and column headers; rows as arrays of cells. */
export function table(caption: string, headers: string[], rows: Child[][], opts: { empty?: string; numeric?: number[] } = {}): HTMLElement {
  if (rows.length === 0 && opts.empty) return h('p', { class: 'empty' }, opts.empty);
  const numeric = new Set(opts.numeric ?? []);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      h('caption', null, caption),
      h('thead', null, h('tr', null, headers.map((t, i) => h('th', { scope: 'col', class: numeric.has(i) ? 'num' : undefined }, t)))),
      h('tbody', null, rows.map((cells) => h('tr', null, cells.map((c, i) => h('td', { class: numeric.has(i) ? 'num' : undefined }, c))))),
    ),
  );
}

let sections = 0;

/** A section with an h2 that names it for assistive technology. */
export function section(title: string, ...children: Child[]): HTMLElement {
  const id = `s${++sections}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** Label/value pairs. */
export function facts(pairs: Array<[string, Child]>): HTMLDListElement {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

/** A pane whose data this node cannot give yet: says what is missing instead of showing anything made up. */
export function missing(title: string, what: string): HTMLElement {
  return h('section', { class: 'missing', 'aria-label': title }, h('h3', null, title), h('p', null, what));
}
