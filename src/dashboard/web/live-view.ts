/** The live page: worker pool, process memory, and per route the request rate, 5xx rate and p50/p99. */
import { api } from './client.js';
import { facts, h, link, replace, section, table } from './dom.js';
import { bytes, ms, percent, rate, time } from './format.js';
import type { Stats } from './types.js';
import { route, type View } from './view.js';

export const POLL_MS = 2000;

export const liveView: View = async (ctx) => {
  const updated = h('p', { class: 'updated' });
  const pool = h('div');
  const memory = h('div');
  const totals = h('div');
  const routes = h('div');
  replace(
    ctx.main,
    h('h1', null, 'Live'),
    updated,
    h('div', { class: 'cards' }, section('Worker pool', pool), section('Process memory', memory), section('All requests', totals)),
    section('Routes', routes),
  );
  await ctx.poll(async () => {
    const s = await api<Stats>('stats');
    replace(updated, `Updated ${time(s.at)}; rates and latencies over the last ${s.window_seconds} s.`);
    replace(pool, facts([['Workers', s.pool.workers], ['Busy', s.pool.busy], ['Queued', s.pool.queued], ['Restarts', s.pool.restarts]]));
    replace(memory, facts([['Resident', bytes(s.memory.rss)], ['Heap used', `${bytes(s.memory.heap_used)} of ${bytes(s.memory.heap_total)}`], ['External', bytes(s.memory.external)], ['Array buffers', bytes(s.memory.array_buffers)]]));
    replace(totals, facts([['Rate', rate(s.totals.rate_per_second)], ['5xx', percent(s.totals.error_rate)], ['p50', ms(s.totals.p50_ms)], ['p99', ms(s.totals.p99_ms)]]));
    replace(
      routes,
      table(
        `Per route, over the last ${s.window_seconds} s`,
        ['App', 'Route', 'Component', 'Version', 'Rate', '5xx', 'p50', 'p99'],
        s.routes.map((r) => [link(route('apps', r.app), r.app), h('code', null, r.route), r.component, h('code', null, r.version), rate(r.rate_per_second), percent(r.error_rate), ms(r.p50_ms), ms(r.p99_ms)]),
        { empty: 'No app is deployed on this node yet.', numeric: [4, 5, 6, 7] },
      ),
    );
  }, POLL_MS);
};
