// Issue 21's whole journey through what people really have. Two phones are the `tellus`
// CLI, each with its own data folder, enrolled with a reporter's invite against a real
// `tellus serve`: consent is given on each (one story in English, one in Spanish), a WAV
// of speech (tests/support/audio/make-speech.sh) is recorded with `tellus record
// --from-file`, `tellus consent receipt` gives the storyteller's code, portal link and
// printable HTML, and `tellus sync` delivers. The lead is the CLI too (`tellus enrol
// --lead`, `tellus pull`, `tellus export`). Then in headless Chromium at 320 px the
// storytellers use the portal: the English one opens the receipt's link (the QR path) and
// narrows an item; the Spanish one types the code with JavaScript off, narrows, then
// withdraws with erasure. After each change the lead's CSV export (the server's and the
// one `tellus export` makes from the lead's pulled copy) changes accordingly; after the
// withdrawal the server's audio is gone, the lead's pull removes its copy, and the
// phone's next sync erases its audio and shows the story withdrawn. axe-core audits the
// printable receipts and every portal page; screenshots go to TELLUS_ARTEFACTS
// (receipt-*.png, portal-*.png). Prints "portal: N passed, N failed" last.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const base = process.env.TELLUS_URL;
const reporterInvites = process.env.TELLUS_REPORTER_INVITES.split(' ');
const leadInvite = process.env.TELLUS_LEAD_INVITE;
const artefacts = process.env.TELLUS_ARTEFACTS;
const tellusBin = process.env.TELLUS_BIN;
const work = process.env.TELLUS_WORK;
const speech = process.env.TELLUS_SPEECH_WAV;
const executablePath = process.env.TELLUS_CHROMIUM || '/usr/bin/chromium';
mkdirSync(artefacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/// `tellus --data-dir DIR ARGS...` with no input (a script, as in cli/tests); its stdout,
/// or an error with its stderr.
function tellus(dir, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(tellusBin, ['--data-dir', dir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TELLUS_LOG: 'warn' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status === 0) resolve(out);
      else reject(Object.assign(new Error(`tellus ${args.join(' ')}: exit ${status}: ${err.trim()}`), { stderr: err }));
    });
  });
}
const tellusJson = async (dir, args) => JSON.parse(await tellus(dir, ['--json', ...args]));

/// The lossless audio files anywhere in a data folder: one per recording (its WAV, or
/// the verified FLAC that replaced it, docs/data-saver.md).
const wavsIn = (dir) => readdirSync(dir, { recursive: true }).filter((f) => /\.(wav|flac)$/.test(String(f)));
/// Every audio file of a data folder: WAV, FLAC and listening copies.
const audioIn = (dir) => readdirSync(dir, { recursive: true }).filter((f) => /\.(wav|flac|opus)$/.test(String(f)));

/// A reporter's phone: enrolled, then one story with consent in `language`, two seconds
/// of speech, made ready; its receipt as JSON and as a printable page.
async function phoneStory(name, invite, title, language, grant) {
  const dir = join(work, name);
  await tellus(dir, ['enrol', '--server', base, '--invite', invite, '--device-label', name]);
  const story = (await tellusJson(dir, ['story', 'new', '--title', title, '--storyteller', 'P1'])).id;
  await tellus(dir, ['consent', 'give', '--story', story, '--language', language, '--grant', grant, '--by', name]);
  const recorded = (await tellus(dir, ['--json', 'record', '--story', story, '--from-file', speech, '--for', '2s']))
    .trim().split('\n').map((line) => JSON.parse(line));
  const stopped = recorded.find((e) => e.event === 'stopped');
  check(stopped && stopped.recording.state === 'complete', `a complete recording on ${name}`);
  await tellus(dir, ['story', 'ready', story]);
  const html = join(work, `receipt-${language}.html`);
  const receipt = await tellusJson(dir, ['consent', 'receipt', '--story', story, '--html', html]);
  return { dir, story, recording: stopped.recording.id, receipt, html };
}

