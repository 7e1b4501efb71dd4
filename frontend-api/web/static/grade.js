// Grading workspace: select a passage of the student's text, pick a
// criterion and a kind, write the comment and attach it; levels, comments
// and focus notes autosave as a draft; the list of what is still missing
// follows every change; submit sends the draft for the teacher's review.
import { postJSON, sendJSON, errorLines } from './csrf.js';

const ws = JSON.parse(document.getElementById('ws-data').textContent);
const form = document.getElementById('grade-form');
const essay = document.getElementById('essay');
const status = document.getElementById('save-status');
const task = form.dataset.task;
const base = `/api/v1/grader/tasks/${encodeURIComponent(task)}`; // the JSON API's routes
const quotes = ws.content.quotes || [];
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
}
essay.addEventListener('mouseup', captureSelection);
essay.addEventListener('keyup', captureSelection);

// Keyboard selection: the text becomes a read-only caret area, so a
// keyboard user moves with the arrow keys and selects with Shift, as in any
// document. Edits (typing, paste, drop, cut, undo) are cancelled; the few
// that cannot be (an input method's composition) are undone by putting the
// text back as the server drew it. Enter with a passage selected moves on
// to writing its comment.
const pristine = [...essay.childNodes].map((n) => n.cloneNode(true));
essay.contentEditable = 'true';
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
  ul.replaceChildren(...missing(content()).map((m) => { const li = document.createElement('li'); li.textContent = m; return li; }));
}

async function save() {
  status.textContent = 'Saving…';
  const r = await sendJSON('PUT', `${base}/feedback`, { rev, ...content() });
  if (r.ok) {
    rev = r.data.rev;
    status.textContent = `Draft saved at ${new Date().toLocaleTimeString()}.`;
  } else {
    status.textContent = errorLines(r.data).join(' ');
  }
  return r.ok;
}

let timer = null;
form.addEventListener('input', () => {
  renderMissing();
  clearTimeout(timer);
  timer = setTimeout(save, 800);
});

document.getElementById('attach').addEventListener('click', async () => {
  const comment = document.getElementById('q-comment').value.trim();
  if (!pending) return;
  if (!comment) { status.textContent = 'Write the comment before attaching it.'; document.getElementById('q-comment').focus(); return; }
  const text = ws.text;
  const chars = [...text];
  quotes.push({
    target: { selector: [
      { type: 'TextQuoteSelector', exact: pending.exact, prefix: chars.slice(Math.max(0, pending.start - 32), pending.start).join(''), suffix: chars.slice(pending.end, pending.end + 32).join('') },
      { type: 'TextPositionSelector', start: pending.start, end: pending.end },
    ] },
    criterion: document.getElementById('q-criterion').value,
    kind: form.querySelector('input[name=q-kind]:checked').value,
    comment,
  });
  clearTimeout(timer);
  if (await save()) window.location.reload(); // the server draws the highlight
  else quotes.pop();
});

document.getElementById('quotes').addEventListener('click', async (e) => {
  const i = e.target.dataset && e.target.dataset.remove;
  if (i === undefined) return;
  const [removed] = quotes.splice(Number(i), 1);
  clearTimeout(timer);
  if (await save()) window.location.reload();
  else quotes.splice(Number(i), 0, removed);
});

document.getElementById('submit-feedback').addEventListener('click', async () => {
  clearTimeout(timer);
  if (!(await save())) return;
  const r = await postJSON(`${base}/submit`, { rev });
  if (r.ok) { window.location.assign('/grader?done=submitted'); return; }
  const ul = document.getElementById('missing');
  ul.replaceChildren(...errorLines(r.data).map((m) => { const li = document.createElement('li'); li.textContent = m; return li; }));
  status.textContent = 'Not submitted yet: see what is missing.';
  ul.closest('section').scrollIntoView();
});

renderMissing();
