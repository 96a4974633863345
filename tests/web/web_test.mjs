// The leads' web page in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), against a real `tellus serve` seeded over real HTTP: reporters
// enrol, PUT stories with notes and markers, POST consent and upload a WAV over tus.
// Run by tests/web/run.sh; prints "web: N passed, N failed" last and saves
// screenshots into TELLUS_ARTEFACTS.
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.TELLUS_URL;
const reporterInvites = (process.env.TELLUS_REPORTER_INVITES || '').split(/\s+/).filter(Boolean);
const leadInvite = process.env.TELLUS_LEAD_INVITE;
const artefacts = process.env.TELLUS_ARTEFACTS;
const executablePath = process.env.TELLUS_CHROMIUM || '/usr/bin/chromium';
const profile = process.env.TELLUS_PROFILE;
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
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ invite_code: code, device_label: label }),
  });
  if (r.status !== 201) throw new Error(`enrol: ${r.status} ${await r.text()}`);
  return (await r.json()).token;
}

/// A short mono 16-bit WAV: a soft two-tone phrase, so the player has something to play.
function wav(seconds, rate = 16000) {
  const frames = seconds * rate;
  const out = Buffer.alloc(44 + frames * 2);
  out.write('RIFF', 0); out.writeUInt32LE(36 + frames * 2, 4); out.write('WAVE', 8);
  out.write('fmt ', 12); out.writeUInt32LE(16, 16); out.writeUInt16LE(1, 20); out.writeUInt16LE(1, 22);
  out.writeUInt32LE(rate, 24); out.writeUInt32LE(rate * 2, 28); out.writeUInt16LE(2, 32); out.writeUInt16LE(16, 34);
  out.write('data', 36); out.writeUInt32LE(frames * 2, 40);
  for (let i = 0; i < frames; i++) {
    const t = i / rate;
    const envelope = Math.min(1, t * 4, (seconds - t) * 4) * (0.6 + 0.4 * Math.sin(2 * Math.PI * 0.5 * t));
    const sample = envelope * (0.25 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 330 * t));
    out.writeInt16LE(Math.round(sample * 32767), 44 + i * 2);
  }
  return out;
}

async function consent(token, storyId, kind, granted) {
  await api('POST', `/api/v1/stories/${storyId}/consent`, token, {
    id: id(), story_id: storyId, participant_id: id(), kind,
    form_id: kind === 'given' ? 'storyteller-consent' : null,
    form_version: kind === 'given' ? 2 : null,
    language: kind === 'given' ? 'en' : null,
    granted, method: { kind: 'app_checkbox' }, captured_by: 'web test',
    captured_at: '2026-11-20T14:05:00Z', erase_audio: kind === 'withdrawn',
  });
}

