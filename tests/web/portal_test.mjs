// The storyteller's portal (/s, issue 21) in headless Chromium at 320 px, against a real
// `tellus serve` seeded over real HTTP: a reporter gives consent carrying the code's
// hash (computed here exactly as tellus_protocol::storyteller_code::code_hash, checked
// against its Rust test vector), PUTs the story and uploads a WAV over tus; a lead pulls
// with the `tellus` CLI. In English and Spanish the storyteller narrows an item (the
// lead's CSV export changes) and withdraws with erasure (the audio is gone, the lead's
// next `tellus pull` removes its copy), the Spanish journey with JavaScript off. axe-core
// audits every portal page; screenshots go to TELLUS_ARTEFACTS/portal-*.png. Prints "portal: N passed, N failed" last.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.TELLUS_URL;
const reporterInvite = process.env.TELLUS_REPORTER_INVITE;
const leadInvite = process.env.TELLUS_LEAD_INVITE;
const artefacts = process.env.TELLUS_ARTEFACTS;
const tellusBin = process.env.TELLUS_BIN;
const work = process.env.TELLUS_WORK;
const executablePath = process.env.TELLUS_CHROMIUM || '/usr/bin/chromium';
const PROJECT = 'coproduction-stories-2026';
mkdirSync(artefacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const id = () => randomUUID();
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const b64 = (text) => Buffer.from(text).toString('base64');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- the code, as tellus_protocol::storyteller_code makes and hashes it ----
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function newCode() {
  return Array.from(randomBytes(20), (b) => ALPHABET[b & 31]).join('');
}
const displayCode = (code) => code.match(/.{5}/g).join('-');
function codeHash(projectId, canonical) {
  return createHash('sha256')
    .update('tellus-storyteller-code-v1\0')
    .update(projectId)
    .update('\0')
    .update(canonical)
    .digest('hex');
}
// The vector of protocol's the_hash_of_a_known_code_is_fixed.
check(
  codeHash(PROJECT, 'B9D5MPJTB9D5MPJTB9D5') === '093b34db7cee57cbeccb43c3d4e7e586e86f051145175867481d1c56d3415278',
  'the Node hash matches the Rust one',
);

async function api(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r;
}

async function enrol(code, label) {
  const r = await fetch(`${base}/api/v1/enrol`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ invite_code: code, device_label: label }),
  });
  if (r.status !== 201) throw new Error(`enrol: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

function wav(seconds, rate = 16000) {
  const frames = seconds * rate;
  const out = Buffer.alloc(44 + frames * 2);
  out.write('RIFF', 0); out.writeUInt32LE(36 + frames * 2, 4); out.write('WAVE', 8);
  out.write('fmt ', 12); out.writeUInt32LE(16, 16); out.writeUInt16LE(1, 20); out.writeUInt16LE(1, 22);
  out.writeUInt32LE(rate, 24); out.writeUInt32LE(rate * 2, 28); out.writeUInt16LE(2, 32); out.writeUInt16LE(16, 34);
  out.write('data', 36); out.writeUInt32LE(frames * 2, 40);
  for (let i = 0; i < frames; i++) {
    const t = i / rate;
    out.writeInt16LE(Math.round(0.2 * Math.sin(2 * Math.PI * 220 * t) * 32767), 44 + i * 2);
  }
  return out;
}

async function upload(token, storyId, data) {
  const recordingId = id();
  const metadata = [
    ['story_id', storyId], ['recording_id', recordingId], ['sha256', sha256(data)], ['content_type', 'audio/wav'],
  ].map(([k, v]) => `${k} ${b64(v)}`).join(',');
  const created = await fetch(`${base}/api/v1/uploads`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(data.length), 'Upload-Metadata': metadata },
  });
  if (created.status !== 201) throw new Error(`tus create: ${created.status} ${await created.text()}`);
  const location = new URL(created.headers.get('location'), base).href;
  const patched = await fetch(location, {
    method: 'PATCH',
    headers: {
      Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0',
      'Content-Type': 'application/offset+octet-stream',
    },
    body: data,
  });
  if (patched.status !== 204) throw new Error(`tus patch: ${patched.status} ${await patched.text()}`);
  return recordingId;
}

/// A story told in `language`, its consent carrying `code`'s hash, with one recording.
async function seed(token, title, language, code) {
  const storyId = id();
  const data = wav(2);
  await api('POST', `/api/v1/stories/${storyId}/consent`, token, {
    id: id(), story_id: storyId, participant_id: id(), kind: 'given',
    form_id: 'storyteller-consent', form_version: 2, language,
    granted: ['record', 'share_publicly', 'research_use'], method: { kind: 'app_checkbox' },
    captured_by: 'portal test', captured_at: '2026-11-20T14:05:00Z', erase_audio: false,
    code_hash: codeHash(PROJECT, code),
  });
  await api('PUT', `/api/v1/stories/${storyId}`, token, {
    id: storyId, revision: 1, status: 'ready', title, summary: '', tags: [], demographics: {},
    storyteller: { id: id(), label: 'Participant' }, notes: [], recordings: [],
    created_at: '2026-11-20T14:00:00Z', updated_at: '2026-11-20T15:00:00Z',
  });
  const recording = await upload(token, storyId, data);
  return { storyId, recording, code };
}

async function exportHas(token, scope, storyId) {
  const r = await api('GET', `/api/v1/export.csv?scope=${scope}`, token);
  return (await r.text()).includes(storyId);
}

const pulled = join(work, 'pulled');
function pull(token) {
  const out = execFileSync(tellusBin, ['--data-dir', join(work, 'lead-data'), 'pull', '--server', base, '--out', pulled, '--json'], {
    env: { ...process.env, TELLUS_TOKEN: token },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

// ---- seed ----
const reporter = await enrol(reporterInvite, "Amina's phone");
const lead = await enrol(leadInvite, 'Project lead laptop');
const english = await seed(reporter, 'Waiting for the repair', 'en', newCode());
const spanish = await seed(reporter, 'La parada del autobús', 'es', newCode());
pull(lead);
check(existsSync(join(pulled, 'stories', spanish.storyId, 'audio', `${spanish.recording}.wav`)), 'the lead holds a copy');

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});
// axe-core is injected as a script: the portal's CSP (rightly) forbids that, so only
// this test's context bypasses it.
const newPage = async (options = {}) => {
  const context = await browser.newContext({ viewport: { width: 320, height: 640 }, bypassCSP: true, ...options });
  return context.newPage();
};
let page = await newPage();
const noScript = new WeakSet();
const shot = (name) => page.screenshot({ path: join(artefacts, `portal-${name}.png`), fullPage: true });

async function audit(name) {
  // axe needs script: a page opened without it is audited as the same URL in a twin
  // context with its cookies.
  let audited = page;
  const twin = noScript.has(page);
  if (twin) {
    audited = await newPage();
    await audited.context().addCookies(await page.context().cookies());
    await audited.goto(page.url());
  }
  try {
    await auditPage(audited, name);
  } finally {
    if (twin) await audited.context().close();
  }
}

async function auditPage(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document);
    return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  check(result.length === 0, `axe on ${name}: ${result.join('; ')}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `${name} is wider than 320 px by ${overflow} px`);
  await page.screenshot({ path: join(artefacts, `portal-${name}.png`), fullPage: true });
}

