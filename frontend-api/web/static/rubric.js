// Rubric builder for the teacher's "New assignment" form (teacher_class.html).
//
// Without JavaScript the form takes the rubric as rubric.json text in the
// textarea #rubric. With it, this module builds an editor in the page: the
// scale (levels with a label and points), the criteria (title, weight,
// optional standard code and a descriptor for every level, in a grid of
// criteria × levels) and the focus points. Every change is written back to
// the textarea as JSON, which stays the one thing the form posts; the
// textarea itself folds away under "Edit as JSON", and editing it there (or
// importing a JSON file) loads the rubric into the builder. Choosing a
// rubric from the library (#rubric_id) sets the builder aside; "Copy into
// the builder" loads that rubric from GET /api/v1/rubrics to adapt it.
//
// The checks mirror intake.Rubric.Validate, so a rubric the builder lets
// through is one the server accepts; the server checks again regardless.
import { errorLines } from './csrf.js';

// LIMIT are intake.Rubric.Validate's limits.
const LIMIT = {
  minLevels: 2, maxLevels: 10, maxCriteria: 50, maxFocus: 20, key: 64, title: 200, label: 60,
  standard: 100, descriptor: 2000, focus: 500, points: 1000, weight: 1000,
};
const DEFAULT_SCALE = [['Emerging', 1], ['Developing', 2], ['Proficient', 3], ['Advanced', 4]];
const FIELDS = ['title', 'scale', 'criteria', 'focus_points'];

const textarea = document.getElementById('rubric');

let seq = 0;
const nextID = () => ++seq;
const runes = (s) => [...s].length;
const isSlug = (s) => typeof s === 'string' && /^[a-z0-9_-]+$/.test(s) && s.length <= LIMIT.key;

// slug turns a label into a key: lowercase ASCII letters and digits, other
// runs of characters as one '-'; '' when nothing is left.
function slug(s) {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-').replace(/^[-_]+|[-_]+$/g, '').slice(0, LIMIT.key).replace(/[-_]+$/, '');
}

// num reads a number typed as text; null when there is none.
function num(v) {
  const s = String(v ?? '').trim();
  if (s === '') return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

const str = (v) => (typeof v === 'string' ? v : v == null ? '' : String(v));
const numText = (v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v : '');

// h makes an element: attributes (text, value and on* listeners handled
// specially; false and null skipped) and children.
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'value') e.value = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...kids.filter((c) => c != null && c !== false));
  return e;
}

// keysFor gives every item a unique slug key: its own fixed key (kept from
// an imported rubric) or one derived from its label, numbered on a clash.
function keysFor(items, labelOf, prefix) {
  const out = new Array(items.length);
  const used = new Set();
  const claim = (i, base) => {
    let k = base.slice(0, LIMIT.key);
    for (let n = 2; used.has(k); n++) k = `${base.slice(0, LIMIT.key - 4)}-${n}`;
    used.add(k);
    out[i] = k;
  };
  items.forEach((it, i) => { if (it.key) claim(i, it.key); });
  items.forEach((it, i) => { if (!it.key) claim(i, slug(labelOf(it)) || `${prefix}-${i + 1}`); });
  return out;
}

function defaultRubric() {
  return {
    title: '',
    scale: DEFAULT_SCALE.map(([label, points]) => ({ id: nextID(), label, points: String(points), key: '' })),
    criteria: [newCriterion()],
    focus: [],
  };
}

function newCriterion() {
  return { id: nextID(), title: '', weight: '1', standard: '', key: '', desc: {} };
}

