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
import assert from 'node:assert/strict';
import path from 'node:path';
import { browser, open, newUser, noInternalIDs, noSidewaysScroll, signIn, selectWithMouse, freeSentences } from './lib.mjs';

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

// attachKeepsPlace attaches a quoted comment with act and checks that the
// page did not reload and the essay kept its scroll position.
async function attachKeepsPlace(page, act) {
  // The grader has scrolled on in the essay since selecting the passage
  // (the selection stays); a reload would put the essay back at the top.
  const place = () => page.evaluate(() => { const e = document.getElementById('essay'); return { same: window.__samePage === true, marks: e.querySelectorAll('mark').length, top: e.scrollTop }; });
  await page.evaluate(() => { window.__samePage = true; document.getElementById('essay').scrollTop += 240; });
  const before = await place();
  assert.ok(before.top > 0, 'the essay does not scroll');
  await act();
  await page.waitForFunction((n) => document.querySelectorAll('#essay mark').length > n, before.marks);
  const after = await place();
  assert.ok(after.same, 'attaching a quote reloaded the page');
  assert.ok(Math.abs(after.top - before.top) <= 2, `attaching a quote scrolled the essay from ${before.top}px to ${after.top}px`);
}

// columnFits checks that the rubric column does not scroll sideways, that
// every field starts and ends inside it, and that what is still missing is
// in view.
async function columnFits(page) {
  await noSidewaysScroll(page, '#grade-form');
  const bad = await page.$eval('#grade-form', (f) => {
    const box = f.getBoundingClientRect();
    return [...f.querySelectorAll('select, textarea, input, button')].filter((e) => e.offsetParent)
      .map((e) => [e.id || e.name || e.textContent, e.getBoundingClientRect(), e.type === 'radio' || e.type === 'checkbox', /^(SELECT|TEXTAREA)$/.test(e.tagName)])
      .filter(([, r, small, wide]) => r.left < box.left - 1 || r.right > box.right + 1 || (!small && r.height < 24) || (wide && r.width < box.width * 0.6)).map(([n, r]) => `${n}: ${Math.round(r.left)}–${Math.round(r.right)} (${Math.round(r.height)}px tall) in ${Math.round(box.left)}–${Math.round(box.right)}`);
  });
  assert.deepEqual(bad, [], 'fields outside the rubric column or too small');
  const m = await page.$eval('#missing-h', (h) => { const r = h.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; });
  assert.ok(m, 'what is still missing is out of view');
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
  // The list below shows the new submissions without a reload.
  assert.equal(await teacher.locator('#submissions-list tbody tr').count(), 5);
  assert.equal(await teacher.getByText('No submissions yet.').count(), 0);
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
    if (await teacher.locator('.badge', { hasText: 'Offered to a grader' }).first().isVisible()) break;
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
  await columnFits(grader);
  await grader.setViewportSize({ width: 1280, height: 720 });
  await columnFits(grader);
  await grader.setViewportSize({ width: 1366, height: 768 });
  await noInternalIDs(grader);

  step('a reload within 200 ms of typing keeps the text');
  {
    const typed = `The essay shows solid work on ${crits[0]}; typed just before a reload, it must survive.`;
    await grader.fill(`#comment-${crits[0]}`, typed);
    await grader.waitForTimeout(100);
    await grader.reload();
    await grader.waitForSelector('#essay');
    assert.equal(await grader.inputValue(`#comment-${crits[0]}`), typed);
    await grader.getByText(/Draft saved/).first().waitFor();
    await grader.reload(); // and the server has it, not only this browser
    assert.equal(await grader.inputValue(`#comment-${crits[0]}`), typed);
  }

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
    await attachKeepsPlace(grader, () => grader.click('#attach'));
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
    await attachKeepsPlace(grader, () => grader.keyboard.press('Enter'));
    await grader.waitForSelector('#essay mark');
  }
  assert.equal(await grader.locator('#essay mark').count(), 3);
  assert.equal(await grader.locator('#missing li').count(), 0, await grader.textContent('#missing'));
  await grader.evaluate(() => { window.scrollTo(0, 0); document.getElementById('essay').scrollTop = 0; });
  await shot(grader, '03-grader-workspace.png');

  step('grader submits');
  const taskURL = grader.url();
  await grader.click('#submit-feedback');
  await grader.waitForURL(/done=submitted/);
  await noInternalIDs(grader);
  step('submitted work is read-only and says so');
  await grader.goto(taskURL);
  await grader.locator('#readonly-note').waitFor();
  assert.ok(await grader.locator(`#comment-${crits[0]}`).isDisabled());
  assert.equal(await grader.locator('#submit-feedback').count(), 0);
  await grader.goto('/grader');
  await grader.locator('.badge', { hasText: 'Sent to the teacher' }).first().waitFor();

  // 3. The teacher reviews, approves, releases, and makes the student's link.
  step('teacher reviews and approves');
  await teacher.goto(`/teacher/assignments/${ASSIGNMENT}`);
  // The table names the student (to the teacher), with levels and the
  // weighted total, and sorts by a column.
  {
    const row = teacher.locator('#feedback-table tbody tr').first();
    assert.match(await row.locator('th').innerText(), /^[A-Z][a-z]+ [A-Z][a-z]+/);
    assert.match(await row.locator('td.total').innerText(), /^\d+%$/);
    await teacher.getByRole('button', { name: 'Weighted total' }).click();
    assert.equal(await teacher.getAttribute('#feedback-table th[aria-sort]', 'aria-sort'), 'ascending');
    await teacher.locator('#brief summary').click();
    await teacher.locator('#brief table.rubric-view').waitFor();
    await noInternalIDs(teacher);
  }
  await teacher.getByRole('link', { name: 'Review' }).first().click();
  await teacher.locator('#review-nav').getByText('1 of 1').waitFor();
  await teacher.waitForSelector('#essay mark.strength');
  const student = (await teacher.textContent('h1')).replace('Feedback for ', '').trim();
  await shot(teacher, '04-teacher-review.png');
  await teacher.getByRole('button', { name: 'Approve' }).click();
  await teacher.waitForURL(/done=approved/);
  step('teacher releases');
  await teacher.getByRole('button', { name: /Release approved feedback/ }).click();
  await teacher.getByRole('dialog').getByText('Release feedback to 1 student?').waitFor();
  await shot(teacher, '16-teacher-release-confirm.png');
  await teacher.getByRole('button', { name: 'Release to 1 student' }).click();
  await teacher.waitForURL(/done=released/);
  await teacher.locator('.badge', { hasText: 'Released' }).first().waitFor();
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
  await noInternalIDs(phone);
  await noSidewaysScroll(phone);
  // Phone first: levels, glows and grows, and the first comment are on the
  // first screen, before the student's own text.
  const first = await phone.$eval('#comments li .comment-text', (e) => { const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, h: innerHeight }; });
  assert.ok(first.bottom <= first.h, `the first comment ends at ${first.bottom}px, below the first screen (${first.h}px)`);
  assert.ok(await phone.$eval('#levels-h', (h) => h.compareDocumentPosition(document.getElementById('essay')) & Node.DOCUMENT_POSITION_FOLLOWING));
  // Each comment links to its highlight and back.
  const cid = (await phone.getAttribute('#comments li', 'id')).replace(/^c-/, '');
  await phone.click(`#c-${cid} a.to-quote`);
  await phone.waitForFunction((id) => location.hash === `#q-${id}`, cid);
  const inView = (sel) => phone.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; });
  assert.ok(await inView(`#q-${cid}`), 'the highlight is not in view after following its comment');
  assert.equal(await phone.getAttribute(`#q-${cid}`, 'id'), `q-${cid}`);
  await phone.click(`a.mark-link[href="#c-${cid}"]`);
  await phone.waitForFunction((id) => location.hash === `#c-${id}`, cid);
  assert.ok(await inView(`#c-${cid}`), 'the comment is not in view after following its highlight');
  await phone.evaluate(() => window.scrollTo(0, 0));
  await shot(phone, '05-student-feedback.png');
  step('student rates the quoted comment');
  await phone.locator('form.rate').first().getByRole('button', { name: '4 of 5' }).click();
  await phone.getByText('Thank you: you rated this comment 4 of 5.').waitFor();
  await phone.getByText('Thank you').first().scrollIntoViewIfNeeded();
  await shot(phone, '06-student-rated.png');

  step('student reads their progress on the phone');
  await phone.goto('/student/progress');
  await phone.locator('#progress-chart .pc-level strong').first().waitFor();
  await noSidewaysScroll(phone);
  await noInternalIDs(phone);
  const [bodyFont, chartFont] = await phone.evaluate(() => [getComputedStyle(document.body).fontFamily, getComputedStyle(document.querySelector('#progress-chart .pc-level')).fontFamily]);
  assert.equal(chartFont, bodyFont);
  await shot(phone, '14-student-progress-phone.png');

  step('a replaced or bad link says so, not the staff sign-in');
  await teacher.goto(`/teacher/classes/${CLASS}`);
  await teacher.getByRole('button', { name: `New access link for ${student}` }).click();
  await phone.goto('/student');
  await phone.getByText('This link no longer works; ask your teacher for a new one').waitFor();
  assert.equal(await phone.locator('input[type=password]').count(), 0);
  await phone.goto('/s/not-a-link-anyone-was-given');
  await phone.getByText('This link no longer works; ask your teacher for a new one').waitFor();
  await shot(phone, '15-student-link-dead.png');

  // 5. The teacher sees the class summary chart.
  step('teacher sees the class summary chart');
  await teacher.goto(`/teacher/assignments/${ASSIGNMENT}/summary`);
  await teacher.waitForFunction(() => { const i = document.getElementById('levels-chart'); return i && i.complete && i.naturalWidth > 0; });
  await shot(teacher, '07-teacher-summary.png');
  // 6. A new teacher and a new grader sign up from the web alone.
  step('the signed-out home page says what Margin is; a teacher signs up');
  const newcomer = await newUser();
  await newcomer.goto('/');
  await newcomer.getByRole('heading', { level: 1, name: /Margin: detailed feedback/ }).waitFor();
  await shot(newcomer, '17-home-signed-out.png');
  await newcomer.getByRole('link', { name: 'Sign up as a teacher' }).click();
  await newcomer.getByLabel('Your name').fill('Dana Okafor');
  await newcomer.getByLabel('Email').fill('dana.okafor@westfield.example.org');
  await newcomer.getByLabel('Password').fill(PASSWORD);
  await newcomer.getByLabel('School name').fill('Westfield Middle');
  await shot(newcomer, '18-signup.png');
  await newcomer.getByRole('button', { name: 'Create my account' }).click();
  await newcomer.waitForURL(/\/teacher\?done=welcome/);
  const code = (await newcomer.textContent('#invite-code')).trim();
  assert.ok(code.length >= 6, `invite code ${code}`);
  assert.match(await newcomer.inputValue('#invite-link'), new RegExp(`/signup\\?invite=${code}$`));
  await noInternalIDs(newcomer);
  await newcomer.context().close();

  step('a grader signs up and sees the steps to being offered work');
  const recruit = await newUser();
  await recruit.goto('/signup?role=grader');
  assert.ok(await recruit.isHidden('#school'));
  await recruit.getByLabel('Your name').fill('Sam Reyes');
  await recruit.getByLabel('Email').fill('sam.reyes@tutors.example.net');
  await recruit.getByLabel('Password').fill(PASSWORD);
  await recruit.getByRole('button', { name: 'Create my account' }).click();
  await recruit.waitForURL(/\/grader\?done=welcome/);
  await recruit.locator('#readiness').getByText('Write your profile').waitFor();
  await shot(recruit, '19-grader-checklist.png');
  await recruit.context().close();

  console.log('journey: ok');
} catch (err) {
  for (const [i, p] of open.entries()) {
    console.log(`--- ${p.url()}\n${await p.locator('main').innerText().catch(() => '(no main)')}`);
    // FAIL_SHOTS: a directory for a screenshot of each page as it was.
    if (process.env.FAIL_SHOTS) await p.screenshot({ path: path.join(process.env.FAIL_SHOTS, `fail-${i}.png`) }).catch(() => {});
  }
  throw err;
} finally {
  await browser.close();
}
