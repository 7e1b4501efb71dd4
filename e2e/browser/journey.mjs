// The whole Margin journey through the web pages, in headless Chromium:
//   1. the teacher uploads the fixture ZIP and sees the progress bar finish,
//      publishes, and finds a grader;
//   2. the grader accepts the offer, selects passages with the mouse,
//      attaches comments, fills the rubric and submits;
//   3. the teacher approves and releases, and makes the student's link;
//   4. the student opens the link, sees the highlighted quote and rates it;
//   5. the teacher sees the class summary chart.
// TestE2EWeb (e2e/web_test.go) sets up the accounts and runs this with the
// environment below; every step saves a screenshot to SCREENSHOTS.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('BASE_URL');
const PASSWORD = env('PASSWORD');
const TEACHER = env('TEACHER_EMAIL');
const GRADER = env('GRADER_EMAIL');
const ASSIGNMENT = env('ASSIGNMENT_ID');
const CLASS = env('CLASS_ID');
const ZIP = env('ZIP');
const SHOTS = env('SCREENSHOTS');

const step = (msg) => console.log(`step: ${msg}`);
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: false });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// newUser opens a fresh browser context (its own cookies) that fails the
// run on any page error or Content-Security-Policy violation.
const open = []; // every page, to show where the journey stopped
async function newUser(viewport = { width: 1366, height: 768 }) {
  const ctx = await browser.newContext({ viewport, baseURL: BASE });
  const page = await ctx.newPage();
  open.push(page);
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => { throw new Error(`page error on ${page.url()}: ${e.message}`); });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) {
      throw new Error(`CSP violation on ${page.url()}: ${m.text()}`);
    }
  });
  return page;
}

async function signIn(page, email) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

