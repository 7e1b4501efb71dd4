// What the browser tests share: one headless Chromium, fresh users (each
// its own cookies) that fail the run on a page error or a
// Content-Security-Policy violation, and the checks and gestures a person
// makes on Margin's pages. BASE_URL, PASSWORD and CHROMIUM come from the
// environment the Go test sets.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// newUser opens a fresh browser context (its own cookies) that fails the
// run on any page error or Content-Security-Policy violation.
export const open = []; // every page, to show where the journey stopped
// options are the browser context's (acceptDownloads, javaScriptEnabled).
export async function newUser(viewport = { width: 1366, height: 768 }, options = {}) {
  const ctx = await browser.newContext({ viewport, baseURL: process.env.BASE_URL, ...options });
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

// noInternalIDs fails the run if the page's visible text shows one of
// Margin's internal IDs (asg_…, usr_…, run_…) instead of a name or title.
export async function noInternalIDs(page) {
  const text = await page.locator('body').innerText();
  const m = text.match(/\b(asg|usr|run|cls|sub|fb|tsk|bat|shl)_[A-Za-z0-9]+/);
  assert.equal(m, null, `${page.url()} shows the internal ID ${m && m[0]}`);
}

// noSidewaysScroll fails the run if the element (the page by default)
// scrolls sideways.
export async function noSidewaysScroll(page, selector = 'html') {
  const wide = await page.$eval(selector, (e) => e.scrollWidth - e.clientWidth);
  assert.ok(wide <= 2, `${selector} on ${page.url()} scrolls sideways by ${wide}px`);
}

// signIn signs in on the staff sign-in page and waits to leave it.
export async function signIn(page, email, password = process.env.PASSWORD) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

// selectWithMouse drags the mouse across the code points [start, end) of
// the #essay text, as a person selecting a passage would.
export async function selectWithMouse(page, start, end) {
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
    essay.scrollIntoView({ block: 'center' });
    essay.scrollTop += rect(s).top - essay.getBoundingClientRect().top - 40; // the passage, in the essay's own scroll
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
export async function freeSentences(page) {
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

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// axeViolations runs axe-core (WCAG 2.1 A and AA rules) on the page as it
// is and returns its serious and critical violations.
export async function axeViolations(page) {
  await page.evaluate(AXE); // evaluated over the DevTools protocol: not an inline script
  const r = await page.evaluate(() => globalThis.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
