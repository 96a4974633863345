// The server benchmark (run by scripts/bench-server.sh; not part of the tests).
//   node bench.mjs compare FILE TELLUS_URL ADMIN_TOKEN NODE_TUS_URL ROUNDS
//     tus-js-client uploads FILE to tellus-server and to @tus/server, alternating;
//     prints the median time of each and the ratio.
//   node bench.mjs cuts FILE TELLUS_URL ADMIN_TOKEN NODE_TUS_URL CUT_MB
//     the same through a proxy that cuts every connection after CUT_MB, to each server:
//     bytes sent over the payload (tus-js-client's own retries resume each time).
//   node bench.mjs devices TELLUS_URL ADMIN_TOKEN DEVICES MB
//     that many simulated devices at once, each enrolling, recording consent, PUTting a
//     story and uploading MB megabytes with tus-js-client; every receipt is verified;
//     prints p50/p99 of the story PUT, against the same PUT on an idle server.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';
import { cuttingProxy } from './cutting_proxy.mjs';

const PROJECT = 'coproduction-stories-2026';
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const id = () => randomUUID();
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

async function json(method, url, token, body) {
  const r = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function device(base, admin) {
  const invite = await json('POST', `${base}/api/v1/admin/invites`, admin, { project_id: PROJECT, role: 'reporter' });
  const enrolled = await json('POST', `${base}/api/v1/enrol`, null, { invite_code: invite.code, device_label: 'bench' });
  return enrolled.token;
}

function storyDoc(storyId) {
  return {
    id: storyId, revision: 1, title: 'Being heard at the housing office', summary: 'Repairs ignored for months',
    status: 'ready', tags: ['housing'], demographics: { age_band: '35-44' },
    storyteller: { id: id(), label: 'Participant 1' },
    notes: [{ id: id(), kind: 'marker', text: 'question 3', at_ms: 270000, question_id: 'q3', created_at: new Date().toISOString() }],
    recordings: [], created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
  };
}

async function consentAndStory(base, token) {
  const storyId = id();
  await json('POST', `${base}/api/v1/stories/${storyId}/consent`, token, {
    id: id(), story_id: storyId, participant_id: id(), kind: 'given', form_id: 'storyteller-consent',
    form_version: 2, language: 'en', granted: ['record'], method: { kind: 'app_checkbox' },
    captured_by: 'bench', captured_at: new Date().toISOString(),
  });
  const t0 = now();
  await json('PUT', `${base}/api/v1/stories/${storyId}`, token, storyDoc(storyId));
  return { storyId, putMs: now() - t0 };
}

function upload(endpoint, data, digest, headers, metadata, retryDelays = [0, 200, 1000, 3000]) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      endpoint, headers, metadata: { ...metadata, sha256: digest, content_type: 'audio/wav' },
      retryDelays, storeFingerprintForResuming: false,
      onSuccess: () => resolve(u.url), onError: reject,
    });
    u.start();
  });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);

async function compare([file, base, admin, nodeUrl, rounds]) {
  const data = readFileSync(file);
  const digest = sha256(data);
  const token = await device(base, admin);
  const ours = [];
  const theirs = [];
  for (let i = 0; i < Number(rounds); i++) {
    let t0 = now();
    await upload(`${nodeUrl}`, data, digest, {}, { filename: 'bench.wav' });
    theirs.push(now() - t0);
    const { storyId } = await consentAndStory(base, token);
    const recordingId = id();
    t0 = now();
    await upload(`${base}/api/v1/uploads`, data, digest, { Authorization: `Bearer ${token}` }, { story_id: storyId, recording_id: recordingId });
    ours.push(now() - t0);
    const receipt = await json('GET', `${base}/api/v1/recordings/${recordingId}/receipt`, token);
    if (receipt.sha256 !== digest) throw new Error('receipt does not match');
  }
  const mb = data.length / 1e6;
  console.log(JSON.stringify({
    bytes: data.length, rounds: Number(rounds),
    tellus_ms: ours.map(Math.round), node_tus_ms: theirs.map(Math.round),
    tellus_median_ms: Math.round(median(ours)), node_tus_median_ms: Math.round(median(theirs)),
    tellus_mb_s: +(mb / (median(ours) / 1000)).toFixed(1), node_tus_mb_s: +(mb / (median(theirs) / 1000)).toFixed(1),
    ratio_tellus_over_node: +(median(ours) / median(theirs)).toFixed(2),
  }));
}

