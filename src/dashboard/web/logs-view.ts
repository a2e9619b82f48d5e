/**
 * The logs page: the node's log records filtered by level, app, component, request id and text,
 * newest first, live. The records come from GET /v1/logs?follow=1, a Server-Sent Events stream
 * read with fetch (the token goes in a header, which EventSource cannot send); when the stream
 * ends it is opened again after the last record seen. The filters live in the address, so a
 * filtered view can be bookmarked and a request's page can link to its records.
 */
import { ApiError, api, stream } from './client.js';
import { h, link, replace, type Child } from './dom.js';
import { time } from './format.js';
import { SseParser } from './sse.js';
import type { LogRecordJson } from './types.js';
import { route, type View } from './view.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const FILTERS = ['level', 'app', 'component', 'request_id', 'q'] as const;
/** Records shown at the most; older ones leave the page as new ones come. */
const MAX_ROWS = 500;
/** Records asked for when the stream opens. */
const BACKLOG = 200;
const RECONNECT_MS = 2000;

/** Fields shown in their own columns, or not at all. */
const SHOWN = new Set(['level', 'time', 'msg', 'seq', 'request_id', 'app', 'component', 'line']);

function fieldText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/** One record as a table row: its request id links to the request's page. */
export function logRow(r: LogRecordJson): HTMLTableRowElement {
  const others = Object.keys(r).filter((k) => !SHOWN.has(k) && r[k] !== undefined);
  // A guest's line (and a host call's) reads as the line itself.
  const message = typeof r.line === 'string' ? [h('span', { class: 'muted' }, `${r.msg}: `), r.line] : [r.msg];
  return h(
    'tr',
    { 'data-seq': r.seq, class: `level-${r.level}` },
    h('td', { class: 'nowrap' }, time(r.time)),
    h('td', null, h('span', { class: r.level === 'error' || r.level === 'fatal' ? 'bad' : r.level === 'warn' ? 'warn' : undefined }, r.level)),
    h('td', { class: 'log-line' }, message),
    h('td', null, r.request_id ? link(route('requests', r.request_id), h('code', null, r.request_id)) : '–'),
    h('td', null, r.app ?? '–'),
    h('td', null, r.component ?? '–'),
    h('td', null, others.length === 0 ? '' : h('ul', { class: 'fields' }, others.map((k) => h('li', null, h('code', null, k), ' ', fieldText(r[k]))))),
  );
}

/** A log table to fill: its tbody is where the rows go. */
export function logTable(caption: string): { table: HTMLElement; body: HTMLTableSectionElement } {
  const body = h('tbody');
  const table = h(
    'div',
    { class: 'table-wrap' },
    h('table', { class: 'logs' }, h('caption', null, caption), h('thead', null, h('tr', null, ['Time', 'Level', 'Message', 'Request', 'App', 'Component', 'Fields'].map((t) => h('th', { scope: 'col' }, t)))), body),
  );
  return { table, body };
}

/** The records of one request, oldest first, for its page. */
export async function requestLogs(requestId: string): Promise<Child> {
  const { records } = await api<{ records: LogRecordJson[] }>(`logs?${new URLSearchParams({ request_id: requestId, limit: String(BACKLOG) })}`);
  const more = link(`/logs?${new URLSearchParams({ request_id: requestId })}`, 'Follow its records on the Logs page');
  if (records.length === 0) {
    return h('div', null, h('p', { class: 'empty' }, 'None of the log records this node still keeps in memory is about this request.'), h('p', null, more));
  }
  const { table, body } = logTable(`${records.length === 1 ? 'The one log record' : `The ${records.length} log records`} of this request, oldest first`);
  body.append(...records.map(logRow));
  return h('div', null, table, h('p', null, more));
}

