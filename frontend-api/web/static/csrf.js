// The page's CSRF token (from <meta name="csrf-token">), sent as
// X-CSRF-Token with every fetch that changes something.
export function csrfToken() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : '';
}

// sendJSON sends body as JSON with method, the session cookie and the CSRF
// token; keepalive lets the request finish while the page unloads. It
// resolves to {ok, status, data}; data is the parsed reply or null.
export async function sendJSON(method, url, body, { keepalive = false } = {}) {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    keepalive,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { /* empty body */ }
  return { ok: res.ok, status: res.status, data };
}

// postJSON posts body as JSON (see sendJSON).
export function postJSON(url, body) {
  return sendJSON('POST', url, body);
}

// errorLines turns an API error body into sentences to show.
export function errorLines(data) {
  const e = data && data.error;
  if (!e) return ['Something went wrong; try again.'];
  if (e.details && e.details.length) return e.details.map((d) => d.message);
  return [e.message];
}