// selectWithMouse drags the mouse across the code points [start, end) of
// the #essay text, as a person selecting a passage would.
async function selectWithMouse(page, start, end) {
  const box = await page.evaluate(([s, e]) => {
    const essay = document.getElementById('essay');
    const at = (n) => { // the text node and offset of code point n
      const w = document.createTreeWalker(essay, NodeFilter.SHOW_TEXT);
      let seen = 0;
      for (let t = w.nextNode(); t; t = w.nextNode()) {
        const cps = [...t.data];
        if (seen + cps.length > n) return [t, cps.slice(0, n - seen).join('').length];
        seen += cps.length;
      }
      return null;
    };
    const rect = (n) => { const [t, o] = at(n); const r = document.createRange(); r.setStart(t, o); r.setEnd(t, o + 1); return r.getBoundingClientRect(); };
    const [t0] = at(s);
    t0.parentElement.scrollIntoView({ block: 'center' });
    const a = rect(s); const b = rect(e - 1);
    return { x1: a.left + 1, y1: a.top + a.height / 2, x2: b.right - 1, y2: b.top + b.height / 2 };
  }, [start, end]);
  await page.mouse.move(box.x1, box.y1);
  await page.mouse.down();
  await page.mouse.move((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, { steps: 5 });
  await page.mouse.move(box.x2, box.y2, { steps: 5 });
  await page.mouse.up();
}

// freeSentences returns [start, end) code-point ranges of the first
// sentences of the essay (ending with a full stop) not highlighted yet.
async function freeSentences(page) {
  return page.evaluate(() => {
    const text = [...document.getElementById('essay').textContent];
    const marked = new Set();
    let at = 0;
    for (const n of document.getElementById('essay').childNodes) {
      const len = [...n.textContent].length;
      if (n.nodeName === 'MARK') for (let i = at; i < at + len; i++) marked.add(i);
      at += len;
    }
    const out = []; let s = 0;
    for (let i = 0; i < text.length && out.length < 4; i++) {
      if (text[i] === '\n') s = i + 1;
      if (text[i] === '.') {
        let a = s; let b = i + 1;
        while (a < b && /\s/.test(text[a])) a++;
        while (b > a && /\s/.test(text[b - 1])) b--;
        let free = true;
        for (let k = a; k < b; k++) if (marked.has(k)) free = false;
        if (b - a >= 30 && b - a < 300 && free) out.push([a, b]);
        s = i + 1;
      }
    }
    return out;
  });
}

try {
  // 1. The teacher uploads the ZIP, publishes, and finds a grader.
  step('teacher uploads the fixture ZIP');
  const teacher = await newUser();
  await signIn(teacher, TEACHER);
  await teacher.goto(`/teacher/assignments/${ASSIGNMENT}`);
  await teacher.setInputFiles('#files', ZIP);
  await teacher.getByRole('button', { name: 'Upload' }).click();
  await teacher.waitForSelector('#upload[data-state="done"]');
  assert.equal(await teacher.$eval('#upload-progress', (p) => p.value), 100);
  const outcomes = await teacher.$$eval('#upload-outcomes li', (ls) => ls.map((l) => l.textContent));
  assert.equal(outcomes.filter((o) => /: created/.test(o)).length, 5, outcomes.join('\n'));
  await shot(teacher, '01-teacher-upload.png');

  step('teacher publishes and finds a grader');
  await teacher.reload();
  await teacher.getByRole('button', { name: 'Publish for grading' }).click();
  // A round already running (the background loop's) answers "try again in
  // a moment"; the teacher does, as the page says.
  for (let attempt = 1; ; attempt++) {
    await teacher.goto(`/teacher/assignments/${ASSIGNMENT}`);
    await teacher.getByRole('button', { name: 'Find graders now' }).click();
    await teacher.waitForURL(/done=matched|\/match$/);
    if (await teacher.getByText('offered', { exact: true }).first().isVisible()) break;
    const said = await teacher.locator('main').innerText();
    if (attempt === 4 || !/try again in a moment/.test(said)) throw new Error(`matching did not offer the batch:\n${said}`);
    console.log(`matching busy (attempt ${attempt}); trying again`);
    await teacher.waitForTimeout(5000);
  }
  await shot(teacher, '02-teacher-matching.png');

  // 2. The grader accepts, quotes two passages with the mouse, and submits.
  step('grader accepts the offer');
  const grader = await newUser();
  await signIn(grader, GRADER);
  await grader.getByRole('button', { name: 'Accept' }).first().click();
  await grader.waitForURL(/done=accepted/);
  await grader.locator('a.task-link').first().click();
  await grader.waitForSelector('#essay');

  step('grader fills the rubric');
  const crits = await grader.$$eval('[data-level]', (els) => els.map((e) => e.dataset.level));
  for (const [i, key] of crits.entries()) {
    const opts = await grader.$$eval(`#level-${key} option`, (os) => os.map((o) => o.value).filter(Boolean));
    await grader.selectOption(`#level-${key}`, opts[(i + 1) % opts.length]);
    await grader.fill(`#comment-${key}`, `The essay shows solid work on ${key}; the quoted passages show where it is strongest.`);
  }
  for (const el of await grader.$$('[data-focus]')) {
    await el.fill('The essay touches on this in its middle section; make it explicit in the conclusion.');
  }
  await grader.getByText(/Draft saved at/).waitFor();

  for (const [kind, comment] of [['strength', 'A clear, specific claim that sets up the whole argument.'],
    ['growth', 'bank']]) {
    step(`grader selects a passage with the mouse and attaches a ${kind}`);
    const [[s, e]] = await freeSentences(grader);
    await selectWithMouse(grader, s, e);
    await grader.waitForFunction(() => !document.getElementById('attach').disabled);
    const picked = await grader.textContent('#selection');
    assert.ok(picked.length > 20, `selection shown: ${picked}`);
    if (comment === 'bank') { // the grader's saved comment, with its kind
      await grader.selectOption('#bank-pick', { index: 1 });
      assert.match(await grader.inputValue('#q-comment'), /^Which study shows this\?/);
      assert.ok(await grader.isChecked('input[name=q-kind][value=growth]'));
    } else {
      await grader.check(`input[name=q-kind][value=${kind}]`);
      await grader.fill('#q-comment', comment);
    }
    await Promise.all([grader.waitForEvent('load'), grader.click('#attach')]);
    await grader.waitForSelector(`#essay mark.${kind}`);
  }
  step('grader selects a passage with the keyboard only and attaches a comment');
  {
    const [[s]] = await freeSentences(grader);
    await grader.focus('#essay');
    // Put the caret at the sentence's start, as the arrow keys would.
    await grader.evaluate((n) => {
      const w = document.createTreeWalker(document.getElementById('essay'), NodeFilter.SHOW_TEXT);
      let seen = 0;
      for (let t = w.nextNode(); t; t = w.nextNode()) {
        const cps = [...t.data];
        if (seen + cps.length > n) { window.getSelection().collapse(t, cps.slice(0, n - seen).join('').length); return; }
        seen += cps.length;
      }
    }, s);
    const before = await grader.textContent('#essay');
    for (let i = 0; i < 5; i++) await grader.keyboard.press('Shift+Control+ArrowRight');
    await grader.waitForFunction(() => !document.getElementById('attach').disabled);
    const picked = (await grader.textContent('#selection')).replace(/^“|”$/g, '');
    const want = [...before].slice(s).join('');
    assert.ok(picked.length >= 10 && want.startsWith(picked.trimEnd()), `keyboard selection ${JSON.stringify(picked)} is not the start of ${JSON.stringify(want.slice(0, 80))}`);
    await grader.keyboard.type('x'); // typing must not change the student's text
    assert.equal(await grader.textContent('#essay'), before);
    await grader.keyboard.press('Enter');
    assert.equal(await grader.evaluate(() => document.activeElement.id), 'q-comment');
    await grader.keyboard.type('Precise wording: this phrase names exactly what the essay argues.');
    await grader.keyboard.press('Tab');
    assert.equal(await grader.evaluate(() => document.activeElement.id), 'attach');
    await Promise.all([grader.waitForEvent('load'), grader.keyboard.press('Enter')]);
    await grader.waitForSelector('#essay mark');
  }
  assert.equal(await grader.locator('#essay mark').count(), 3);
  assert.equal(await grader.locator('#missing li').count(), 0, await grader.textContent('#missing'));
  await grader.evaluate(() => { window.scrollTo(0, 0); document.getElementById('essay').scrollTop = 0; });
  await shot(grader, '03-grader-workspace.png');

  step('grader submits');
  await grader.click('#submit-feedback');
  await grader.waitForURL(/done=submitted/);
  await grader.getByText('submitted', { exact: true }).first().waitFor();

  // 3. The teacher reviews, approves, releases, and makes the student's link.
  step('teacher reviews and approves');
  await teacher.goto(`/teacher/assignments/${ASSIGNMENT}`);
  await teacher.getByRole('link', { name: 'Review' }).first().click();
  await teacher.waitForSelector('#essay mark.strength');
  const student = (await teacher.textContent('h1')).replace('Feedback for ', '').trim();
  await shot(teacher, '04-teacher-review.png');
  await teacher.getByRole('button', { name: 'Approve' }).click();
  await teacher.waitForURL(/done=approved/);
  step('teacher releases');
  await teacher.getByRole('button', { name: /Release approved feedback/ }).click();
  await teacher.waitForURL(/done=released/);
  await teacher.getByText('released', { exact: true }).first().waitFor();
  await teacher.goto(`/teacher/classes/${CLASS}`);
  await teacher.getByRole('button', { name: `New access link for ${student}` }).click();
  const link = await teacher.getAttribute('a.access-link', 'href');
  assert.match(link, /^\/s\//);

  // 4. The student, on a phone, opens the link, sees the quote and rates it.
  step(`student ${student} opens the access link`);
  const phone = await newUser({ width: 390, height: 844 });
  await phone.goto(link);
  await phone.getByRole('button', { name: 'Open my feedback' }).click();
  await phone.waitForURL(/\/student$/);
  await phone.getByRole('link', { name: /Research essay/ }).click();
  const mark = phone.locator('#essay mark.strength').first();
  await mark.waitFor();
  assert.ok((await mark.textContent()).length > 20);
  await shot(phone, '05-student-feedback.png');
  step('student rates the quoted comment');
  await phone.locator('form.rate').first().getByRole('button', { name: '4 of 5' }).click();
  await phone.getByText('Thank you: you rated this comment 4 of 5.').waitFor();
  await phone.getByText('Thank you').first().scrollIntoViewIfNeeded();
  await shot(phone, '06-student-rated.png');

  // 5. The teacher sees the class summary chart.
  step('teacher sees the class summary chart');
  await teacher.goto(`/teacher/assignments/${ASSIGNMENT}/summary`);
  await teacher.waitForFunction(() => { const i = document.getElementById('levels-chart'); return i && i.complete && i.naturalWidth > 0; });
  await shot(teacher, '07-teacher-summary.png');
  console.log('journey: ok');
} catch (err) {
  for (const p of open) {
    console.log(`--- ${p.url()}\n${await p.locator('main').innerText().catch(() => '(no main)')}`);
  }
  throw err;
} finally {
  await browser.close();
}