// ---- the lead: the CLI's enrolment, pull and export; the token it keeps for the API ----
const leadDir = join(work, 'lead');
const pulled = join(work, 'pulled');
await tellus(leadDir, ['enrol', '--lead', '--server', base, '--invite', leadInvite, '--device-label', 'Project lead laptop']);
const leadToken = Object.values(JSON.parse(readFileSync(join(leadDir, 'lead-accounts.json'), 'utf8')).servers)[0].token;
const pull = () => tellusJson(leadDir, ['pull', '--out', pulled]);
const serverGet = (path) => fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${leadToken}` } });

/// Whether `storyId` is in the lead's `scope` CSV export, asked of the server and of
/// `tellus export` over a fresh pull; the two must agree.
async function inExport(scope, storyId) {
  const r = await serverGet(`/api/v1/export.csv?scope=${scope}`);
  check(r.status === 200, `the server's export: ${r.status}`);
  const onServer = (await r.text()).includes(storyId);
  await pull();
  const fromPull = (await tellus(leadDir, ['export', '--from', pulled, '--scope', scope, '--format', 'csv'])).includes(storyId);
  check(onServer === fromPull, `the server's ${scope} export (${onServer}) and the pulled copy's (${fromPull}) agree`);
  return onServer;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
// axe-core is injected as a script: the portal's CSP (rightly) forbids that, so only
// this test's contexts bypass it.
const newPage = async (options = {}) => {
  const context = await browser.newContext({ viewport: { width: 320, height: 640 }, bypassCSP: true, ...options });
  return context.newPage();
};
let page = await newPage();
const noScript = new WeakSet();

/// axe-core on `page` (no violations), no sideways scrolling at 320 px, and a full-page
/// screenshot `name`.png. axe needs script: a page opened without it is audited as the
/// same URL in a twin context with its cookies.
async function audit(name, shown = page) {
  let audited = shown;
  const twin = noScript.has(shown);
  if (twin) {
    audited = await newPage();
    await audited.context().addCookies(await shown.context().cookies());
    await audited.goto(shown.url());
  }
  try {
    await audited.addScriptTag({ content: axeSource });
    const violations = await audited.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document);
      return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    });
    check(violations.length === 0, `axe on ${name}: ${violations.join('; ')}`);
    const overflow = await audited.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `${name} is wider than 320 px by ${overflow} px`);
    await audited.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });
  } finally {
    if (twin) await audited.context().close();
  }
}

const tests = [];
const test = (name, body) => tests.push({ name, body });
let english;
let spanish;

test('on two phones: consent in English and in Spanish, speech recorded, the receipt\'s code and link, sync; the lead pulls a copy', async () => {
  [english, spanish] = await Promise.all([
    phoneStory("Amina's phone", reporterInvites[0], 'Waiting for the repair', 'en', 'record,share_publicly,research_use'),
    phoneStory("Sam's phone", reporterInvites[1], 'La parada del autobús', 'es', 'record,share_publicly,research_use'),
  ]);
  for (const s of [english, spanish]) {
    check(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/.test(s.receipt.code), `a grouped code: ${s.receipt.code}`);
    check(s.receipt.portal_url === `${base}/s#${s.receipt.code}`, `the portal link: ${s.receipt.portal_url}`);
    check(readFileSync(s.html, 'utf8') === s.receipt.html, 'the printable page is the receipt\'s HTML');
    await tellus(s.dir, ['sync']);
    check(wavsIn(s.dir).length === 1, 'delivered, the recording stays on the phone');
    const sent = await tellusJson(s.dir, ['consent', 'show', '--story', s.story]);
    check(/^[0-9a-f]{64}$/.test(sent.events[0].code_hash) && !JSON.stringify(sent).includes(s.receipt.code), 'the phone sent the code\'s hash, not the code');
  }
  check(english.receipt.text.includes(`Your personal code: ${english.receipt.code}`), 'the English receipt shows the code');
  check(spanish.receipt.text.includes(`Su código personal: ${spanish.receipt.code}`), 'the Spanish receipt shows the code');
  await pull();
  // The lossless copy a phone delivers is the verified FLAC that replaced its WAV.
  check(existsSync(join(pulled, 'stories', spanish.story, 'audio', `${spanish.recording}.flac`)), 'the lead holds a copy');
});

