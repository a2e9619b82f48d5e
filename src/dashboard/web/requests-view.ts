/**
 * Recent requests, newest first and refreshed live, and one request's details: its facts, its
 * trace as a waterfall (or why there is none), and its log records.
 */
import { ApiError, api, seg } from './client.js';
import { facts, h, link, missing, replace, section, table, type Child } from './dom.js';
import { ms, time } from './format.js';
import { requestLogs } from './logs-view.js';
import { waterfall } from './trace-view.js';
import type { RequestRecord, TraceJson } from './types.js';
import { route, type View } from './view.js';

const POLL_MS = 2000;

export const requestsView: View = async (ctx) => {
  const failedOnly = ctx.route.query.get('failed') === '1';
  const list = h('div');
  let paused = false;
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
  });
  replace(
    ctx.main,
    h('h1', null, 'Recent requests'),
    h(
      'div',
      { class: 'toolbar' },
      failedOnly ? link('/requests', 'Show every request') : link('/requests?failed=1', 'Show only 5xx answers'),
      pause,
    ),
    list,
  );
  await ctx.poll(async () => {
    if (paused) return;
    const { requests, capacity } = await api<{ requests: RequestRecord[]; capacity: number }>(`requests?limit=100${failedOnly ? '&failed=1' : ''}`);
    replace(
      list,
      table(
        `The last ${requests.length} of up to ${capacity} requests the node keeps`,
        ['Time', 'Request', 'Status', 'Duration', 'App', 'Version', 'Route'],
        requests.map((r) => [
          time(r.at),
          link(route('requests', r.id), `${r.method} ${r.path}`),
          h('span', { class: r.status >= 500 ? 'bad' : r.status >= 400 ? 'warn' : 'ok' }, r.status),
          ms(r.duration_ms),
          r.app ? link(route('apps', r.app), r.app) : '–',
          r.version ? h('code', null, r.version) : '–',
          h('code', null, r.route),
        ]),
        { empty: 'No request yet since the node started.', numeric: [2, 3] },
      ),
    );
    // Each row names its request, so a test (or a user's script) can find it.
    list.querySelectorAll('tbody tr').forEach((tr, i) => tr.setAttribute('data-request-id', requests[i]!.id));
  }, POLL_MS);
};

/** A pane's content, or what the node said instead: a trace not kept, logs it cannot give. */
async function orMissing(title: string, load: () => Promise<Child>): Promise<Child> {
  try {
    return await load();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
    return missing(title, `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`);
  }
}

export const requestView: View = async (ctx) => {
  const id = ctx.route.path[1]!;
  const r = await api<RequestRecord>(`requests/${seg(id)}`);
  const [trace, logs] = await Promise.all([
    orMissing('No trace for this request', async () => waterfall(await api<TraceJson>(`requests/${seg(id)}/trace`))),
    orMissing('No log records', () => requestLogs(id)),
  ]);
  replace(
    ctx.main,
    h('p', { class: 'crumbs' }, link('/requests', 'Recent requests'), ' / ', r.id),
    h('h1', null, `${r.method} ${r.path}`),
    facts([
      ['Request id', h('code', null, r.id)],
      ['Time', time(r.at)],
      ['Status', String(r.status)],
      ['Duration', ms(r.duration_ms)],
      ['Error', r.error ? h('code', null, r.error) : 'none'],
      ['App', r.app ? link(route('apps', r.app), r.app) : 'no route matched'],
      ['Component', r.component ?? '–'],
      ['Version', r.version ? h('code', null, r.version) : '–'],
      ['Route', h('code', null, r.route)],
    ]),
    section('Trace', trace),
    section('Log records', logs),
  );
};
