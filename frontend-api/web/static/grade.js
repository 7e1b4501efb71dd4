// Grading workspace: select a passage of the student's text, pick a
// criterion and a kind, write the comment and attach it (the page never
// reloads: the highlight is drawn here, and the essay keeps its scroll
// position); levels, comments and focus notes autosave as a draft through
// the API, are backed up in localStorage at every keystroke and saved when
// the page is left, so a reload never loses typed work; the list of what is
// still missing follows every change; submit sends the draft for the
// teacher's review. Released or submitted feedback is read-only.
import { sendJSON, postJSON, errorLines } from './csrf.js';

const ws = JSON.parse(document.getElementById('ws-data').textContent);
const form = document.getElementById('grade-form');
const essay = document.getElementById('essay');
const status = document.getElementById('save-status');
const task = form.dataset.task;
const api = `/api/v1/grader/tasks/${encodeURIComponent(task)}`;
const readonly = form.dataset.readonly === '1';
let quotes = ws.content.quotes || [];
let rev = ws.rev;
let pending = null; // the selected passage: {start, end, exact}

const cp = (s) => [...s].length; // code points, as the server counts

function captureSelection() {
  const sel = window.getSelection();
  if (!sel.rangeCount || sel.isCollapsed) return;
  const r = sel.getRangeAt(0);
  if (!essay.contains(r.startContainer) || !essay.contains(r.endContainer)) return;
  const before = document.createRange();
  before.selectNodeContents(essay);
  before.setEnd(r.startContainer, r.startOffset);
  const exact = r.toString();
  if (!exact.trim()) return;
  const start = cp(before.toString());
  pending = { start, end: start + cp(exact), exact };
  document.getElementById('selection').textContent = `“${exact}”`;
  document.getElementById('attach').disabled = false;
  // The comment box comes into view beside the text (the page scrolls,
  // the text stays where it is).
  const at = document.getElementById('quote-box').getBoundingClientRect();
  const footer = document.querySelector('.ws-footer').getBoundingClientRect();
  if (at.top < 0 || at.bottom > footer.top) window.scrollBy(0, at.top - 8);
}
if (!readonly) {
  essay.addEventListener('mouseup', captureSelection);
  essay.addEventListener('keyup', captureSelection);
}

// Keyboard selection: the text becomes a read-only caret area, so a
// keyboard user moves with the arrow keys and selects with Shift, as in any
// document. Edits (typing, paste, drop, cut, undo) are cancelled; the few
// that cannot be (an input method's composition) are undone by putting the
// text back as the server drew it. Enter with a passage selected moves on
// to writing its comment.
let pristine = [...essay.childNodes].map((n) => n.cloneNode(true));
if (!readonly) essay.contentEditable = 'true';
essay.spellcheck = false;
essay.setAttribute('role', 'textbox');
essay.setAttribute('aria-readonly', 'true');
essay.setAttribute('aria-multiline', 'true');
for (const ev of ['beforeinput', 'paste', 'drop', 'cut']) essay.addEventListener(ev, (e) => e.preventDefault());
essay.addEventListener('input', () => essay.replaceChildren(...pristine.map((n) => n.cloneNode(true))));
essay.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  captureSelection();
  if (pending) document.getElementById('q-comment').focus();
});

// The comment bank: choosing a saved comment puts its text in the comment
// box (and its kind and criterion, when it has them) to adapt before
// attaching.
const bankPick = document.getElementById('bank-pick');
if (bankPick) {
  bankPick.addEventListener('change', () => {
    const opt = bankPick.selectedOptions[0];
    if (!opt || !opt.value) return;
    document.getElementById('q-comment').value = opt.value;
    const kind = form.querySelector(`input[name=q-kind][value="${opt.dataset.kind}"]`);
    if (kind) kind.checked = true;
    const crit = document.getElementById('q-criterion');
    if (opt.dataset.criterion && [...crit.options].some((o) => o.value === opt.dataset.criterion)) crit.value = opt.dataset.criterion;
    bankPick.value = '';
    document.getElementById('q-comment').focus();
  });
}

