// From the web alone, in headless Chromium, on a Margin with nothing in it
// but its admin (issue 21's "done when"):
//   1. a new teacher signs up with a new school, creates a class, imports
//      the roster, creates an assignment with the rubric file they have,
//      uploads the class's ZIP and publishes it;
//   2. a new grader signs up, writes a profile, is vetted by the admin, and
//      sets up payouts with Stripe (Stripe's part, the account.updated
//      webhook, is played here, signed as Stripe signs it);
//   3. the teacher finds a grader; the grader accepts the offer and grades
//      every submission in the workspace, quoting the essays;
//   4. the teacher approves each one with "Approve and next" and releases;
//   5. the admin runs a payout, and the grader sees the payment on the
//      earnings page and in their inbox.
// TestE2EWebAlone (e2e/web_alone_test.go) starts Margin and runs this.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { browser, open, newUser, noInternalIDs, signIn, selectWithMouse, freeSentences } from './lib.mjs';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const PASSWORD = env('PASSWORD');
const ADMIN = env('ADMIN_EMAIL');
const ROSTER = env('ROSTER');
const ZIP = env('ZIP');
const RUBRIC = env('RUBRIC');
const WHSEC = env('WEBHOOK_SECRET');
const SHOTS = env('SCREENSHOTS');

const step = (msg) => console.log(`step: ${msg}`);
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: false });

// stripeSays posts a Stripe event to Margin's webhook, signed with the
// endpoint's secret the way Stripe signs it (t=…,v1=HMAC-SHA256), with
// no cookie, as Stripe would.
async function stripeSays(type, account, object) {
  const payload = JSON.stringify({
    id: `evt_alone_${Date.now()}`, object: 'event', api_version: '2023-10-16', created: Math.floor(Date.now() / 1000),
    type, account, livemode: false, pending_webhooks: 1, data: { object },
  });
  const t = Math.floor(Date.now() / 1000);
  const sig = crypto.createHmac('sha256', WHSEC).update(`${t}.${payload}`).digest('hex');
  const r = await fetch(new URL('/api/v1/webhooks/stripe', env('BASE_URL')), {
    method: 'POST', body: payload, headers: { 'Content-Type': 'application/json', 'Stripe-Signature': `t=${t},v1=${sig}` },
  });
  assert.equal(r.status, 200, `webhook ${type}: ${r.status} ${await r.text()}`);
}

