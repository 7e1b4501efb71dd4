// The student's, grader's, admin's and sign-in side of issue 21, in
// headless Chromium against `margin serve --demo` with email off:
//   1. "Forgot password?" on the sign-in page says that this Margin sends
//      no email and whom to ask;
//   2. the admin's graders page filters by vetting state and shows each
//      grader's profile; Reject and releasing payouts ask first (declined
//      here: nothing changes); the admin makes a reset link for a grader;
//   3. the grader, signed in elsewhere, sets a new password with the link
//      (a mismatch is refused with its sentence); their other session has
//      ended, the link does not work twice, the new password signs in;
//   4. a student on a 390x844 phone reads standards as words, makes a
//      family link (copied with its button; reloading makes no second one),
//      and the progress chart's labels stay on the screen; they hand in a
//      revision, which reads "being read" on their list and their feedback;
//   5. after a matching round, the grader of the revision sees the revision
//      tag and the previous version's feedback, and saves a criterion's
//      comment to their comment bank from the workspace.
// Each new page passes the axe audit (serious and critical WCAG 2.1 AA
// violations fail). web_people_test.go runs this and checks the result
// through the JSON API.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { browser, newUser, signIn, axeViolations, noSidewaysScroll, noInternalIDs } from './lib.mjs';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('BASE_URL');
const PASSWORD = env('PASSWORD');
const NEW_PASSWORD = env('NEW_PASSWORD');
const ADMIN = env('ADMIN_EMAIL');
const RESET_GRADER = env('RESET_GRADER_EMAIL');
const GRADERS = env('GRADER_EMAILS').split(',');
const STUDENT_LINK = env('STUDENT_LINK');
const SHOTS = env('SCREENSHOTS');

const step = (msg) => console.log(`step: ${msg}`);
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: false });

// clipboardUser is a new user whose page may use the clipboard (the Copy
// buttons).
async function clipboardUser(viewport) {
  const page = await newUser(viewport);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  return page;
}

// audit fails the run on serious or critical axe violations, and on a page
// that scrolls sideways.
async function audit(page) {
  const bad = (await axeViolations(page))
    .map((v) => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
  assert.deepEqual(bad, [], `accessibility of ${page.url()}`);
  await noSidewaysScroll(page);
}

// answerDialog declines (or accepts) the next confirmation and returns its
// question.
function answerDialog(page, accept) {
  return new Promise((resolve) => {
    page.once('dialog', async (d) => { const q = d.message(); if (accept) await d.accept(); else await d.dismiss(); resolve(q); });
  });
}

// --- 1. Forgot password, with email off ---
step('forgot password');
const anon = await clipboardUser();
await anon.goto('/signin');
await anon.getByRole('link', { name: 'Forgot password?' }).click();
await anon.waitForURL('**/signin/forgot');
const forgot = await anon.locator('main').innerText();
assert.match(forgot, /does not send email/, 'the forgot page does not say email is off');
assert.match(forgot, /administrator/, 'the forgot page does not say whom to ask');
await audit(anon);

// --- 2. The admin: vetting list, confirmations, a reset link ---
step('admin: graders filtered, with profiles');
const admin = await clipboardUser();
await signIn(admin, ADMIN);
await admin.goto('/admin');
assert.equal(await admin.locator('nav.filters a[aria-current="page"]').innerText().then((s) => s.replace(/\s*\(\d+\)$/, '')), 'Waiting for vetting');
await admin.getByRole('link', { name: /^All graders/ }).click();
await admin.waitForURL('**/admin?status=all');
const cards = admin.locator('ul.vetting > li');
assert.equal(await cards.count(), GRADERS.length, 'the list of all graders');
const card = cards.filter({ hasText: 'Ana Okoye' });
for (const field of ['Subjects', 'Grades', 'Capacity', 'Affiliations', 'Record']) {
  assert.equal(await card.locator('dt', { hasText: field }).count(), 1, `Ana's profile lacks ${field}`);
}
await noInternalIDs(admin);
await audit(admin);
await admin.getByRole('link', { name: /^Approved/ }).click();
await admin.waitForURL('**/admin?status=approved');
const approved = await admin.locator('ul.vetting > li').count();
step('admin: Reject asks first');
const asked = answerDialog(admin, false);
await admin.locator('ul.vetting > li', { hasText: 'Ana Okoye' }).getByRole('button', { name: 'Reject Ana Okoye' }).click();
assert.match(await asked, /Reject Ana Okoye\?/);
await admin.waitForTimeout(300);
await admin.reload();
assert.equal(await admin.locator('ul.vetting > li').count(), approved, 'declining the question still rejected the grader');

step('admin: releasing payouts asks first');
await admin.goto('/admin/payouts');
const runsBefore = await admin.locator('table tbody tr').count();
const release = answerDialog(admin, false);
await admin.getByRole('button', { name: 'Start a payout run' }).click();
assert.match(await release, /Release the payouts now\?/);
await admin.waitForTimeout(300);
await admin.reload();
assert.equal(await admin.locator('table tbody tr').count(), runsBefore, 'declining the question still started a payout run');

step('admin: a reset link for a grader');
await admin.goto('/admin');
await admin.getByLabel('Their email').fill(RESET_GRADER);
await admin.getByRole('button', { name: 'Make a reset link' }).click();
const resetURL = await admin.locator('#reset-link').inputValue();
assert.match(resetURL, new RegExp(`^${BASE}/reset/[A-Za-z0-9_-]{40,}$`), 'the reset link');
await admin.getByRole('button', { name: 'Copy the link' }).click();
await admin.getByRole('button', { name: 'Copied' }).waitFor();
assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), resetURL, 'Copy put something else on the clipboard');
await shot(admin, '40-admin-reset-link.png');
await audit(admin);