// A criterion's comment can go to the comment bank too, from its own
// button; the bank's list on this page gains it at once.
for (const b of form.querySelectorAll('button[data-bank]')) {
  b.addEventListener('click', async () => {
    const criterion = b.dataset.bank;
    const text = form.querySelector(`[data-comment="${criterion}"]`).value.trim();
    const out = document.getElementById(`bank-status-${criterion}`);
    if (!text) { out.textContent = 'Write the comment first.'; return; }
    const r = await postJSON('/api/v1/grader/comment-bank', { criterion, text });
    out.textContent = r.ok ? 'Saved to your comment bank.' : `Not saved: ${errorLines(r.data).join(' ')}`;
    if (r.ok && bankPick) {
      const o = document.createElement('option');
      o.value = text; o.textContent = text; o.dataset.criterion = criterion; o.dataset.kind = '';
      bankPick.append(o);
    }
  });
}

function content() {
  const c = { levels: {}, comments: {}, quotes, glows: ws.content.glows || [], grows: ws.content.grows || [], focus_notes: [] };
  for (const el of form.querySelectorAll('[data-level]')) if (el.value) c.levels[el.dataset.level] = el.value;
  for (const el of form.querySelectorAll('[data-comment]')) if (el.value.trim()) c.comments[el.dataset.comment] = el.value;
  for (const el of form.querySelectorAll('[data-focus]')) if (el.value.trim()) c.focus_notes.push({ index: Number(el.dataset.focus), note: el.value });
  return c;
}

// missing mirrors the server's submit check so the grader sees it early;
// the server's answer on submit is the authority.
function missing(c) {
  const st = ws.settings; const out = [];
  const short = (s) => cp((s || '').trim()) < st.min_comment_chars;
  for (const cr of ws.criteria) {
    if (!c.levels[cr.key]) out.push(`Choose a level for “${cr.title}”.`);
    if (!c.comments[cr.key]) out.push(`Write a comment on “${cr.title}”.`);
    else if (short(c.comments[cr.key])) out.push(`The comment on “${cr.title}” needs at least ${st.min_comment_chars} characters.`);
  }
  if (c.quotes.length < st.min_quotes) out.push(`Attach ${st.min_quotes - c.quotes.length} more quoted comment(s) to passages of the text.`);
  if (st.require_strength && !c.quotes.some((q) => q.kind === 'strength')) out.push('Quote at least one strength.');
  if (st.require_growth && !c.quotes.some((q) => q.kind === 'growth')) out.push('Quote at least one area for growth.');
  c.quotes.forEach((q, i) => { if (short(q.comment)) out.push(`The comment on quote ${i + 1} needs at least ${st.min_comment_chars} characters.`); });
  ws.focus_points.forEach((p, i) => { if (!c.focus_notes.some((n) => n.index === i)) out.push(`Address the focus point “${p}”.`); });
  return out;
}

function renderMissing() {
  const ul = document.getElementById('missing');
  if (!ul) return;
  const gaps = missing(content());
  ul.replaceChildren(...gaps.map((m) => { const li = document.createElement('li'); li.textContent = m; return li; }));
  document.getElementById('missing-count').textContent = gaps.length ? `(${gaps.length})` : '';
}

// The level's descriptor, under its list, wraps in the column (the
// options of a select cannot).
function showDescriptors() {
  for (const sel of form.querySelectorAll('[data-level]')) {
    const opt = sel.selectedOptions[0];
    document.getElementById(`desc-${sel.dataset.level}`).textContent = opt && opt.value ? opt.dataset.desc : '';
  }
}