async function upload(token, storyId, data, copy = { content_type: 'audio/wav' }, recordingId = id()) {
  const metadata = [
    ['story_id', storyId], ['recording_id', recordingId], ['sha256', sha256(data)],
    ...Object.entries(copy),
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
  check(patched.headers.get('tellus-receipt-sha256') === sha256(data), 'the receipt names the file\'s SHA-256');
  return recordingId;
}

function note(kind, text, atMs, questionId, recordingId) {
  return {
    id: id(), kind, text, at_ms: atMs, question_id: questionId, created_at: '2026-11-20T14:10:00Z',
    recording_id: recordingId,
  };
}

const recordingMeta = (recordingId, data, seconds) => ({
  id: recordingId, format: 'wav', sample_rate: 16000, channels: 1, frames: data.length / 2 - 22,
  bytes: data.length, sha256: sha256(data), duration_ms: seconds * 1000, created_at: '2026-11-18T09:30:00Z',
});

async function putStory(token, storyId, fields) {
  await api('PUT', `/api/v1/stories/${storyId}`, token, {
    id: storyId, revision: 1, status: 'ready', summary: '', tags: [], demographics: {},
    storyteller: { id: id(), label: 'Participant' }, notes: [], recordings: [],
    created_at: '2026-11-20T14:00:00Z', updated_at: '2026-11-20T15:00:00Z',
    ...fields,
  });
}

// ---- seed the server over real HTTP ----
const amina = await enrol(reporterInvites[0], "Amina's phone");
const bo = await enrol(reporterInvites[1], "Bo's phone");
const lead = await enrol(leadInvite, 'Project lead laptop');

const heard = id();
await consent(amina, heard, 'given', ['record', 'research_use', 'quote_anonymously']);
const audio = wav(8);
const recording = await upload(amina, heard, audio);
const MARKER_MS = 2500;
const NOTE_MS = 5200;
const TITLE = 'Being heard at the housing office';
await putStory(amina, heard, {
  title: TITLE,
  summary: 'Months of unanswered repair requests, until a new officer started keeping notes of every call.',
  tags: ['housing', 'being-listened-to', 'trust'],
  demographics: { age_band: '35-44', area: 'North ward' },
  storyteller: { id: id(), label: 'Participant 4' },
  notes: [
    note('marker', 'question 2', MARKER_MS, 'q2'),
    note('note', 'The damp in the hallway was finally taken seriously', NOTE_MS),
    note('marker', 'key moment', 7000),
    note('note', 'Storyteller asked that the officer\'s name is not used'),
  ],
  recordings: [{
    id: recording, format: 'wav', sample_rate: 16000, channels: 1, frames: audio.length / 2 - 22,
    bytes: audio.length, sha256: sha256(audio), duration_ms: 8000, created_at: '2026-11-20T14:00:00Z',
  }],
});
// Two recordings, with notes and a marker on each (issue 18: a note plays its own
// recording, not the first).
const bus = id();
const BUS_TITLE = 'The last bus leaves at nine';
await consent(bo, bus, 'given', ['record', 'share_publicly', 'research_use', 'credit_by_name']);
const busAudio1 = wav(3);
const busAudio2 = wav(6);
const busRec1 = await upload(bo, bus, busAudio1);
const busRec2 = await upload(bo, bus, busAudio2);
const BUS_NOTE_2_MS = 4000;
const Q3 = 'Was there a moment when you felt listened to, or not listened to? What made the difference?';
await putStory(bo, bus, {
  title: BUS_TITLE,
  summary: 'Getting to evening shifts without a car, and the consultation that changed the timetable.',
  tags: ['transport', 'access'], storyteller: { id: id(), label: 'Participant 7' },
  created_at: '2026-11-18T09:30:00Z',
  notes: [
    note('note', 'Leaving the shift early to catch it', 1000, undefined, busRec1),
    // As a phone sends it: the core names a question's marker with the question's words.
    note('marker', Q3, 2000, 'q3', busRec1),
    note('marker', 'the council listened', 1500, undefined, busRec2),
    note('note', 'The timetable consultation', BUS_NOTE_2_MS, undefined, busRec2),
  ],
  recordings: [recordingMeta(busRec1, busAudio1, 3), recordingMeta(busRec2, busAudio2, 6)],
});
// Issue 20: a story sent on a metered network, whose lossless copy has not arrived;
// only its Ogg Opus listening copy (made here by opusenc, opus-tools) is on the server.
const metered = id();
const METERED_TITLE = 'Heard on a metered connection';
await consent(amina, metered, 'given', ['record']);
const meteredWav = wav(5);
const opusDir = mkdtempSync(join(tmpdir(), 'tellus-web-opus-'));
writeFileSync(join(opusDir, 'in.wav'), meteredWav);
execFileSync('opusenc', ['--quiet', '--bitrate', '20', join(opusDir, 'in.wav'), join(opusDir, 'out.opus')]);
const meteredOpus = readFileSync(join(opusDir, 'out.opus'));
const meteredRec = await upload(amina, metered, meteredOpus, { content_type: 'audio/ogg', representation: 'listening' });
await putStory(amina, metered, {
  title: METERED_TITLE, created_at: '2026-11-05T09:00:00Z',
  recordings: [recordingMeta(meteredRec, meteredWav, 5)],
});
const gone = id();
await consent(bo, gone, 'given', ['record']);
await putStory(bo, gone, { title: 'A story later withdrawn', created_at: '2026-11-10T09:30:00Z' });
await consent(bo, gone, 'withdrawn', []);

// ---- the browser ----
// A fresh profile every run (launchPersistentContext takes it as --user-data-dir); the
// flags keep a machine without network from a storm of connection attempts.
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || await context.newPage();
const shot = (name) => page.screenshot({ path: join(artefacts, `${name}.png`), fullPage: true });

async function signIn(token) {
  await page.goto(`${base}/lead/sign-in`);
  await page.getByLabel('Lead token').fill(token);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return response;
}

const tests = [];
const test = (name, body) => tests.push({ name, body });

test('a reporter token is refused with a clear page and no cookie', async () => {
  const response = await signIn(amina);
  check(response.status() === 403, `status ${response.status()}`);
  const alert = page.getByRole('alert');
  const text = await alert.innerText();
  check(text.includes("This is a reporter's token"), `alert says: ${text}`);
  check((await context.cookies()).length === 0, 'no cookie was set');
  // The footer lines up with the narrow sign-in column (issue 18).
  const [column, footer] = await page.evaluate(() => [
    document.querySelector('main .narrow').getBoundingClientRect().left,
    document.querySelector('footer.bottom p').getBoundingClientRect().left,
  ]);
  check(Math.abs(column - footer) < 1, `footer at ${footer}, the column at ${column}`);
  await shot('1-reporter-token-refused');
  await page.goto(`${base}/lead`);
  check(await page.getByRole('heading', { name: 'Sign in' }).isVisible(), 'the list stays closed');
});

test('a lead signs in; the cookie is HttpOnly and SameSite=Strict', async () => {
  const response = await signIn(lead);
  check(response.status() === 200, `status ${response.status()}`);
  check(new URL(page.url()).pathname === '/lead', page.url());
  check(await page.getByRole('heading', { name: 'Stories', level: 1 }).isVisible(), 'the list');
  const cookies = await context.cookies();
  check(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === 'Strict' && cookies[0].path === '/lead',
    JSON.stringify(cookies));
  check(await page.evaluate(() => document.cookie) === '', 'the page script cannot read the token');
  const cards = await page.locator('ul.stories > li').count();
  check(cards === 4, `${cards} stories listed`);
  await shot('2-story-list');
});

test('every control has a label and the page has landmarks', async () => {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, button, audio')]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map((el) => el.outerHTML));
  check(unlabelled.length === 0, `unlabelled: ${unlabelled.join(' ')}`);
  for (const role of ['banner', 'main', 'search', 'navigation']) {
    check(await page.getByRole(role).count() > 0, `a ${role} landmark`);
  }
  // The first Tab reaches the skip link, which is visible when focused.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement.textContent);
  check(focused === 'Skip to the content', `first focus: ${focused}`);
});

test('search finds a story by a word in a note', async () => {
  await page.getByLabel('Search titles, summaries and notes').fill('hallway');
  await Promise.all([page.waitForNavigation(), page.getByLabel('Search titles, summaries and notes').press('Enter')]);
  const heading = await page.locator('#results').innerText();
  check(heading === '1 story matches', heading);
  const title = await page.locator('ul.stories h3').innerText();
  check(title === TITLE, title);
  check(await page.locator('ul.stories mark').innerText() === 'hallway', 'the match is marked');
  await shot('3-search-by-a-note');
});

test('filters narrow the list (tag and consent)', async () => {
  await page.goto(`${base}/lead`);
  await page.getByLabel('Tag', { exact: true }).selectOption('transport');
  await page.getByLabel('Consent', { exact: true }).selectOption('share_publicly');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Apply' }).click()]);
  const titles = await page.locator('ul.stories h3').allInnerTexts();
  check(titles.length === 1 && titles[0] === 'The last bus leaves at nine', titles.join(' | '));
  // Dates are typed and shown the way the page writes them, not as mm/dd/yyyy.
  await page.goto(`${base}/lead`);
  await page.getByLabel('Recorded from').fill('19 Nov 2026');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Apply' }).click()]);
  const since = await page.locator('ul.stories h3').allInnerTexts();
  check(since.length === 1 && since[0] === TITLE, since.join(' | '));
  check(await page.getByLabel('Recorded from').inputValue() === '19 Nov 2026', 'the field keeps the page\'s words');
  const written = await page.locator('ul.stories time').first().innerText();
  check(written === '20 Nov 2026', `the list writes ${written}`);
});

test('clicking a marker moves the player to the marker\'s position', async () => {
  await page.goto(`${base}/lead`);
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: TITLE }).click()]);
  const player = page.locator('audio');
  await page.waitForFunction(() => document.querySelector('audio').readyState >= 1, null, { timeout: 15000 });
  const duration = await player.evaluate((a) => a.duration);
  check(Math.abs(duration - 8) < 0.01, `the player loaded the 8 s recording (${duration})`);
  // Every 'seeked' event's currentTime is recorded in the page before any click, so
  // none can be missed; each wait has a deadline.
  await player.evaluate((a) => {
    window.tellusSeeks = [];
    a.addEventListener('seeked', () => window.tellusSeeks.push(a.currentTime));
  });
  const seekedTo = async (n) => {
    await page.waitForFunction((k) => window.tellusSeeks.length >= k, n, { timeout: 15000 });
    return page.evaluate((k) => window.tellusSeeks[k - 1], n);
  };
  await page.getByRole('button', { name: /^Play from 2 seconds: Marker, question 2/ }).click();
  let at = await seekedTo(1);
  check(Math.abs(at - MARKER_MS / 1000) < 0.05, `current time ${at} after the marker at ${MARKER_MS} ms`);
  await player.evaluate((a) => a.pause());
  // From the keyboard: focus the note, Enter.
  const noteButton = page.getByRole('button', { name: /^Play from 5 seconds: Note, The damp/ });
  await noteButton.focus();
  await page.keyboard.press('Enter');
  at = await seekedTo(2);
  check(Math.abs(at - NOTE_MS / 1000) < 0.05, `current time ${at} after the note at ${NOTE_MS} ms`);
  await player.evaluate((a) => a.pause());
  const status = await page.locator('#player-status').innerText();
  check(status.startsWith('Play from 5 seconds'), `the status tells a screen reader: ${status}`);
  await noteButton.focus();
  await shot('4-story-page');
});

