/**
 * The key-value browser, read-only: every app's stores → a store's keys by prefix, a page at a
 * time → one value as JSON, text or hex.
 */
import { api, seg } from './client.js';
import { facts, h, link, replace, table, type Child } from './dom.js';
import { bytes } from './format.js';
import type { AppSummary, KeyPage, Replication, Stores, ValueView } from './types.js';
import { route, type View } from './view.js';

const READ_ONLY = 'Read-only: the dashboard shows what the stores hold and never changes it.';

export const storesView: View = async (ctx) => {
  const { apps } = await api<{ apps: AppSummary[] }>('apps');
  const all = await Promise.all(apps.filter((a) => a.deployment).map((a) => api<Stores>(`apps/${seg(a.name)}/stores`)));
  replace(
    ctx.main,
    h('h1', null, 'Key-value stores'),
    h('p', { class: 'note' }, READ_ONLY),
    table(
      'Stores of the deployed apps',
      ['App', 'Store', 'Backend', 'Replication'],
      all.flatMap((s) => s.stores.map((st) => [link(route('apps', s.app), s.app), link(route('kv', s.app, st.name), st.name), st.backend, replicationText(st.replication)])),
      { empty: 'No app is deployed on this node yet.' },
    ),
  );
};

/** What an operator needs at a glance: is the link up, how much waits to go out, how far behind is this node. */
function replicationText(r: Replication | null): string {
  if (!r) return '—';
  const link = r.connected ? 'connected' : `offline (${r.last_error ?? 'not connected'})`;
  return `${link}; ${r.queued_changes} change(s) queued, lag ${(r.lag_ms / 1000).toFixed(1)} s; ${r.inbound_pending} to apply`;
}

export const keysView: View = async (ctx) => {
  const [, app, store] = ctx.route.path as [string, string, string];
  const prefix = ctx.route.query.get('prefix') ?? '';
  const after = ctx.route.query.get('after');
  const q = new URLSearchParams({ prefix, limit: '50' });
  if (after !== null) q.set('after', after);
  const page = await api<KeyPage>(`apps/${seg(app)}/stores/${seg(store)}/keys?${q}`);

  const input = h('input', { id: 'prefix', name: 'prefix', type: 'search', value: prefix, autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'toolbar', role: 'search' }, h('label', { for: 'prefix' }, 'Key prefix'), input, h('button', { type: 'submit' }, 'List keys'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `${route('kv', app, store)}?${new URLSearchParams({ prefix: input.value })}`;
  });
  const pageLink = (a: string | null, text: string) => link(`${route('kv', app, store)}?${new URLSearchParams(a === null ? { prefix } : { prefix, after: a })}`, text);
  replace(
    ctx.main,
    h('p', { class: 'crumbs' }, link('/kv', 'Key-value'), ' / ', link(route('apps', app), app), ' / ', store),
    h('h1', null, `Store ${store}`),
    h('p', { class: 'note' }, READ_ONLY),
    form,
    page.keys.length === 0
      ? h('p', { class: 'empty' }, prefix ? `No key starts with “${prefix}”${after !== null ? ' after this point' : ''}.` : 'The store holds no key.')
      : h(
          'nav',
          { 'aria-label': 'Keys' },
          h('h2', null, prefix ? `Keys starting with “${prefix}”` : 'Keys', after !== null ? ` after “${after}”` : ''),
          h('ul', { class: 'keys' }, page.keys.map((k) => h('li', null, link(route('kv', app, store, 'key', k), h('code', null, k))))),
        ),
    h('p', { class: 'pager' }, after !== null ? pageLink(null, 'First page') : null, page.next !== null ? pageLink(page.next, 'Next page') : null),
  );
};

export const valueView: View = async (ctx) => {
  const [, app, store, , key] = ctx.route.path as [string, string, string, string, string];
  const v = await api<ValueView>(`apps/${seg(app)}/stores/${seg(store)}/keys/${seg(key)}`);
  const modes: Array<['json' | 'text' | 'hex', string, string | undefined]> = [
    ['json', 'JSON', v.kind === 'json' ? v.text : undefined],
    ['text', 'Text', v.kind !== 'binary' ? v.text : undefined],
    ['hex', 'Hex', v.hex],
  ];
  const shown = modes.filter(([, , body]) => body !== undefined);
  const out = h('pre', { class: 'value', tabindex: '0', 'aria-label': 'Value' });
  const buttons = shown.map(([mode, label, body]) => {
    const b = h('button', { type: 'button', 'aria-pressed': 'false', 'data-mode': mode }, label);
    b.addEventListener('click', () => {
      for (const other of buttons) other.setAttribute('aria-pressed', String(other === b));
      out.textContent = body!;
    });
    return b;
  });
  replace(
    ctx.main,
    h('p', { class: 'crumbs' }, link('/kv', 'Key-value'), ' / ', link(route('apps', app), app), ' / ', link(route('kv', app, store), store), ' / ', key),
    h('h1', null, 'Key ', h('code', null, key)),
    facts([
      ['Store', `${store} of ${app}`],
      ['Size', bytes(v.size)],
      ['Reads as', v.kind === 'binary' ? 'binary' : v.kind === 'json' ? 'JSON' : 'text'],
    ]),
    v.truncated ? h('p', { class: 'note' }, 'The value is long: only its start is shown.') : null,
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Show the value as' }, buttons as Child[]),
    out,
  );
  buttons[0]!.click();
};