test('the printable receipts pass axe at 320 px, each in its language', async () => {
  for (const [s, lang, heading] of [[english, 'en', 'Your personal code'], [spanish, 'es', 'Su código personal']]) {
    const receipt = await newPage({ javaScriptEnabled: true });
    try {
      await receipt.goto(pathToFileURL(s.html).href);
      check((await receipt.locator('html').getAttribute('lang')) === lang, `lang="${lang}"`);
      check(await receipt.getByRole('heading', { name: heading }).isVisible(), `the code's heading in ${lang}`);
      check((await receipt.getByText(s.receipt.code).count()) > 0, 'the code is shown');
      check(await receipt.getByRole('img').isVisible(), 'the QR code, labelled as an image');
      await audit(`receipt-${lang}`, receipt);
    } finally {
      await receipt.context().close();
    }
  }
});

test('the entry page passes axe at 320 px and sends the security headers', async () => {
  const response = await page.goto(`${base}/s`);
  const h = response.headers();
  check(h['referrer-policy'] === 'no-referrer', 'no-referrer');
  check(h['x-frame-options'] === 'DENY', 'no framing');
  check(h['cache-control'] === 'no-store', 'no-store');
  check(!/unsafe-inline/.test(h['content-security-policy']), 'no inline script allowed');
  await audit('portal-entry-en');
  await page.goto(`${base}/s?lang=es`);
  check(await page.getByLabel('Su código personal').isVisible(), 'the Spanish entry form');
  await audit('portal-entry-es');
});

test('a wrong code gets the not-opened page, which passes axe', async () => {
  const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const wrong = Array.from(randomBytes(20), (b) => ALPHABET[b & 31]).join('').match(/.{5}/g).join('-');
  await page.goto(`${base}/s`);
  await page.getByLabel('Your personal code').fill(wrong);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Open' }).click()]);
  check(await page.getByRole('heading', { name: 'No story can be opened with this code' }).isVisible(), 'the same words for any unknown code');
  await audit('portal-not-opened-en');
});

test('English: the receipt\'s link opens the story, the code leaves the address bar; narrowing changes the export and reaches the phone', async () => {
  // The link the QR code holds, tapped on the shared receipt.
  page = await newPage();
  await page.goto(pathToFileURL(english.html).href);
  const link = page.getByRole('link', { name: english.receipt.portal_url });
  check((await link.getAttribute('href')) === english.receipt.portal_url, 'the receipt links to the portal');
  await link.click();
  await page.waitForURL(/\/s\/story/);
  check(!page.url().includes(english.receipt.code.slice(0, 5)), `the code is not in the URL: ${page.url()}`);
  check(await page.getByRole('heading', { name: 'What you agreed to' }).isVisible(), 'the story page');
  check((await page.content()).includes('My story may be shared publicly'), 'the form\'s own words');
  const listen = await page.request.get(`${base}/s/audio/${english.recording}`);
  check(listen.status() === 200 && (await listen.body()).length > 44, `the storyteller hears their recording (${listen.status()})`);
  await audit('portal-story-en');
  check(await inExport('public', english.story), 'public before narrowing');
  await page.getByLabel(/My story may be shared publicly/).uncheck();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save my changes' }).click()]);
  check(await page.getByText('Your change is saved.').isVisible(), 'saved');
  await audit('portal-narrowed-en');
  check(!(await inExport('public', english.story)), 'no longer in the public export');
  check(await inExport('research', english.story), 'still in the research export');
  const history = await page.locator('ol.history li').allInnerTexts();
  check(history.length === 2 && /by you/.test(history[1]), `the history shows the change: ${history}`);

  await tellus(english.dir, ['sync']);
  const consent = await tellusJson(english.dir, ['consent', 'show', '--story', english.story]);
  const last = consent.events[consent.events.length - 1];
  check(last.kind === 'amended' && last.method.kind === 'storyteller' && !last.granted.includes('share_publicly'), `the phone has the narrowing: ${JSON.stringify(last)}`);
  check(wavsIn(english.dir).length === 1, 'narrowing keeps the phone\'s recording');
});