function field(id: string, label: string, input: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

export const logsView: View = async (ctx) => {
  const q = ctx.route.query;
  const value = (name: string) => q.get(name) ?? '';
  const text = (name: string, id: string, type = 'text') => h('input', { id, name, type, value: value(name), autocomplete: 'off', spellcheck: 'false' });
  const level = h('select', { id: 'log-level', name: 'level' }, h('option', { value: '' }, 'any level'), LEVELS.map((l) => h('option', { value: l, selected: value('level') === l }, `${l} and above`)));
  const inputs = { level, app: text('app', 'log-app'), component: text('component', 'log-component'), request_id: text('request_id', 'log-request'), q: text('q', 'log-q', 'search') };
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Log filters' },
    field('log-level', 'Level', inputs.level),
    field('log-app', 'App', inputs.app),
    field('log-component', 'Component', inputs.component),
    field('log-request', 'Request id', inputs.request_id),
    field('log-q', 'Text', inputs.q),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Apply filters'), link('/logs', 'Clear filters')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const v = inputs[name].value.trim();
      if (v) next.set(name, v);
    }
    const hash = `#/logs${next.size > 0 ? `?${next}` : ''}`;
    // The same filters again: show the stream afresh.
    if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = hash;
  });

  const filter = new URLSearchParams();
  for (const name of FILTERS) if (value(name)) filter.set(name, value(name));
  const described = FILTERS.filter((n) => value(n)).map((n) => `${n === 'q' ? 'text' : n.replace('_', ' ')} ${n === 'level' ? `${value(n)} and above` : `“${value(n)}”`}`);
  const { table, body } = logTable(described.length ? `Log records with ${described.join(', ')}, newest first` : 'Every log record, newest first');
  const status = h('p', { class: 'updated', role: 'status' }, 'Connecting.');
  const empty = h('p', { class: 'empty' }, described.length ? 'No record matches these filters yet. New ones appear here as they are logged.' : 'No record yet. New ones appear here as they are logged.');
  let paused = false;
  let dropped = 0;
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  replace(ctx.main, h('h1', null, 'Logs'), form, h('div', { class: 'toolbar' }, pause, status), empty, table);
  table.hidden = true;

  const shownText = () => `${body.rows.length} record${body.rows.length === 1 ? '' : 's'} shown${body.rows.length >= MAX_ROWS ? ` (the newest ${MAX_ROWS})` : ''}`;
  /** What the stream is doing, said with the count; a refusal from the node replaces it all. */
  let state = 'Connecting.';
  let refusal: string | undefined;
  const add = (records: LogRecordJson[]) => {
    body.prepend(...records.reverse().map(logRow));
    while (body.rows.length > MAX_ROWS) body.lastElementChild!.remove();
    table.hidden = body.rows.length === 0;
    empty.hidden = !table.hidden;
  };
  let batch: LogRecordJson[] = [];
  const parser = new SseParser((e) => {
    if (e.type === 'dropped') dropped += (JSON.parse(e.data) as { dropped: number }).dropped;
    else if (e.type === 'message') batch.push(JSON.parse(e.data) as LogRecordJson);
  });
  // Records arrive in bursts: they are drawn a few times a second, not one by one. The status is a
  // live region: it changes only when what it says does, or screen readers would hear it each time.
  const draw = () => {
    if (batch.length > 0) add(batch.splice(0));
    const lost = dropped > 0 ? ` The node dropped ${dropped} records for this page when it fell behind.` : '';
    const line = refusal ?? `${paused ? 'Paused.' : state} ${shownText()}.${lost}`;
    if (status.textContent !== line) status.textContent = line;
  };

  let reading: AbortController | undefined;
  let following = false;
  const follow = async () => {
    if (following) return;
    following = true;
    try {
      await followLoop();
    } finally {
      following = false;
    }
  };
  const followLoop = async () => {
    while (!ctx.signal.aborted && !paused) {
      reading = new AbortController();
      const both = AbortSignal.any([ctx.signal, reading.signal]);
      const timer = setInterval(draw, 250);
      try {
        state = 'Following the log, newest first:';
        // The first time, the newest BACKLOG records; after that, those after the last one seen.
        await stream(`logs?${new URLSearchParams([...filter, ['follow', '1'], ['limit', String(BACKLOG)]])}`, parser, both);
        state = 'The node ended the stream; reconnecting.';
      } catch (err) {
        if (both.aborted) return;
        if (err instanceof ApiError && err.status !== 503) {
          refusal = `${err.code}: ${err.message}`;
          return;
        }
        state = 'The node cannot be reached; trying again.';
      } finally {
        clearInterval(timer);
        draw();
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, RECONNECT_MS);
        ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  };
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) reading?.abort();
    else void follow();
    draw();
  });
  void follow();
};