// parseRubric reads rubric.json text into the builder's model. It returns
// {rubric, notes} or {error}, the error a phrase to follow the name of what
// was read ("is not valid JSON: …").
function parseRubric(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    return { error: `is not valid JSON (${err.message})` };
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj) || !Array.isArray(obj.scale) || !Array.isArray(obj.criteria)) {
    return { error: 'is JSON but not a rubric: a rubric is an object with a "scale" list of levels and a "criteria" list' };
  }
  const notes = [];
  const unknown = Object.keys(obj).filter((k) => !FIELDS.includes(k));
  if (unknown.length) notes.push(`left out ${unknown.map((k) => `"${k}"`).join(', ')}, which Margin does not use`);
  const byKey = new Map();
  const scale = obj.scale.map((lv) => {
    const o = lv && typeof lv === 'object' ? lv : {};
    const l = { id: nextID(), label: str(o.label), points: numText(o.points), key: '' };
    const src = str(o.key);
    if (isSlug(src) && src !== slug(l.label)) l.key = src;
    if (src && !byKey.has(src)) byKey.set(src, l.id);
    return l;
  });
  const stray = [];
  const criteria = obj.criteria.map((cr, i) => {
    const o = cr && typeof cr === 'object' ? cr : {};
    const c = {
      id: nextID(), title: str(o.title), weight: o.weight == null ? '1' : numText(o.weight),
      standard: str(o.standard), key: '', desc: {},
    };
    const src = str(o.key);
    if (isSlug(src) && src !== slug(c.title)) c.key = src;
    if (o.levels && typeof o.levels === 'object') {
      for (const [k, v] of Object.entries(o.levels)) {
        if (byKey.has(k)) c.desc[byKey.get(k)] = str(v);
        else stray.push(`criterion ${i + 1}'s "${k}"`);
      }
    }
    return c;
  });
  if (stray.length) notes.push(`left out descriptors of levels not on the scale (${stray.join(', ')})`);
  const focus = (Array.isArray(obj.focus_points) ? obj.focus_points : []).map((f) => ({ id: nextID(), text: str(f) }));
  return { rubric: { title: str(obj.title), scale, criteria, focus }, notes };
}

