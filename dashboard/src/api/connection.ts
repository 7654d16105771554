// Where the Object Service is and how to authenticate. The page is opened as
// `#service=<url>&token=<token>`; both are moved into sessionStorage and removed from the
// address bar so the token does not linger in history or screenshots.
//
// A token is bound to the service it was given for: tokens are kept per normalised service
// origin, and a link that names another service (`#service=<other>`) never receives a token
// it was not given; the page asks for that service's own token instead.

export const DEFAULT_SERVICE = 'http://127.0.0.1:5015';
const KEY_SERVICE = 'tercet.service';
const KEY_TOKENS = 'tercet.tokens';
const OLD_KEY_TOKEN = 'tercet.token'; // one token for whatever service: never read again

export interface Connection {
  service: string;
  token: string;
}

/** `scheme://host:port` of a service URL (lower-cased, default port dropped), or null when
 * the text is not an http(s) URL without user-info, path, query or fragment. */
export function serviceOrigin(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  if (parsed.username || parsed.password || parsed.search || parsed.hash) return null;
  if (parsed.pathname.replace(/\/+$/, '') !== '') return null;
  return parsed.origin;
}

function readTokens(): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(KEY_TOKENS) ?? '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
      return out;
    }
  } catch {
    // a damaged entry holds no usable token
  }
  return {};
}

/** The token saved for `service` (by origin), or '' when there is none. */
export function tokenFor(service: string): string {
  const origin = serviceOrigin(service);
  return origin === null ? '' : (readTokens()[origin] ?? '');
}

function bindToken(service: string, token: string): void {
  const origin = serviceOrigin(service);
  if (origin === null) return;
  const tokens = readTokens();
  if (token) tokens[origin] = token;
  else delete tokens[origin];
  sessionStorage.setItem(KEY_TOKENS, JSON.stringify(tokens));
}

/** The service URL as shown and stored: the origin when it parses, else the trimmed text
 * (which the connect screen then refuses with a clear message). */
export function normaliseService(url: string): string {
  return serviceOrigin(url) ?? url.trim().replace(/\/+$/, '');
}

/** Whether the hash names a service or carries a token (a connection to take). */
export function hashHasConnection(hash: string): boolean {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  return params.has('service') || params.has('token');
}

/**
 * Reads the connection from the hash (taking it out) or from sessionStorage. A token in the
 * hash is bound to the service named beside it, or without one to the service this dashboard
 * was started for (never to whatever service an earlier link switched the tab to); a service
 * named without a token gets only the token saved for that very service.
 */
export function takeConnection(fallbackService = DEFAULT_SERVICE): Connection {
  sessionStorage.removeItem(OLD_KEY_TOKEN);
  const hash = window.location.hash.replace(/^#/, '');
  const params = new URLSearchParams(hash);
  const service = params.get('service');
  const token = params.get('token');
  const current = sessionStorage.getItem(KEY_SERVICE) ?? fallbackService;
  const next = service !== null ? normaliseService(service) : token !== null ? normaliseService(fallbackService) : current;
  if (service !== null) sessionStorage.setItem(KEY_SERVICE, next);
  if (token !== null) bindToken(next, token.trim());
  if (service !== null || token !== null) {
    params.delete('service');
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  return { service: next, token: tokenFor(next) };
}

export function saveConnection(c: Connection): Connection {
  const service = normaliseService(c.service) || DEFAULT_SERVICE;
  sessionStorage.setItem(KEY_SERVICE, service);
  bindToken(service, c.token.trim());
  return { service, token: tokenFor(service) };
}
