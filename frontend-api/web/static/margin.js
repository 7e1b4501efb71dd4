// Behaviour shared by every page, each part active only where its markup
// is: sortable tables, the release confirmation, the order of the
// feedback list for the review page's next and previous, and results of an
// action (and a redirect's message) brought into view.
import { csrfToken } from './csrf.js';

// --- sortable tables: a button in each heading with data-sort ---
for (const table of document.querySelectorAll('table.sortable')) {
  const heads = [...table.tHead.rows[0].cells];
  heads.forEach((th, col) => {
    if (!th.dataset.sort) return;
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'sort';
    b.append(...th.childNodes);
    th.append(b);
    b.addEventListener('click', () => {
      const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      heads.forEach((h) => h.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', dir);
      const value = (row) => { const c = row.cells[col]; return c.dataset.value ?? c.textContent.trim(); };
      const cmp = th.dataset.sort === 'num'
        ? (a, z) => Number(value(a)) - Number(value(z))
        : (a, z) => value(a).localeCompare(value(z), undefined, { numeric: true, sensitivity: 'base' });
      const body = table.tBodies[0];
      const rows = [...body.rows].sort(cmp);
      if (dir === 'descending') rows.reverse();
      body.append(...rows);
      rememberOrder(table);
    });
  });
  rememberOrder(table);
}

// rememberOrder keeps the feedback list's order (as sorted) for the
// review page's next and previous.
function rememberOrder(table) {
  const aid = table.dataset.assignment;
  if (!aid) return;
  const tasks = [...table.tBodies[0].rows].filter((r) => r.querySelector('a.review-link')).map((r) => r.dataset.task);
  try { sessionStorage.setItem(`margin.order.${aid}`, JSON.stringify(tasks)); } catch { /* storage off */ }
}

// --- release: confirm, saying how many students it reaches ---
const releaseForm = document.getElementById('release-form');
const releaseDialog = document.getElementById('release-dialog');
if (releaseForm && releaseDialog && releaseDialog.showModal) {
  releaseForm.addEventListener('submit', (e) => {
    if (releaseForm.dataset.confirmed) return;
    e.preventDefault();
    releaseDialog.showModal();
    document.getElementById('release-no').focus();
  });
  document.getElementById('release-no').addEventListener('click', () => releaseDialog.close());
  document.getElementById('release-yes').addEventListener('click', () => {
    releaseForm.dataset.confirmed = '1';
    releaseDialog.close();
    releaseForm.requestSubmit();
  });
}

// --- review page: previous, next, and approve and next ---
const nav = document.getElementById('review-nav');
if (nav) {
  const aid = nav.dataset.assignment; const me = nav.dataset.task;
  let order = null;
  try { order = JSON.parse(sessionStorage.getItem(`margin.order.${aid}`) || 'null'); } catch { order = null; }
  const draw = (list) => {
    const i = list.indexOf(me);
    if (i < 0) return;
    const link = (id, rel, text) => {
      if (!id) { const s = document.createElement('span'); s.className = 'hint'; s.textContent = text; return s; }
      const a = document.createElement('a'); a.href = `/teacher/feedback/${encodeURIComponent(id)}`; a.rel = rel; a.textContent = text; return a;
    };
    const pos = document.createElement('span'); pos.textContent = `${i + 1} of ${list.length}`;
    nav.replaceChildren(link(list[i - 1], 'prev', '← Previous'), pos, link(list[i + 1], 'next', 'Next →'));
    nav.hidden = false;
    const next = document.getElementById('approve-next');
    if (next && list[i + 1]) { next.value = `/teacher/feedback/${encodeURIComponent(list[i + 1])}`; next.hidden = false; }
  };
  if (order && order.includes(me)) draw(order);
  else {
    fetch(`/api/v1/assignments/${encodeURIComponent(aid)}/feedback`, { credentials: 'same-origin', headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken() } })
      .then((r) => (r.ok ? r.json() : null))
      .then((d) => { if (d) draw(d.feedback.filter((f) => f.state !== 'draft').map((f) => f.task_id)); })
      .catch(() => {});
  }
}

// --- the result of an action, in view: a new link, a roster import ---
const result = document.querySelector('[data-result]');
if (result) {
  result.setAttribute('tabindex', '-1');
  result.scrollIntoView({ block: 'center' });
  result.focus({ preventScroll: true });
}

// --- a redirect's message where the action was: ?done= with a #section
// shows the flash in that section (after its heading), not at the top ---
const flash = document.querySelector('main > .flash');
const section = location.hash.length > 1 ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
if (flash && section && !result) {
  if (section.tagName === 'DETAILS') section.open = true;
  const head = section.matches('h1, h2, h3') ? section : section.querySelector(':scope > h2, :scope > h3');
  if (head) head.after(flash); else section.before(flash);
  flash.setAttribute('tabindex', '-1');
  flash.scrollIntoView({ block: 'center' });
  flash.focus({ preventScroll: true });
}

// --- copy buttons: data-copy names the element whose text or value to copy ---
for (const input of document.querySelectorAll('input[data-absolute]')) input.value = new URL(input.value, location.origin).href;
for (const b of document.querySelectorAll('button[data-copy]')) {
  b.addEventListener('click', async () => {
    const el = document.getElementById(b.dataset.copy);
    const text = 'value' in el ? el.value : el.textContent;
    const was = b.textContent;
    try { await navigator.clipboard.writeText(text); b.textContent = 'Copied'; } catch { if (el.select) el.select(); b.textContent = 'Select and copy'; }
    setTimeout(() => { b.textContent = was; }, 2000);
  });
}

// --- forms that ask first: data-confirm is the question, asked when the
// button pressed has the value data-confirm-value (any button without it) ---
for (const f of document.querySelectorAll('form[data-confirm]')) {
  f.addEventListener('submit', (e) => {
    const want = f.dataset.confirmValue;
    if (want && (!e.submitter || e.submitter.value !== want)) return;
    if (!window.confirm(f.dataset.confirm)) e.preventDefault();
  });
}

// --- share buttons (where the device can share): data-share names the input ---
for (const b of document.querySelectorAll('button[data-share]')) {
  if (!navigator.share) continue;
  b.hidden = false;
  b.addEventListener('click', () => navigator.share({ title: document.title, url: document.getElementById(b.dataset.share).value }).catch(() => {}));
}
