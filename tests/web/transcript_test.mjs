// Transcripts (issue 22) in headless Chromium against a real `tellus serve` that runs
// the shipped engine (faster-whisper, tiny.en): a story of espeak-ng speech is
// delivered over tus, the server drafts its transcript; the lead corrects a passage on
// the story page, searches the corrected word, and the result opens the story with the
// player at that passage; the storyteller suggests a correction on the portal with the
// code from their receipt, the lead accepts it and the text changes. Run by
// tests/web/run.sh; prints "transcripts: N passed, N failed" last.
import { createHash, randomUUID, randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.TELLUS_URL;
const reporterInvite = process.env.TELLUS_REPORTER_INVITE;
const leadInvite = process.env.TELLUS_LEAD_INVITE;
const artefacts = process.env.TELLUS_ARTEFACTS;
const work = process.env.TELLUS_WORK;
const executablePath = process.env.TELLUS_CHROMIUM || '/usr/bin/chromium';
const PROJECT = 'coproduction-stories-2026';
mkdirSync(artefacts, { recursive: true });

const id = () => randomUUID();
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const b64 = (text) => Buffer.from(text).toString('base64');
function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r;
}

async function enrol(code, label) {
  const r = await fetch(`${base}/api/v1/enrol`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ invite_code: code, device_label: label }),
  });
  if (r.status !== 201) throw new Error(`enrol: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

// Two sentences with three seconds of silence between them, so that the engine makes
// (at least) two passages and the second starts well after 0.
function speech() {
  const a = join(work, 'a.wav'); const b = join(work, 'b.wav');
  const gap = join(work, 'gap.wav'); const out = join(work, 'speech.wav');
  execFileSync('espeak-ng', ['-w', a, 'Our building had no heating for two winters.']);
  execFileSync('espeak-ng', ['-w', b, 'The landlord never answered our letters.']);
  execFileSync('sox', ['-n', '-r', '22050', '-c', '1', '-b', '16', gap, 'trim', '0', '3']);
  execFileSync('sox', [a, gap, b, out]);
  return readFileSync(out);
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
  if (created.status !== 201) throw new Error(`tus create: ${created.status}`);
  const patched = await fetch(new URL(created.headers.get('location'), base).href, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: data,
  });
  if (patched.status !== 204) throw new Error(`tus patch: ${patched.status}`);
  return recordingId;
}

// The storyteller's personal code and its salted hash, as the phone makes them
// (tellus_protocol::storyteller_code).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const code = Array.from({ length: 20 }, () => ALPHABET[randomInt(32)]).join('');
const codeHash = sha256(Buffer.concat([Buffer.from(`tellus-storyteller-code-v1\0${PROJECT}\0`), Buffer.from(code)]));

// ---- seed over real HTTP ----
const reporter = await enrol(reporterInvite, 'Transcript phone');
const lead = await enrol(leadInvite, 'Transcript lead');
const story = id();
const TITLE = 'Two winters without heating';
await api('POST', `/api/v1/stories/${story}/consent`, reporter, {
  id: id(), story_id: story, participant_id: id(), kind: 'given', form_id: 'storyteller-consent', form_version: 2,
  language: 'en', granted: ['record', 'research_use'], method: { kind: 'app_checkbox' }, captured_by: 'web test',
  captured_at: '2026-11-20T14:05:00Z', erase_audio: false, code_hash: codeHash,
});
const audio = speech();
const recording = await upload(reporter, story, audio);
const frames = (audio.length - 44) / 2;
await api('PUT', `/api/v1/stories/${story}`, reporter, {
  id: story, revision: 1, status: 'ready', title: TITLE, summary: '', tags: [], demographics: {},
  storyteller: { id: id(), label: 'Participant 9' }, notes: [],
  recordings: [{ id: recording, format: 'wav', sample_rate: 22050, channels: 1, frames, bytes: audio.length,
    sha256: sha256(audio), duration_ms: Math.round(frames / 22.05), created_at: '2026-11-20T14:00:00Z' }],
  created_at: '2026-11-20T14:00:00Z', updated_at: '2026-11-20T15:00:00Z',
});

// The server's engine drafts the transcript: wait for it (with a deadline).
let draft;
const deadline = Date.now() + 300000;
for (;;) {
  const r = await fetch(`${base}/api/v1/recordings/${recording}/transcript`, { headers: { Authorization: `Bearer ${lead}` } });
  if (r.status === 200) { draft = await r.json(); break; }
  if (Date.now() > deadline) throw new Error(`no draft within 5 minutes (${r.status})`);
  await new Promise((done) => setTimeout(done, 200));
}

const context = await chromium.launchPersistentContext(join(work, 'profile'), {
  executablePath, headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || await context.newPage();
const shot = (name) => page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });

const tests = [];
const test = (name, body) => tests.push({ name, body });
const last = () => draft.segments[draft.segments.length - 1];
const CORRECTED = 'The landlord at Ferndale Court never answered our letters.';

test('the engine drafted two passages and the page labels them a machine draft', async () => {
  check(draft.source === 'machine' && draft.revision === 1, JSON.stringify(draft));
  check(draft.segments.length >= 2, `passages: ${JSON.stringify(draft.segments)}`);
  check(last().start_ms >= 2000, `the second passage starts at ${last().start_ms} ms`);
  check(draft.segments.map((s) => s.text).join(' ').toLowerCase().includes('landlord'), JSON.stringify(draft.segments));
  await page.goto(`${base}/lead/sign-in`);
  await page.getByLabel('Lead token').fill(lead);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
  await page.goto(`${base}/lead/stories/${story}`);
  const state = await page.locator('.transcript-state').innerText();
  check(state.startsWith('Machine draft'), state);
});

test('a lead corrects a passage in place and saves it as a new revision', async () => {
  const seconds = Math.floor(last().start_ms / 1000);
  const field = page.getByLabel(new RegExp(`^Passage at ${seconds} second`));
  await field.fill(CORRECTED);
  await page.getByRole('button', { name: 'Save corrections' }).click();
  await page.waitForFunction(() => document.querySelector('.save-status').textContent.startsWith('Saved'), null, { timeout: 15000 });
  const status = await page.locator('.save-status').innerText();
  check(status === 'Saved (revision 2).', status);
  const t = await (await api('GET', `/api/v1/recordings/${recording}/transcript`, lead)).json();
  check(t.revision === 2 && t.segments[t.segments.length - 1].text === CORRECTED, JSON.stringify(t));
  // The card's WebVTT download holds the correction.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'WebVTT' }).click()]);
  const chunks = [];
  for await (const c of await download.createReadStream()) chunks.push(c);
  const vtt = Buffer.concat(chunks).toString();
  check(vtt.startsWith('WEBVTT') && vtt.includes(CORRECTED), vtt);
  check(download.suggestedFilename() === `transcript-${recording}.vtt`, download.suggestedFilename());
  await shot('t1-transcript-corrected');
});

test('the corrected word is found and the result plays from its passage', async () => {
  await page.getByRole('link', { name: 'Search transcripts' }).click();
  await page.getByLabel('Words said in a recording').fill('ferndale');
  await Promise.all([page.waitForNavigation(), page.getByLabel('Words said in a recording').press('Enter')]);
  const result = page.locator('ol.transcript-hits a');
  check(await result.count() === 1, `${await result.count()} results`);
  await Promise.all([page.waitForNavigation(), result.click()]);
  const want = last().start_ms / 1000;
  await page.waitForFunction((id) => {
    const a = document.getElementById(`player-${id}`);
    return a && a.readyState >= 1 && a.currentTime > 0;
  }, recording, { timeout: 15000 });
  const at = await page.evaluate((id) => document.getElementById(`player-${id}`).currentTime, recording);
  check(Math.abs(at - want) < 0.6, `the player is at ${at} s; the passage starts at ${want} s`);
  await page.evaluate((id) => document.getElementById(`player-${id}`).pause(), recording);
  await shot('t2-search-result-opens-the-moment');
});

test('the storyteller suggests a correction on the portal and the lead accepts it', async () => {
  const portal = await context.newPage();
  await portal.goto(`${base}/s`);
  await portal.getByLabel('Your personal code').fill(code);
  await Promise.all([portal.waitForNavigation(), portal.getByRole('button', { name: 'Open' }).click()]);
  await Promise.all([portal.waitForNavigation(), portal.getByRole('link', { name: 'Read the text and suggest corrections' }).click()]);
  const first = portal.getByLabel('What I said').first();
  const SAID = 'Our building had no heating for two whole winters.';
  await first.fill(SAID);
  await Promise.all([portal.waitForNavigation(), portal.getByRole('button', { name: 'Suggest this' }).first().click()]);
  check((await portal.getByRole('status').innerText()).includes('Thank you'), 'the storyteller is thanked');
  await portal.close();

  await page.goto(`${base}/lead/stories/${story}`);
  const suggestion = await page.locator('.flags li.flag').innerText();
  check(suggestion.includes(SAID), suggestion);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Accept' }).click()]);
  const passage = await page.getByLabel(/^Passage at 0 seconds/).inputValue();
  check(passage === SAID, `the passage now reads: ${passage}`);
  check(await page.locator('.flags').count() === 0, 'no open suggestion left');
  await shot('t3-storyteller-suggestion-accepted');
});

let passed = 0;
let failed = 0;
for (const t of tests) {
  try {
    let timer;
    const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no result within 90 s')), 90000); });
    await Promise.race([t.body(), limit]).finally(() => clearTimeout(timer));
    passed++;
    console.log(`ok   ${t.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.message}`);
    await shot(`t-failed-${passed + failed}`).catch(() => {});
  }
}
await context.close();
console.log(`transcripts: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
