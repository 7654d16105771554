// Where the Object Service is and how to authenticate. The page is opened as
// `#service=<url>&token=<token>`; both are moved into sessionStorage and removed from the
// address bar so the token does not linger in history or screenshots.

export const DEFAULT_SERVICE = 'http://127.0.0.1:5015';
const KEY_SERVICE = 'tercet.service';
const KEY_TOKEN = 'tercet.token';

export interface Connection {
  service: string;
  token: string;
}

function normalise(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** Reads the connection from the hash (taking it out) or from sessionStorage. */
export function takeConnection(): Connection {
  const hash = window.location.hash.replace(/^#/, '');
  const params = new URLSearchParams(hash);
  const service = params.get('service');
  const token = params.get('token');
  if (service !== null) sessionStorage.setItem(KEY_SERVICE, normalise(service));
  if (token !== null) sessionStorage.setItem(KEY_TOKEN, token.trim());
  if (service !== null || token !== null) {
    params.delete('service');
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  return {
    service: sessionStorage.getItem(KEY_SERVICE) ?? DEFAULT_SERVICE,
    token: sessionStorage.getItem(KEY_TOKEN) ?? '',
  };
}

export function saveConnection(c: Connection): Connection {
  const next = { service: normalise(c.service) || DEFAULT_SERVICE, token: c.token.trim() };
  sessionStorage.setItem(KEY_SERVICE, next.service);
  sessionStorage.setItem(KEY_TOKEN, next.token);
  return next;
}