test('consent is shown plainly beside the story, in the form\'s words', async () => {
  const panel = page.getByRole('complementary', { name: 'Consent' });
  const text = await panel.innerText();
  for (const words of [
    'Form “storyteller-consent”, version 2, read in English.',
    'I agree to this conversation being audio recorded and kept securely by the project.',
    'My story may be used for research and service improvement',
  ]) check(text.includes(words), `consent panel lacks: ${words}`);
  const answers = await panel.locator('ul.items li').evaluateAll((items) => items.map((li) =>
    `${li.querySelector('.answer').textContent}:${li.querySelector('.label').textContent.slice(0, 12)}`));
  check(answers.join('|') === 'Yes:I agree to t|No:My story may|Yes:My story may|Yes:Short quotes|No:I would like|No:The project ',
    answers.join('|'));
});

test('the audio and the story\'s exports download', async () => {
  const expectDownload = async (name, verify) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()]);
    const stream = await download.createReadStream();
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    verify(Buffer.concat(chunks), download.suggestedFilename());
  };
  await expectDownload(/^Recording 1 \(WAV/, (data, name) => {
    check(sha256(data) === sha256(audio), 'the downloaded audio is the uploaded file');
    check(name === `recording-${recording}.wav`, name);
  });
  await expectDownload('The story (JSON)', (data) => {
    const story = JSON.parse(data.toString());
    check(story.id === heard && story.consent.status === 'active', 'the story JSON');
  });
  await expectDownload('The story (CSV row)', (data) => {
    const lines = data.toString().trim().split('\n');
    check(lines.length === 2 && lines[0].startsWith('story_id,') && lines[1].startsWith(`"${heard}"`), lines.join('\n'));
  });
});