// drawEssay puts the highlights of the quotes into the text as the server
// draws them (web.Segments): by start, leaving out an empty one, one out
// of range, or one overlapping an earlier one.
function drawEssay() {
  const chars = [...ws.text];
  const spans = quotes.map((q) => ({ q, pos: q.target.selector[1] }))
    .sort((a, b) => a.pos.start - b.pos.start);
  const out = [];
  let at = 0;
  for (const { q, pos } of spans) {
    if (pos.start < at || pos.end <= pos.start || pos.end > chars.length) continue;
    if (pos.start > at) out.push(document.createTextNode(chars.slice(at, pos.start).join('')));
    const m = document.createElement('mark');
    m.className = q.kind; m.id = `q-${q.id}`; m.title = q.criterion;
    m.textContent = chars.slice(pos.start, pos.end).join('');
    out.push(m);
    at = pos.end;
  }
  if (at < chars.length) out.push(document.createTextNode(chars.slice(at).join('')));
  const top = essay.scrollTop; const y = window.scrollY;
  essay.replaceChildren(...out);
  pristine = [...essay.childNodes].map((n) => n.cloneNode(true));
  essay.scrollTop = top; window.scrollTo(window.scrollX, y);
}

const kindLook = { strength: ['s-done', '✓', 'Strength'], growth: ['s-act', '●', 'Area for growth'] };

// drawQuotes lists the quoted comments, as the server does.
function drawQuotes() {
  const title = Object.fromEntries(ws.criteria.map((c) => [c.key, c.title]));
  const el = (tag, props = {}, ...kids) => { const e = Object.assign(document.createElement(tag), props); e.append(...kids); return e; };
  document.getElementById('quotes').replaceChildren(...quotes.map((q, i) => {
    const [cls, sym, word] = kindLook[q.kind] || ['s-idle', '○', q.kind];
    const badge = el('span', { className: `badge ${cls}` }, el('span', {}, sym), ` ${word}`);
    badge.firstChild.setAttribute('aria-hidden', 'true');
    const rm = el('button', { type: 'button', className: 'small secondary', textContent: 'Remove' });
    rm.dataset.remove = String(i);
    return el('li', { className: q.kind }, el('a', { href: `#q-${q.id}`, textContent: `“${q.target.selector[0].exact}”` }), ' ', badge, ' ',
      el('span', { className: 'hint', textContent: title[q.criterion] || q.criterion }), el('p', { textContent: q.comment }), rm);
  }));
}

// --- keeping typed work: a backup at every keystroke, a save on leaving ---
const backupKey = `margin.draft.${task}`;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
function backup() {
  try { localStorage.setItem(backupKey, JSON.stringify({ rev, content: content(), at: Date.now() })); } catch { /* storage full or off */ }
}
function dropBackup() { try { localStorage.removeItem(backupKey); } catch { /* off */ } }
function restore() {
  let b = null;
  try { b = JSON.parse(localStorage.getItem(backupKey) || 'null'); } catch { b = null; }
  if (!b) return false;
  // Only a backup of the version the server has: anything newer on the
  // server was saved after it (this page's save on leaving, or another tab).
  if (b.rev !== rev || same(b.content, content())) { dropBackup(); return false; }
  for (const el of form.querySelectorAll('[data-level]')) el.value = b.content.levels[el.dataset.level] || '';
  for (const el of form.querySelectorAll('[data-comment]')) el.value = b.content.comments[el.dataset.comment] || '';
  for (const el of form.querySelectorAll('[data-focus]')) {
    const n = (b.content.focus_notes || []).find((x) => x.index === Number(el.dataset.focus));
    el.value = n ? n.note : '';
  }
  return true;
}

