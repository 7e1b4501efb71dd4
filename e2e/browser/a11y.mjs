// Accessibility audit of every page of the demo school, for every role, in
// headless Chromium with axe-core (WCAG 2.1 A and AA rules: labels, names,
// contrast, structure). Each role starts at its home page and follows the
// links it finds (GET only, same site), at two screen sizes: a school
// Chromebook (1366x768) and, for students, a phone (390x844). Any serious
// or critical violation fails the run; each is printed with the page and
// the elements concerned. Pages must also not scroll sideways as a whole.
// TestE2EDemo (e2e/web_test.go) runs this against `margin serve --demo`.
import { browser, axeViolations } from './lib.mjs';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('BASE_URL');
const PASSWORD = env('PASSWORD');
const MAX_PAGES = 40;
// With SCREENSHOTS set, the first view of each page below is saved there
// (docs/screenshots when refreshing them).
const SHOTS = process.env.SCREENSHOTS;
const wanted = [
  ['teacher', /\/teacher\/feedback\/[^/]+\/edit$/, '09-teacher-edit.png'],
  ['teacher', /\/teacher\/feedback\/[^/]+$/, '10-teacher-adjudicate.png', '#adjudication'],
  ['grader', /\/grader\/calibration\/[^/]+$/, '11-grader-calibration.png'],
  ['student 390px', /\/student\/progress$/, '12-student-progress.png'],
  ['student 390px', /\/student\/submissions\/[^/]+$/, '13-student-reflection.png', '#reflections'],
];

const failures = [];
let audited = 0;

// audit runs axe on the page as it is and records serious and critical
// violations, and a page wider than the screen.
async function audit(page, label) {
  for (const v of await axeViolations(page)) {
    const where = v.nodes.slice(0, 4).map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1).join(' ').trim()}`).join('\n');
    failures.push(`${label}: ${v.id} (${v.impact}): ${v.help}\n${where}`);
  }
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (wide > 2) failures.push(`${label}: the page scrolls sideways by ${wide}px`);
  audited++;
}

// crawl visits start and the pages it links to, breadth first.
async function crawl(page, role, start) {
  const seen = new Set();
  const queue = [start];
  while (queue.length && seen.size < MAX_PAGES) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const resp = await page.goto(path);
    if (!resp || resp.status() >= 400) { failures.push(`${role} ${path}: HTTP ${resp && resp.status()}`); continue; }
    if (!(resp.headers()['content-type'] || '').startsWith('text/html')) continue;
    await audit(page, `${role} ${path}`);
    for (const w of wanted) {
      if (!SHOTS || w[0] !== role || !w[1].test(new URL(page.url()).pathname) || w.done) continue;
      if (w[3] && !(await page.$(w[3]))) continue;
      if (w[3]) await page.locator(w[3]).scrollIntoViewIfNeeded();
      await page.screenshot({ path: `${SHOTS}/${w[2]}` });
      w.done = true;
    }
    const links = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href')));
    for (const href of links) {
      const u = new URL(href, BASE + path);
      if (u.origin !== new URL(BASE).origin) continue;
      const p = u.pathname + u.search;
      if (/\.(csv|svg|html|json)$|^\/static\/|^\/s\/|^\/api\//.test(u.pathname) || seen.has(p) || queue.includes(p)) continue;
      queue.push(p);
    }
  }
  return seen.size;
}

async function signedIn(email, viewport = { width: 1366, height: 768 }) {
  const ctx = await browser.newContext({ viewport, baseURL: BASE });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => failures.push(`page error on ${page.url()}: ${e.message}`));
  if (email) {
    await page.goto('/signin');
    await audit(page, 'signed out /signin');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
  }
  return page;
}

try {
  for (const [role, email, home] of [
    ['teacher', env('TEACHER_EMAIL'), '/teacher'],
    ['grader', env('GRADER_EMAIL'), '/grader'],
    ['admin', env('ADMIN_EMAIL'), '/admin'],
  ]) {
    const page = await signedIn(email);
    console.log(`${role}: ${await crawl(page, role, home)} pages`);
    await page.context().close();
  }
  for (const viewport of [{ width: 1366, height: 768 }, { width: 390, height: 844 }]) {
    const page = await signedIn('', viewport);
    await page.goto(env('STUDENT_LINK'));
    await audit(page, `student ${viewport.width}px access link`);
    await page.getByRole('button', { name: 'Open my feedback' }).click();
    await page.waitForURL(/\/student$/);
    console.log(`student at ${viewport.width}px: ${await crawl(page, `student ${viewport.width}px`, '/student')} pages`);
    await page.context().close();
  }
} finally {
  await browser.close();
}
console.log(`audited ${audited} page views`);
if (failures.length) {
  console.log(`accessibility problems:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('a11y: ok');