test('a withdrawn story is a tombstone without audio', async () => {
  await page.goto(`${base}/lead?consent=withdrawn`);
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Withdrawn story' }).click()]);
  check(await page.getByRole('heading', { name: 'This story was withdrawn' }).isVisible(), 'the tombstone');
  check(await page.locator('audio').count() === 0, 'no audio');
  check(!(await page.content()).includes('later withdrawn'), 'no text of the story');
  await shot('5-withdrawn-tombstone');
});

test('a note on recording 2 moves recording 2\'s player, not the first', async () => {
  await page.goto(`${base}/lead`);
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: BUS_TITLE }).click()]);
  const players = page.locator('audio');
  check(await players.count() === 2, 'two players');
  await page.waitForFunction(() => [...document.querySelectorAll('audio')].every((a) => a.readyState >= 1),
    null, { timeout: 15000 });
  const durations = await players.evaluateAll((all) => all.map((a) => Math.round(a.duration)));
  check(durations.join(',') === '3,6', `players in order: ${durations}`);
  await players.evaluateAll((all) => {
    window.tellusSeeksByPlayer = all.map(() => []);
    all.forEach((a, i) => a.addEventListener('seeked', () => window.tellusSeeksByPlayer[i].push(a.currentTime)));
  });
  await page.getByRole('button', { name: /^Play (recording 2 )?from 4 seconds: Note, The timetable consultation/ }).click();
  // Whichever player moves, its seek is recorded; recording 2's is the one that must.
  await page.waitForFunction(() => window.tellusSeeksByPlayer.some((s) => s.length >= 1), null, { timeout: 15000 });
  const [first, second] = await page.evaluate(() => window.tellusSeeksByPlayer);
  check(first.length === 0, `recording 1 moved to ${first}; recording 2: ${second}`);
  check(second.length === 1 && Math.abs(second[0] - BUS_NOTE_2_MS / 1000) < 0.05, `recording 2 at ${second}`);
  check(await page.getByRole('button', { name: /^Play recording 2 from 4 seconds/ }).count() === 1,
    'with two recordings a note says which it plays');
  // The guide question a marker is named after is shown once, not twice.
  const timeline = await page.locator('ol.timeline').innerText();
  check(timeline.split(Q3).length === 2, `the question once in the timeline: ${timeline}`);
  check(await players.nth(0).evaluate((a) => a.currentTime) === 0, 'recording 1 stays at the start');
  await players.nth(1).evaluate((a) => a.pause());
  await shot('6-two-recordings-with-notes');
});