try {
  step('a new teacher signs up with a new school');
  const teacher = await newUser();
  await teacher.goto('/');
  await teacher.getByRole('link', { name: 'Sign up as a teacher' }).click();
  await teacher.getByLabel('Your name').fill('Dana Okafor');
  await teacher.getByLabel('Email').fill('dana.okafor@westfield.example.org');
  await teacher.getByLabel('Password').fill(PASSWORD);
  await teacher.getByLabel('School name').fill('Westfield High');
  await teacher.getByRole('button', { name: 'Create my account' }).click();
  await teacher.waitForURL(/\/teacher\?done=welcome/);

  step('the teacher creates a class and imports its roster');
  await teacher.getByLabel('Name', { exact: true }).fill('English 10, period 4');
  await teacher.getByLabel('Subject').fill('english');
  await teacher.getByLabel(/Grade level/).fill('10');
  await teacher.getByRole('button', { name: 'Create class' }).click();
  await teacher.waitForURL(/\/teacher\/classes\/[^/?#]+/);
  const classURL = new URL(teacher.url()).pathname;
  await teacher.setInputFiles('#roster', ROSTER);
  await teacher.getByRole('button', { name: 'Import roster' }).click();
  await teacher.getByText(/Avery Rivera/).first().waitFor();
  await noInternalIDs(teacher);

  step('the teacher creates an assignment with the rubric file they have');
  await teacher.goto(classURL);
  await teacher.getByLabel('Title', { exact: true }).fill('Research essay: personalized learning');
  await teacher.getByLabel('Prompt', { exact: true }).fill('Write a research essay on personalized learning in schools.');
  const due = new Date(Date.now() + 14 * 86400e3).toISOString().slice(0, 10);
  await teacher.getByLabel('Feedback due').fill(due);
  await teacher.getByLabel(/Price per submission/).fill('8.00');
  // A new school's library offers Margin's starter rubrics; this teacher
  // imports the rubric file they already have.
  assert.ok(await teacher.locator('#rubric_id optgroup[label="Starter rubrics from Margin"] option').count() >= 2, 'no starter rubrics');
  await teacher.setInputFiles('#rubric_file', RUBRIC);
  await teacher.getByText(/Imported rubric\.json: 5 criteria/).waitFor();
  await teacher.getByRole('button', { name: 'Create assignment' }).click();
  await teacher.waitForURL(/\/teacher\/assignments\/[^/?#]+/);
  const assignmentURL = new URL(teacher.url()).pathname;

  step('the teacher uploads the class ZIP and publishes');
  await teacher.setInputFiles('#files', ZIP);
  await teacher.getByRole('button', { name: 'Upload' }).click();
  await teacher.waitForSelector('#upload[data-state="done"]');
  const students = await teacher.locator('#submissions-list tbody tr').count();
  assert.equal(students, 5);
  await teacher.reload();
  await teacher.getByRole('button', { name: 'Publish for grading' }).click();
  await teacher.waitForURL(/done=/);
  await noInternalIDs(teacher);

  step('a new grader signs up and writes a profile');
  const grader = await newUser();
  await grader.goto('/signup?role=grader');
  await grader.getByLabel('Your name').fill('Sam Reyes');
  await grader.getByLabel('Email').fill('sam.reyes@tutors.example.net');
  await grader.getByLabel('Password').fill(PASSWORD);
  await grader.getByRole('button', { name: 'Create my account' }).click();
  await grader.waitForURL(/\/grader\?done=welcome/);
  await grader.locator('#readiness').getByRole('link', { name: /Write your profile/ }).click();
  await grader.getByLabel(/Subjects you grade/).fill('english');
  await grader.getByLabel(/Grade bands/).fill('9-12');
  await grader.getByLabel(/Capacity/).fill('20');
  for (const day of await grader.$$('input[name^=day_]')) await day.check();
  await grader.getByLabel('Bio').fill('Taught secondary English for eight years.');
  await grader.getByRole('button', { name: 'Save profile' }).click();
  await grader.waitForURL(/done=/);

  step('the admin vets the grader');
  const admin = await newUser();
  await signIn(admin, ADMIN);
  await admin.goto('/admin');
  await admin.getByRole('button', { name: 'Approve Sam Reyes' }).first().click();
  await admin.waitForURL(/done=/);

  step('the grader sets up payouts with Stripe');
  await grader.goto('/grader/earnings');
  await grader.getByRole('button', { name: 'Set up payouts with Stripe' }).click();
  const stripeLink = await grader.getByRole('link', { name: 'open Stripe' }).getAttribute('href');
  assert.match(stripeLink, /^https:\/\//);
  // The grader finishes on Stripe's pages; Stripe then tells Margin.
  const me = await (await grader.request.get('/api/v1/payouts/me')).json();
  const acct = me.onboarding.account_id;
  assert.match(acct, /^acct_/);
  await stripeSays('account.updated', acct, {
    id: acct, object: 'account', payouts_enabled: true, charges_enabled: true, details_submitted: true,
    requirements: { currently_due: [] },
  });
  await grader.goto('/grader/earnings');
  assert.equal(await grader.getByRole('button', { name: 'Set up payouts with Stripe' }).count(), 0);
  await grader.goto('/grader');
  await noInternalIDs(grader);

  step('the teacher finds a grader');
  for (let attempt = 1; ; attempt++) {
    await teacher.goto(assignmentURL);
    await teacher.getByRole('button', { name: 'Find graders now' }).click();
    await teacher.waitForURL(/done=matched|\/match$/);
    if (await teacher.locator('.badge', { hasText: 'Offered to a grader' }).first().isVisible()) break;
    const said = await teacher.locator('main').innerText();
    if (attempt === 4 || !/try again in a moment/.test(said)) throw new Error(`matching did not offer the work:\n${said}`);
    await teacher.waitForTimeout(3000);
  }

  step('the grader accepts the offer and grades every submission');
  await grader.goto('/grader');
  await grader.getByRole('button', { name: 'Accept' }).first().click();
  await grader.waitForURL(/done=accepted/);
  const tasks = await grader.$$eval('a.task-link', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(tasks.length >= 1, 'no tasks after accepting');
  for (const [n, task] of tasks.entries()) {
    await grader.goto(task);
    await grader.waitForSelector('#essay');
    const crits = await grader.$$eval('[data-level]', (els) => els.map((e) => e.dataset.level));
    for (const [i, key] of crits.entries()) {
      const opts = await grader.$$eval(`#level-${key} option`, (os) => os.map((o) => o.value).filter(Boolean));
      await grader.selectOption(`#level-${key}`, opts[(i + n) % opts.length]);
      await grader.fill(`#comment-${key}`, `Solid work on ${key}; the quoted passages show where it is strongest and where to push.`);
    }
    for (const el of await grader.$$('[data-focus]')) await el.fill('Touched on in the middle; make it explicit in the conclusion.');
    for (let q = 0; q < 6 && (await grader.locator('#missing li').count()) > 0; q++) {
      const free = await freeSentences(grader);
      assert.ok(free.length > 0, 'no sentence left to quote');
      const [s, e] = free[0];
      await selectWithMouse(grader, s, e);
      await grader.waitForFunction(() => !document.getElementById('attach').disabled);
      const kind = q % 2 === 0 ? 'strength' : 'growth';
      await grader.check(`input[name=q-kind][value=${kind}]`);
      await grader.fill('#q-comment', kind === 'strength' ? 'A clear, specific sentence that carries the argument.' : 'Back this claim with a source the reader can check.');
      const marks = await grader.locator('#essay mark').count();
      await grader.click('#attach');
      await grader.waitForFunction((m) => document.querySelectorAll('#essay mark').length > m, marks);
    }
    assert.equal(await grader.locator('#missing li').count(), 0, await grader.textContent('#missing'));
    await grader.click('#submit-feedback');
    await grader.waitForURL(/done=submitted/);
  }

  step('the teacher approves each with "Approve and next", then releases');
  await teacher.goto(assignmentURL);
  await teacher.getByRole('link', { name: 'Review' }).first().click();
  for (let i = 0; i < tasks.length; i++) {
    await teacher.waitForSelector('#essay mark');
    const next = teacher.locator('#approve-next');
    if (await next.isVisible()) await next.click(); else await teacher.locator('#approve').click();
    await teacher.waitForURL(/done=approved/);
  }
  await teacher.goto(assignmentURL);
  await teacher.getByRole('button', { name: /Release approved feedback/ }).click();
  await teacher.getByRole('dialog').getByRole('button', { name: /^Release to \d+ students?$/ }).click();
  await teacher.waitForURL(/done=released/);
  await teacher.locator('.badge', { hasText: 'Released' }).first().waitFor();
  await noInternalIDs(teacher);

  step('the admin runs a payout and the grader sees the payment');
  await grader.goto('/grader/earnings');
  for (let i = 0; (await grader.textContent('#balance')).startsWith('0.00'); i++) {
    assert.ok(i < 50, 'the approved reads were never booked as earnings');
    await grader.waitForTimeout(200); // the payouts service books the approved reads
    await grader.reload();
  }
  assert.equal((await grader.textContent('#balance')).trim(), '34.00 USD'); // 5 reads of $8.00, less the 15% fee
  await admin.goto('/admin/payouts');
  admin.once('dialog', (d) => d.accept()); // "Release payouts to …?"
  await admin.getByRole('button', { name: 'Start a payout run' }).click();
  await admin.waitForURL(/done=/);
  await noInternalIDs(admin);
  for (let i = 0; i < 50; i++) {
    await grader.goto('/grader/earnings');
    if (await grader.locator('#payments .badge', { hasText: 'Sent' }).count()) break;
    await grader.waitForTimeout(200);
  }
  await grader.locator('#payments .badge', { hasText: 'Sent' }).first().waitFor();
  await noInternalIDs(grader);
  await shot(grader, '30-grader-paid.png');
  // The background loop tells the grader once it has folded the run into
  // the books.
  for (let i = 0; ; i++) {
    await grader.getByRole('link', { name: /^Inbox/ }).click();
    if (await grader.getByText('Payout of $34.00 sent').count()) break;
    assert.ok(i < 50, 'no "payout sent" in the grader\'s inbox');
    await grader.waitForTimeout(200);
    await grader.goto('/grader/earnings');
  }

  console.log('alone: ok');
} catch (err) {
  for (const p of open) console.log(`--- ${p.url()}\n${await p.locator('main').innerText().catch(() => '(no main)')}`);
  throw err;
} finally {
  await browser.close();
}