// The same file through a proxy that cuts every connection after CUT_MB, to each server:
// bytes the client sent over the payload, and time.
async function cuts([file, base, admin, nodeUrl, cutMb]) {
  const data = readFileSync(file);
  const digest = sha256(data);
  const token = await device(base, admin);
  const out = { bytes: data.length, cut_every_bytes: Number(cutMb) * 1024 * 1024 };
  for (const [name, target] of [['tellus', base], ['node_tus', nodeUrl]]) {
    const proxy = await cuttingProxy(target, out.cut_every_bytes);
    const path = new URL(target).pathname.replace(/\/$/, '');
    const t0 = now();
    try {
      if (name === 'tellus') {
        const { storyId } = await consentAndStory(base, token);
        const recordingId = id();
        await upload(`${proxy.url}/api/v1/uploads`, data, digest, { Authorization: `Bearer ${token}` },
          { story_id: storyId, recording_id: recordingId }, Array(200).fill(20));
        const receipt = await json('GET', `${base}/api/v1/recordings/${recordingId}/receipt`, token);
        if (receipt.sha256 !== digest) throw new Error('receipt does not match');
      } else {
        await upload(`${proxy.url}${path}`, data, digest, {}, { filename: 'bench.wav' }, Array(200).fill(20));
      }
    } finally {
      proxy.close();
    }
    out[`${name}_ms`] = Math.round(now() - t0);
    out[`${name}_cuts`] = proxy.stats.cuts;
    out[`${name}_sent_over_payload`] = +(proxy.stats.fromClient / data.length).toFixed(3);
  }
  console.log(JSON.stringify(out));
}

async function devices([base, admin, count, mbs]) {
  const n = Number(count);
  const data = randomBytes(Number(mbs) * 1024 * 1024);
  const digest = sha256(data);
  // Baseline in the same run: the same PUT from one device on an otherwise idle server.
  const idleToken = await device(base, admin);
  const idle = [];
  for (let i = 0; i < 50; i++) idle.push((await consentAndStory(base, idleToken)).putMs);
  const tokens = await Promise.all(Array.from({ length: n }, () => device(base, admin)));
  const t0 = now();
  const results = await Promise.all(tokens.map(async (token) => {
    const { storyId, putMs } = await consentAndStory(base, token);
    const recordingId = id();
    await upload(`${base}/api/v1/uploads`, data, digest, { Authorization: `Bearer ${token}` }, { story_id: storyId, recording_id: recordingId });
    const receipt = await json('GET', `${base}/api/v1/recordings/${recordingId}/receipt`, token);
    return { putMs, verified: receipt.sha256 === digest && receipt.bytes === data.length };
  }));
  const wall = now() - t0;
  const puts = results.map((r) => r.putMs);
  console.log(JSON.stringify({
    devices: n, mb_each: Number(mbs), verified: results.filter((r) => r.verified).length,
    wall_s: +(wall / 1000).toFixed(1), aggregate_mb_s: +((n * data.length) / 1e6 / (wall / 1000)).toFixed(1),
    put_p50_ms: +median(puts).toFixed(1), put_p99_ms: +quantile(puts, 0.99).toFixed(1),
    idle_put_p50_ms: +median(idle).toFixed(1), idle_put_p99_ms: +quantile(idle, 0.99).toFixed(1),
  }));
}

const [mode, ...args] = process.argv.slice(2);
await ({ compare, cuts, devices }[mode])(args);