const tests = [];
const test = (name, body) => tests.push({ name, body });

test('the entry page passes axe at 320 px and sends the security headers', async () => {
  const response = await page.goto(`${base}/s`);
  const h = response.headers();
  check(h['referrer-policy'] === 'no-referrer', 'no-referrer');
  check(h['x-frame-options'] === 'DENY', 'no framing');
  check(h['cache-control'] === 'no-store', 'no-store');
  check(!/unsafe-inline/.test(h['content-security-policy']), 'no inline script allowed');
  await audit('entry-en');
  await page.goto(`${base}/s?lang=es`);
  check(await page.getByLabel('Su código personal').isVisible(), 'the Spanish entry form');
  await audit('entry-es');
});

test('a wrong code gets the not-opened page, which passes axe', async () => {
  await page.goto(`${base}/s`);
  await page.getByLabel('Your personal code').fill(displayCode(newCode()));
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Open' }).click()]);
  check(await page.getByRole('heading', { name: 'No story can be opened with this code' }).isVisible(), 'the same words for any unknown code');
  await audit('not-opened-en');
});

test('English: the QR link opens the story, the code leaves the address bar; narrowing changes the export', async () => {
  page = await newPage(); // a QR code opens a new tab
  await page.goto(`${base}/s#${displayCode(english.code)}`);
  await page.waitForURL(/\/s\/story/);
  check(!page.url().includes(english.code.slice(0, 5)), `the code is not in the URL: ${page.url()}`);
  check(await page.getByRole('heading', { name: 'What you agreed to' }).isVisible(), 'the story page');
  check((await page.content()).includes('My story may be shared publicly'), 'the form\'s own words');
  await audit('story-en');
  check(await exportHas(lead, 'public', english.storyId), 'public before narrowing');
  await page.getByLabel(/My story may be shared publicly/).uncheck();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save my changes' }).click()]);
  check(await page.getByText('Your change is saved.').isVisible(), 'saved');
  await audit('narrowed-en');
  check(!(await exportHas(lead, 'public', english.storyId)), 'no longer in the public export');
  check(await exportHas(lead, 'research', english.storyId), 'still in the research export');
  const history = await page.locator('ol.history li').allInnerTexts();
  check(history.length === 2 && /by you/.test(history[1]), `the history shows the change: ${history}`);
});

