/**
 * The dashboard's entry: sign-in with the admin token, then a hash router over the pages. Each
 * page may poll; leaving it stops its polling.
 */
import { ApiError, api, token, whenUnauthorized } from './client.js';
import { h, replace } from './dom.js';
import type { NodeInfo } from './types.js';
import type { Route, View, ViewContext } from './view.js';
import { liveView } from './live-view.js';
import { appView, appsView } from './apps-view.js';
import { requestView, requestsView } from './requests-view.js';
import { logsView } from './logs-view.js';
import { keysView, storesView, valueView } from './kv-view.js';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const signOut = document.getElementById('sign-out') as HTMLButtonElement;
const alertBox = document.getElementById('alert')!;

/** Bumped at every navigation: a page's polls stop once it is no longer the current one. */
let generation = 0;
/** The current page's: aborted when another page (or the sign-in form) takes its place. */
let leaving = new AbortController();

function leave(): AbortSignal {
  leaving.abort();
  leaving = new AbortController();
  return leaving.signal;
}

function pick(r: Route): View | undefined {
  const [first = '', second, third, fourth, fifth] = r.path;
  const n = r.path.length;
  if (n === 0 || (n === 1 && first === '')) return liveView;
  if (first === 'apps') return n === 1 ? appsView : n === 2 && second ? appView : undefined;
  if (first === 'requests') return n === 1 ? requestsView : n === 2 && second ? requestView : undefined;
  if (first === 'logs' && n === 1) return logsView;
  if (first === 'kv') {
    if (n === 1) return storesView;
    if (n === 3 && second && third) return keysView;
    if (n === 5 && fourth === 'key' && fifth !== undefined) return valueView;
  }
  return undefined;
}

function parseHash(): Route {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = (q === -1 ? raw : raw.slice(0, q)).split('/').slice(1).filter((s, i, all) => s !== '' || i < all.length - 1);
  return { path: path.map(decodeSegment), query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) };
}

/** A hand-edited hash may hold a stray '%': it is then taken as written. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `from` 'poll': the next refresh that works clears it. */
function showError(err: unknown, from: 'poll' | 'page' = 'page'): void {
  const text = err instanceof ApiError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  alertBox.textContent = text;
  alertBox.dataset.from = from;
  alertBox.hidden = false;
}

function clearError(): void {
  alertBox.hidden = true;
  alertBox.textContent = '';
}

async function render(): Promise<void> {
  const mine = ++generation;
  const signal = leave();
  clearError();
  const r = parseHash();
  // The nav link of the current section says so to screen readers too.
  const section = `#/${r.path[0] ?? ''}`;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const view = pick(r);
  if (!view) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'The dashboard has no such page. ', h('a', { href: '#/' }, 'Go to the live page'), '.'));
    return;
  }
  const ctx: ViewContext = {
    main,
    route: r,
    signal,
    async poll(refresh, ms) {
      const tick = async () => {
        if (mine !== generation) return;
        if (!document.hidden) {
          try {
            await refresh();
            if (mine === generation && !alertBox.hidden && alertBox.dataset.from === 'poll') clearError();
          } catch (err) {
            if (mine !== generation) return;
            showError(err, 'poll');
          }
        }
        if (mine === generation) setTimeout(() => void tick(), ms);
      };
      await tick();
    },
  };
  try {
    await view(ctx);
  } catch (err) {
    if (mine !== generation) return;
    if (err instanceof ApiError && err.status === 401) return;
    replace(main, h('h1', null, 'This page cannot be shown'));
    showError(err);
  }
}

function signIn(message?: string): void {
  generation++;
  leave();
  token.clear();
  nav.hidden = true;
  signOut.hidden = true;
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-hint' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-h' },
    h('h1', { id: 'sign-in-h' }, 'Sign in'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('p', { id: 'token-hint', class: 'note' }, "The node's VERGE_ADMIN_TOKEN (or its --admin-token-file). It is kept in this tab only, and sent with each call to the admin API."),
    button,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    button.disabled = true;
    const candidate = input.value.trim();
    api<NodeInfo>('node', candidate)
      .then(() => {
        token.set(candidate);
        start();
      })
      .catch((err: unknown) => {
        button.disabled = false;
        showError(err instanceof ApiError && err.status === 401 ? new Error('The node refused this token.') : err);
        input.select();
      });
  });
  replace(main, form);
  if (message) showError(new Error(message));
  else clearError();
  input.focus();
}

function start(): void {
  nav.hidden = false;
  signOut.hidden = token.get() === null;
  void render();
}

whenUnauthorized(() => signIn('The node no longer accepts the token: sign in again.'));
signOut.addEventListener('click', () => signIn());
window.addEventListener('hashchange', () => {
  if (nav.hidden) return;
  void render().then(() => main.focus({ preventScroll: true }));
});

// A node without a token (loopback only) answers without one: no sign-in then.
api<NodeInfo>('node', token.get()).then(start, (err: unknown) => {
  if (err instanceof ApiError && err.status === 401) signIn(token.get() ? 'The node refused the saved token: sign in again.' : undefined);
  else showError(err);
});
