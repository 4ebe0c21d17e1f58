/// <reference lib="dom" />
/** Shared by the pages: sign-in (key → HttpOnly session cookie), JSON calls, tiny DOM helpers. */

export interface Who {
  keyId: string;
  name: string;
  role: string;
  stationId: string | null;
  actor: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body && typeof init.body === 'string') headers['content-type'] = 'application/json';
  const res = await fetch(path, { credentials: 'same-origin', ...init, headers: { ...headers, ...((init.headers as Record<string, string>) ?? {}) } });
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  if (!res.ok) throw new ApiError(res.status, body.message ?? `${res.status}`);
  return body as T;
}

export function $<T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): T {
  const e = root.querySelector<T>(sel);
  if (!e) throw new Error(`missing ${sel}`);
  return e;
}

type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;
/** `h('button', { class: 'x', onclick: fn }, 'text')` */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined | false>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** Shows the login form until the session cookie names a key of one of `roles`; resolves with who it is. */
export async function signIn(roles: readonly string[]): Promise<Who> {
  const login = $('#login');
  const app = $('#app');
  // A public probe: asking /v1/session without a cookie would answer 401, which the browser logs as an error.
  const current = (await api<{ who: Who | null }>('/ui/session').catch(() => ({ who: null }))).who;
  if (current && (roles.includes(current.role) || current.role === 'admin')) {
    app.hidden = false;
    return current;
  }
  login.hidden = false;
  const form = $<HTMLFormElement>('#login-form');
  const input = $<HTMLInputElement>('#login-key');
  const error = $('#login-error');
  input.focus();
  return new Promise<Who>((resolve) => {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      try {
        const who = await api<Who>('/v1/session', { method: 'POST', body: JSON.stringify({ key: input.value.trim() }) });
        input.value = '';
        if (!roles.includes(who.role) && who.role !== 'admin') {
          await api('/v1/session', { method: 'DELETE' });
          error.textContent = `This is a ${who.role} key; this page needs a ${roles.join(' or ')} key.`;
          return;
        }
        login.hidden = true;
        app.hidden = false;
        resolve(who);
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401 ? 'Unknown or revoked key.' : `Sign-in failed: ${(err as Error).message}`;
      }
    });
  });
}

export function wireLogout(): void {
  $('#logout').addEventListener('click', async () => {
    await api('/v1/session', { method: 'DELETE' }).catch(() => {});
    location.reload();
  });
}

export const fmt = (n: number | null | undefined, digits = 3) => (n === null || n === undefined ? '–' : Number(n.toFixed(digits)).toString());
