// The teacher's review loop on the demo school, in headless Chromium at
// 1366x768, as a teacher would check it:
//   1. a student's question shows as a badge with its count on the home,
//      class and assignment pages, and leads to the question;
//   2. the roster import's result and a new access link appear in view;
//   3. a draft assignment's brief is edited (title, prompt, due date, a
//      criterion in the rubric builder) and the page shows the new brief,
//      with the message beside it; the demo assignment, in grading, says
//      why it can no longer be edited; an upload fills the list without a
//      reload;
//   4. a submission's text opens from the assignment page, its original
//      file downloads, and it is scored as an anchor paper beside its text;
//   5. the adjudication form starts with no level where the reads are far
//      apart, one button approves both reads, and agreement then counts
//      the pair;
//   6. approving feedback comes back to the feedback list with the message
//      in view; without JavaScript a redirect's message and the roster
//      import's result are in view too.
// Each new page is checked with axe-core and for internal IDs in its text.
// web_teacher_test.go runs this with the environment below, then checks
// what it did through the JSON API.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browser, newUser, axeViolations, signIn } from './lib.mjs';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('BASE_URL');
const PASSWORD = env('PASSWORD');
const TEACHER = env('TEACHER_EMAIL');
const ASSIGNMENT = env('ASSIGNMENT_ID'); // the demo's, in grading
const DRAFT = env('DRAFT_ID'); // a draft in the same class, no submissions yet
const QUESTION = env('QUESTION'); // what a student asked
const ZIP = env('ZIP');
const SHOTS = process.env.SCREENSHOTS; // where to save the new pages' screenshots, if set
const shot = async (name) => { if (SHOTS) await page.screenshot({ path: path.join(SHOTS, name) }); };

const step = (msg) => console.log(`step: ${msg}`);

const page = await newUser({ width: 1366, height: 768 }, { acceptDownloads: true });

// inView fails unless the element is inside the screen as it is now.
async function inView(locator, what) {
  await locator.waitFor();
  const box = await locator.boundingBox();
  const { height } = page.viewportSize();
  assert.ok(box && box.y >= 0 && box.y + box.height <= height, `${what} is out of view (${box && Math.round(box.y)}px from the top of a ${height}px screen) on ${page.url()}`);
}

// checked runs axe-core on the page and fails on serious or critical
// violations, or on an internal ID in the page's visible text.
async function checked(label) {
  const bad = (await axeViolations(page)).map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `accessibility problems on ${label}`);
  const text = await page.locator('body').innerText();
  const m = text.match(/\b(asg|usr|run|cls|sub|fb|tsk|bat)_[A-Za-z0-9]+/);
  assert.equal(m, null, `${label} shows the internal ID ${m && m[0]}`);
}

const asgPath = `/teacher/assignments/${encodeURIComponent(ASSIGNMENT)}`;
const draftPath = `/teacher/assignments/${encodeURIComponent(DRAFT)}`;