test('a story with only its listening copy plays it and says so', async () => {
  await page.goto(`${base}/lead`);
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: METERED_TITLE }).click()]);
  const player = page.locator('audio');
  check(await player.count() === 1, 'one player');
  const src = await player.getAttribute('src');
  check(src === `/lead/recordings/${meteredRec}/audio?representation=listening`, src);
  const caption = await page.locator('figcaption').innerText();
  check(caption.includes('Listening copy (smaller, Opus)'), caption);
  check(caption.includes('lossless copy has not arrived yet'), caption);
  // The browser decodes the Ogg Opus copy and plays it: data for the current position,
  // then time moving on.
  await page.waitForFunction(() => document.querySelector('audio').readyState >= 2, null, { timeout: 15000 });
  await player.evaluate((a) => { a.muted = true; return a.play(); });
  await page.waitForFunction(() => document.querySelector('audio').currentTime > 0.3, null, { timeout: 15000 });
  const duration = await player.evaluate((a) => a.duration);
  check(Math.abs(duration - 5) < 0.1, `the copy lasts ${duration} s`);
  await player.evaluate((a) => a.pause());
  const link = page.getByRole('link', { name: /^Recording 1 \(Opus, listening copy/ });
  check(await link.count() === 1, 'the download names the listening copy');
  await shot('7-listening-copy-only');
});

test('sign-out ends the session', async () => {
  await page.goto(`${base}/lead`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
  check(new URL(page.url()).pathname === '/lead/sign-in', page.url());
  check((await context.cookies()).length === 0, 'the cookie is gone');
  const response = await page.goto(`${base}/lead`);
  check(response.status() === 401, `after sign-out: ${response.status()}`);
});

let passed = 0;
let failed = 0;
for (const t of tests) {
  try {
    // A deadline per test: a wait that never ends is a failure, not a hung suite.
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
await context.close();
console.log(`web: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