let dirty = false;
let saving = null;
async function save() {
  const sent = content();
  status.textContent = 'Saving…';
  saving = sendJSON('PUT', `${api}/feedback`, { rev, ...sent });
  let r = await saving;
  if (r.status === 409 && r.data && r.data.error && r.data.error.code === 'version_conflict') {
    // Saved meanwhile (this page's save on leaving landed after the reload
    // read the draft, or another tab): the typed work here is the newest.
    const w = await fetch(`${api}/workspace`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (w.ok) {
      const f = (await w.json()).feedback;
      if (f && (f.state === 'draft' || f.state === 'returned')) {
        rev = f.rev;
        saving = sendJSON('PUT', `${api}/feedback`, { rev, ...sent });
        r = await saving;
      }
    }
  }
  saving = null;
  if (r.ok) {
    rev = r.data.rev;
    quotes = r.data.quotes || [];
    if (same(sent, content())) { dirty = false; dropBackup(); } else backup();
    status.textContent = `Draft saved at ${new Date().toLocaleTimeString()}.`;
  } else {
    status.textContent = errorLines(r.data).join(' ');
  }
  return r.ok;
}

let timer = null;
form.addEventListener('input', () => {
  dirty = true;
  backup();
  renderMissing();
  showDescriptors();
  clearTimeout(timer);
  timer = setTimeout(save, 800);
});

// Leaving the page (a link, a reload, closing the tab) saves what is not
// saved yet; the request outlives the page.
function saveOnLeave() {
  if (readonly || !dirty) return;
  clearTimeout(timer);
  backup();
  sendJSON('PUT', `${api}/feedback`, { rev, ...content() }, { keepalive: true }).catch(() => {});
  dirty = false;
}
window.addEventListener('pagehide', saveOnLeave);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') saveOnLeave(); });

document.getElementById('attach')?.addEventListener('click', async () => {
  const comment = document.getElementById('q-comment').value.trim();
  if (!pending) return;
  if (!comment) { status.textContent = 'Write the comment before attaching it.'; document.getElementById('q-comment').focus(); return; }
  const chars = [...ws.text];
  const kind = form.querySelector('input[name=q-kind]:checked').value;
  const criterion = document.getElementById('q-criterion').value;
  quotes.push({
    target: { selector: [
      { type: 'TextQuoteSelector', exact: pending.exact, prefix: chars.slice(Math.max(0, pending.start - 32), pending.start).join(''), suffix: chars.slice(pending.end, pending.end + 32).join('') },
      { type: 'TextPositionSelector', start: pending.start, end: pending.end },
    ] },
    criterion, kind, comment,
  });
  clearTimeout(timer);
  if (await save()) {
    drawEssay(); drawQuotes(); renderMissing();
    const bank = document.getElementById('q-bank');
    if (bank && bank.checked) {
      const r = await postJSON('/api/v1/grader/comment-bank', { criterion, kind, text: comment });
      status.textContent += r.ok ? ' The comment is in your comment bank too.' : ` Not saved to your bank: ${errorLines(r.data).join(' ')}`;
      bank.checked = false;
    }
    pending = null;
    document.getElementById('q-comment').value = '';
    document.getElementById('selection').textContent = 'Attached. Select the next passage.';
    document.getElementById('attach').disabled = true;
    window.getSelection().removeAllRanges();
  } else quotes.pop();
});

document.getElementById('quotes').addEventListener('click', async (e) => {
  const i = e.target.dataset && e.target.dataset.remove;
  if (i === undefined) return;
  const [removed] = quotes.splice(Number(i), 1);
  clearTimeout(timer);
  if (await save()) { drawEssay(); drawQuotes(); renderMissing(); } else quotes.splice(Number(i), 0, removed);
});

document.getElementById('submit-feedback')?.addEventListener('click', async () => {
  clearTimeout(timer);
  if (saving) await saving;
  if (!(await save())) return;
  const r = await postJSON(`${api}/submit`, { rev });
  if (r.ok) { dropBackup(); dirty = false; window.location.assign('/grader?done=submitted'); return; }
  const ul = document.getElementById('missing');
  ul.replaceChildren(...errorLines(r.data).map((m) => { const li = document.createElement('li'); li.textContent = m; return li; }));
  status.textContent = 'Not submitted yet: see what is missing.';
  ul.closest('section').scrollIntoView();
});

showDescriptors();
if (!readonly) {
  if (restore()) {
    dirty = true;
    showDescriptors();
    status.textContent = 'Restored what you typed before the page was reloaded; saving it now.';
    save();
  }
  renderMissing();
}