test('Spanish, without JavaScript: typed code, narrow, then withdraw with erasure; the server purges and the lead\'s pull removes its copy', async () => {
  page = await newPage({ javaScriptEnabled: false });
  noScript.add(page);
  await page.goto(`${base}/s?lang=es`);
  await page.getByLabel('Su código personal').fill(spanish.receipt.code.toLowerCase());
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Abrir' }).click()]);
  check(await page.getByRole('heading', { name: 'Lo que usted aceptó' }).isVisible(), 'the Spanish story page');
  check((await page.locator('html').getAttribute('lang')) === 'es', 'lang="es"');
  await audit('portal-story-es');
  check(await inExport('research', spanish.story), 'research before narrowing');
  await page.locator('#keep-research_use').uncheck();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Guardar mis cambios' }).click()]);
  check(await page.getByText('Su cambio está guardado.').isVisible(), 'saved in Spanish');
  check(!(await inExport('research', spanish.story)), 'no longer in the research export');
  check(await inExport('public', spanish.story), 'still in the public export');
  const audio = await serverGet(`/api/v1/recordings/${spanish.recording}/audio`);
  check(audio.status === 200, 'the lead still has the audio');

  await page.getByLabel(/Borrar la grabación en todas partes/).check();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Retirar mi historia' }).click()]);
  check(await page.getByText('Su historia está retirada.').isVisible(), 'withdrawn in Spanish');
  await audit('portal-withdrawn-es');
  const gone = await serverGet(`/api/v1/recordings/${spanish.recording}/audio`);
  check(gone.status === 404 || gone.status === 410, `the server purged the audio (${gone.status})`);
  check(!(await inExport('public', spanish.story)), 'in no export');

  check(!existsSync(join(pulled, 'stories', spanish.story)), 'the pull removed the copy');
  check(existsSync(join(pulled, 'stories', english.story)), 'the other story stays');
  check(readFileSync(join(pulled, 'withdrawals.log'), 'utf8').includes(spanish.story), 'the removal is logged');
});

test('the Spanish phone\'s next sync erases its audio and shows the story withdrawn by the storyteller', async () => {
  check(wavsIn(spanish.dir).length === 1, 'the audio is still on the phone before it syncs');
  await tellus(spanish.dir, ['sync']);
  const shown = await tellusJson(spanish.dir, ['story', 'show', spanish.story]);
  check(shown.story.status === 'withdrawn', `withdrawn on the phone: ${shown.story.status}`);
  check(shown.recordings.length === 1 && shown.recordings[0].state === 'erased', `its recording erased: ${JSON.stringify(shown.recordings)}`);
  check(audioIn(spanish.dir).length === 0, `no audio left in the phone's data folder: ${audioIn(spanish.dir)}`);
  const last = shown.consent_events[shown.consent_events.length - 1];
  check(last.kind === 'withdrawn' && last.method.kind === 'storyteller' && last.erase_audio === true, `the storyteller's withdrawal: ${JSON.stringify(last)}`);
  const row = (await tellusJson(spanish.dir, ['story', 'list'])).find((s) => s.id === spanish.story);
  check(row && row.status === 'withdrawn', `listed as withdrawn: ${JSON.stringify(row)}`);
  await tellus(spanish.dir, ['consent', 'receipt', '--story', spanish.story]).then(
    () => check(false, 'a withdrawn story has no receipt any more'),
    (e) => check(/no consent in force/.test(e.stderr ?? ''), e.message),
  );
  check(wavsIn(english.dir).length === 1, 'the other phone keeps its recording');
});

let passed = 0;
let failed = 0;
for (const t of tests) {
  try {
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('no result within 90 s')), 90000);
    });
    await Promise.race([t.body(), deadline]).finally(() => clearTimeout(timer));
    passed++;
    console.log(`ok   ${t.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.message}`);
    await page.screenshot({ path: join(artefacts, `portal-failed-${passed + failed}.png`), fullPage: true }).catch(() => {});
  }
}
await browser.close();
console.log(`portal: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