// --- 3. The grader sets a new password with the link ---
step('grader: a new password with the link');
const before = await clipboardUser();
await signIn(before, RESET_GRADER);
const reset = await clipboardUser();
await reset.goto(resetURL);
await reset.getByRole('heading', { name: 'Choose a new password' }).waitFor();
assert.match(await reset.locator('main').innerText(), new RegExp(RESET_GRADER.replace(/[.]/g, '\\.')));
await audit(reset);
await reset.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
await reset.getByLabel('The new password again').fill(NEW_PASSWORD + 'x');
await reset.getByRole('button', { name: 'Set the new password' }).click();
await reset.getByText('The two passwords are not the same').waitFor();
await reset.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
await reset.getByLabel('The new password again').fill(NEW_PASSWORD);
await reset.getByRole('button', { name: 'Set the new password' }).click();
await reset.waitForURL('**/signin?done=password');
assert.match(await reset.locator('main').innerText(), /Your new password is set/);
await before.goto('/grader');
assert.match(new URL(before.url()).pathname, /^\/signin/, 'the session from before the reset still works');
const again = await reset.goto(resetURL);
assert.equal(again.status(), 401, 'the used link');
assert.match(await reset.locator('main').innerText(), /no longer works/);
await signIn(reset, RESET_GRADER, NEW_PASSWORD);
assert.equal(new URL(reset.url()).pathname, '/grader');

// --- 4. The student on a phone ---
step('student: standards, family link, chart on a phone');
const student = await clipboardUser({ width: 390, height: 844 });
await student.goto(STUDENT_LINK);
await student.getByRole('button', { name: 'Open my feedback' }).click();
await student.waitForURL('**/student');
await student.goto('/student/progress');
const standards = await student.locator('.pc-standard').allInnerTexts();
assert.ok(standards.length > 0, 'no standards on the progress page');
assert.ok(standards.some((s) => /State a precise claim.*W\.9-10\.1\.A/s.test(s)), `standards read ${JSON.stringify(standards)}`);
assert.ok(!(await student.locator('main').innerText()).includes('CCSS.ELA-LITERACY'), 'a standard shows as its whole code');
const clipped = await student.$$eval('#progress-chart .pc-when, #progress-chart .pc-level, #progress-chart h3, #progress-chart meter', (es) => es
  .map((e) => [e.textContent.trim(), e.getBoundingClientRect()]).filter(([, r]) => r.left < 0 || r.right > innerWidth + 1).map(([t]) => t));
