// The rubric builder of the teacher's "New assignment" form, in headless
// Chromium at 1366x768:
//   1. the teacher opens the form; submitting the untouched builder is
//      stopped with a list of what to fix;
//   2. builds a rubric with the keyboard alone: adds and removes a level,
//      two criteria on the default scale with every descriptor typed,
//      reorders them, adds a focus point;
//   3. submits with a price the server refuses: the page comes back with
//      the error and the builder reloaded from the posted JSON; fixes the
//      price and creates the assignment;
//   4. on the class page, copies a library rubric into the builder, tries
//      a file that is not JSON (a message, nothing lost), imports the
//      fixture rubric.json (five criteria), checks it with axe-core and
//      saves 08-teacher-rubric-builder.png; edits the JSON directly.
// web_rubric_test.go runs this with the environment below and then checks
// the created assignment's rubric through the JSON API.
import { browser, newUser, signIn } from './lib.mjs';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('BASE_URL');
const PASSWORD = env('PASSWORD');
const TEACHER = env('TEACHER_EMAIL');
const CLASS = env('CLASS_ID');
const RUBRIC = env('RUBRIC');
const SHOTS = env('SCREENSHOTS');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// What the teacher types; web_rubric_test.go checks the saved rubric for it.
const TITLE = 'Argument essay: school uniforms';
const CRITERIA = [
  {
    title: 'Thesis', weight: '2', standard: 'W.9-10.1',
    levels: ['No claim is stated.', 'A claim is stated but vague.', 'A clear, arguable claim that the essay supports throughout.', 'A precise claim that anticipates counterclaims.'],
  },
  {
    title: 'Evidence', weight: '', standard: '',
    levels: ['No evidence.', 'Some evidence, loosely tied to the claim.', 'Relevant evidence from credible sources.', 'Well-chosen evidence, weighed and cited.'],
  },
];
const LEVELS = ['Emerging', 'Developing', 'Proficient', 'Advanced'];

const step = (msg) => console.log(`step: ${msg}`);

const page = await newUser();

// focused is the accessible name of the focused element, roughly: its
// aria-label, its label's text, or its text.
const focused = () => page.evaluate(() => {
  const e = document.activeElement;
  return e.getAttribute('aria-label') || (e.labels && e.labels.length ? e.labels[0].textContent : e.textContent.trim());
});
async function tabTo(name, most = 8) {
  for (let i = 0; i < most; i++) {
    await page.keyboard.press('Tab');
    if (await focused() === name) return;
  }
  throw new Error(`Tab did not reach "${name}"; the focus is on "${await focused()}"`);
}
async function typeInto(name, text) {
  assert.equal(await focused(), name);
  if (text) await page.keyboard.type(text);
}
const criterionTitles = () => page.$$eval('#rubric-builder input[id$="-title"]:not(#rb-title)', (is) => is.map((i) => i.value));
const postedRubric = async () => JSON.parse(await page.inputValue('#rubric'));

async function openForm() {
  await page.goto(`/teacher/classes/${CLASS}`);
  const details = page.locator('#new-assignment');
  if (!(await details.evaluate((d) => d.open))) await details.locator(':scope > summary').click();
  await page.locator('#rubric-builder').waitFor();
}