try {
  await signIn(page, TEACHER);
  await page.waitForURL(/\/teacher$/);

  step('a student question shows as a badge on the home, class and assignment pages');
  const homeBadge = page.locator('.cards li', { hasText: 'English 10, period 2' }).locator('.question-badge');
  assert.equal((await homeBadge.innerText()).trim(), '? 1 student question');
  await page.getByRole('link', { name: 'English 10, period 2' }).click();
  const classBadge = page.locator('.cards li', { hasText: 'Research essay: personalized learning' }).locator('.question-badge');
  assert.equal((await classBadge.innerText()).trim(), '? 1 student question');
  assert.equal(await page.locator('.cards li', { hasText: 'Letter to the editor' }).locator('.question-badge').count(), 0, 'the draft has a question badge');
  const classPath = new URL(page.url()).pathname;
  await page.getByRole('link', { name: 'Research essay: personalized learning' }).click();
  assert.match(await page.locator('h1 + p').innerText(), /1 student question/);
  const rowBadge = page.locator('#feedback-table a', { has: page.locator('.question-badge') });
  assert.equal(await rowBadge.count(), 1, 'one feedback row has the question badge');
  await rowBadge.click();
  await page.waitForURL(/#questions$/);
  await inView(page.locator('#questions').getByText(QUESTION), 'the question');

  step('the roster import and a new access link appear where the teacher is');
  await page.goto(classPath);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'teacher-'));
  const csv = path.join(dir, 'roster.csv');
  writeFileSync(csv, 'email,family_name,given_name,student_id\nnoor.haddad@students.example.org,Haddad,Noor,9001\n');
  await page.getByLabel(/Roster CSV/).setInputFiles(csv);
  await page.getByRole('button', { name: 'Import roster' }).click();
  await page.waitForURL(/\/roster#roster-h$/);
  await inView(page.getByText(/Imported: 1 new/), 'the roster import result');
  await page.getByRole('button', { name: 'New access link for Noor Haddad' }).click();
  await page.waitForURL(/\/link#access-link$/);
  await inView(page.locator('#access-link'), 'the new access link');
  assert.match(await page.locator('#access-link').innerText(), /^Access link for Noor Haddad: http/);

  step('the assignment in grading shows its brief and why it can no longer be edited');
  await page.goto(asgPath);
  await page.locator('#brief summary').click();
  await page.locator('#brief .prompt').getByText('Write a research essay on personalized learning in schools.').waitFor();
  assert.match(await page.locator('#brief-frozen').innerText(), /^Grading has started/);
  assert.equal(await page.locator('#edit-assignment').count(), 0, 'an assignment in grading offers Edit');
  await page.goto(`${asgPath}/edit`);
  assert.match(await page.locator('#frozen').innerText(), /^Grading has started/);
  assert.equal(await page.locator('#assignment-edit').count(), 0, 'the edit page of an assignment in grading has a form');

  step('the draft assignment is edited: title, prompt, due date and a criterion');
  await page.goto(draftPath);
  assert.ok(await page.locator('#brief').evaluate((d) => d.open), 'a draft shows its brief open');
  await page.getByRole('link', { name: 'Edit the title, prompt, due date or rubric' }).click();
  await page.waitForURL(/\/edit$/);
  await checked('the assignment edit page');
  await shot('20-teacher-assignment-edit.png');
  await page.getByLabel('Title', { exact: true }).fill('Letter to the editor: school start times');
  await page.getByLabel('Prompt').fill('Write a letter to the editor arguing for or against later school start times.');
  await page.getByLabel('Feedback due').fill('2031-05-20');
  const firstCriterion = page.locator('#rubric-builder input[id$="-title"]:not(#rb-title)').first();
  await firstCriterion.fill('Claim');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.waitForURL(/\?done=brief_saved#brief$/);
  await inView(page.getByText('Saved: the assignment has the new title, prompt, due date and rubric.'), 'the saved message');
  assert.equal(await page.locator('h1').innerText(), 'Letter to the editor: school start times');
  assert.match(await page.locator('h1 + p').innerText(), /Tue 20 May 2031/);
  await page.locator('#brief .prompt').getByText('later school start times').waitFor();
  assert.equal(await page.locator('#brief table.rubric-view tbody th').first().evaluate((th) => th.firstChild.textContent.trim()), 'Claim');

  step('an upload fills the draft\'s list when it finishes, without a reload');
  assert.equal(await page.getByText('No submissions yet.').count(), 1);
  await page.evaluate(() => { window.__samePage = true; });
  await page.locator('#files').setInputFiles(ZIP);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.locator('#upload[data-state="done"]').waitFor();
  assert.ok(await page.evaluate(() => window.__samePage === true), 'the upload reloaded the page');
  assert.equal(await page.locator('#submissions-list tbody tr').count(), 5);
  assert.equal(await page.getByText('No submissions yet.').count(), 0);

  step('a submission\'s text opens from the assignment page, and its original downloads');
  await page.goto(asgPath);
  const first = page.locator('#submissions-list a.open-text').first();
  const filename = (await first.innerText()).trim();
  await first.click();
  await page.waitForURL(/\/teacher\/submissions\//);
  await checked('the submission page');
  assert.match(await page.locator('h1').innerText(), /'s submission$/);
  const text = await page.locator('#essay').innerText();
  assert.ok(text.length > 500, `the submission's text is ${text.length} characters`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-original').click()]);
  assert.equal(download.suggestedFilename(), filename);
  const saved = path.join(dir, 'original');
  await download.saveAs(saved);
  assert.ok(readFileSync(saved).length > 0, 'the original file is empty');

  step('the paper is scored as an anchor beside its text');
  const essayBox = await page.locator('#essay').boundingBox();
  const formBox = await page.locator('#anchor-form').boundingBox();
  assert.ok(formBox.x >= essayBox.x + essayBox.width - 1, 'the anchor form is not beside the text');
  assert.ok(formBox.y < essayBox.y + essayBox.height, 'the anchor form starts below the text');
  for (const sel of await page.locator('#anchor-form select').all()) await sel.selectOption({ index: 3 });
  await shot('21-teacher-anchor-beside-text.png');
  await page.getByRole('button', { name: 'Save as anchor paper' }).click();
  await page.waitForURL(/\?done=anchor_saved#anchor$/);
  await inView(page.getByText('Anchor paper saved: graders calibrate against your levels.'), 'the anchor message');
  await page.getByText('This is an anchor paper').waitFor();
  await page.getByRole('button', { name: 'Save the new levels' }).waitFor();
  await page.goto(`${asgPath}#anchors`);
  await page.getByText('1 anchor paper', { exact: true }).waitFor();

  step('agreement has no pair while the reads disagree');
  await page.goto(`${asgPath}/summary`);
  assert.match(await page.locator('main').innerText(), /no pairs yet/);

  step('adjudication starts from no level where the reads are far apart, and approves both reads');
  await page.goto(asgPath);
  await page.locator('a.adjudicate-link').first().click();
  await page.waitForURL(/#adjudicate$/);
  const firstID = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const flagged = page.locator('#adjudicate tr.flagged select');
  assert.ok(await flagged.count() > 0, 'no criterion is flagged');
  for (const sel of await flagged.all()) {
    assert.equal(await sel.inputValue(), '', 'a criterion far apart starts from a level');
    await sel.selectOption({ index: 2 });
  }
  await page.getByRole('button', { name: 'Approve both reads with these levels' }).click();
  await page.waitForURL(/\?done=adj_approved#adjudication$/);
  await inView(page.getByText('Adjudicated and approved: your levels count, and both reads are approved.'), 'the adjudication message');
  await shot('22-teacher-adjudicated.png');
  assert.match(await page.locator('#fb-state').innerText(), /Approved/);
  await page.goto(asgPath);
  const pair = page.locator('#feedback-table tbody tr').filter({ has: page.locator('text=Second') });
  assert.equal(await page.getByText('Reads disagree').count(), 0, 'the reads still disagree');
  for (const row of await pair.all()) assert.match(await row.innerText(), /Approved/, `a second read is not approved: ${await row.innerText()}`);
  assert.ok(await pair.count() >= 1, 'no second read in the table');
  await page.goto(`${asgPath}/summary`);
  const summary = await page.locator('main').innerText();
  assert.doesNotMatch(summary, /no pairs yet/);
  assert.match(summary, /too few pairs \(1\)/);

  step('approving comes back to the feedback list with the message in view');
  await page.goto(asgPath);
  await page.locator('#feedback-table tr', { hasText: 'Ready for your review' }).getByRole('link', { name: 'Review' }).click();
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.waitForURL(/\?done=approved#feedback$/);
  await inView(page.locator('#feedback .flash'), 'the approval message');
  assert.equal(await page.locator('#feedback .flash').innerText(), 'Feedback approved.');
  console.log(`adjudicated ${firstID}`);

  step('without JavaScript, results are in view too');
  const nojs = await newUser({ width: 1366, height: 768 }, { javaScriptEnabled: false });
  await signIn(nojs, TEACHER);
  await nojs.waitForURL(/\/teacher$/);
  for (const [where, what] of [[`${classPath}`, null], [`${asgPath}?done=approved#feedback`, 'main > .flash']]) {
    await nojs.goto(where);
    if (!what) {
      await nojs.getByLabel(/Roster CSV/).setInputFiles(csv);
      await nojs.getByRole('button', { name: 'Import roster' }).click();
      await nojs.waitForURL(/\/roster#roster-h$/);
    }
    const el = what ? nojs.locator(what) : nojs.getByText(/Imported: 0 new, 0 updated, 1 unchanged/);
    const box = await el.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 768, `without JavaScript, the result on ${nojs.url()} is out of view (${box && Math.round(box.y)}px)`);
  }
  await nojs.context().close();
} finally {
  await browser.close();
}
console.log('teacher: ok');