assert.deepEqual(clipped, [], 'chart labels off the 390px screen');
const font = await student.evaluate(() => [getComputedStyle(document.body).fontFamily, getComputedStyle(document.querySelector('#progress-chart .pc-level')).fontFamily]);
assert.equal(font[1], font[0], 'the chart is not in the page font');
await audit(student);
const links = () => student.locator('ul.family-links > li').count();
const n = await links();
// A double press sends one form: one link.
await student.getByRole('button', { name: 'Create a family link' }).dblclick();
await student.waitForURL((u) => u.pathname === '/student/progress');
await student.locator('#new-link').waitFor();
const familyURL = await student.locator('#new-link').inputValue();
assert.match(familyURL, /\/family\?token=shl_/, 'the new family link');
assert.equal(await links(), n + 1);
await student.getByRole('button', { name: 'Copy the link' }).click();
await student.getByRole('button', { name: 'Copied' }).waitFor();
assert.equal(await student.evaluate(() => navigator.clipboard.readText()), familyURL);
const canShare = await student.evaluate(() => typeof navigator.share === 'function');
assert.equal(await student.getByRole('button', { name: 'Share…' }).isVisible(), canShare, 'the Share button shows where the device cannot share, or hides where it can');
await shot(student, '41-student-family-link.png');
await student.reload();
assert.equal(await student.locator('#new-link').count(), 0, 'reloading shows the link again');
assert.equal(await links(), n + 1, 'reloading made a second family link');

step('student: standards on the feedback, a revision being read');
await student.goto('/student');
await student.locator('a[href^="/student/submissions/"]').first().click();
const feedbackURL = student.url();
await student.locator('.level-list details').first().click();
assert.match(await student.locator('.fb-standard').first().innerText(), /Standard: [A-Z][a-z]+ .*\([A-Z]\.9-10/s, 'the feedback page\'s standard');
const file = path.join(os.tmpdir(), `revision-${process.pid}.txt`);
writeFileSync(file, 'My revised essay now cites two studies on personalized learning and answers the question directly. '.repeat(12));
await student.getByLabel('Your revised file').setInputFiles(file);
await student.getByRole('button', { name: 'Upload revision' }).click();
await student.waitForURL('**/student?done=revision');
assert.match(await student.locator('main').innerText(), /version 2 being read/);
assert.doesNotMatch(await student.locator('ul.cards li').first().innerText(), /✓ feedback ready/, 'the revision reads feedback ready');
await student.goto(feedbackURL);
assert.match(await student.locator('.being-read').innerText(), /Version 2 being read/);
await shot(student, '42-student-revision-being-read.png');
await audit(student);

// --- 5. The revision's grader ---
step('grader: the revision, with the previous feedback');
await admin.goto('/admin');
await admin.getByRole('button', { name: 'Run a matching round now' }).click();
await admin.waitForURL('**/admin*done=round*');
let grader = null;
for (const email of GRADERS) {
  const g = await clipboardUser();
  await signIn(g, email, email === RESET_GRADER ? NEW_PASSWORD : PASSWORD);
  for (let i = await g.locator('button.accept').count(); i > 0; i--) {
    await g.locator('button.accept').first().click();
    await g.waitForURL('**/grader?done=accepted');
  }
  const rev = g.locator('tr', { hasText: 'Revision: version 2' }).filter({ hasText: 'First' });
  if (await rev.count()) { grader = g; await rev.locator('a.task-link').click(); break; }
}
assert.ok(grader, 'no grader was given the revision\'s first read');
await grader.waitForURL('**/grader/tasks/**');
assert.match(await grader.locator('h1').innerText(), /Revision: version 2/);
const prev = grader.locator('#previous-feedback');
assert.match(await prev.locator('summary').innerText(), /Feedback on version 1/);
await prev.locator('summary').click();
assert.ok((await prev.locator('li').count()) >= 3, 'the previous feedback lists no criteria');
await noInternalIDs(grader);
const crit = grader.locator('textarea[data-comment]').first();
const key = await crit.getAttribute('data-comment');
await crit.fill('Your claim is now precise; keep its scope as narrow in the next essay.');
await grader.locator(`button[data-bank="${key}"]`).click();
await grader.locator(`#bank-status-${key}`).getByText('Saved to your comment bank.').waitFor();
await grader.evaluate(() => window.scrollTo(0, 0));
await shot(grader, '43-grader-revision-previous.png');
await audit(grader);
await grader.goto('/grader/comments');
assert.match(await grader.locator('main').innerText(), /Your claim is now precise/, 'the comment is not in the bank');

await browser.close();
console.log('people: ok');