async function audit(label) {
  await page.evaluate(AXE); // over the DevTools protocol: not an inline script
  const r = await page.evaluate(() => globalThis.axe.run(document.getElementById('assignment-form'), {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${label}: ${v.id}: ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`), []);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(wide <= 2, `${label}: the page scrolls sideways by ${wide}px`);
}

try {
  step('teacher opens the new-assignment form');
  await signIn(page, TEACHER);
  await openForm();
  assert.equal(await page.isVisible('#rubric'), false, 'the JSON textarea is folded away under "Edit as JSON"');
  assert.deepEqual(await page.$$eval('#rubric-builder .rb-levels input:not([type=number])', (is) => is.map((i) => i.value)), LEVELS);
  assert.deepEqual(await page.$$eval('#rubric-builder .rb-levels input[type=number]', (is) => is.map((i) => i.value)), ['1', '2', '3', '4']);
  await page.getByLabel('Title', { exact: true }).fill(TITLE);
  await page.getByLabel('Prompt').fill('Should your school require uniforms? Argue for a position, with evidence.');

  step('an unfinished rubric is stopped before it is sent');
  await page.getByRole('button', { name: 'Create assignment' }).click();
  await page.locator('#rb-problems').waitFor();
  assert.match(await page.textContent('#rb-problems'), /Criterion 1 needs a title\./);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'rb-problems');
  assert.match(page.url(), new RegExp(`/teacher/classes/${CLASS}$`));

  step('teacher adds and removes a level with the keyboard');
  await page.focus('#rb-add-level');
  await page.keyboard.press('Enter');
  await typeInto('Label of level 5', 'Exemplary');
  assert.match(await page.textContent('#rubric-builder .rb-grid thead'), /Exemplary · 5 points/);
  await tabTo('Points for Exemplary');
  await tabTo('Remove level Exemplary');
  await page.keyboard.press('Enter');
  assert.equal(await focused(), 'Remove level Advanced');
  assert.deepEqual((await postedRubric()).scale.map((l) => l.label), LEVELS);

  step('teacher builds two criteria with the keyboard');
  await page.getByLabel('Title of criterion 1', { exact: true }).focus();
  for (const [i, c] of CRITERIA.entries()) {
    if (i > 0) {
      await tabTo('Add criterion');
      await page.keyboard.press('Enter');
    }
    await typeInto(`Title of criterion ${i + 1}`, c.title);
    await page.keyboard.press('Tab');
    assert.equal(await focused(), `Weight of ${c.title}`);
    if (c.weight) {
      await page.keyboard.press('Control+A');
      await page.keyboard.type(c.weight);
    }
    await page.keyboard.press('Tab');
    await typeInto(`Standard code for ${c.title}`, c.standard);
    for (const [j, text] of c.levels.entries()) {
      await page.keyboard.press('Tab');
      await typeInto(`Descriptor for ${c.title} at ${LEVELS[j]}`, text);
    }
  }
  assert.deepEqual(await criterionTitles(), ['Thesis', 'Evidence']);

  step('teacher reorders the criteria and adds a focus point');
  await tabTo('Move Evidence up');
  await page.keyboard.press('Enter');
  assert.deepEqual(await criterionTitles(), ['Evidence', 'Thesis']);
  assert.equal(await focused(), 'Move Evidence down'); // up is disabled at the top
  await page.keyboard.press('Enter');
  assert.deepEqual(await criterionTitles(), ['Thesis', 'Evidence']);
  await tabTo('Add focus point', 12);
  await page.keyboard.press('Enter');
  await typeInto('Focus point 1', 'Cite the sources');

  const posted = await postedRubric();
  assert.deepEqual(posted.criteria.map((c) => [c.key, c.title, c.weight]), [['thesis', 'Thesis', 2], ['evidence', 'Evidence', 1]]);
  assert.equal(posted.criteria[0].levels.proficient, CRITERIA[0].levels[2]);
  assert.deepEqual(posted.focus_points, ['Cite the sources']);
  assert.equal(await page.isVisible('#rb-problems'), false, 'the problems are gone once fixed');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(wide <= 2, `the page scrolls sideways by ${wide}px`);

  step('the server sends the form back with an error; the builder keeps everything');
  await page.$eval('#assignment-form', (f) => { f.noValidate = true; });
  await page.getByLabel('Price per submission ($)').fill('lots');
  await page.getByRole('button', { name: 'Create assignment' }).click();
  await page.waitForURL(new RegExp(`/teacher/classes/${CLASS}/assignments$`));
  assert.match(await page.textContent('.errors'), /price per submission/);
  await page.locator('#rubric-builder').waitFor();
  assert.deepEqual(await criterionTitles(), ['Thesis', 'Evidence']);
  assert.equal(await page.getByLabel('Descriptor for Evidence at Advanced').inputValue(), CRITERIA[1].levels[3]);
  assert.equal(await page.getByLabel('Weight of Thesis').inputValue(), '2');
  assert.equal(await page.getByLabel('Focus point 1', { exact: true }).inputValue(), 'Cite the sources');

  step('teacher fixes the price and creates the assignment');
  await page.getByLabel('Price per submission ($)').fill('8.00');
  await page.getByRole('button', { name: 'Create assignment' }).click();
  await page.waitForURL(/\/teacher\/assignments\/[^/]+$/);
  assert.equal((await page.textContent('h1')).trim(), TITLE);

  step('teacher copies a library rubric into the builder');
  await openForm();
  if (await page.locator('#rubric_id').count()) {
    await page.selectOption('#rubric_id', { index: 1 });
    assert.equal(await page.isVisible('#rubric-builder'), false);
    assert.match(await page.textContent('#rubric-lib-note'), /will be used as it is/);
    await page.getByRole('button', { name: 'Copy into the builder' }).click();
    await page.locator('#rubric-builder').waitFor();
    assert.equal(await page.inputValue('#rubric_id'), '');
    assert.equal((await criterionTitles()).length, 5);
    assert.equal(await focused(), 'Rubric title (optional)');
  }

  step('a file that is not JSON is refused with a message');
  await page.setInputFiles('#rubric_file', { name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('{"scale": [') });
  await page.getByText('notes.json is not valid JSON').waitFor();
  assert.ok((await criterionTitles()).length > 0, 'the builder is unchanged');

  step('teacher imports the fixture rubric.json');
  await page.setInputFiles('#rubric_file', RUBRIC);
  await page.getByText(`Imported ${path.basename(RUBRIC)}: 5 criteria on a scale of 4 levels`).waitFor();
  const fixture = JSON.parse(readFileSync(RUBRIC, 'utf8'));
  assert.deepEqual(await criterionTitles(), fixture.criteria.map((c) => c.title));
  assert.equal(await page.getByLabel('Descriptor for Thesis and focus at Proficient').inputValue(), fixture.criteria[0].levels.proficient);
  assert.deepEqual((await postedRubric()).criteria.map((c) => c.key), fixture.criteria.map((c) => c.key));
  await audit('the rubric builder with the fixture rubric');
  await page.evaluate(() => {
    document.querySelector('#rubric-builder .rb-grid-wrap').scrollIntoView({ block: 'start' });
    window.scrollBy(0, -110);
  });
  await page.screenshot({ path: path.join(SHOTS, '08-teacher-rubric-builder.png'), fullPage: false });

  step('teacher edits the JSON directly');
  await page.getByText('Edit as JSON').click();
  const two = { ...fixture, criteria: fixture.criteria.slice(0, 2) };
  await page.getByLabel('Rubric JSON', { exact: true }).fill(JSON.stringify(two, null, 2));
  await page.getByText('The builder now shows this rubric: 2 criteria').waitFor();
  assert.equal((await criterionTitles()).length, 2);
  await page.getByLabel('Rubric JSON', { exact: true }).fill('{"scale": [');
  await page.getByText('The rubric JSON is not valid JSON').waitFor();
  assert.equal(await page.locator('#rubric-builder').evaluate((f) => f.disabled), true);
  await page.getByRole('button', { name: 'Discard the JSON edits and use the builder' }).click();
  assert.equal(await page.locator('#rubric-builder').evaluate((f) => f.disabled), false);
  assert.equal((await postedRubric()).criteria.length, 2);
  console.log('rubric: ok');
} catch (err) {
  console.error(`failed on ${page.url()}`);
  try { await page.screenshot({ path: path.join(SHOTS, 'rubric-failure.png'), fullPage: true }); } catch { /* closed */ }
  throw err;
} finally {
  await browser.close();
}