function start(form) {
  const own = document.getElementById('rubric-own');
  const importBox = document.getElementById('rubric-import');
  const fileInput = document.getElementById('rubric_file');
  const jsonBox = document.getElementById('rubric-json');
  const select = document.getElementById('rubric_id');
  const hint = document.getElementById('rubric-hint');

  let st = defaultRubric();
  let jsonBroken = false; // the textarea holds text that is not a rubric; it wins until fixed or discarded
  let showing = false; // the list of problems is on (after a submit, an import or a server error)
  let relabelers = [];
  let pending = 0; // debounce timer of textarea edits

  const status = h('p', { class: 'rb-vh', role: 'status' });
  const say = (msg) => { status.textContent = msg; };
  const tell = (el, msg, bad = false) => {
    if (el.textContent !== msg) el.textContent = msg;
    el.classList.toggle('warn', bad);
    el.hidden = msg === '';
  };

  const builder = h('fieldset', { id: 'rubric-builder', class: 'rb', 'aria-describedby': 'rb-about' });
  const problems = h('div', { id: 'rb-problems', class: 'rb-problems', tabindex: '-1', hidden: true });
  const builderMsg = h('p', { id: 'rb-builder-msg', class: 'rb-msg', hidden: true });
  const discard = h('button', {
    type: 'button', class: 'small secondary', hidden: true, text: 'Discard the JSON edits and use the builder',
    onclick: () => { resume(); document.getElementById('rb-title')?.focus(); },
  });
  const fileMsg = h('p', { id: 'rubric_file-msg', class: 'rb-msg', 'aria-live': 'polite', hidden: true });
  const jsonMsg = h('p', { id: 'rubric-msg', class: 'rb-msg', 'aria-live': 'polite', hidden: true });

  // Lay out the page: import, builder, then the JSON folded away.
  if (hint) hint.textContent = `Build the rubric below, or import a rubric JSON file into the builder${select ? ', or reuse one from your school\'s library' : ''}.`;
  importBox.hidden = false;
  fileInput.setAttribute('aria-describedby', fileMsg.id);
  fileInput.after(fileMsg);
  jsonBox.before(h('div', { class: 'rb-msg-row', 'aria-live': 'polite' }, builderMsg, discard), builder, status);
  jsonBox.querySelector('summary').textContent = 'Edit as JSON';
  jsonBox.open = false;
  textarea.setAttribute('aria-describedby', jsonMsg.id);
  textarea.after(jsonMsg);

  // --- the model as rubric.json ---

  const levelKeys = () => keysFor(st.scale, (l) => l.label, 'level');
  const critKeys = () => keysFor(st.criteria, (c) => c.title, 'criterion');
  const levelName = (l) => l.label.trim() || `level ${st.scale.indexOf(l) + 1}`;
  const critName = (c) => c.title.trim() || `criterion ${st.criteria.indexOf(c) + 1}`;
  const pointsText = (l) => {
    const p = num(l.points);
    return p === null ? 'no points' : `${p} ${p === 1 ? 'point' : 'points'}`;
  };

  function rubric() {
    const lk = levelKeys();
    const ck = critKeys();
    const r = {};
    if (st.title.trim()) r.title = st.title.trim();
    r.scale = st.scale.map((l, i) => ({ key: lk[i], label: l.label.trim(), points: num(l.points) }));
    r.criteria = st.criteria.map((c, i) => {
      const o = { key: ck[i], title: c.title.trim(), weight: num(c.weight) };
      if (c.standard.trim()) o.standard = c.standard.trim();
      o.levels = Object.fromEntries(st.scale.map((l, j) => [lk[j], (c.desc[l.id] || '').trim()]));
      return o;
    });
    const focus = st.focus.map((f) => f.text.trim()).filter(Boolean);
    if (focus.length) r.focus_points = focus;
    return r;
  }

  // validate mirrors intake.Rubric.Validate on what the builder would post:
  // a list of {target: the id of the input to fix, msg}.
  function validate() {
    const out = [];
    const add = (target, msg) => out.push({ target, msg });
    if (runes(st.title.trim()) > LIMIT.title) add('rb-title', `The rubric title is longer than ${LIMIT.title} characters.`);
    if (st.scale.length < LIMIT.minLevels) add('rb-add-level', `The scale needs at least ${LIMIT.minLevels} levels.`);
    if (st.scale.length > LIMIT.maxLevels) add(`rb-l${st.scale[LIMIT.maxLevels].id}-label`, `The scale has ${st.scale.length} levels; at most ${LIMIT.maxLevels} are allowed.`);
    let prev = null;
    st.scale.forEach((l, i) => {
      const name = `Level ${i + 1}`;
      if (!l.label.trim()) add(`rb-l${l.id}-label`, `${name} needs a label.`);
      else if (runes(l.label.trim()) > LIMIT.label) add(`rb-l${l.id}-label`, `${name}'s label is longer than ${LIMIT.label} characters.`);
      const p = num(l.points);
      if (p === null || p < 0 || p > LIMIT.points) {
        add(`rb-l${l.id}-points`, `${name}'s points must be a number from 0 to ${LIMIT.points}.`);
        prev = null;
      } else {
        if (prev !== null && p <= prev) add(`rb-l${l.id}-points`, `${name} must be worth more points than the level before it; levels go from lowest to highest.`);
        prev = p;
      }
    });
    if (st.criteria.length === 0) add('rb-add-criterion', 'The rubric needs at least one criterion.');
    if (st.criteria.length > LIMIT.maxCriteria) add(`rb-c${st.criteria[LIMIT.maxCriteria].id}-title`, `The rubric has ${st.criteria.length} criteria; at most ${LIMIT.maxCriteria} are allowed.`);
    st.criteria.forEach((c, i) => {
      const name = `Criterion ${i + 1}`;
      const t = c.title.trim();
      if (!t) add(`rb-c${c.id}-title`, `${name} needs a title.`);
      else if (runes(t) > LIMIT.title) add(`rb-c${c.id}-title`, `${name}'s title is longer than ${LIMIT.title} characters.`);
      const w = num(c.weight);
      if (!(w > 0 && w <= LIMIT.weight)) add(`rb-c${c.id}-weight`, `${name}'s weight must be more than 0 and at most ${LIMIT.weight}.`);
      if (runes(c.standard.trim()) > LIMIT.standard) add(`rb-c${c.id}-std`, `${name}'s standard code is longer than ${LIMIT.standard} characters.`);
      const about = t ? `${name} (${t})` : name;
      for (const l of st.scale) {
        const d = (c.desc[l.id] || '').trim();
        const at = `"${l.label.trim() || levelName(l)}"`;
        if (!d) add(`rb-c${c.id}-d${l.id}`, `${about} needs a description of the level ${at}.`);
        else if (runes(d) > LIMIT.descriptor) add(`rb-c${c.id}-d${l.id}`, `${about}'s description of the level ${at} is longer than ${LIMIT.descriptor} characters.`);
      }
    });
    const focus = st.focus.filter((f) => f.text.trim());
    if (focus.length > LIMIT.maxFocus) add('rb-add-focus', `There are ${focus.length} focus points; at most ${LIMIT.maxFocus} are allowed.`);
    const seen = new Map();
    focus.forEach((f) => {
      const n = st.focus.indexOf(f) + 1;
      const norm = f.text.trim().toLowerCase();
      if (seen.has(norm)) add(`rb-f${f.id}`, `Focus point ${n} repeats focus point ${seen.get(norm)}.`);
      else {
        seen.set(norm, n);
        if (runes(f.text.trim()) > LIMIT.focus) add(`rb-f${f.id}`, `Focus point ${n} is longer than ${LIMIT.focus} characters.`);
      }
    });
    return out;
  }

  // showProblems lists what to fix (each a button that focuses its input)
  // and marks those inputs invalid; it returns how many there are.
  function showProblems(focus) {
    const list = validate();
    for (const e of builder.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    for (const p of list) document.getElementById(p.target)?.setAttribute('aria-invalid', 'true');
    problems.hidden = list.length === 0;
    problems.replaceChildren(
      h('p', { id: 'rb-problems-h', text: list.length === 1 ? 'One thing to fix in the rubric before it can be saved:' : `${list.length} things to fix in the rubric before it can be saved:` }),
      h('ul', {}, ...list.map((p) => h('li', {}, h('button', {
        type: 'button', class: 'link', text: p.msg, onclick: () => document.getElementById(p.target)?.focus(),
      })))),
    );
    if (focus && list.length) problems.focus();
    return list.length;
  }

  // sync writes the builder's rubric to the textarea (unless the textarea
  // holds JSON edits that do not parse) and refreshes the problem list.
  function sync() {
    if (!jsonBroken) textarea.value = JSON.stringify(rubric(), null, 2);
    if (showing) showProblems(false);
  }

  function relabel() {
    const lk = levelKeys();
    const ck = critKeys();
    for (const f of relabelers) f(lk, ck);
  }

  const changed = (names = true) => { if (names) relabel(); sync(); };

  // --- rendering ---

  // render rebuilds the builder from the model, writes the textarea unless
  // write is false, and focuses the first of focusIDs that can be focused.
  function render(focusIDs = [], write = true) {
    relabelers = [];
    builder.replaceChildren(
      h('legend', { text: 'Rubric builder' }),
      h('p', { id: 'rb-about', class: 'hint', text: 'Everything here is saved with the assignment. Keys are made from the labels and titles.' }),
      h('label', { for: 'rb-title', text: 'Rubric title (optional)' }),
      h('input', { id: 'rb-title', value: st.title, maxlength: LIMIT.title, autocomplete: 'off', oninput: (e) => { st.title = e.target.value; changed(false); } }),
      scalePart(), criteriaPart(), focusPart(), problems,
    );
    relabel();
    if (write) sync();
    else if (showing) showProblems(false);
    for (const id of focusIDs) {
      const e = document.getElementById(id);
      if (e && !e.disabled) { e.focus(); break; }
    }
  }

  function scalePart() {
    const n = st.scale.length;
    const rows = st.scale.map((l, i) => {
      const label = h('input', {
        id: `rb-l${l.id}-label`, value: l.label, maxlength: LIMIT.label, autocomplete: 'off', 'aria-label': `Label of level ${i + 1}`,
        oninput: (e) => { l.label = e.target.value; changed(); },
      });
      const points = h('input', {
        id: `rb-l${l.id}-points`, type: 'number', class: 'rb-num', min: 0, max: LIMIT.points, step: 'any', value: l.points,
        oninput: (e) => { l.points = e.target.value; changed(); },
      });
      const key = h('code');
      const remove = h('button', {
        type: 'button', id: `rb-l${l.id}-remove`, class: 'small secondary', text: 'Remove', disabled: n <= LIMIT.minLevels,
        onclick: () => removeLevel(l),
      });
      relabelers.push((lk) => {
        points.setAttribute('aria-label', `Points for ${levelName(l)}`);
        remove.setAttribute('aria-label', `Remove level ${levelName(l)}`);
        key.textContent = lk[st.scale.indexOf(l)];
      });
      return h('tr', {}, h('td', { text: String(i + 1) }), h('td', {}, label), h('td', {}, points), h('td', {}, key), h('td', {}, remove));
    });
    return h('fieldset', { class: 'rb-part' },
      h('legend', { text: 'Scale' }),
      h('p', { class: 'hint', text: `From the lowest level to the highest: ${LIMIT.minLevels} to ${LIMIT.maxLevels} levels, each with a label (up to ${LIMIT.label} characters) and points from 0 to ${LIMIT.points} that rise from level to level.` }),
      h('table', { class: 'rb-levels' },
        h('caption', { class: 'rb-vh', text: 'Levels of the scale, lowest first' }),
        h('thead', {}, h('tr', {}, ...['Level', 'Label', 'Points', 'Key', 'Remove'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, ...rows)),
      h('button', { type: 'button', id: 'rb-add-level', class: 'small secondary', text: 'Add level', disabled: n >= LIMIT.maxLevels, onclick: addLevel }),
    );
  }

  function criteriaPart() {
    const n = st.criteria.length;
    const head = st.scale.map((l) => {
      const th = h('th', { scope: 'col' });
      relabelers.push(() => { th.textContent = `${l.label.trim() || `Level ${st.scale.indexOf(l) + 1}`} · ${pointsText(l)}`; });
      return th;
    });
    const rows = st.criteria.map((c, i) => {
      const title = h('input', {
        id: `rb-c${c.id}-title`, value: c.title, maxlength: LIMIT.title, autocomplete: 'off',
        oninput: (e) => { c.title = e.target.value; changed(); },
      });
      const weight = h('input', {
        id: `rb-c${c.id}-weight`, type: 'number', class: 'rb-num', min: 0, max: LIMIT.weight, step: 'any', value: c.weight,
        oninput: (e) => { c.weight = e.target.value; changed(false); },
      });
      const std = h('input', {
        id: `rb-c${c.id}-std`, value: c.standard, maxlength: LIMIT.standard, autocomplete: 'off', placeholder: 'optional',
        oninput: (e) => { c.standard = e.target.value; changed(false); },
      });
      const key = h('code');
      const cells = st.scale.map((l) => {
        const d = h('textarea', {
          id: `rb-c${c.id}-d${l.id}`, rows: 4, maxlength: LIMIT.descriptor, value: c.desc[l.id] || '',
          oninput: (e) => { c.desc[l.id] = e.target.value; changed(false); },
        });
        relabelers.push(() => d.setAttribute('aria-label', `Descriptor for ${critName(c)} at ${levelName(l)}`));
        return h('td', {}, d);
      });
      const button = (what, text, disabled, onclick) => h('button', { type: 'button', id: `rb-c${c.id}-${what}`, class: 'small secondary', text, disabled, onclick });
      const up = button('up', 'Up', i === 0, () => moveCriterion(c, -1));
      const down = button('down', 'Down', i === n - 1, () => moveCriterion(c, 1));
      const remove = button('remove', 'Remove', n <= 1, () => removeCriterion(c));
      relabelers.push((lk, ck) => {
        const name = critName(c);
        weight.setAttribute('aria-label', `Weight of ${name}`);
        std.setAttribute('aria-label', `Standard code for ${name}`);
        up.setAttribute('aria-label', `Move ${name} up`);
        down.setAttribute('aria-label', `Move ${name} down`);
        remove.setAttribute('aria-label', `Remove criterion ${name}`);
        key.textContent = ck[st.criteria.indexOf(c)];
      });
      return h('tr', {},
        h('td', { class: 'rb-crit' },
          h('label', { for: title.id, text: `Title of criterion ${i + 1}` }), title,
          h('span', { class: 'rb-pair' }, h('label', { for: weight.id, text: 'Weight' }), weight),
          h('span', { class: 'rb-pair' }, h('label', { for: std.id, text: 'Standard' }), std),
          h('span', { class: 'hint' }, 'key ', key)),
        ...cells,
        h('td', { class: 'rb-actions' }, up, down, remove));
    });
    return h('fieldset', { class: 'rb-part' },
      h('legend', { text: 'Criteria' }),
      h('p', { class: 'hint', text: `1 to ${LIMIT.maxCriteria} criteria. Describe what work at every level looks like (up to ${LIMIT.descriptor} characters each). A criterion's weight (more than 0, at most ${LIMIT.weight}; 1 by default) is how much it counts in the score.` }),
      h('div', { class: 'rb-grid-wrap', role: 'region', 'aria-label': 'Criteria and their descriptors at each level' },
        h('table', { class: 'rb-grid' },
          h('caption', { class: 'rb-vh', text: 'Criteria by level' }),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Criterion' }), ...head, h('th', { scope: 'col', text: 'Move or remove' }))),
          h('tbody', {}, ...rows))),
      h('button', { type: 'button', id: 'rb-add-criterion', class: 'small secondary', text: 'Add criterion', disabled: n >= LIMIT.maxCriteria, onclick: addCriterion }),
    );
  }

  function focusPart() {
    const items = st.focus.map((f, i) => {
      const input = h('input', {
        id: `rb-f${f.id}`, value: f.text, maxlength: LIMIT.focus, autocomplete: 'off',
        oninput: (e) => { f.text = e.target.value; changed(false); },
      });
      return h('li', {},
        h('label', { for: input.id, text: `Focus point ${i + 1}` }),
        h('span', { class: 'rb-line' }, input, h('button', {
          type: 'button', id: `rb-f${f.id}-remove`, class: 'small secondary', text: 'Remove',
          'aria-label': `Remove focus point ${i + 1}`, onclick: () => removeFocus(f),
        })));
    });
    return h('fieldset', { class: 'rb-part' },
      h('legend', { text: 'Focus points (optional)' }),
      h('p', { class: 'hint', text: `What you want the feedback to address beyond the criteria: up to ${LIMIT.maxFocus}, each up to ${LIMIT.focus} characters.` }),
      items.length ? h('ol', { class: 'rb-focus' }, ...items) : null,
      h('button', { type: 'button', id: 'rb-add-focus', class: 'small secondary', text: 'Add focus point', disabled: st.focus.length >= LIMIT.maxFocus, onclick: addFocus }),
    );
  }

  // --- editing ---

  function addLevel() {
    const last = st.scale.at(-1);
    const l = { id: nextID(), label: '', points: String(last && num(last.points) !== null ? num(last.points) + 1 : 1), key: '' };
    st.scale.push(l);
    render([`rb-l${l.id}-label`]);
    say(`Added level ${st.scale.length}; give it a label. Every criterion now has a descriptor for it.`);
  }

  function removeLevel(l) {
    const i = st.scale.indexOf(l);
    const name = levelName(l);
    st.scale.splice(i, 1);
    for (const c of st.criteria) delete c.desc[l.id];
    const next = st.scale[i] || st.scale[i - 1];
    render(next ? [`rb-l${next.id}-remove`, `rb-l${next.id}-label`] : ['rb-add-level']);
    say(`Removed level ${name} and its descriptors.`);
  }

  function addCriterion() {
    const c = newCriterion();
    st.criteria.push(c);
    render([`rb-c${c.id}-title`]);
    say(`Added criterion ${st.criteria.length}.`);
  }

  function removeCriterion(c) {
    const i = st.criteria.indexOf(c);
    const name = critName(c);
    st.criteria.splice(i, 1);
    const next = st.criteria[i] || st.criteria[i - 1];
    render(next ? [`rb-c${next.id}-title`] : ['rb-add-criterion']);
    say(`Removed criterion ${name}.`);
  }

  function moveCriterion(c, by) {
    const i = st.criteria.indexOf(c);
    const j = i + by;
    if (j < 0 || j >= st.criteria.length) return;
    [st.criteria[i], st.criteria[j]] = [st.criteria[j], st.criteria[i]];
    const [same, other] = by < 0 ? ['up', 'down'] : ['down', 'up'];
    render([`rb-c${c.id}-${same}`, `rb-c${c.id}-${other}`]);
    say(`Moved ${critName(c)} to position ${j + 1} of ${st.criteria.length}.`);
  }

  function addFocus() {
    const f = { id: nextID(), text: '' };
    st.focus.push(f);
    render([`rb-f${f.id}`]);
  }

  function removeFocus(f) {
    const i = st.focus.indexOf(f);
    st.focus.splice(i, 1);
    const next = st.focus[i] || st.focus[i - 1];
    render(next ? [`rb-f${next.id}-remove`] : ['rb-add-focus']);
    say(`Removed focus point ${i + 1}.`);
  }

  // --- loading: JSON, files, the library ---

  // use loads a parsed rubric into the builder.
  function use(parsed, write) {
    st = parsed.rubric;
    resume(false);
    render([], write);
    if (!showing && validate().length) {
      showing = true;
      showProblems(false);
    }
  }

  const summary = (p) => `${p.rubric.criteria.length} ${p.rubric.criteria.length === 1 ? 'criterion' : 'criteria'} on a scale of ${p.rubric.scale.length} levels`;
  const notes = (p) => (p.notes.length ? `; ${p.notes.join('; ')}` : '');

  // pause hands the rubric to the textarea while it holds text that is not
  // a rubric; resume hands it back to the builder.
  function pause(msg) {
    jsonBroken = true;
    builder.disabled = true;
    jsonBox.open = true;
    tell(jsonMsg, msg, true);
    tell(builderMsg, 'The builder is paused: the rubric JSON below does not read as a rubric yet. Fix the JSON, or discard the edits.', true);
    discard.hidden = false;
    problems.hidden = true;
  }

  function resume(write = true) {
    const was = jsonBroken;
    jsonBroken = false;
    builder.disabled = false;
    discard.hidden = true;
    tell(builderMsg, '');
    if (was) tell(jsonMsg, '');
    if (write) sync();
  }

  // fromTextarea loads the textarea's JSON into the builder; false if it
  // does not read as a rubric.
  function fromTextarea() {
    clearTimeout(pending);
    pending = 0;
    const p = parseRubric(textarea.value);
    if (p.error) {
      pause(`The rubric JSON ${p.error}.`);
      return false;
    }
    use(p, false);
    tell(jsonMsg, `The builder now shows this rubric: ${summary(p)}${notes(p)}.`);
    return true;
  }

  textarea.addEventListener('input', () => {
    clearTimeout(pending);
    pending = setTimeout(fromTextarea, 400);
  });

  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    if (!file) return;
    let text;
    try {
      text = await file.text();
    } catch (err) {
      tell(fileMsg, `${file.name} could not be read (${err.message}).`, true);
      return;
    }
    const p = parseRubric(text);
    if (p.error) {
      tell(fileMsg, `${file.name} ${p.error}. The builder is unchanged.`, true);
      return;
    }
    use(p, true);
    tell(jsonMsg, '');
    tell(fileMsg, `Imported ${file.name}: ${summary(p)}${notes(p)}. Adjust it in the builder below.`);
  });

  if (select) {
    const none = select.options[0];
    if (none && none.value === '') none.textContent = '— none: build or import the rubric below —';
    const libText = h('p', { id: 'rubric-lib-note' });
    const libMsg = h('p', { class: 'rb-msg', 'aria-live': 'polite', hidden: true });
    const copy = h('button', { type: 'button', class: 'small secondary', text: 'Copy into the builder', 'aria-describedby': libText.id });
    const note = h('div', { class: 'rb-lib', hidden: true }, libText, copy, libMsg);
    select.after(note);
    const chosen = () => {
      const lib = select.value !== '';
      own.hidden = lib;
      note.hidden = !lib;
      if (lib) {
        libText.textContent = `The library rubric “${select.selectedOptions[0].textContent}” will be used as it is; the builder is set aside. To change the rubric for this assignment, copy it into the builder.`;
        tell(libMsg, '');
      }
    };
    select.addEventListener('change', chosen);
    copy.addEventListener('click', async () => {
      const id = select.value;
      tell(libMsg, 'Loading the rubric…');
      try {
        const res = await fetch('/api/v1/rubrics', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
        const data = await res.json().catch(() => null);
        if (!res.ok) throw new Error(errorLines(data).join(' '));
        const saved = ((data && data.rubrics) || []).find((r) => r.id === id);
        if (!saved) throw new Error('it is no longer in the library.');
        const p = parseRubric(JSON.stringify(saved.rubric));
        if (p.error) throw new Error(`it ${p.error}.`);
        select.value = '';
        chosen();
        use(p, true);
        tell(fileMsg, `Copied “${saved.name}” from the library: ${summary(p)}. Changes here apply to this assignment only.`);
        document.getElementById('rb-title').focus();
      } catch (err) {
        tell(libMsg, `Could not copy the rubric: ${err.message}`, true);
      }
    });
    chosen();
  }

  form.addEventListener('submit', (e) => {
    if (select && select.value) return; // the library rubric is used
    if (pending && !fromTextarea()) {
      e.preventDefault();
      textarea.focus();
      return;
    }
    if (jsonBroken) {
      e.preventDefault();
      jsonBox.open = true;
      textarea.focus();
      return;
    }
    sync();
    showing = true;
    if (showProblems(true)) e.preventDefault();
  });

  // Start from what the page holds: the posted JSON when the server sent
  // the form back with errors, else the default scale and one criterion.
  if (textarea.value.trim() === '') {
    render();
  } else {
    const p = parseRubric(textarea.value);
    if (p.error) {
      render([], false);
      pause(`The rubric JSON ${p.error}.`);
    } else {
      if (document.querySelector('.errors')) showing = true;
      use(p, false);
      if (p.notes.length) tell(jsonMsg, `Loaded into the builder${notes(p)}.`);
    }
  }
}

if (textarea && textarea.form && document.getElementById('rubric-own')) start(textarea.form);
