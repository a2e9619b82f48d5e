/**
 * Apps → versions → routes → components: what serves each app, the live deployment with its
 * canary weights and the last minute of each version, and the versions stored on the node.
 */
import { ApiError, api, seg } from './client.js';
import { facts, h, link, replace, section, table, type Child } from './dom.js';
import { bytes, dateTime, ms, percent, short } from './format.js';
import type { AppRoutes, AppStatus, AppSummary, DeploymentJson, StoredVersion, Stores } from './types.js';
import { route, type View } from './view.js';

const STATUS_POLL_MS = 3000;

export const appsView: View = async (ctx) => {
  const { apps } = await api<{ apps: AppSummary[] }>('apps');
  replace(
    ctx.main,
    h('h1', null, 'Apps'),
    table(
      'Apps on this node',
      ['App', 'Source', 'Deployment'],
      apps.map((a) => [link(route('apps', a.name), a.name), a.source === 'path' ? 'a path on the node' : 'uploaded', a.deployment ? weights(a.deployment) : 'not deployed']),
      { empty: 'No app on this node yet: deploy one with verge deploy, or start the node with an app folder.' },
    ),
  );
};

export const appView: View = async (ctx) => {
  const name = ctx.route.path[1]!;
  const [tree, stored, stores] = await Promise.all([
    api<AppRoutes>(`apps/${seg(name)}/routes`),
    api<{ versions: StoredVersion[] }>(`apps/${seg(name)}/versions`).catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? { versions: [] } : Promise.reject(err))),
    api<Stores>(`apps/${seg(name)}/stores`),
  ]);
  const deployment = h('div');
  replace(
    ctx.main,
    h('p', { class: 'crumbs' }, link('/apps', 'Apps'), ' / ', name),
    h('h1', null, `App ${name}`),
    section('Deployment', deployment),
    tree.versions.map((v) =>
      section(
        `Version ${v.short_id}: weight ${v.weight}`,
        facts([
          ['Id', h('code', null, v.id)],
          ['Loaded', dateTime(v.installed_at)],
        ]),
        table('Routes', ['Route', 'Component'], v.routes.map((r) => [h('code', null, r.path), r.component])),
        table(
          'Components',
          ['Component', 'Kind', 'Size', 'Key-value stores', 'Outbound hosts', 'Variables', 'Timeout', 'Memory'],
          v.components.map((c) => [
            c.name,
            c.kind === 'component' ? 'wasi:http component' : 'WAGI module',
            bytes(c.bytes),
            list(c.key_value_stores.map((s) => link(route('kv', name, s), s))),
            list(c.allowed_outbound_hosts.map((o) => h('code', null, o))),
            list(c.variables.map((x) => h('code', null, x))),
            ms(c.limits.timeout_ms),
            `${c.limits.memory_mib} MiB`,
          ]),
          { numeric: [2, 6, 7] },
        ),
      ),
    ),
    section(
      'Stored versions',
      stored.versions.length === 0
        ? h('p', { class: 'empty' }, 'None: the node serves this app from a path, so its only version is the one it loaded.')
        : table(
            'Versions uploaded to this node, newest first',
            ['Version', 'Created', 'Size', 'Signed by', 'Live', 'Weight'],
            stored.versions.map((v) => [h('code', null, short(v.id)), dateTime(v.created), bytes(v.size), v.signers.join(', ') || 'unsigned', v.live ? 'yes' : 'no', v.weight]),
            { numeric: [2, 5] },
          ),
    ),
    section('Key-value stores', list(stores.stores.map((s) => link(route('kv', name, s.name), `${s.name} (${s.backend})`)), 'None')),
  );
  await ctx.poll(async () => replace(deployment, status(await api<AppStatus>(`apps/${seg(name)}/status`))), STATUS_POLL_MS);
};

function status(s: AppStatus): Child[] {
  const total = s.versions.reduce((n, v) => n + v.weight, 0) || 1;
  const d = s.deployment;
  return [
    weightBar(s.versions.map((v) => ({ id: v.id, share: v.weight / total }))),
    table(
      'Live versions over the last minute',
      ['Version', 'Weight', 'Share', 'Requests', '5xx', 'p50', 'p99', 'In flight'],
      s.versions.map((v) => [h('code', null, short(v.id)), v.weight, percent(v.weight / total), v.requests, percent(v.error_rate), ms(v.p50_ms), ms(v.p99_ms), v.inflight]),
      { numeric: [1, 2, 3, 4, 5, 6, 7] },
    ),
    facts([
      ['Sticky', d.sticky && d.sticky.kind !== 'none' ? `${d.sticky.kind}${d.sticky.name ? ` ${d.sticky.name}` : ''}` : 'no'],
      ['Automatic rollback', d.auto_rollback ? `after ${d.auto_rollback.min_requests} requests, over ${d.auto_rollback.window_seconds} s` : 'off'],
      ...(d.at ? ([['Deployed', `${dateTime(d.at)} by ${d.by ?? '?'} (${d.reason ?? 'deploy'})`]] as Array<[string, Child]>) : []),
    ]),
    s.auto_rollbacks.length === 0
      ? null
      : table('Automatic rollbacks', ['When', 'Version', 'Why'], s.auto_rollbacks.map((e) => [dateTime(e.at), h('code', null, short(e.version)), e.reason])),
  ];
}

/** The split drawn as one bar, each version's segment as wide as its share (set through the CSSOM: the page allows no inline styles). */
function weightBar(parts: Array<{ id: string; share: number }>): HTMLElement {
  const bar = h('div', { class: 'weights', role: 'img', 'aria-label': parts.map((p) => `${short(p.id)} ${percent(p.share)}`).join(', ') });
  parts.forEach((p, i) => {
    const part = h('span', { class: `w${i % 4}` }, p.share >= 0.08 ? short(p.id).slice(0, 6) : '');
    part.style.width = `${p.share * 100}%`;
    bar.appendChild(part);
  });
  return bar;
}

function weights(d: DeploymentJson): Child {
  const total = d.versions.reduce((n, v) => n + v.weight, 0) || 1;
  return d.versions.map((v, i) => [i > 0 ? ', ' : '', h('code', null, short(v.id)), ` ${percent(v.weight / total)}`]);
}

function list(items: Child[], none = '–'): Child {
  return items.length === 0 ? none : h('ul', { class: 'inline' }, items.map((i) => h('li', null, i)));
}