test('Spanish, without JavaScript: typed code, narrow, then withdraw with erasure; the lead\'s pull removes its copy', async () => {
  page = await newPage({ javaScriptEnabled: false });
  noScript.add(page);
  await page.goto(`${base}/s?lang=es`);
  await page.getByLabel('Su código personal').fill(displayCode(spanish.code).toLowerCase());
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Abrir' }).click()]);
  check(await page.getByRole('heading', { name: 'Lo que usted aceptó' }).isVisible(), 'the Spanish story page');
  check((await page.locator('html').getAttribute('lang')) === 'es', 'lang="es"');
  await audit('story-es');
  check(await exportHas(lead, 'research', spanish.storyId), 'research before narrowing');
  await page.locator('#keep-research_use').uncheck();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Guardar mis cambios' }).click()]);
  check(await page.getByText('Su cambio está guardado.').isVisible(), 'saved in Spanish');
  check(!(await exportHas(lead, 'research', spanish.storyId)), 'no longer in the research export');
  const audio = await fetch(`${base}/api/v1/recordings/${spanish.recording}/audio`, { headers: { Authorization: `Bearer ${lead}` } });
  check(audio.status === 200, 'the lead still has the audio');

  await page.getByLabel(/Borrar la grabación en todas partes/).check();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Retirar mi historia' }).click()]);
  check(await page.getByText('Su historia está retirada.').isVisible(), 'withdrawn in Spanish');
  await audit('withdrawn-es');
  const gone = await fetch(`${base}/api/v1/recordings/${spanish.recording}/audio`, { headers: { Authorization: `Bearer ${lead}` } });
  check(gone.status === 404 || gone.status === 410, `the server purged the audio (${gone.status})`);
  const log = await (await api('GET', `/api/v1/stories/${spanish.storyId}/consent`, reporter)).json();
  const last = log.events[log.events.length - 1];
  check(last.kind === 'withdrawn' && last.method.kind === 'storyteller' && last.erase_audio === true, 'the storyteller\'s withdrawal, with erasure, in the log the phone reads');

  const report = pull(lead);
  check(!existsSync(join(pulled, 'stories', spanish.storyId)), 'the pull removed the copy');
  check(existsSync(join(pulled, 'stories', english.storyId)), 'the other story stays');
  const withdrawals = readFileSync(join(pulled, 'withdrawals.log'), 'utf8');
  check(withdrawals.includes(spanish.storyId), 'the removal is logged');
  check(JSON.stringify(report).length > 0, 'a report');
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
    await shot(`failed-${passed + failed}`).catch(() => {});
  }
}
await browser.close();
console.log(`portal: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
