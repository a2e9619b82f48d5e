/**
 * A request's trace as a waterfall: one table row per span, in the order GET
 * /v1/requests/ID/trace gives them (depth first, siblings by start), indented by depth, with a
 * bar placed by its start and duration within the server span. Everything the bar shows is also
 * text in the row (start, duration), so the bar is hidden from assistive technology; guest log
 * lines are rows under their span. The rows take the focus in turn: Up and Down, Home and End.
 */
import { h, type Child } from './dom.js';
import { ms, time } from './format.js';
import type { AttributeValue, SpanJson, TraceJson } from './types.js';

type Attributes = SpanJson['attributes'];

/** The attributes that say what a span did, in words; the rest are behind "All attributes". */
function summary(span: SpanJson): string[] {
  const a = span.attributes;
  const has = (key: string) => a[key] !== undefined && a[key] !== null;
  const out: string[] = [];
  if (has('verge.kv.store')) {
    out.push(`store ${text(a['verge.kv.store'])}`, `op ${text(a['verge.kv.op'])}`);
    if (has('verge.kv.key_size')) out.push(`key ${text(a['verge.kv.key_size'])} B`);
  } else if (span.kind === 'client') {
    const port = has('server.port') ? `:${text(a['server.port'])}` : '';
    out.push(`${text(a['http.request.method'] ?? span.name)} ${text(a['server.address'] ?? '?')}${port}`);
    if (has('http.response.status_code')) out.push(`status ${text(a['http.response.status_code'])}`);
    if (typeof a['verge.http.redirects'] === 'number' && a['verge.http.redirects'] > 0) out.push(`${a['verge.http.redirects']} redirects`);
  } else if (span.kind === 'server') {
    out.push(`${text(a['http.request.method'])} ${text(a['url.path'])}`);
    if (has('http.response.status_code')) out.push(`status ${text(a['http.response.status_code'])}`);
    if (has('verge.app')) out.push(`app ${text(a['verge.app'])}`, `component ${text(a['verge.component'])}`);
  } else if (has('verge.variable.name')) {
    out.push(`variable ${text(a['verge.variable.name'])}`);
  } else if (has('verge.instance')) {
    out.push(`instance ${text(a['verge.instance'])}`);
  }
  if (has('verge.outcome')) out.push(`outcome ${text(a['verge.outcome'])}`);
  return out;
}

function text(v: AttributeValue | undefined): string {
  if (v === undefined || v === null) return '–';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function attributeList(attributes: Attributes): HTMLElement | null {
  const keys = Object.keys(attributes).sort();
  if (keys.length === 0) return null;
  return h(
    'details',
    null,
    h('summary', null, `All attributes (${keys.length})`),
    h('dl', { class: 'attributes' }, keys.map((k) => [h('dt', null, h('code', null, k)), h('dd', null, text(attributes[k]))])),
  );
}

/** The bar's track: the server span's length; the bar is placed through the CSSOM (the page allows no inline styles). */
function timeline(startMs: number, durationMs: number | undefined, total: number): HTMLElement {
  const track = h('div', { class: 'track', 'aria-hidden': 'true' });
  const left = Math.min(100, Math.max(0, (startMs / total) * 100));
  const mark = h('span', { class: durationMs === undefined ? 'mark' : 'bar' });
  mark.style.left = `${left}%`;
  if (durationMs !== undefined) mark.style.width = `${Math.min(100 - left, Math.max(0, (durationMs / total) * 100))}%`;
  track.append(mark);
  return track;
}

function nameCell(depth: number, parentName: string | undefined, ...content: Child[]): HTMLTableCellElement {
  const cell = h('td', { class: 'span-name' }, parentName === undefined ? null : h('span', { class: 'visually-hidden' }, `under ${parentName}: `), ...content);
  cell.style.paddingLeft = `${0.6 + depth * 1.25}rem`;
  return cell;
}

/** The table rows take the focus one at a time (a roving tabindex): Tab enters and leaves the table, arrows move within. */
function rovingFocus(rows: HTMLTableRowElement[]): void {
  rows.forEach((row, i) => {
    row.tabIndex = i === 0 ? 0 : -1;
    row.addEventListener('keydown', (e) => {
      const to = e.key === 'ArrowDown' ? i + 1 : e.key === 'ArrowUp' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? rows.length - 1 : undefined;
      if (to === undefined || to < 0 || to >= rows.length) return;
      e.preventDefault();
      row.tabIndex = -1;
      rows[to]!.tabIndex = 0;
      rows[to]!.focus();
    });
  });
}

export function waterfall(trace: TraceJson): HTMLElement {
  const total = Math.max(trace.duration_ms, ...trace.spans.map((s) => s.start_ms + s.duration_ms), 0.001);
  const names = new Map(trace.spans.map((s) => [s.id, s.name]));
  const rows: HTMLTableRowElement[] = [];
  for (const span of trace.spans) {
    const failed = span.error !== null;
    const row = h(
      'tr',
      { class: failed ? 'span failed' : 'span', 'data-span': span.name },
      nameCell(span.depth, span.parent_id === null ? undefined : names.get(span.parent_id), h('span', { class: 'span-label' }, span.name)),
      h('td', null, span.kind),
      h('td', { class: 'num' }, ms(span.start_ms)),
      h('td', { class: 'num' }, ms(span.duration_ms)),
      h('td', { class: 'timeline' }, timeline(span.start_ms, span.duration_ms, total)),
      h('td', null, failed ? h('span', { class: 'bad' }, `error: ${span.error}`) : h('span', { class: 'ok' }, 'ok')),
      h('td', null, h('ul', { class: 'inline' }, summary(span).map((s) => h('li', null, s))), attributeList(span.attributes)),
    );
    rows.push(row);
    for (const event of span.events) {
      const a = event.attributes;
      const message = event.name === 'log' ? text(a['log.message']) : event.name;
      rows.push(
        h(
          'tr',
          { class: 'event', 'data-event': event.name },
          nameCell(span.depth + 1, span.name, event.name === 'log' ? `log (${text(a['log.stream'] ?? 'guest')})` : event.name),
          h('td', null, 'event'),
          h('td', { class: 'num' }, ms(event.at_ms)),
          h('td', { class: 'num' }, '–'),
          h('td', { class: 'timeline' }, timeline(event.at_ms, undefined, total)),
          h('td', null, event.name === 'log' ? text(a['log.severity']) : ''),
          h('td', null, h('span', { class: 'log-line' }, message), event.name === 'log' ? null : attributeList(a)),
        ),
      );
    }
  }
  rovingFocus(rows);
  const spans = trace.spans.length;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'waterfall' },
      h('caption', null, `Trace ${trace.trace_id}: ${spans} span${spans === 1 ? '' : 's'} over ${ms(trace.duration_ms)}, started at ${time(trace.start)}. Arrow keys move between rows.`),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Span', 'Kind', 'Start', 'Duration', `Timeline (0 to ${ms(total)})`, 'Status', 'What it did'].map((t, i) => h('th', { scope: 'col', class: i === 2 || i === 3 ? 'num' : i === 4 ? 'timeline' : undefined }, t)),
        ),
      ),
      h('tbody', null, rows),
    ),
    trace.dropped_spans > 0 ? h('p', { class: 'note' }, `${trace.dropped_spans} more span${trace.dropped_spans === 1 ? ' is' : 's are'} not kept: the node keeps the first spans of a request.`) : null,
  );
}
